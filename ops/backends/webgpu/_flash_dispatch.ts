// How flash kernels reach the device (`_flash.ts`): operands bound one per
// binding or packed into the last, one dispatch per shader, and the blocked
// kernels' loops over keys (or queries) run in chunks of dispatches where
// they are long (see `Chunk`): llvmpipe ends the loops of an invocation
// past 65,535 iterations in all, and a GPU driver may stop a dispatch that
// runs for seconds.

/// <reference types="npm:@webgpu/types@0.1.74" />

import { type DType, sizeOf } from "../../dtype.ts";
import type { FlashKernel } from "../flash.ts";
import type { FusedContext, FusedIn } from "./_fused.ts";
import { fromWord, FUSED_MATH } from "./_fused_expr.ts";
import { type GpuBuffer, groups1d } from "./_kernel.ts";
import { header, MATH, META_WORDS, wgslType } from "./_wgsl.ts";
import { ZERO_WORD } from "./_wgsl_math.ts";
import type { Chunk, Emit, FlashNodes, Reader } from "./_flash_expr.ts";
import { type BlockAlong, blockInvocations, FLASH_WG } from "./_flash_block.ts";

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
export interface Layout {
  readonly direct: readonly number[];
  readonly packed: readonly number[];
}

export function layoutOf(
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

export function readerOf(l: Layout): Reader {
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

/** Records one dispatch of `body` over `invocations`, packing operands as `l` says; `start` is metadata word 0. */
export function dispatch(
  ctx: FusedContext,
  key: string,
  ops: readonly FusedIn[],
  l: Layout,
  body: () => string,
  invocations: number,
  out: GpuBuffer,
  start = 0,
): void {
  const meta = new Array<number>(META_WORDS).fill(0);
  meta[0] = start;
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
 * to 8 (k_j and v_j are read once per 8 rows) and to 128 / max(d, dv), fewer while that would
 * leave a CPU thread without a workgroup that one row each would give it;
 * on a GPU 2.
 */
export function blockRows(
  k: FlashKernel,
  along: BlockAlong,
  software: boolean,
): number {
  // The kernels write the work over d and dv out once per row of a block:
  // past about 128 floats per row and step LLVM's compile time explodes.
  const most = software
    ? Math.max(1, Math.min(8, 128 / Math.max(k.d, k.dv)))
    : 2;
  let r = Math.min(Math.floor(most), along === "query" ? k.tq : k.tk);
  const threads = software ? (navigator.hardwareConcurrency ?? 1) : 1;
  const filled = (rows: number) =>
    blockInvocations(k, along, rows) >= threads * FLASH_WG;
  while (r > 1 && filled(1) && !filled(r)) r >>= 1;
  return Math.max(r, 1);
}

/** Loop iterations llvmpipe lets one invocation run before it ends its loops. */
export const LOOP_BUDGET = 65535;

/** Loop steps per dispatch of a chunked loop: two passes of it fit the budget. */
const CHUNK_STEPS = 32767;
let chunkSteps = CHUNK_STEPS;

/**
 * Runs `f` with blocked loops chunked every `steps` steps (tests use this
 * to run the chunked path at small sizes); returns what `f` returns.
 */
export function withFlashSteps<T>(steps: number, f: () => T): T {
  if (!Number.isInteger(steps) || steps < 1 || steps > CHUNK_STEPS) {
    throw new RangeError(
      `webgpu: flash loop steps ${steps} is not an integer in [1, ${CHUNK_STEPS}]`,
    );
  }
  const was = chunkSteps;
  chunkSteps = steps;
  try {
    return f();
  } finally {
    chunkSteps = was;
  }
}

/** Loop steps per dispatch of the blocked kernels now (see {@link withFlashSteps}). */
export function flashSteps(): number {
  return chunkSteps;
}

/** What {@link runBlocked} needs besides the body. */
export interface Blocked {
  readonly ctx: FusedContext;
  readonly kernel: FlashKernel;
  readonly opts: FlashOptions;
  /** The expression's nodes. */
  readonly fn: FlashNodes;
  /** Whether operand i is a captured tensor (bound last, packed first). */
  readonly captured: (i: number) => boolean;
  /** The pipeline key's stem; the layout and chunking are added to it. */
  readonly key: string;
  /** The operands. */
  readonly ops: readonly FusedIn[];
  /** Blocks of query rows or of key rows. */
  readonly along: BlockAlong;
  /** Loop passes of the body (2 for softmax weights, which never chunk). */
  readonly passes: number;
  /** Floats per row the loop carries (the body's `carry`). */
  readonly width: number;
  /** The body, from its emitter (`e.chunk` set in a chunked loop). */
  readonly body: (e: Emit) => string;
  /** Where the result goes. */
  readonly out: GpuBuffer;
}

/**
 * Records a blocked kernel: one dispatch, or, past {@link flashSteps} loop
 * steps, one per chunk of the loop in order, each row's carried registers
 * going through two state buffers in turn (the last chunk writes `out`).
 */
export function runBlocked(b: Blocked): void {
  const { ctx, kernel: k, along } = b;
  const m = along === "query" ? k.tk : k.tq;
  const steps = flashSteps();
  const chunks = Math.max(1, Math.ceil(m / steps));
  if (chunks > 1 && b.passes !== 1) {
    throw new RangeError(
      `webgpu: flash kernel with ${b.passes} passes over ${m} steps cannot run in chunks`,
    );
  }
  if (b.opts.software && b.passes * Math.min(m, steps) > LOOP_BUDGET) {
    throw new RangeError(
      `webgpu: flash kernel would run ${b.passes * Math.min(m, steps)} loop ` +
        `iterations per invocation; llvmpipe ends loops past ${LOOP_BUDGET}`,
    );
  }
  const rows = blockRows(k, along, b.opts.software);
  const n = blockInvocations(k, along, rows);
  const emit = (l: Layout, chunk: Chunk | null): Emit => ({
    kernel: k,
    rows,
    fn: b.fn,
    read: readerOf(l),
    uses: new Map(),
    chunk,
  });
  const layout = (ops: readonly FusedIn[]) =>
    layoutOf(
      ops.map((x) => x.aval.dtype),
      b.captured,
      ctx.maxStorageBuffers,
    );
  const keyOf = (l: Layout, extra: string) =>
    `${b.key}/${rows}${extra}:${l.direct.length}+${l.packed.length}`;
  if (chunks === 1) {
    const l = layout(b.ops);
    dispatch(
      ctx,
      keyOf(l, ""),
      b.ops,
      l,
      () => b.body(emit(l, null)),
      n,
      b.out,
    );
    return;
  }
  const states = sizeOf(k.batch) * (along === "query" ? k.tq : k.tk) * b.width;
  const bufs = b.width ? [ctx.alloc(states * 4), ctx.alloc(states * 4)] : [];
  const aval = { shape: [states], dtype: "float32" as const };
  const withState = (c: number) =>
    b.width ? [...b.ops, { buf: bufs[(c + 1) % 2]!, aval }] : b.ops;
  const l = layout(withState(0));
  for (let c = 0; c < chunks; c++) {
    const chunk: Chunk = {
      steps,
      resume: b.width > 0 && c > 0,
      finish: b.width === 0 || c === chunks - 1,
      state: b.ops.length,
      width: b.width,
    };
    const tag = `/c${steps}:${Number(chunk.resume)}${Number(chunk.finish)}`;
    dispatch(
      ctx,
      keyOf(l, tag),
      withState(c),
      l,
      () => b.body(emit(l, chunk)),
      n,
      chunk.finish ? b.out : bufs[c % 2]!,
      c * steps,
    );
  }
  for (const x of bufs) ctx.free(x);
}
