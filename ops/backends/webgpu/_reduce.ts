// Reductions over a block of axes: the input is viewed as [outer, R, inner].
// Many outputs: one invocation per output. Few outputs over long rows: one
// workgroup per output with a tree in workgroup memory.
//
// Loops are unrolled by UNROLL and the tree is straight-line code because
// Mesa's llvmpipe/lavapipe stops every loop of a shader invocation after
// 65535 back-edges in total (its "loop limiter", shared by all the loops of
// the shader): a lane that read 2^24 / 256 elements one per iteration left
// nothing for the tree, which then lost the odd lanes' partial sums. With
// UNROLL elements per iteration a lane runs ceil(R / (WG · UNROLL)) (wide)
// or ceil(R / UNROLL) (thread) iterations: 16,384 for R = 2^25, the largest
// row llvmpipe can bind (maxStorageBufferBindingSize = 128 MiB).

import { type Aval, type DType, sizeOf } from "../../dtype.ts";
import type { Dispatch, GpuBuffer } from "./_kernel.ts";
import { groups1d } from "./_kernel.ts";
import { entry1d, header, MATH, WG, wgslType } from "./_wgsl.ts";
import { ZERO_WORD } from "./_wgsl_math.ts";

/** The reductions this file implements. */
export type ReduceKind =
  | "reduce_sum"
  | "reduce_max"
  | "reduce_min"
  | "argmax"
  | "argmin";

/** Input viewed as [outer, R, inner]. */
export interface ReduceView {
  readonly outer: number;
  readonly r: number;
  readonly inner: number;
}

/**
 * Views `shape` reduced over `axes` as [outer, R, inner] when the axes form
 * one contiguous block; returns null when they do not (transpose first).
 */
export function reduceView(
  shape: readonly number[],
  axes: readonly number[],
): ReduceView | null {
  const live = axes.filter((a) => shape[a] !== 1);
  if (live.length === 0) return { outer: sizeOf(shape), r: 1, inner: 1 };
  const lo = live[0]!, hi = live[live.length - 1]!;
  for (let a = lo; a <= hi; a++) {
    if (!axes.includes(a) && shape[a] !== 1) return null;
  }
  return {
    outer: sizeOf(shape.slice(0, lo)),
    r: sizeOf(shape.slice(lo, hi + 1)),
    inner: sizeOf(shape.slice(hi + 1)),
  };
}

/** Elements each loop iteration reads (see the note at the top). */
export const UNROLL = 8;

/**
 * `body(k)` for k = first, first + step, ... below `r`: whole blocks of
 * UNROLL reads without bounds checks, then a tail of fewer than UNROLL.
 */
export function unrolledLoop(
  first: string,
  step: number,
  body: (k: string) => string,
): string {
  const block = step * UNROLL;
  const reads: string[] = [];
  for (let u = 0; u < UNROLL; u++) {
    reads.push(`    { let k = base + ${u * step}u;${body("k")}
    }`);
  }
  return `
  let blocks = r / ${block}u;
  for (var blk = 0u; blk < blocks; blk++) {
    let base = blk * ${block}u + ${first};
${reads.join("\n")}
  }
  for (var k = blocks * ${block}u + ${first}; k < r; k += ${step}u) {${
    body("k")
  }
  }`;
}

/** The identity of a reduction, as WGSL. */
export function ident(kind: ReduceKind, t: DType): string {
  const f = t === "float32", b = t === "bool";
  switch (kind) {
    case "reduce_sum":
      return f ? "0.0" : b ? "0u" : "0";
    case "reduce_max":
    case "argmax":
      return f ? "-f32_inf()" : b ? "0u" : "(-2147483647 - 1)";
    case "reduce_min":
    case "argmin":
      return f ? "f32_inf()" : b ? "1u" : "2147483647";
  }
}

/** Combines two partial results of a reduction, as WGSL. */
export function combine(
  kind: "reduce_sum" | "reduce_max" | "reduce_min",
  t: DType,
  a: string,
  b: string,
): string {
  const f = t === "float32", bo = t === "bool";
  if (kind === "reduce_sum") return bo ? `max(${a}, ${b})` : `${a} + ${b}`;
  if (kind === "reduce_max") {
    return f ? `max_f32(${a}, ${b})` : `max(${a}, ${b})`;
  }
  return f ? `min_f32(${a}, ${b})` : `min(${a}, ${b})`;
}

/** Whether value `v` at a later index beats the current best `b` (strictly). */
function beats(
  kind: "argmax" | "argmin",
  t: DType,
  v: string,
  b: string,
): string {
  const cmp = kind === "argmax" ? ">" : "<";
  if (t !== "float32") return `${v} ${cmp} ${b}`;
  return `(is_nan(${v}) && !is_nan(${b})) || (!is_nan(${b}) && ${v} ${cmp} ${b})`;
}

/** Plans a reduction of `x` viewed as `view`. */
export function reduceDispatch(
  kind: ReduceKind,
  x: { buf: GpuBuffer; aval: Aval },
  view: ReduceView,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch {
  const nOut = view.outer * view.inner;
  const t = wgslType(x.aval.dtype);
  const ot = wgslType(out.dtype);
  const dt = x.aval.dtype;
  const isArg = kind === "argmax" || kind === "argmin";
  const wide = nOut <= 4096 && view.r >= 512;
  // float32 sums carry a compensation term (Neumaier), so that they agree
  // with the CPU reference's float64 accumulation.
  const comp = kind === "reduce_sum" && dt === "float32";
  const meta = [nOut, view.r, view.inner];
  // `opaque()` in the maths reads this word and needs it to be zero.
  for (let w = meta.length; w <= ZERO_WORD; w++) meta.push(0);
  const load = (k: string) =>
    `in0[(o / inner) * r * inner + ${k} * inner + (o % inner)]`;
  if (!wide) {
    const body = isArg
      ? `
  let o = i; let r = m(1u); let inner = m(2u);
  var best = ${ident(kind, dt)};
  var at = -1;${
        unrolledLoop("0u", 1, (k) => `
        let v = ${load(k)};
        if (at < 0 || ${
          beats(kind, dt, "v", "best")
        }) { best = v; at = i32(${k}); }`)
      }
  out[o] = max(at, 0);`
      : comp
      ? `
  let o = i; let r = m(1u); let inner = m(2u);
  var acc = vec2<f32>(0.0, 0.0);${
        unrolledLoop("0u", 1, (k) => `
        acc = add2(acc, ${load(k)});`)
      }
  out[o] = fin2(acc);`
      : `
  let o = i; let r = m(1u); let inner = m(2u);
  var acc = ${ident(kind, dt)};${
        unrolledLoop("0u", 1, (k) => `
        acc = ${combine(kind, dt, "acc", load(k))};`)
      }
  out[o] = acc;`;
    return {
      key: `reduce:${kind}:${dt}:thread`,
      source: () => [header([t], ot), MATH, entry1d(body)].join("\n"),
      inputs: [x.buf],
      output: outBuf,
      meta,
      groups: groups1d(nOut, WG, maxPerDim),
    };
  }
  // One workgroup per output: strided partials, then a tree.
  const shared = `var<workgroup> sv: array<${t}, ${WG}>;` +
    (isArg
      ? `\nvar<workgroup> si: array<i32, ${WG}>;`
      : comp
      ? `\nvar<workgroup> sc: array<f32, ${WG}>;`
      : "");
  const partial = isArg
    ? `
  var best = ${ident(kind, dt)};
  var at = -1;${
      unrolledLoop("lid", WG, (k) => `
        let v = ${load(k)};
        if (at < 0 || ${
        beats(kind, dt, "v", "best")
      }) { best = v; at = i32(${k}); }`)
    }
  sv[lid] = best; si[lid] = at;`
    : comp
    ? `
  var acc = vec2<f32>(0.0, 0.0);${
      unrolledLoop("lid", WG, (k) => `
        acc = add2(acc, ${load(k)});`)
    }
  sv[lid] = acc.x; sc[lid] = acc.y;`
    : `
  var acc = ${ident(kind, dt)};${
      unrolledLoop("lid", WG, (k) => `
        acc = ${combine(kind, dt, "acc", load(k))};`)
    }
  sv[lid] = acc;`;
  // Straight-line tree: no loop, so no back-edges (see the note at the top).
  const merge = (s: number) =>
    isArg
      ? `
      let v = sv[lid + ${s}u]; let j = si[lid + ${s}u];
      let b = sv[lid]; let a = si[lid];
      let take = j >= 0 && (a < 0 || ${beats(kind, dt, "v", "b")} || (!(${
        beats(kind, dt, "b", "v")
      }) && j < a));
      if (take) { sv[lid] = v; si[lid] = j; }`
      : comp
      ? `
      let p = merge2(vec2<f32>(sv[lid], sc[lid]), vec2<f32>(sv[lid + ${s}u], sc[lid + ${s}u]));
      sv[lid] = p.x; sc[lid] = p.y;`
      : `
      sv[lid] = ${
        combine(kind as "reduce_sum", dt, "sv[lid]", `sv[lid + ${s}u]`)
      };`;
  let tree = "";
  for (let s = WG / 2; s > 0; s >>= 1) {
    tree += `
  if (lid < ${s}u) {${merge(s)}
  }
  workgroupBarrier();`;
  }
  const source = () =>
    [
      header([t], ot),
      MATH,
      shared,
      `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  let valid = o < m(0u);
  let r = select(0u, m(1u), valid);
  let inner = m(2u);
  ${partial}
  workgroupBarrier();${tree}
  if (lid == 0u && valid) { out[o] = ${
        isArg
          ? "max(si[0], 0)"
          : comp
          ? "fin2(vec2<f32>(sv[0], sc[0]))"
          : "sv[0]"
      }; }
}`,
    ].join("\n");
  return {
    key: `reduce:${kind}:${dt}:group`,
    source,
    inputs: [x.buf],
    output: outBuf,
    meta,
    groups: groups1d(nOut, 1, maxPerDim),
  };
}
