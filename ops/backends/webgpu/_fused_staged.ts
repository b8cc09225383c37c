// The WGSL of a reduce kernel of several reductions and an epilogue, in one
// shader: one invocation per output element runs each reduction over its
// whole row in turn (each a loop like `_fused_reduce.ts`'s, reading the
// earlier results as plain values), then the epilogue, and writes every
// output into one buffer (output j at j · outputs). Rows that a single
// reduction would split over invocations (too long for one loop on
// llvmpipe, or few outputs of long rows) run split (`_fused_split.ts`).

import {
  type FusedLoad,
  type FusedReduce,
  reachable,
  reductionsOf,
} from "../fused.ts";
import {
  fromWord,
  letStatements,
  name,
  offsetExpr,
  splitIndex,
  toWord,
} from "./_fused_expr.ts";
import { reduceLayout, reduceSizes, type WordAt } from "./_fused_reduce.ts";
import { combine, ident, unrolledLoop } from "./_reduce.ts";
import { WG, wgslType } from "./_wgsl.ts";

const KIND = {
  sum: "reduce_sum",
  max: "reduce_max",
  min: "reduce_min",
} as const;

/**
 * Whether `k` runs as one shader: where a single reduction would give
 * each output one invocation too (rows neither too long for one loop nor
 * worth splitting for parallelism, as a large sum to one mean would be).
 */
export function stagedInOne(k: FusedReduce): boolean {
  return reduceSizes(k).parts === 1;
}

/** The body of the shader (after the header and MATH). */
export function stagedSource(kernel: FusedReduce, wordAt: WordAt): string {
  const { nodes } = kernel;
  const reds = reductionsOf(kernel);
  const epi = kernel.epilogue ?? [];
  const { nOut, nR } = reduceSizes(kernel);
  const live = reachable(nodes, [
    ...reds.map((r) => r.value),
    ...epi.map((e) => e.node),
  ]);
  const { kept, red, keptStrides, redStrides } = reduceLayout(
    kernel,
    live,
  );
  // Invariant along the reduced axes: computed once per output element.
  const invariant = new Set<number>();
  for (const n of live) {
    const node = nodes[n]!;
    if (
      node.kind === "literal" || node.kind === "reduced" ||
      (node.kind === "load" && redStrides.get(n)!.every((s) => s === 0)) ||
      (node.kind === "op" && node.args.every((a) => invariant.has(a)))
    ) invariant.add(n);
  }
  const loadAt =
    (base: (n: number) => string, strides: Map<number, number[]>, at: string) =>
    (n: number) => {
      const node = nodes[n] as FusedLoad;
      const idx = offsetExpr(base(n), strides.get(n)!, at);
      return fromWord(node.dtype, wordAt(node, idx));
    };
  const reducedAs = (n: number) => {
    const node = nodes[n]!;
    return node.kind === "reduced" ? `r${node.index}` : name(n);
  };
  // Per output element: hoisted values, emitted once each when first needed.
  const uses = new Map<number, number>();
  const emitted = new Set<number>();
  const hoist = (need: readonly number[]) => {
    const list = need.filter((n) => invariant.has(n) && !emitted.has(n));
    list.forEach((n) => emitted.add(n));
    return letStatements(
      nodes,
      list,
      loadAt((n) => `${(nodes[n] as FusedLoad).offset}`, keptStrides, "a"),
      "  ",
      { uses, reduced: reducedAs },
    );
  };
  const fns: string[] = [];
  const stages: string[] = [];
  const bases = new Set<number>();
  reds.forEach((r, j) => {
    const need = reachable(nodes, [r.value]);
    const variant = need.filter((n) => !invariant.has(n));
    const variantLoads = variant.filter((n) => nodes[n]!.kind === "load");
    variantLoads.forEach((n) => bases.add(n));
    const used = new Set<number>();
    for (const n of variant) {
      const node = nodes[n]!;
      if (node.kind === "op") {
        for (const a of node.args) if (invariant.has(a)) used.add(a);
      }
    }
    if (invariant.has(r.value)) used.add(r.value);
    const hoisted = [...used].sort((a, b) => a - b);
    const dt = nodes[r.value]!.dtype, t = wgslType(dt);
    fns.push(`
fn elem${j}(${
      [
        ...variantLoads.map((n) => `b${n}: i32`),
        ...hoisted.map((n) => `${name(n)}: ${wgslType(nodes[n]!.dtype)}`),
        "k: u32",
      ].join(", ")
    }) -> ${t} {
${splitIndex("k", red.shape, "c")}
${letStatements(nodes, variant, loadAt((n) => `b${n}`, redStrides, "c"))}
  return ${name(r.value)};
}`);
    const call = `elem${j}(${
      [...variantLoads.map((n) => `b${n}`), ...hoisted.map(name), "k"].join(
        ", ",
      )
    })`;
    const kind = KIND[r.op];
    const comp = kind === "reduce_sum" && dt === "float32";
    const step = comp
      ? `\n        acc${j} = add2(acc${j}, ${call});`
      : `\n        acc${j} = ${combine(kind, dt, `acc${j}`, call)};`;
    stages.push(`${hoist(need)}
  var acc${j} = ${comp ? "vec2<f32>(0.0, 0.0)" : ident(kind, dt)};
  {${unrolledLoop("0u", 1, () => step)}
  }
  let r${j}: ${t} = ${comp ? `fin2(acc${j})` : `acc${j}`};
  out[${j * nOut}u + o] = ${toWord(dt, `r${j}`)};`);
  });
  const tail = `${hoist(reachable(nodes, epi.map((e) => e.node)))}
${
    epi.map((e, k) =>
      `  out[${(reds.length + k) * nOut}u + o] = ${
        toWord(nodes[e.node]!.dtype, reducedAs(e.node))
      };`
    ).join("\n")
  }`;
  return `${fns.join("\n")}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * ${WG}u;
  if (o >= ${nOut}u) { return; }
  let r = ${nR}u;
${splitIndex("o", kept.shape, "a")}
${
    [...bases].sort((a, b) => a - b).map((n) =>
      `  let b${n} = ${
        offsetExpr(
          `${(nodes[n] as FusedLoad).offset}`,
          keptStrides.get(n)!,
          "a",
        )
      };`
    ).join("\n")
  }
${stages.join("\n")}
${tail}
}`;
}
