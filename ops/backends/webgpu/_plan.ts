/**
 * How the WebGPU backend runs each primitive: an exhaustive table from
 * primitive to a planner that encodes its dispatches (a primitive without
 * one fails `deno check`). Planners may add steps around the kernel:
 * reductions over axes that are not contiguous, and matmuls whose axis
 * groups do not merge, first transpose their operand into a temporary.
 *
 * @module
 */

/// <reference types="npm:@webgpu/types@0.1.74" />

import { type Aval, sizeOf } from "../../dtype.ts";
import {
  ELEMENTWISE_PRIMITIVES,
  type ElementwisePrimitive,
  type Params,
  type Primitive,
} from "../../primitives.ts";
import { tableOf } from "../contract.ts";
import { type FlashParams, hasFlash } from "../flash.ts";
import type { Dispatch, GpuBuffer } from "./_kernel.ts";
import { elementwiseDispatch } from "./_elementwise.ts";
import {
  broadcastDispatch,
  concatDispatches,
  gatherDispatch,
  iotaDispatch,
  padDispatch,
  randomDispatch,
  scatterAddDispatch,
  sliceDispatch,
  transposeDispatch,
} from "./_layout.ts";
import { reduceDispatch, type ReduceKind, reduceView } from "./_reduce.ts";
import {
  matmulDispatch,
  matmulPlan,
  type MatmulVariant,
  maxChunkK,
  packPerm,
  tiledMatmulDispatch,
} from "./_matmul.ts";

/** An operand: its buffer and abstract value. */
export interface In {
  /** The storage buffer. */
  readonly buf: GpuBuffer;
  /** Shape and dtype. */
  readonly aval: Aval;
}

/** What planners need from the backend. */
export interface PlanContext {
  /** Workgroups allowed per dispatch dimension. */
  readonly maxPerDim: number;
  /** The matmul kernel family in use now. */
  matmulVariant(): MatmulVariant;
  /** A new storage buffer of `bytes`. */
  alloc(bytes: number): GpuBuffer;
  /** Releases a temporary. */
  free(b: GpuBuffer): void;
  /** Records a dispatch in the open batch. */
  encode(d: Dispatch): void;
  /** The open command encoder (for clears and copies). */
  encoder(): GPUCommandEncoder;
  /** The backend, whose `runFlash` (when it has one) runs `flash_attention`. */
  readonly flash?: object;
}

/** Encodes primitive `P` on `ins` into `outBuf`. */
export type GpuKernel<P extends Primitive> = (
  ctx: PlanContext,
  ins: readonly In[],
  params: Params<P>,
  out: Aval,
  outBuf: GpuBuffer,
) => void;

/** One dispatch from a generator of the `_layout.ts` shape. */
function one<P extends Primitive>(
  make: (
    x: In,
    params: Params<P>,
    out: Aval,
    outBuf: GpuBuffer,
    maxPerDim: number,
  ) => Dispatch,
): GpuKernel<P> {
  return (ctx, ins, params, out, outBuf) =>
    ctx.encode(make(ins[0]!, params, out, outBuf, ctx.maxPerDim));
}

/** A temporary buffer holding `x` transposed by `perm`. */
function transposed(ctx: PlanContext, x: In, perm: readonly number[]): In {
  const shape = perm.map((a) => x.aval.shape[a]!);
  const aval = { shape, dtype: x.aval.dtype };
  const buf = ctx.alloc(sizeOf(shape) * 4);
  ctx.encode(transposeDispatch(x, { perm }, aval, buf, ctx.maxPerDim));
  return { buf, aval };
}

/** A reduction or arg-reduction; non-contiguous axes are moved last first. */
function reduce<P extends ReduceKind>(kind: P): GpuKernel<P> {
  return (ctx, ins, params, out, outBuf) => {
    const x = ins[0]!;
    const p = params as Params<ReduceKind>;
    const axes = "axis" in p ? [p.axis] : [...p.axes];
    let src = x;
    let view = reduceView(x.aval.shape, axes);
    let temp: In | null = null;
    if (!view) {
      const kept = x.aval.shape.map((_, i) => i).filter((i) =>
        !axes.includes(i)
      );
      temp = src = transposed(ctx, x, [...kept, ...axes]);
      view = {
        outer: sizeOf(kept.map((a) => x.aval.shape[a]!)),
        r: sizeOf(axes.map((a) => x.aval.shape[a]!)),
        inner: 1,
      };
    }
    ctx.encode(reduceDispatch(kind, src, view, out, outBuf, ctx.maxPerDim));
    if (temp) ctx.free(temp.buf);
  };
}

/** `dot_general`: packs operands to `[batch, rows, cols]` when the plan needs it. */
const dotGeneral: GpuKernel<"dot_general"> = (ctx, ins, p, out, outBuf) => {
  const [lhs, rhs] = ins as [In, In];
  let a = lhs, b = rhs, params = p;
  let plan = matmulPlan(a.aval, b.aval, params);
  const temps: In[] = [];
  if (!plan) {
    const nb = p.lhsBatch.length, nc = p.lhsContract.length;
    a = transposed(
      ctx,
      lhs,
      packPerm(lhs.aval.shape, p.lhsBatch, p.lhsContract, true),
    );
    b = transposed(
      ctx,
      rhs,
      packPerm(rhs.aval.shape, p.rhsBatch, p.rhsContract, false),
    );
    temps.push(a, b);
    const aFree = a.aval.shape.length - nb - nc;
    params = {
      lhsBatch: [...Array(nb).keys()],
      rhsBatch: [...Array(nb).keys()],
      lhsContract: [...Array(nc).keys()].map((i) => nb + aFree + i),
      rhsContract: [...Array(nc).keys()].map((i) => nb + i),
    };
    plan = matmulPlan(a.aval, b.aval, params);
    if (!plan) throw new Error("webgpu: dot_general packing failed");
  }
  if (plan.k === 0) {
    ctx.encoder().clearBuffer(outBuf.buffer, 0, sizeOf(out.shape) * 4);
  } else {
    // A long contracted axis is split into chunks, each a dispatch that adds
    // its partial products to the output in k order (deterministic): no
    // invocation then loops past llvmpipe's limit. On every adapter; the
    // chunks are tens of thousands long, so real GPUs rarely see a split.
    const variant = ctx.matmulVariant();
    const make = variant === "tiled" ? tiledMatmulDispatch : matmulDispatch;
    const step = maxChunkK(variant);
    for (let k0 = 0; k0 < plan.k; k0 += step) {
      const chunk = { ...plan, k: Math.min(step, plan.k - k0) };
      ctx.encode(
        make(a.buf, b.buf, chunk, out.dtype, outBuf, ctx.maxPerDim, {
          aOffset: k0 * plan.a.colStride,
          bOffset: k0 * plan.bv.rowStride,
          accumulate: k0 > 0,
        }),
      );
    }
  }
  for (const t of temps) ctx.free(t.buf);
};

/** One elementwise kernel, with NumPy broadcasting. */
function elementwise<P extends ElementwisePrimitive>(prim: P): GpuKernel<P> {
  return (ctx, ins, params, out, outBuf) =>
    ctx.encode(
      elementwiseDispatch(prim, ins, params, out, outBuf, ctx.maxPerDim),
    );
}

const ELEMENTWISE: { [P in ElementwisePrimitive]: GpuKernel<P> } = tableOf(
  ELEMENTWISE_PRIMITIVES,
  elementwise,
);

/** The planner of every primitive: a missing entry fails `deno check`. */
export const KERNELS: { [P in Primitive]: GpuKernel<P> } = {
  ...ELEMENTWISE,
  reduce_sum: reduce("reduce_sum"),
  reduce_max: reduce("reduce_max"),
  reduce_min: reduce("reduce_min"),
  argmax: reduce("argmax"),
  argmin: reduce("argmin"),
  dot_general: dotGeneral,
  // The backend shares the input's buffer instead; a copy is the same bytes.
  reshape: (ctx, ins, _params, out, outBuf) => {
    const bytes = sizeOf(out.shape) * 4;
    ctx.encoder().copyBufferToBuffer(
      ins[0]!.buf.buffer,
      0,
      outBuf.buffer,
      0,
      bytes,
    );
  },
  transpose: one(transposeDispatch),
  broadcast_in_dim: one(broadcastDispatch),
  slice: one(sliceDispatch),
  pad: one(padDispatch),
  concatenate: (ctx, ins, params, out, outBuf) => {
    for (const d of concatDispatches(ins, params, out, outBuf, ctx.maxPerDim)) {
      ctx.encode(d);
    }
  },
  gather: (ctx, ins, params, out, outBuf) =>
    ctx.encode(
      gatherDispatch(ins[0]!, ins[1]!, params, out, outBuf, ctx.maxPerDim),
    ),
  scatter_add: (ctx, ins, params, out, outBuf) => {
    ctx.encoder().clearBuffer(outBuf.buffer, 0, sizeOf(out.shape) * 4);
    if (sizeOf(ins[0]!.aval.shape) === 0) return;
    ctx.encode(
      scatterAddDispatch(ins[0]!, ins[1]!, params, out, outBuf, ctx.maxPerDim),
    );
  },
  iota: (ctx, _ins, params, out, outBuf) =>
    ctx.encode(iotaDispatch(params, out, outBuf, ctx.maxPerDim)),
  random_uniform: (ctx, ins, params, out, outBuf) =>
    ctx.encode(randomDispatch(ins[0]!, params, out, outBuf, ctx.maxPerDim)),
  custom_lin: () => {
    throw new TypeError(
      "custom_lin has no kernel; it only appears in linear programs",
    );
  },
  // runFlash returns new storage; it is copied into the planned output.
  flash_attention: (ctx, ins, params, out, outBuf) => {
    if (!ctx.flash || !hasFlash(ctx.flash)) {
      throw new Error(
        "webgpu: flash_attention has no WGSL kernel yet (this backend has no runFlash); use the cpu backend",
      );
    }
    const operands = ins.map((x) => ({ handle: x.buf, aval: x.aval }));
    const res = ctx.flash.runFlash(
      params as FlashParams,
      operands,
    ) as GpuBuffer;
    const bytes = sizeOf(out.shape) * 4;
    ctx.encoder().copyBufferToBuffer(res.buffer, 0, outBuf.buffer, 0, bytes);
    ctx.free(res);
  },
};
