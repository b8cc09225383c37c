// The WGSL of a fused reduction. The iteration shape splits into kept axes
// (the output, row-major) and reduced axes; each load's offset is a kept
// part, computed once per output, plus a reduced part per element. Nodes
// that do not vary along the reduced axes (literals, broadcast loads and
// what is computed from them only, e.g. softmax's max) are hoisted out of
// the loop. The loop and the workgroup tree follow `_reduce.ts`: UNROLL
// reads per iteration and a straight-line tree, for llvmpipe's limit of
// 65,535 loop iterations per invocation.

import type { FusedLoad, FusedReduce } from "../fused.ts";
import {
  collapseAxes,
  fromWord,
  letStatements,
  name,
  offsetExpr,
  reachable,
  splitIndex,
  toWord,
} from "./_fused_expr.ts";
import { combine, ident, unrolledLoop } from "./_reduce.ts";
import { WG, wgslType } from "./_wgsl.ts";

/** Where load `n` reads: the word at index expression `idx` of its input. */
export type WordAt = (load: FusedLoad, idx: string) => string;

/** Outputs at most this many and rows at least this long: a workgroup per output. */
const WIDE_OUTPUTS = 4096;
const WIDE_ROW = 512;

/** The kernel's sizes: outputs and elements reduced into each. */
export function reduceSizes(
  kernel: FusedReduce,
): { nOut: number; nR: number; wide: boolean } {
  let nOut = 1, nR = 1;
  kernel.shape.forEach((d, a) => {
    if (kernel.axes.includes(a)) nR *= d;
    else nOut *= d;
  });
  return { nOut, nR, wide: nOut <= WIDE_OUTPUTS && nR >= WIDE_ROW };
}

/** The body of a fused reduction's shader (after the header and MATH). */
export function reduceSource(kernel: FusedReduce, wordAt: WordAt): string {
  const { nodes, axes } = kernel;
  const kind = kernel.op === "sum"
    ? "reduce_sum"
    : kernel.op === "max"
    ? "reduce_max"
    : "reduce_min";
  const { nOut, nR, wide } = reduceSizes(kernel);
  const dt = nodes[kernel.value]!.dtype;
  const t = wgslType(dt);
  const live = reachable(nodes, [kernel.value]);
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
  const call = `elem(${[...args, "k"].join(", ")})`;
  const comp = kind === "reduce_sum" && dt === "float32";
  const step = comp
    ? `\n        acc = add2(acc, ${call});`
    : `\n        acc = ${combine(kind, dt, "acc", call)};`;
  const init = comp
    ? "var acc = vec2<f32>(0.0, 0.0);"
    : `var acc = ${ident(kind, dt)};`;
  if (!wide) {
    return `${elem}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= ${nOut}u) { return; }
${perOutput("i")}
  let r = ${nR}u;
  ${init}${unrolledLoop("0u", 1, () => step)}
  out[i] = ${toWord(dt, comp ? "fin2(acc)" : "acc")};
}`;
  }
  // One workgroup per output: strided partials, then a straight-line tree.
  const merge = (s: number) =>
    comp
      ? `
    let p = merge2(vec2<f32>(sv[lid], sc[lid]), vec2<f32>(sv[lid + ${s}u], sc[lid + ${s}u]));
    sv[lid] = p.x; sc[lid] = p.y;`
      : `
    sv[lid] = ${combine(kind, dt, "sv[lid]", `sv[lid + ${s}u]`)};`;
  let tree = "";
  for (let s = WG / 2; s > 0; s >>= 1) {
    tree += `
  if (lid < ${s}u) {${merge(s)}
  }
  workgroupBarrier();`;
  }
  return `${elem}
var<workgroup> sv: array<${t}, ${WG}>;${
    comp ? `\nvar<workgroup> sc: array<f32, ${WG}>;` : ""
  }
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  let valid = o < ${nOut}u;
  let oc = min(o, ${nOut - 1}u);
${perOutput("oc")}
  let r = select(0u, ${nR}u, valid);
  ${init}${unrolledLoop("lid", WG, () => step)}
  ${comp ? "sv[lid] = acc.x; sc[lid] = acc.y;" : "sv[lid] = acc;"}
  workgroupBarrier();${tree}
  if (lid == 0u && valid) { out[o] = ${
    toWord(dt, comp ? "fin2(vec2<f32>(sv[0], sc[0]))" : "sv[0]")
  }; }
}`;
}
