// dot_general as a batched matmul C[b] = A[b] · B[b] over strided operands.
// Each invocation computes a TM×TN block in registers, with no workgroup
// memory: on llvmpipe this beats shared-memory tiling, and more FMAs per
// load win (an 8×8 block ran twice as fast as 4×4 on an AVX2 machine).

import { type Aval, sizeOf } from "../../dtype.ts";
import type { DotGeneralParams } from "../../primitives.ts";
import type { Dispatch, GpuBuffer } from "./_kernel.ts";
import { stridesOf } from "../../dtype.ts";
import { header, wgslType } from "./_wgsl.ts";

/** A batched-matmul view of one operand: a single stride per group. */
export interface MatView {
  readonly batchStride: number;
  readonly rowStride: number;
  readonly colStride: number;
}

/**
 * The single stride that walks `axes` (in that order) of a row-major
 * tensor, or null if those axes cannot be merged into one.
 */
function mergedStride(
  shape: readonly number[],
  axes: readonly number[],
): number | null {
  const s = stridesOf(shape);
  const live = axes.filter((a) => shape[a] !== 1);
  if (live.length === 0) return 0;
  for (let i = 0; i + 1 < live.length; i++) {
    if (s[live[i]!] !== s[live[i + 1]!]! * shape[live[i + 1]!]!) return null;
  }
  return s[live[live.length - 1]!]!;
}

/** Sizes and strided views for dot_general, or null when an operand must be packed first. */
export function matmulPlan(
  lhs: Aval,
  rhs: Aval,
  p: DotGeneralParams,
):
  | { b: number; m: number; n: number; k: number; a: MatView; bv: MatView }
  | null {
  const lFree = lhs.shape.map((_, i) => i).filter((i) =>
    !p.lhsContract.includes(i) && !p.lhsBatch.includes(i)
  );
  const rFree = rhs.shape.map((_, i) => i).filter((i) =>
    !p.rhsContract.includes(i) && !p.rhsBatch.includes(i)
  );
  const size = (shape: readonly number[], axes: readonly number[]) =>
    axes.reduce((acc, a) => acc * shape[a]!, 1);
  const aB = mergedStride(lhs.shape, p.lhsBatch),
    aM = mergedStride(lhs.shape, lFree),
    aK = mergedStride(lhs.shape, p.lhsContract);
  const bB = mergedStride(rhs.shape, p.rhsBatch),
    bK = mergedStride(rhs.shape, p.rhsContract),
    bN = mergedStride(rhs.shape, rFree);
  if ([aB, aM, aK, bB, bK, bN].some((s) => s === null)) return null;
  return {
    b: size(lhs.shape, p.lhsBatch),
    m: size(lhs.shape, lFree),
    n: size(rhs.shape, rFree),
    k: size(lhs.shape, p.lhsContract),
    a: { batchStride: aB!, rowStride: aM!, colStride: aK! },
    bv: { batchStride: bB!, rowStride: bK!, colStride: bN! },
  };
}

/** The permutation that packs an operand to [batch..., rows..., cols...]. */
export function packPerm(
  shape: readonly number[],
  batch: readonly number[],
  contract: readonly number[],
  contractLast: boolean,
): number[] {
  const free = shape.map((_, i) => i).filter((i) =>
    !batch.includes(i) && !contract.includes(i)
  );
  return contractLast
    ? [...batch, ...free, ...contract]
    : [...batch, ...contract, ...free];
}

/**
 * One slice of the contracted axis: the kernel reads A and B from element
 * offsets `aOffset`/`bOffset` (the chunk's first k), and adds its partial
 * products to what `out` holds when `accumulate` is set.
 */
export interface KChunk {
  readonly aOffset: number;
  readonly bOffset: number;
  readonly accumulate: boolean;
}

const WHOLE: KChunk = { aOffset: 0, bOffset: 0, accumulate: false };

/**
 * The most loop iterations one invocation may run. Mesa's llvmpipe ends an
 * invocation after 65,535 loop iterations in all and carries on with wrong
 * results; half of that leaves a margin for the kernels' other loops.
 */
export const MAX_LOOP_ITERATIONS = 32768;

/**
 * The largest contracted size one dispatch of `variant` may take, so that no
 * invocation loops more than {@link MAX_LOOP_ITERATIONS} times. The blocked
 * kernel runs one iteration per k; the tiled one, per 16 k, one outer
 * iteration, 4 loading and 16 multiplying ones (21 per 16 k).
 */
export function maxChunkK(variant: MatmulVariant): number {
  return variant === "tiled"
    ? 16 * Math.floor(MAX_LOOP_ITERATIONS / 21)
    : MAX_LOOP_ITERATIONS;
}

/** The metadata words both matmul kernels read: sizes, A's and B's strides, then the chunk. */
function matmulMeta(
  plan: NonNullable<ReturnType<typeof matmulPlan>>,
  chunk: KChunk,
): number[] {
  const { a, bv } = plan;
  return [
    sizeOf([plan.b, plan.m, plan.n]),
    plan.m,
    plan.n,
    plan.k,
    a.batchStride,
    a.rowStride,
    a.colStride,
    bv.batchStride,
    bv.rowStride,
    bv.colStride,
    chunk.aOffset,
    chunk.bOffset,
    chunk.accumulate ? 1 : 0,
  ];
}

/** Block sizes per invocation. */
export interface Blocking {
  readonly tm: number;
  readonly tn: number;
}

/** Picks the register block for an m×n output. */
export function chooseBlocking(m: number, n: number): Blocking {
  if (m >= 64 && n >= 64) return { tm: 8, tn: 8 };
  if (m >= 16 && n >= 16) return { tm: 4, tn: 4 };
  return { tm: 2, tn: 2 };
}

/** Plans the register-blocked matmul dispatch. */
export function matmulDispatch(
  a: GpuBuffer,
  b: GpuBuffer,
  plan: NonNullable<ReturnType<typeof matmulPlan>>,
  dtype: Aval["dtype"],
  outBuf: GpuBuffer,
  maxPerDim: number,
  chunk: KChunk = WHOLE,
): Dispatch {
  const { tm, tn } = chooseBlocking(plan.m, plan.n);
  const t = wgslType(dtype);
  const f = dtype === "float32";
  const WX = 8, WY = 8;
  const meta = matmulMeta(plan, chunk);
  const gx = Math.ceil(plan.n / (WX * tn)), gy = Math.ceil(plan.m / (WY * tm));
  if (gx > maxPerDim || gy > maxPerDim || plan.b > maxPerDim) {
    throw new RangeError(
      `webgpu: matmul [${plan.b}, ${plan.m}, ${plan.n}] exceeds the dispatch limits`,
    );
  }
  const source = () => {
    const lines: string[] = [];
    for (let i = 0; i < tm; i++) {
      for (let j = 0; j < tn; j++) {
        lines.push(`  var c${i}_${j}: ${t} = ${f ? "0.0" : "0"};`);
      }
    }
    const rows: string[] = [];
    for (let i = 0; i < tm; i++) {
      rows.push(
        `    let a${i} = in0[aBase + min(row0 + ${i}u, mLast) * sAm + kk * sAk];`,
      );
    }
    for (let j = 0; j < tn; j++) {
      rows.push(
        `    let b${j} = in1[bBase + kk * sBk + min(col0 + ${
          j * WX
        }u, nLast) * sBn];`,
      );
    }
    for (let i = 0; i < tm; i++) {
      for (let j = 0; j < tn; j++) {
        rows.push(
          f
            ? `    c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`
            : `    c${i}_${j} = c${i}_${j} + a${i} * b${j};`,
        );
      }
    }
    const writes: string[] = [];
    for (let i = 0; i < tm; i++) {
      writes.push(`  if (row0 + ${i}u < M) {`);
      for (let j = 0; j < tn; j++) {
        writes.push(
          `    if (col0 + ${
            j * WX
          }u < N) { let o = cBase + (row0 + ${i}u) * N + col0 + ${
            j * WX
          }u; out[o] = select(c${i}_${j}, out[o] + c${i}_${j}, acc); }`,
        );
      }
      writes.push("  }");
    }
    // Columns are interleaved across the workgroup's x lanes (col = base +
    // lane + ${WX}·j), so neighbouring invocations read neighbouring memory.
    return `${header([t, t], t)}
@compute @workgroup_size(${WX}, ${WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = m(1u); let N = m(2u); let K = m(3u);
  let row0 = gid.y * ${tm}u;
  let col0 = wid.x * ${WX * tn}u + lid.x;
  if (row0 >= M || col0 >= N) { return; }
  let batch = gid.z;
  let mLast = M - 1u; let nLast = N - 1u;
  let aBase = m(10u) + batch * m(4u); let sAm = m(5u); let sAk = m(6u);
  let bBase = m(11u) + batch * m(7u); let sBk = m(8u); let sBn = m(9u);
  let cBase = batch * M * N; let acc = m(12u) != 0u;
${lines.join("\n")}
  for (var kk = 0u; kk < K; kk++) {
${rows.join("\n")}
  }
${writes.join("\n")}
}`;
  };
  return {
    key: `matmul:${dtype}:${tm}x${tn}`,
    source,
    inputs: [a, b],
    output: outBuf,
    meta,
    groups: [gx, gy, plan.b],
  };
}

/** The matmul kernel families: register-blocked (software adapters) or tiled in workgroup memory (GPUs). */
export type MatmulVariant = "blocked" | "tiled";

/**
 * A 64×64 output tile per workgroup of 16×16 invocations, staged through
 * workgroup memory in K-slices of 16, each invocation holding a 4×4 block.
 * On real GPUs this reuse of each loaded value 64 times wins; on llvmpipe
 * the barriers and workgroup memory cost more than they save.
 */
export function tiledMatmulDispatch(
  a: GpuBuffer,
  b: GpuBuffer,
  plan: NonNullable<ReturnType<typeof matmulPlan>>,
  dtype: Aval["dtype"],
  outBuf: GpuBuffer,
  maxPerDim: number,
  chunk: KChunk = WHOLE,
): Dispatch {
  const t = wgslType(dtype);
  const zero = dtype === "float32" ? "0.0" : "0";
  const meta = matmulMeta(plan, chunk);
  const gx = Math.ceil(plan.n / 64), gy = Math.ceil(plan.m / 64);
  if (gx > maxPerDim || gy > maxPerDim || plan.b > maxPerDim) {
    throw new RangeError(
      `webgpu: matmul [${plan.b}, ${plan.m}, ${plan.n}] exceeds the dispatch limits`,
    );
  }
  const acc: string[] = [], fmas: string[] = [], writes: string[] = [];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      acc.push(`  var c${i}_${j}: ${t} = ${zero};`);
      fmas.push(
        dtype === "float32"
          ? `      c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`
          : `      c${i}_${j} = c${i}_${j} + a${i} * b${j};`,
      );
      writes.push(
        `  if (r0 + ${i}u < M && c0 + ${j}u < N) { let o = cBase + (r0 + ${i}u) * N + c0 + ${j}u; out[o] = select(c${i}_${j}, out[o] + c${i}_${j}, acc); }`,
      );
    }
  }
  const loadsA = [0, 1, 2, 3].map((i) =>
    `      let a${i} = As[kk * 64u + lid.y * 4u + ${i}u];`
  ).join("\n");
  const loadsB = [0, 1, 2, 3].map((j) =>
    `      let b${j} = Bs[kk * 64u + lid.x * 4u + ${j}u];`
  ).join("\n");
  const source = () =>
    `${header([t, t], t)}
var<workgroup> As: array<${t}, 1024>;
var<workgroup> Bs: array<${t}, 1024>;
@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = m(1u); let N = m(2u); let K = m(3u);
  let batch = wid.z;
  let row0 = wid.y * 64u; let col0 = wid.x * 64u;
  let aBase = m(10u) + batch * m(4u); let sAm = m(5u); let sAk = m(6u);
  let bBase = m(11u) + batch * m(7u); let sBk = m(8u); let sBn = m(9u);
  let cBase = batch * M * N; let acc = m(12u) != 0u;
  let tid = lid.y * 16u + lid.x;
${acc.join("\n")}
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    for (var l = 0u; l < 4u; l++) {
      let idx = tid + l * 256u;
      let r = idx / 16u; let ka = idx % 16u;
      let gr = row0 + r; let gk = k0 + ka;
      let va = in0[aBase + min(gr, M - 1u) * sAm + min(gk, K - 1u) * sAk];
      As[ka * 64u + r] = select(${zero}, va, gr < M && gk < K);
      let kb = idx / 64u; let c = idx % 64u;
      let gc = col0 + c; let gk2 = k0 + kb;
      let vb = in1[bBase + min(gk2, K - 1u) * sBk + min(gc, N - 1u) * sBn];
      Bs[kb * 64u + c] = select(${zero}, vb, gc < N && gk2 < K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
${loadsA}
${loadsB}
${fmas.join("\n")}
    }
    workgroupBarrier();
  }
  let r0 = row0 + lid.y * 4u; let c0 = col0 + lid.x * 4u;
${writes.join("\n")}
}`;
  return {
    key: `matmul:${dtype}:tiled64`,
    source,
    inputs: [a, b],
    output: outBuf,
    meta,
    groups: [gx, gy, plan.b],
  };
}
