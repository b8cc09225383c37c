/**
 * `dot_general` on the CPU: operands are permuted into `[B, M, K]` and
 * `[B, K, N]`, then each batch runs a cache-blocked matmul.
 *
 * The float32 kernel walks `K×N` panels of the right operand (packed into a
 * contiguous buffer that stays in cache) and updates four output rows with
 * four `k` at a time, so every load of the panel feeds 16 multiply-adds and
 * each output element is loaded and stored once per four `k`. Sums build
 * up in the float32 output rows, as a GPU kernel's would.
 *
 * @module
 */

import { type HostArray, hostArray } from "../dtype.ts";
import {
  type CpuKernel,
  type CpuOperand,
  permuted,
  prod,
} from "./_cpu_common.ts";

/** Panel depth along K and width along N (a 256 KiB panel). */
const KC = 128;
const NC = 512;

/** One batch's problem: `C[M,N] += A[M,K] · B[K,N]` at the given offsets. */
interface Gemm<T extends HostArray> {
  readonly a: T;
  readonly aOff: number;
  readonly b: T;
  readonly bOff: number;
  readonly c: T;
  readonly cOff: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
}

/**
 * Adds `A[:, k0:k0+kn] · P` into `C[:, j0:j0+jn]`, where the panel P holds
 * `B[k0:k0+kn, j0:j0+jn]` at `p[po + k*ps + j]`.
 */
function panelF32(
  g: Gemm<Float32Array>,
  k0: number,
  kn: number,
  j0: number,
  jn: number,
  p: Float32Array,
  po: number,
  ps: number,
): void {
  const { a, c, m, k: K, n: N } = g;
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const c0 = g.cOff + i * N + j0, c1 = c0 + N, c2 = c1 + N, c3 = c2 + N;
    const r0 = g.aOff + i * K + k0, r1 = r0 + K, r2 = r1 + K, r3 = r2 + K;
    let k = 0;
    for (; k + 4 <= kn; k += 4) {
      const a00 = a[r0 + k]!,
        a01 = a[r0 + k + 1]!,
        a02 = a[r0 + k + 2]!,
        a03 = a[r0 + k + 3]!;
      const a10 = a[r1 + k]!,
        a11 = a[r1 + k + 1]!,
        a12 = a[r1 + k + 2]!,
        a13 = a[r1 + k + 3]!;
      const a20 = a[r2 + k]!,
        a21 = a[r2 + k + 1]!,
        a22 = a[r2 + k + 2]!,
        a23 = a[r2 + k + 3]!;
      const a30 = a[r3 + k]!,
        a31 = a[r3 + k + 1]!,
        a32 = a[r3 + k + 2]!,
        a33 = a[r3 + k + 3]!;
      const b0 = po + k * ps, b1 = b0 + ps, b2 = b1 + ps, b3 = b2 + ps;
      for (let j = 0; j < jn; j++) {
        const x0 = p[b0 + j]!,
          x1 = p[b1 + j]!,
          x2 = p[b2 + j]!,
          x3 = p[b3 + j]!;
        c[c0 + j]! += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3;
        c[c1 + j]! += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3;
        c[c2 + j]! += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3;
        c[c3 + j]! += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3;
      }
    }
    for (; k < kn; k++) {
      const a0 = a[r0 + k]!, a1 = a[r1 + k]!, a2 = a[r2 + k]!, a3 = a[r3 + k]!;
      const b0 = po + k * ps;
      for (let j = 0; j < jn; j++) {
        const x = p[b0 + j]!;
        c[c0 + j]! += a0 * x;
        c[c1 + j]! += a1 * x;
        c[c2 + j]! += a2 * x;
        c[c3 + j]! += a3 * x;
      }
    }
  }
  for (; i < m; i++) {
    const c0 = g.cOff + i * N + j0, r0 = g.aOff + i * K + k0;
    let k = 0;
    for (; k + 4 <= kn; k += 4) {
      const a0 = a[r0 + k]!,
        a1 = a[r0 + k + 1]!,
        a2 = a[r0 + k + 2]!,
        a3 = a[r0 + k + 3]!;
      const b0 = po + k * ps, b1 = b0 + ps, b2 = b1 + ps, b3 = b2 + ps;
      for (let j = 0; j < jn; j++) {
        c[c0 + j]! += a0 * p[b0 + j]! + a1 * p[b1 + j]! + a2 * p[b2 + j]! +
          a3 * p[b3 + j]!;
      }
    }
    for (; k < kn; k++) {
      const a0 = a[r0 + k]!, b0 = po + k * ps;
      for (let j = 0; j < jn; j++) c[c0 + j]! += a0 * p[b0 + j]!;
    }
  }
}

/**
 * Blocked float32 matmul. `pack` is scratch space of KC·NC floats, or null
 * to read panels of B in place (with few rows, copying a panel costs as
 * much as using it).
 */
function gemmF32(g: Gemm<Float32Array>, pack: Float32Array | null): void {
  const { b, k: K, n: N } = g;
  for (let j0 = 0; j0 < N; j0 += NC) {
    const jn = Math.min(NC, N - j0);
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kn = Math.min(KC, K - k0);
      const start = g.bOff + k0 * N + j0;
      if (pack) {
        for (let k = 0; k < kn; k++) {
          pack.set(b.subarray(start + k * N, start + k * N + jn), k * jn);
        }
        panelF32(g, k0, kn, j0, jn, pack, 0, jn);
      } else {
        panelF32(g, k0, kn, j0, jn, b, start, N);
      }
    }
  }
}

/** Plain i-k-j int32 matmul; products and sums wrap modulo 2^32. */
function gemmInt32(g: Gemm<Int32Array>): void {
  const { a, b, c, m, k: K, n: N } = g;
  for (let i = 0; i < m; i++) {
    const ci = g.cOff + i * N;
    for (let k = 0; k < K; k++) {
      const aik = a[g.aOff + i * K + k]!, bk = g.bOff + k * N;
      for (let j = 0; j < N; j++) c[ci + j]! += Math.imul(aik, b[bk + j]!);
    }
  }
}

/** The operand's storage with its axes in `order`, copied only if needed. */
function arranged(x: CpuOperand, order: readonly number[]): HostArray {
  const identity = order.every((a, i) => a === i);
  return identity ? x.handle : permuted(x.handle, x.aval.shape, order);
}

/**
 * `dot_general`: output axes are the batch axes (in `lhsBatch` order), then
 * the lhs free axes, then the rhs free axes (each ascending). Contracting
 * axes pair up in the order of the contract lists.
 */
export const dotGeneralKernel: CpuKernel<"dot_general"> = (
  inputs,
  params,
  out,
) => {
  const [x, y] = inputs as [CpuOperand, CpuOperand];
  const { lhsContract, rhsContract, lhsBatch, rhsBatch } = params;
  const xs = x.aval.shape, ys = y.aval.shape;
  const lFree = [...xs.keys()].filter((a) =>
    !lhsContract.includes(a) && !lhsBatch.includes(a)
  );
  const rFree = [...ys.keys()].filter((a) =>
    !rhsContract.includes(a) && !rhsBatch.includes(a)
  );
  const batch = prod(lhsBatch.map((a) => xs[a]!));
  const m = prod(lFree.map((a) => xs[a]!));
  const k = prod(lhsContract.map((a) => xs[a]!));
  const n = prod(rFree.map((a) => ys[a]!));
  const a = arranged(x, [...lhsBatch, ...lFree, ...lhsContract]); // [B, M, K]
  const b = arranged(y, [...rhsBatch, ...rhsContract, ...rFree]); // [B, K, N]
  const c = hostArray(out.dtype, batch * m * n); // [B, M, N]
  const isFloat = out.dtype === "float32";
  const pack = isFloat && m > 4 ? new Float32Array(KC * Math.min(NC, n)) : null;
  for (let t = 0; t < batch; t++) {
    const g = {
      a,
      aOff: t * m * k,
      b,
      bOff: t * k * n,
      c,
      cOff: t * m * n,
      m,
      k,
      n,
    };
    if (isFloat) gemmF32(g as Gemm<Float32Array>, pack);
    else gemmInt32(g as Gemm<Int32Array>);
  }
  return c;
};
