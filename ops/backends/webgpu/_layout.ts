// Data-movement kernels: one strided copy serves transpose, broadcast_in_dim,
// slice and pad; placement for concatenate; gather and scatter_add (with a
// compare-and-swap float add); iota and Threefry sampling.

import { type Aval, sizeOf } from "../../dtype.ts";
import type { Params } from "../../primitives.ts";
import {
  collapse,
  type Dispatch,
  type GpuBuffer,
  groups1d,
  stridedOffset,
} from "./_kernel.ts";
import { stridesOf } from "../../dtype.ts";
import {
  entry1d,
  f32Bits,
  header,
  META_WORDS,
  THREEFRY,
  WG,
  wgslType,
} from "./_wgsl.ts";

type In = { buf: GpuBuffer; aval: Aval };

/**
 * out[coords] = in[offset + Σ (coord_j - lo_j)·stride_j], or `fill` where a
 * coordinate falls outside `[lo_j, lo_j + extent_j)` (pad only).
 */
function stridedCopy(
  x: In,
  out: Aval,
  outBuf: GpuBuffer,
  strides: readonly number[],
  offset: number,
  maxPerDim: number,
  pad?: { lo: readonly number[]; extent: readonly number[]; fill: number },
): Dispatch {
  const size = sizeOf(out.shape);
  const t = wgslType(out.dtype);
  const meta: number[] = [size, 0];
  if (!pad) {
    const c = collapse(out.shape, [strides]);
    meta[1] = c.shape.length;
    for (let j = 0; j < 8; j++) {
      meta[2 + j] = c.shape[j] ?? 1;
      meta[10 + j] = c.strides[0]![j] ?? 0;
    }
    meta[18] = offset;
    return {
      key: `copy:${out.dtype}`,
      source: () =>
        [
          header([t], t),
          entry1d(`
${stridedOffset("src", 1, 2, 10, "m(18u)")}
  out[i] = in0[src];`),
        ].join("\n"),
      inputs: [x.buf],
      output: outBuf,
      meta,
      groups: groups1d(size, WG, maxPerDim),
    };
  }
  const r = out.shape.length;
  meta[1] = r;
  for (let j = 0; j < r; j++) {
    meta[2 + j] = out.shape[j]!;
    meta[10 + j] = strides[j]!;
    meta[18 + j] = pad.lo[j]!;
    meta[26 + j] = pad.extent[j]!;
  }
  meta[34] = offset;
  meta[35] = out.dtype === "float32" ? f32Bits(pad.fill) : pad.fill >>> 0;
  const fill = out.dtype === "float32"
    ? "bitcast<f32>(m(35u))"
    : `${t}(m(35u))`;
  return {
    key: `pad:${out.dtype}`,
    source: () =>
      [
        header([t], t),
        entry1d(`
  var src = m(34u);
  var rem = i;
  var inside = true;
  for (var j = m(1u); j > 0u; j--) {
    let d = m(2u + j - 1u);
    let c = i32(rem % d) - i32(m(18u + j - 1u));
    inside = inside && c >= 0 && c < i32(m(26u + j - 1u));
    src = src + u32(max(c, 0)) * m(10u + j - 1u);
    rem = rem / d;
  }
  if (inside) { out[i] = in0[src]; } else { out[i] = ${fill}; }`),
      ].join("\n"),
    inputs: [x.buf],
    output: outBuf,
    meta,
    groups: groups1d(size, WG, maxPerDim),
  };
}

/** transpose: out axis j reads input axis perm[j]. */
export function transposeDispatch(
  x: In,
  p: Params<"transpose">,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch {
  const s = stridesOf(x.aval.shape);
  return stridedCopy(x, out, outBuf, p.perm.map((a) => s[a]!), 0, maxPerDim);
}

/** broadcast_in_dim: stride 0 on new and stretched axes. */
export function broadcastDispatch(
  x: In,
  p: Params<"broadcast_in_dim">,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch {
  const s = stridesOf(x.aval.shape);
  const strides = out.shape.map((_, j) => {
    const i = p.dims.indexOf(j);
    return i < 0 || x.aval.shape[i] === 1 ? 0 : s[i]!;
  });
  return stridedCopy(x, out, outBuf, strides, 0, maxPerDim);
}

/** slice: the input's strides, starting at the offset of `start`. */
export function sliceDispatch(
  x: In,
  p: Params<"slice">,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch {
  const s = stridesOf(x.aval.shape);
  const offset = p.start.reduce((acc, st, j) => acc + st * s[j]!, 0);
  return stridedCopy(x, out, outBuf, s, offset, maxPerDim);
}

/** pad: reads inside the original extent, fills elsewhere. */
export function padDispatch(
  x: In,
  p: Params<"pad">,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch {
  return stridedCopy(x, out, outBuf, stridesOf(x.aval.shape), 0, maxPerDim, {
    lo: p.lo,
    extent: x.aval.shape,
    fill: p.value,
  });
}

/** concatenate: one dispatch per operand, placing it at its offset along `axis`. */
export function concatDispatches(
  xs: readonly In[],
  p: Params<"concatenate">,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch[] {
  const outStrides = stridesOf(out.shape);
  const t = wgslType(out.dtype);
  let offset = 0;
  const ds: Dispatch[] = [];
  for (const x of xs) {
    const size = sizeOf(x.aval.shape);
    const base = offset * outStrides[p.axis]!;
    offset += x.aval.shape[p.axis]!;
    if (size === 0) continue;
    const c = collapse(x.aval.shape, [outStrides]);
    const meta = [size, c.shape.length];
    for (let j = 0; j < 8; j++) {
      meta[2 + j] = c.shape[j] ?? 1;
      meta[10 + j] = c.strides[0]![j] ?? 0;
    }
    meta[18] = base;
    ds.push({
      key: `place:${out.dtype}`,
      source: () =>
        [
          header([t], t),
          entry1d(`
${stridedOffset("dst", 1, 2, 10, "m(18u)")}
  out[dst] = in0[i];`),
        ].join("\n"),
      inputs: [x.buf],
      output: outBuf,
      meta,
      groups: groups1d(size, WG, maxPerDim),
    });
  }
  return ds;
}

/** Splits a gather/scatter index into (outer, position in idx, inner). */
const SPLIT = `
  let inner = m(1u);
  let nIdx = m(2u);
  let n = m(3u);
  let inn = i % inner;
  let t = i / inner;
  let pos = t % nIdx;
  let outer = t / nIdx;
  var k = in1[pos];
  if (k < 0) { k = k + i32(n); }
  let kk = u32(clamp(k, 0, i32(n) - 1));
  let j = (outer * n + kk) * inner + inn;`;

/** gather(x, idx) along `axis`, clamping indices (negative ones wrap once). */
export function gatherDispatch(
  x: In,
  idx: In,
  p: Params<"gather">,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch {
  const size = sizeOf(out.shape);
  const inner = sizeOf(x.aval.shape.slice(p.axis + 1));
  const t = wgslType(out.dtype);
  return {
    key: `gather:${out.dtype}`,
    source: () =>
      [header([t, "i32"], t), entry1d(`${SPLIT}\n  out[i] = in0[j];`)].join(
        "\n",
      ),
    inputs: [x.buf, idx.buf],
    output: outBuf,
    meta: [size, inner, sizeOf(idx.aval.shape), x.aval.shape[p.axis]!],
    groups: groups1d(size, WG, maxPerDim),
  };
}

/** scatter_add(updates, idx): atomic adds into a zeroed output (float via CAS). */
export function scatterAddDispatch(
  u: In,
  idx: In,
  p: Params<"scatter_add">,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch {
  const size = sizeOf(u.aval.shape);
  const inner = sizeOf(p.shape.slice(p.axis + 1));
  const f = out.dtype === "float32";
  const add = f
    ? `
  var old = atomicLoad(&out[j]);
  loop {
    let r = atomicCompareExchangeWeak(&out[j], old, bitcast<u32>(bitcast<f32>(old) + in0[i]));
    if (r.exchanged) { break; }
    old = r.old_value;
  }`
    : `\n  atomicAdd(&out[j], in0[i]);`;
  return {
    key: `scatter:${out.dtype}`,
    source: () =>
      [
        header([f ? "f32" : "i32", "i32"], f ? "u32" : "i32", true),
        entry1d(`${SPLIT}${add}`),
      ].join("\n"),
    inputs: [u.buf, idx.buf],
    output: outBuf,
    meta: [size, inner, sizeOf(idx.aval.shape), p.shape[p.axis]!],
    groups: groups1d(size, WG, maxPerDim),
  };
}

/** iota: the coordinate along `dim`. */
export function iotaDispatch(
  p: Params<"iota">,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch {
  const size = sizeOf(out.shape);
  const t = wgslType(out.dtype);
  const v = out.dtype === "bool" ? "select(0u, 1u, c != 0u)" : `${t}(c)`;
  return {
    key: `iota:${out.dtype}`,
    source: () =>
      [
        header([], t),
        entry1d(`  let c = (i / m(1u)) % m(2u);\n  out[i] = ${v};`),
      ].join("\n"),
    inputs: [],
    output: outBuf,
    meta: [size, stridesOf(out.shape)[p.dim]!, out.shape[p.dim]!],
    groups: groups1d(size, WG, maxPerDim),
  };
}

/**
 * random_uniform: the key operand with the path (meta[2..]) folded in,
 * then bits of Threefry(key, (i, 0)) mapped to [0, 1). Every invocation
 * folds the path itself: a few Threefry calls, and no second dispatch.
 */
export function randomDispatch(
  key: In,
  p: Params<"random_uniform">,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch {
  const size = sizeOf(out.shape);
  if (2 + 2 * p.path.length > META_WORDS) {
    throw new RangeError(
      `random_uniform: a key path of ${p.path.length} steps does not fit the WebGPU kernel's metadata`,
    );
  }
  return {
    key: "random_uniform",
    source: () =>
      [
        header(["i32"], "f32"),
        THREEFRY,
        entry1d(`
  var k = vec2<u32>(bitcast<u32>(in0[0]), bitcast<u32>(in0[1]));
  for (var j = 0u; j < m(1u); j++) {
    k = threefry(k.x, k.y, m(2u + 2u * j), m(3u + 2u * j));
  }
  let pair = threefry(k.x, k.y, i >> 1u, 0u);
  let bits = select(pair.x, pair.y, (i & 1u) == 1u);
  out[i] = f32(bits >> 9u) * 1.1920928955078125e-7;`),
      ].join("\n"),
    inputs: [key.buf],
    output: outBuf,
    meta: [
      size,
      p.path.length,
      ...p.path.flatMap(([a, b]) => [a >>> 0, b >>> 0]),
    ],
    groups: groups1d(size, WG, maxPerDim),
  };
}
