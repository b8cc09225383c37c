// Flash kernels on WebGPU (see `../flash.ts` for the contract): one WGSL
// shader per kernel and mode, with shapes, strides and literals written into
// the text and the score and mask expressions inlined (`_flash_expr.ts`).
// Pipelines are cached by `flashKey(kernel)` + mode (+ index and binding
// layout). Inputs past the device's storage-buffer limit are copied into
// one packed buffer, as in the fused kernels.

/// <reference types="npm:@webgpu/types@0.1.74" />

import { type Aval, type DType, fmtShape, sizeOf } from "../../dtype.ts";
import {
  flashArity,
  flashFloatInputs,
  type FlashKernel,
  flashKey,
  flashOutput,
  type FlashParams,
} from "../flash.ts";
import type { FusedContext, FusedIn } from "./_fused.ts";
import { fromWord, FUSED_MATH } from "./_fused_expr.ts";
import { type GpuBuffer, groups1d } from "./_kernel.ts";
import { header, MATH, META_WORDS, wgslType } from "./_wgsl.ts";
import { ZERO_WORD } from "./_wgsl_math.ts";
import { type Emit, flashNodes, type Reader } from "./_flash_expr.ts";
import {
  type BlockAlong,
  blockInvocations,
  FLASH_WG,
  rolesOf,
} from "./_flash_block.ts";
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

const keys = new WeakMap<FlashKernel, string>();

function keyOf(k: FlashKernel): string {
  let s = keys.get(k);
  if (s === undefined) keys.set(k, s = flashKey(k));
  return s;
}

/** A full shader from its body: binding header (typed inputs), maths, `main`. */
function shader(types: readonly string[], body: string): string {
  return [
    header(types, "f32"),
    MATH,
    FUSED_MATH,
    `@compute @workgroup_size(${FLASH_WG})`,
    `fn main(@builtin(global_invocation_id) gid: vec3<u32>,`,
    `        @builtin(num_workgroups) nwg: vec3<u32>) {`,
    body,
    `}`,
  ].join("\n");
}

/** The operands bound one per binding and those packed into the last one. */
interface Layout {
  readonly direct: readonly number[];
  readonly packed: readonly number[];
}

function layoutOf(
  dtypes: readonly DType[],
  captured: (i: number) => boolean,
  maxStorage: number,
): Layout {
  const order = dtypes.map((_, i) => i);
  order.sort((a, b) => Number(captured(a)) - Number(captured(b)) || a - b);
  const slots = maxStorage - 1;
  if (order.length <= slots) return { direct: order, packed: [] };
  const packed = order.slice(slots - 1);
  if (packed.length > ZERO_WORD - 1) {
    throw new RangeError(
      `webgpu: flash kernel has ${order.length} operands; at most ${
        slots - 2 + ZERO_WORD
      } fit`,
    );
  }
  return { direct: order.slice(0, slots - 1), packed };
}

function readerOf(l: Layout): Reader {
  return (op, idx, dtype) => {
    const q = l.direct.indexOf(op);
    if (q >= 0) return `in${q}[${idx}]`;
    const p = l.packed.indexOf(op);
    if (p < 0) {
      throw new RangeError(
        `webgpu: flash kernel reads operand ${op}, which is not bound`,
      );
    }
    return fromWord(dtype, `in${l.direct.length}[m(${p + 1}u) + ${idx}]`);
  };
}

/** Records one dispatch of `body` over `invocations`, packing operands as `l` says. */
function dispatch(
  ctx: FusedContext,
  key: string,
  ops: readonly FusedIn[],
  l: Layout,
  body: () => string,
  invocations: number,
  out: GpuBuffer,
): void {
  const meta = new Array<number>(META_WORDS).fill(0);
  const bound = l.direct.map((i) => ops[i]!.buf);
  const types = l.direct.map((i) => wgslType(ops[i]!.aval.dtype));
  let pack: GpuBuffer | null = null;
  if (l.packed.length) {
    let words = 0;
    l.packed.forEach((i, p) => {
      meta[p + 1] = words;
      words += sizeOf(ops[i]!.aval.shape);
    });
    pack = ctx.alloc(Math.max(words, 1) * 4);
    const enc = ctx.encoder();
    l.packed.forEach((i, p) => {
      const n = sizeOf(ops[i]!.aval.shape);
      if (n) {
        enc.copyBufferToBuffer(
          ops[i]!.buf.buffer,
          0,
          pack!.buffer,
          meta[p + 1]! * 4,
          n * 4,
        );
      }
    });
    bound.push(pack);
    types.push("u32");
  }
  ctx.encode({
    key,
    source: () => shader(types, body()),
    inputs: bound,
    output: out,
    meta,
    groups: groups1d(invocations, FLASH_WG, ctx.maxPerDim),
  });
  if (pack) ctx.free(pack);
}

/** How the backend's adapter wants flash kernels shaped. */
export interface FlashOptions {
  /** A software adapter (llvmpipe): register blocking pays, parallelism is a few threads. */
  readonly software: boolean;
}

/**
 * Rows per block of the blocked kernels: on a software adapter up
 * to 8 (k_j and v_j are read once per 8 rows), fewer while that would
 * leave a CPU thread without a workgroup that one row each would give it;
 * on a GPU 2.
 */
export function blockRows(
  k: FlashKernel,
  along: BlockAlong,
  software: boolean,
): number {
  let r = Math.min(software ? 8 : 2, along === "query" ? k.tq : k.tk);
  const threads = software ? (navigator.hardwareConcurrency ?? 1) : 1;
  const filled = (rows: number) =>
    blockInvocations(k, along, rows) >= threads * FLASH_WG;
  while (r > 1 && filled(1) && !filled(r)) r >>= 1;
  return Math.max(r, 1);
}

/** Loop iterations llvmpipe lets one invocation run before it ends its loops. */
const LOOP_BUDGET = 65535;

/**
 * Asserts that a blocked kernel stays within llvmpipe's loop budget
 * (gallivm counts every loop iteration of an invocation, inner loops
 * included, and quietly ends the loops past it: wrong results). The
 * kernels write the work over d and dv out without loops, so an
 * invocation runs one iteration per key (or query) and pass.
 */
function checkLoopBudget(
  k: FlashKernel,
  mode: string,
  along: BlockAlong,
): void {
  const m = along === "query" ? k.tk : k.tq;
  const passes = mode === "weights" && k.normaliser === "softmax" ? 2 : 1;
  if (passes * m > LOOP_BUDGET) {
    throw new RangeError(
      `webgpu: flash ${mode} with ${k.tq} queries, ${k.tk} keys would run ` +
        `${
          passes * m
        } loop iterations per invocation; llvmpipe ends loops past ${LOOP_BUDGET}`,
    );
  }
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
  const along: BlockAlong = mode === "grad_kv" ? "key" : "query";
  const rowsPer = blockRows(k, along, opts.software);
  if (opts.software) checkLoopBudget(k, mode, along);
  const emit = (): Emit => ({
    kernel: k,
    rows: rowsPer,
    fn: flashNodes(k),
    read: readerOf(l),
    uses: new Map(),
  });
  const roles = rolesOf(k, mode);
  // out[a] = Σ over `count` elements per a: in `parts` partial sums when
  // out alone has too few elements to keep the device busy, then in order.
  const reduce = (
    key: string,
    ins: readonly FusedIn[],
    layout: Layout,
    count: number,
    body: (parts: number) => string,
  ) => {
    const parts = Math.max(
      1,
      Math.min(
        Math.ceil(count / MIN_CHUNK),
        Math.ceil(TARGET_INVOCATIONS / size),
      ),
    );
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
  const key = (extra: string) =>
    `flash:${mode}${extra}:${l.direct.length}+${l.packed.length}:${kk}`;
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
      dispatch(
        ctx,
        key(`${index}rows/${rowsPer}`),
        ops,
        l,
        () => capturedRowsBody(k, emit(), roles, dc),
        blockInvocations(k, "query", rowsPer),
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
  } else {
    if (mode === "grad_qkv") {
      throw new RangeError(
        "webgpu: flash grad_qkv runs as grad_q and grad_kv (runFlashQkv)",
      );
    }
    const body = {
      forward: forwardBody,
      weights: weightsBody,
      grad_q: gradQBody,
      tangent: tangentBody,
      grad_kv: gradKvBody,
    }[mode];
    const n = blockInvocations(k, along, rowsPer);
    const extra = `/${rowsPer}`;
    dispatch(ctx, key(extra), ops, l, () => body(k, emit(), roles), n, out);
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
