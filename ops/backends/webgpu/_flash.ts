// Flash kernels on WebGPU (see `../flash.ts` for the contract): one WGSL
// shader per kernel and mode, with shapes, strides and literals written into
// the text and the score and mask expressions inlined (`_flash_expr.ts`).
// Pipelines are cached by `flashKey(kernel)` + mode (+ index and binding
// layout). Inputs past the device's storage-buffer limit are copied into
// one packed buffer, as in the fused kernels.

/// <reference types="npm:@webgpu/types@0.1.74" />

import { type Aval, fmtShape, sizeOf } from "../../dtype.ts";
import {
  flashArity,
  flashFloatInputs,
  type FlashKernel,
  flashKey,
  flashOutput,
  type FlashParams,
} from "../flash.ts";
import type { FusedContext, FusedIn } from "./_fused.ts";
export type { FlashOptions } from "./_flash_dispatch.ts";
import type { GpuBuffer } from "./_kernel.ts";
import { type Emit, flashNodes } from "./_flash_expr.ts";
import { rolesOf } from "./_flash_block.ts";
import {
  dispatch,
  type FlashOptions,
  flashSteps,
  type Layout,
  layoutOf,
  LOOP_BUDGET,
  readerOf,
  runBlocked,
} from "./_flash_dispatch.ts";
import {
  capturedRowsBody,
  forwardBody,
  gradQBody,
  tangentBody,
  weightsBody,
} from "./_flash_rows.ts";
import {
  deltaBody,
  gradCapturedBody,
  gradKvBody,
  partialsBody,
  preimageOf,
  rowSumBody,
} from "./_flash_grad.ts";

/** Invocations a grad_captured pass aims for before splitting sums. */
const TARGET_INVOCATIONS = 4096;
/** Grid elements one grad_captured invocation sums at least. */
const MIN_CHUNK = 64;
/** Grid elements one grad_captured invocation sums at most (a loop step each: within llvmpipe's loop budget). */
const MAX_CHUNK = 16384;

const keys = new WeakMap<FlashKernel, string>();

function keyOf(k: FlashKernel): string {
  let s = keys.get(k);
  if (s === undefined) keys.set(k, s = flashKey(k));
  return s;
}

/** Runs a flash kernel (`params`) on its operands; returns the new output buffer. */
export function runFlashKernel(
  ctx: FusedContext,
  params: FlashParams,
  inputs: readonly FusedIn[],
  opts: FlashOptions,
): GpuBuffer {
  const { kernel: k, mode, index } = params;
  const arity = flashArity(k, mode);
  if (inputs.length !== arity) {
    throw new TypeError(
      `flash_attention: ${mode} takes ${arity} operands, got ${inputs.length}`,
    );
  }
  checkFlashOperands(params, inputs);
  const outAval = flashOutput(params);
  const size = sizeOf(outAval.shape);
  const out = ctx.alloc(size * 4);
  if (size === 0) return out;
  const nq = k.queries, nc = k.captured.length;
  const captured = (i: number) => i >= nq + 2 && i < nq + 2 + nc;
  const ops: FusedIn[] = [...inputs];
  const rows = sizeOf(k.batch) * k.tq;
  const temps: GpuBuffer[] = [];
  const kk = keyOf(k);
  const soft = k.normaliser === "softmax";
  if ((mode === "grad_kv" || mode === "grad_captured") && soft) {
    // delta_r = gO_r · O_r − gstat_r, read by every key row.
    const delta = ctx.alloc(Math.max(rows, 1) * 4);
    const base = nq + 2 + nc;
    if (rows) {
      dispatch(
        ctx,
        `flash:delta:${k.dv}:${rows}`,
        [inputs[base]!, inputs[base + 1]!],
        {
          direct: [0, 1],
          packed: [],
        },
        () => deltaBody(k),
        rows,
        delta,
      );
    }
    ops.push({ buf: delta, aval: { shape: [rows], dtype: "float32" } });
    temps.push(delta);
  }
  const l = layoutOf(
    ops.map((x) => x.aval.dtype),
    captured,
    ctx.maxStorageBuffers,
  );
  const fn = flashNodes(k);
  const emit = (): Emit => ({
    kernel: k,
    rows: 1,
    fn,
    read: readerOf(l),
    uses: new Map(),
    chunk: null,
  });
  const roles = rolesOf(k, mode);
  const key = (extra: string) =>
    `flash:${mode}${extra}:${l.direct.length}+${l.packed.length}:${kk}`;
  const blocked = (
    tag: string,
    width: number,
    body: (e: Emit) => string,
    target: GpuBuffer,
    extra: readonly FusedIn[] = [],
  ) =>
    runBlocked({
      ctx,
      kernel: k,
      opts,
      fn,
      captured,
      key: `flash:${mode}${tag}:${kk}`,
      ops: [...ops, ...extra],
      along: mode === "grad_kv" ? "key" : "query",
      passes: mode === "weights" && soft && !extra.length ? 2 : 1,
      width,
      body,
      out: target,
    });
  // out[a] = Σ over `count` elements per a: in `parts` partial sums when
  // out alone has too few elements to keep the device busy, or when one
  // invocation would sum past MAX_CHUNK; then the parts in order.
  const reduce = (
    key: string,
    ins: readonly FusedIn[],
    layout: Layout,
    count: number,
    body: (parts: number) => string,
  ) => {
    const parts = Math.max(
      1,
      Math.ceil(count / MAX_CHUNK),
      Math.min(
        Math.ceil(count / MIN_CHUNK),
        Math.ceil(TARGET_INVOCATIONS / size),
      ),
    );
    if (opts.software && parts > LOOP_BUDGET) {
      throw new RangeError(
        `webgpu: flash ${mode} sums ${count} grid elements per element of its ` +
          `result; at most ${
            LOOP_BUDGET * MAX_CHUNK
          } fit llvmpipe's loop budget`,
      );
    }
    const target = parts > 1 ? ctx.alloc(size * parts * 4) : out;
    const n = size * parts;
    dispatch(ctx, `${key}/${parts}`, ins, layout, () => body(parts), n, target);
    if (parts === 1) return;
    temps.push(target);
    const aval = { shape: [n], dtype: "float32" as const };
    dispatch(
      ctx,
      `flash:partials:${size}:${parts}`,
      [{ buf: target, aval }],
      { direct: [0], packed: [] },
      () => partialsBody(size, parts),
      size,
      out,
    );
  };
  if (mode === "grad_captured") {
    const dc = k.score.partials.captured[index];
    const load = k.score.nodes.find((n) =>
      n.kind === "load" && n.input === index
    );
    const empty = rows * k.tk === 0; // no grid element reads it
    if (
      dc === null || dc === undefined || !load || load.kind !== "load" || empty
    ) {
      ctx.encoder().clearBuffer(out.buffer, 0, size * 4);
    } else if (load.strides[k.batch.length + 1] === 0 && k.tk > 1) {
      // One element per query row: sum each row over the keys in a row
      // kernel, then the rows per element.
      const rowSums = ctx.alloc(rows * 4);
      temps.push(rowSums);
      blocked(
        `${index}rows`,
        1,
        (e) => capturedRowsBody(k, e, roles, dc),
        rowSums,
      );
      const strides = load.strides.slice(0, -1);
      const count = preimageOf({ strides }, [...k.batch, k.tq]).count;
      reduce(
        `flash:rowsum:${load.offset}:${strides}:${k.batch}:${k.tq}:${size}`,
        [{ buf: rowSums, aval: { shape: [rows], dtype: "float32" } }],
        { direct: [0], packed: [] },
        count,
        (parts) => rowSumBody(k, load, size, parts),
      );
    } else {
      const count = preimageOf(load, [...k.batch, k.tq, k.tk]).count;
      reduce(
        key(`${index}`),
        ops,
        l,
        count,
        (parts) => gradCapturedBody(k, emit(), roles, index, parts),
      );
    }
  } else if (mode === "grad_qkv") {
    throw new RangeError(
      "webgpu: flash grad_qkv runs as grad_q and grad_kv (runFlashQkv)",
    );
  } else if (mode === "weights" && soft && k.tk > flashSteps()) {
    // Too long for two passes in one dispatch: lse from the forward kernel
    // (chunked), then one pass per chunk writing P.
    const fwd = runFlashKernel(
      ctx,
      { kernel: k, mode: "forward", index: 0 },
      inputs,
      opts,
    );
    temps.push(fwd);
    const aval = flashOutput({ kernel: k, mode: "forward", index: 0 });
    blocked("lse", 0, (e) => weightsBody(k, e, roles), out, [{
      buf: fwd,
      aval,
    }]);
  } else {
    const body = {
      forward: forwardBody,
      weights: weightsBody,
      grad_q: gradQBody,
      tangent: tangentBody,
      grad_kv: gradKvBody,
    }[mode];
    const width = {
      forward: k.dv + 2,
      weights: 0,
      grad_q: k.queries * k.d,
      tangent: k.dv + 1,
      grad_kv: k.d + k.dv,
    }[mode];
    blocked("", width, (e) => body(k, e, roles), out);
  }
  for (const t of temps) ctx.free(t);
  return out;
}

/** Checks each operand's size and dtype against the kernel (see `flash.ts` for the order). */
export function checkFlashOperands(
  params: FlashParams,
  inputs: readonly FusedIn[],
): void {
  const k = params.kernel, nq = k.queries;
  const base = nq + 2 + k.captured.length, floats = flashFloatInputs(k);
  const want = (i: number): Aval => {
    const f32 = (shape: readonly number[]): Aval => ({
      shape,
      dtype: "float32",
    });
    if (i < nq) return f32([...k.batch, k.tq, k.d]);
    if (i === nq) return f32([...k.batch, k.tk, k.d]);
    if (i === nq + 1) return f32([...k.batch, k.tk, k.dv]);
    if (i < base) return k.captured[i - nq - 2]!;
    if (params.mode === "tangent" && i > base) {
      return want(floats[i - base - 1]!);
    }
    return f32([...k.batch, k.tq, k.dv + 1]); // forward output, cotangent
  };
  inputs.forEach((x, i) => {
    const w = want(i);
    if (sizeOf(w.shape) !== sizeOf(x.aval.shape) || w.dtype !== x.aval.dtype) {
      throw new TypeError(
        `flash_attention: ${params.mode} operand ${i} is ${x.aval.dtype} ${
          fmtShape(x.aval.shape)
        }, the kernel wants ${w.dtype} ${fmtShape(w.shape)}`,
      );
    }
  });
}
