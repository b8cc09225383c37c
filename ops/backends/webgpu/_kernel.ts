// What a kernel generator hands the WebGPU backend: a cached pipeline key,
// its WGSL source, buffers and metadata. Also the shape helpers the
// generators share (collapsing axes, strides).

import { fmtShape, stridesOf } from "../../dtype.ts";
import { MAX_RANK } from "./_wgsl.ts";

/** A storage buffer with a reference count (views share one buffer). */
export interface GpuBuffer {
  /** The device buffer. */
  readonly buffer: GPUBuffer;
  /** Bytes requested (the buffer may be larger: pools round sizes up). */
  readonly bytes: number;
  /** Live references (tensors and views sharing the buffer). */
  refs: number;
  /** The device generation this buffer belongs to (see device loss). */
  readonly generation: number;
}

/** One compute dispatch. */
export interface Dispatch {
  /** Pipeline cache key, built from metadata (op, dtypes, variant), never from source text. */
  readonly key: string;
  /** Builds the WGSL source on a cache miss. */
  readonly source: () => string;
  /** Read-only inputs, bound at 1..n. */
  readonly inputs: readonly GpuBuffer[];
  /** The output, bound at n+1. */
  readonly output: GpuBuffer;
  /** Metadata words (u32) for the uniform slot. */
  readonly meta: readonly number[];
  /** Workgroup counts; for 1-D kernels use {@link groups1d}. */
  readonly groups: readonly [number, number, number];
}

/** Workgroup counts covering `n` invocations of a 1-D kernel, split over two dimensions. */
export function groups1d(
  n: number,
  wg: number,
  maxPerDim: number,
): [number, number, number] {
  const total = Math.max(1, Math.ceil(n / wg));
  if (total <= maxPerDim) return [total, 1, 1];
  const y = Math.ceil(total / maxPerDim);
  return [Math.ceil(total / y), y, 1];
}

/**
 * Drops size-1 axes and merges neighbouring axes that every operand can
 * address with one stride. `strides[k][j]` is operand k's stride on output
 * axis j (0 where it broadcasts).
 */
export function collapse(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let j = 0; j < shape.length; j++) {
    const d = shape[j]!;
    if (d === 1) continue;
    const last = outShape.length - 1;
    const mergeable = last >= 0 &&
      strides.every((s, k) => outStrides[k]![last] === s[j]! * d);
    if (mergeable) {
      outShape[last] = outShape[last]! * d;
      strides.forEach((s, k) => (outStrides[k]![last] = s[j]!));
    } else {
      outShape.push(d);
      strides.forEach((s, k) => outStrides[k]!.push(s[j]!));
    }
  }
  if (outShape.length > MAX_RANK) {
    throw new RangeError(
      `webgpu: shape ${
        fmtShape(shape)
      } has more than ${MAX_RANK} axes that cannot be merged`,
    );
  }
  return { shape: outShape, strides: outStrides };
}

/** Strides of an operand of `inShape` broadcast against `outShape` (right-aligned). */
export function broadcastStrides(
  inShape: readonly number[],
  outShape: readonly number[],
): number[] {
  const rs = stridesOf(inShape);
  const off = outShape.length - inShape.length;
  return outShape.map((_, j) => {
    const i = j - off;
    return i < 0 || inShape[i] === 1 ? 0 : rs[i]!;
  });
}

/** WGSL that turns flat index `i` into `base` + a strided offset (runtime rank, shape, strides). */
export function stridedOffset(
  name: string,
  rankWord: number,
  shapeWord: number,
  strideWord: number,
  base = "0u",
): string {
  return `
  var ${name} = ${base};
  {
    var rem = i;
    let rank = m(${rankWord}u);
    for (var j = rank; j > 0u; j--) {
      let d = m(${shapeWord}u + j - 1u);
      ${name} = ${name} + (rem % d) * m(${strideWord}u + j - 1u);
      rem = rem / d;
    }
  }`;
}
