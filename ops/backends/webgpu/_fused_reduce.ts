// The WGSL of a fused reduction. The iteration shape splits into kept axes
// (the output, row-major) and reduced axes; each load's offset is a kept
// part, computed once per output, plus a reduced part per element. Nodes
// that do not vary along the reduced axes (literals, broadcast loads and
// what is computed from them only, e.g. softmax's max) are hoisted out of
// the loop.
//
// One invocation reduces one chunk of one output's row, reading UNROLL
// elements per loop iteration (`_reduce.ts`): Mesa's llvmpipe stops an
// invocation after 65,535 loop iterations. A long row is split into
// `parts` chunks whose partial results a second reduction combines (over
// [outputs, parts], recursively), so that chunks stay short and enough
// invocations run. No workgroup tree: on llvmpipe a shader with barriers
// around the inlined expression took 3-5 s to compile and ran up to 10x
// slower than this split (bench/webgpu_fused.ts).

import { type FusedLoad, type FusedReduce, reachable } from "../fused.ts";
import {
  collapseAxes,
  fromWord,
  letStatements,
  name,
  offsetExpr,
  splitIndex,
  toWord,
} from "./_fused_expr.ts";
import { combine, ident, UNROLL, unrolledLoop } from "./_reduce.ts";
import { WG, wgslType } from "./_wgsl.ts";

/** Where load `n` reads: the word at index expression `idx` of its input. */
export type WordAt = (load: FusedLoad, idx: string) => string;

/** Elements per chunk at most: 32,768 loop iterations of UNROLL reads. */
const MAX_CHUNK = 32_768 * UNROLL;
/** Elements per chunk at least, when a row is split for parallelism. */
const MIN_CHUNK = 256;
/** Invocations worth splitting rows for. */
const TARGET_INVOCATIONS = 16_384;

/**
 * The kernel's sizes: outputs, elements reduced into each, and the chunks
 * each row is split into (1: one invocation per output, no second pass).
 */
export function reduceSizes(
  kernel: FusedReduce,
): { nOut: number; nR: number; parts: number; chunk: number } {
  let nOut = 1, nR = 1;
  kernel.shape.forEach((d, a) => {
    if (kernel.axes.includes(a)) nR *= d;
    else nOut *= d;
  });
  const want = Math.max(
    Math.ceil(nR / MAX_CHUNK),
    Math.min(
      Math.ceil(TARGET_INVOCATIONS / Math.max(nOut, 1)),
      Math.floor(nR / MIN_CHUNK),
    ),
    1,
  );
  // Every chunk starts inside the row.
  const chunk = Math.ceil(nR / want);
  const parts = chunk > 0 ? Math.ceil(nR / chunk) : 1;
  return { nOut, nR, parts, chunk };
}

/** The reduction that combines the partial results `[nOut, parts]` of `kernel`. */
export function combinePartials(kernel: FusedReduce): FusedReduce {
  const { nOut, parts } = reduceSizes(kernel);
  return {
    kind: "reduce",
    op: kernel.op,
    shape: [nOut, parts],
    axes: [1],
    nodes: [{
      kind: "load",
      input: 0,
      offset: 0,
      strides: [parts, 1],
      dtype: kernel.nodes[kernel.value]!.dtype,
    }],
    value: 0,
  };
}

/**
 * The loads among the `live` nodes of a reduce kernel, and the kept and
 * reduced axes each collapsed where every load allows, with each load's
 * strides along both.
 */
export function reduceLayout(kernel: FusedReduce, live: readonly number[]): {
  loads: number[];
  kept: ReturnType<typeof collapseAxes>;
  red: ReturnType<typeof collapseAxes>;
  keptStrides: Map<number, number[]>;
  redStrides: Map<number, number[]>;
} {
  const { nodes, axes } = kernel;
  const loads = live.filter((n) => nodes[n]!.kind === "load");
  const strideOf = (n: number) => (nodes[n] as FusedLoad).strides;
  const keptAxes = kernel.shape.flatMap((_, a) => axes.includes(a) ? [] : [a]);
  const kept = collapseAxes(
    keptAxes.map((a) => kernel.shape[a]!),
    loads.map((n) => keptAxes.map((a) => strideOf(n)[a]!)),
  );
  const red = collapseAxes(
    axes.map((a) => kernel.shape[a]!),
    loads.map((n) => axes.map((a) => strideOf(n)[a]!)),
  );
  const keptStrides = new Map(loads.map((n, j) => [n, kept.strides[j]!]));
  const redStrides = new Map(loads.map((n, j) => [n, red.strides[j]!]));
  return { loads, kept, red, keptStrides, redStrides };
}

/** The body of a fused reduction's shader (after the header and MATH). */
export function reduceSource(kernel: FusedReduce, wordAt: WordAt): string {
  const { nodes } = kernel;
  const kind = kernel.op === "sum"
    ? "reduce_sum"
    : kernel.op === "max"
    ? "reduce_max"
    : "reduce_min";
  const { nOut, nR, parts, chunk } = reduceSizes(kernel);
  const dt = nodes[kernel.value]!.dtype;
  const t = wgslType(dt);
  const live = reachable(nodes, [kernel.value]);
  const { kept, red, keptStrides, redStrides } = reduceLayout(
    kernel,
    live,
  );

  // Invariant along the reduced axes: computed once per output.
  const invariant = new Set<number>();
  for (const n of live) {
    const node = nodes[n]!;
    if (
      node.kind === "literal" ||
      (node.kind === "load" && redStrides.get(n)!.every((s) => s === 0)) ||
      (node.kind === "op" && node.args.every((a) => invariant.has(a)))
    ) invariant.add(n);
  }
  const variant = live.filter((n) => !invariant.has(n));
  const variantLoads = variant.filter((n) => nodes[n]!.kind === "load");
  // Hoisted values the loop body reads, and the value itself if hoisted.
  const used = new Set<number>();
  for (const n of variant) {
    const node = nodes[n]!;
    if (node.kind === "op") {
      for (const a of node.args) if (invariant.has(a)) used.add(a);
    }
  }
  if (invariant.has(kernel.value)) used.add(kernel.value);
  const params = [
    ...variantLoads.map((n) => `b${n}: i32`),
    ...[...used].sort((a, b) => a - b).map((n) =>
      `${name(n)}: ${wgslType(nodes[n]!.dtype)}`
    ),
    "k: u32",
  ];
  const args = [
    ...variantLoads.map((n) => `b${n}`),
    ...[...used].sort((a, b) => a - b).map(name),
  ];
  const load =
    (base: (n: number) => string, strides: Map<number, number[]>, at: string) =>
    (n: number) => {
      const node = nodes[n] as FusedLoad;
      const idx = offsetExpr(base(n), strides.get(n)!, at);
      return fromWord(node.dtype, wordAt(node, idx));
    };
  const elem = `
fn elem(${params.join(", ")}) -> ${t} {
${splitIndex("k", red.shape, "c")}
${letStatements(nodes, variant, load((n) => `b${n}`, redStrides, "c"))}
  return ${name(kernel.value)};
}`;
  // Per output: kept index, bases of the varying loads, hoisted values.
  const perOutput = (o: string) =>
    [
      splitIndex(o, kept.shape, "a"),
      ...variantLoads.map((n) =>
        `  let b${n} = ${
          offsetExpr(
            `${(nodes[n] as FusedLoad).offset}`,
            keptStrides.get(n)!,
            "a",
          )
        };`
      ),
      letStatements(
        nodes,
        live.filter((n) => invariant.has(n)),
        load((n) => `${(nodes[n] as FusedLoad).offset}`, keptStrides, "a"),
      ),
    ].join("\n");
  const call = `elem(${[...args, "start + k"].join(", ")})`;
  const comp = kind === "reduce_sum" && dt === "float32";
  const step = comp
    ? `\n        acc = add2(acc, ${call});`
    : `\n        acc = ${combine(kind, dt, "acc", call)};`;
  const init = comp
    ? "var acc = vec2<f32>(0.0, 0.0);"
    : `var acc = ${ident(kind, dt)};`;
  // Invocation i: output i / parts, chunk i % parts of its row.
  return `${elem}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= ${nOut * parts}u) { return; }
  let o = i / ${parts}u;
  let start = (i % ${parts}u) * ${chunk}u;
${perOutput("o")}
  let r = min(${chunk}u, ${nR}u - start);
  ${init}${unrolledLoop("0u", 1, () => step)}
  out[i] = ${toWord(dt, comp ? "fin2(acc)" : "acc")};
}`;
}
