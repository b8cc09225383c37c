/**
 * The wasm backend: heed's fast path on machines without a GPU. Tensors
 * live in one shared `WebAssembly.Memory` (a size-class allocator,
 * `_arena.ts`); kernels are 128-bit SIMD WebAssembly emitted at start-up
 * by a small assembler (`_asm.ts`): matmul (`_gemm_kernels.ts`),
 * elementwise maths, comparisons, select and casts (`_kernels.ts`,
 * `_math.ts`), copies, gather and reductions (`_layout_kernels.ts`). Large
 * kernels are split over worker threads that share the memory (`_grid.ts`,
 * `_threads.ts`). Each primitive has an entry in the kernel table of
 * `_dispatch.ts`; where no wasm kernel fits (entries marked `onCpu`, and
 * dtypes such as int32 division or reductions) the CPU reference kernel
 * runs on views of the wasm memory, so every primitive works and agrees
 * with the specification.
 *
 * Threads: one per core by default (`navigator.hardwareConcurrency`, at
 * most {@link MAX_THREADS}), the calling thread included; `HEED_THREADS`
 * or the `threads` option override it. Small kernels stay on the caller.
 * In a browser, threads need a cross-origin-isolated page (COOP/COEP
 * headers); elsewhere the backend runs on one thread with an unshared
 * memory, and {@link WasmBackend.threadStatus} says why.
 *
 * @module
 */

import {
  type Backend,
  type MemoryStats,
  type Operand,
  readEnv,
  sharesStorage,
} from "../contract.ts";
import {
  type Aval,
  fmtShape,
  type HostArray,
  hostArray,
  sizeOf,
} from "../../dtype.ts";
import type { Params, Primitive } from "../../primitives.ts";
import { CpuBackend } from "../cpu.ts";
import { type FusedBackend, type FusedKernel, runDotSplit } from "../fused.ts";
import type { FlashBackend, FlashParams } from "../flash.ts";
import { Arena, Block } from "./_arena.ts";
import { Fn, ModuleBuilder } from "./_asm.ts";
import {
  type DispatchContext,
  KERNELS,
  type Ref,
  type WasmKernel,
} from "./_dispatch.ts";
import { DRIVERS } from "./_drivers.ts";
import { FlashRunner } from "./_flash.ts";
import { FusedRunner } from "./_fused.ts";
import { addGemm, type GemmShape } from "./_gemm_kernels.ts";
import { addGridKernels } from "./_grid.ts";
import { matmul, type MatmulContext } from "./_matmul_run.ts";
import {
  type Exports,
  MAX_THREADS,
  sharedMemoryUnavailable,
  ThreadPool,
  type ThreadStatus,
} from "./_threads.ts";

export { sizeClass } from "./_arena.ts";
export { MAX_THREADS, type ThreadStatus } from "./_threads.ts";

/** The default thread count: one per core, at most {@link MAX_THREADS}. */
export function defaultThreads(): number {
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(MAX_THREADS, Math.floor(cores) || 1));
}

/** Whether this engine has WebAssembly 128-bit SIMD, which the wasm backend needs. */
export function hasSimd(): boolean {
  try {
    const m = new ModuleBuilder();
    const f = new Fn(["v128"], ["v128"]);
    f.get(0);
    m.add("f", f);
    return WebAssembly.validate(m.bytes(1, 1));
  } catch {
    return false; // no WebAssembly at all
  }
}

/** Whether this engine validates `f32x4.relaxed_madd` (relaxed SIMD). */
export function hasRelaxedSimd(): boolean {
  const m = new ModuleBuilder();
  const f = new Fn(["v128", "v128", "v128"], ["v128"]);
  f.get(0).get(1).get(2).simd("f32x4.relaxed_madd");
  m.add("f", f);
  return WebAssembly.validate(m.bytes(1, 1));
}

function envThreads(): number | undefined {
  const v = readEnv("HEED_THREADS");
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new RangeError(
      `HEED_THREADS="${v}" must be an integer in 1..${MAX_THREADS}`,
    );
  }
  return n;
}

/** Options of {@link WasmBackend.create}. */
export interface WasmOptions {
  /** Threads, the caller included (default `HEED_THREADS`, else one per core). */
  readonly threads?: number;
  /** Use relaxed-SIMD fused multiply-add (default: when the engine has it). */
  readonly fma?: boolean;
  /** The micro-tile of the matmul kernel (default 6 × 8, fastest measured). */
  readonly tile?: { readonly mr: number; readonly nr: number };
}

const ELEM_BYTES = { float32: 4, int32: 4, bool: 1 } as const;

/** The WebAssembly SIMD implementation of {@link Backend}. */
export class WasmBackend implements Backend, FusedBackend, FlashBackend {
  /** Backend name. */
  readonly name = "wasm" as const;
  /** Threads that share large kernels, the caller included. */
  readonly threads: number;
  /** The matmul micro-kernel: tile shape and whether it fuses multiply-add. */
  readonly gemm: GemmShape;
  #arena: Arena;
  #pool: ThreadPool;
  #dispatch: DispatchContext;
  #cpu = new CpuBackend();
  #fused: FusedRunner;
  #flash: FlashRunner;

  private constructor(
    arena: Arena,
    ex: Exports,
    pool: ThreadPool,
    gemm: GemmShape,
    kernels: ReadonlyMap<string, number>,
  ) {
    this.#arena = arena;
    this.#fused = new FusedRunner(arena, pool.threads);
    this.#flash = new FlashRunner(arena, pool.threads, gemm.fma);
    this.#pool = pool;
    this.threads = pool.threads;
    this.gemm = gemm;
    const matmulContext: MatmulContext = {
      arena,
      pool,
      gemm,
      run: (prim, inputs, params, out) => this.run(prim, inputs, params, out),
      free: (b) => this.free(b),
    };
    this.#dispatch = {
      ex,
      pool,
      kernels,
      arena,
      matmul: (ins, blocks, params, out) =>
        matmul(matmulContext, ins, blocks, params, out),
      flash: this, // flash_attention calls this.runFlash when there is one
    };
  }

  /**
   * Assembles and compiles the kernels synchronously; the worker threads
   * attach in the background, and kernels run on the calling thread until
   * they have ({@link WasmBackend.ready}).
   */
  static createSync(opts: WasmOptions = {}): WasmBackend {
    const gemm: GemmShape = {
      mr: opts.tile?.mr ?? 6,
      nr: opts.tile?.nr ?? 8,
      fma: opts.fma ?? hasRelaxedSimd(),
    };
    const threads = opts.threads ?? envThreads() ?? defaultThreads();
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new RangeError(
        `wasm: threads must be an integer in 1..${MAX_THREADS}, got ${threads}`,
      );
    }
    // Without shared memory (a page that is not cross-origin isolated) the
    // memory is unshared and the pool stays on this thread.
    const share = sharedMemoryUnavailable() === null;
    const arena = new Arena(256, share);
    const m = new ModuleBuilder();
    const kernels = addGridKernels(m);
    addGemm(m, gemm);
    const module = new WebAssembly.Module(m.bytes(1, 65536, share));
    const inst = new WebAssembly.Instance(module, {
      env: { memory: arena.memory },
    });
    const ex = inst.exports as unknown as Exports;
    const pool = ThreadPool.start(module, arena.memory, ex, DRIVERS, threads);
    return new WasmBackend(arena, ex, pool, gemm, kernels);
  }

  /** Creates the backend and waits until its worker threads have attached. */
  static async create(opts: WasmOptions = {}): Promise<WasmBackend> {
    const b = WasmBackend.createSync(opts);
    await b.ready();
    return b;
  }

  /**
   * How many threads share large kernels now, how many were asked for,
   * and why fewer run (no cross-origin isolation in a browser, workers
   * still starting), or null when all do.
   */
  threadStatus(): ThreadStatus {
    return this.#pool.status;
  }

  /**
   * Resolves when the worker threads have attached, to the backend and to
   * the large fused kernels run so far (at most a few seconds).
   */
  ready(): Promise<void> {
    return this.#pool.ready.then(() => this.#fused.ready())
      .then(() => this.#flash.ready());
  }

  #block(op: string, handle: unknown): Block {
    if (!(handle instanceof Block)) {
      throw new TypeError(`wasm ${op}: not a wasm storage handle`);
    }
    if (handle.refs <= 0) {
      throw new Error(`wasm: ${op}: this tensor's storage was freed`);
    }
    return handle;
  }

  /** A view of `n` elements of `dtype` at `ptr` in the wasm memory. */
  #view(ptr: number, aval: Aval): HostArray {
    const n = sizeOf(aval.shape);
    const a = this.#arena;
    switch (aval.dtype) {
      case "float32":
        return a.f32.subarray(ptr / 4, ptr / 4 + n);
      case "int32":
        return a.i32.subarray(ptr / 4, ptr / 4 + n);
      case "bool":
        return a.u8.subarray(ptr, ptr + n);
    }
  }

  #alloc(aval: Aval): Block {
    return this.#arena.alloc(sizeOf(aval.shape) * ELEM_BYTES[aval.dtype]);
  }

  /** Copies host data into a new block. */
  upload(data: HostArray, aval: Aval): Block {
    const n = sizeOf(aval.shape);
    if (data.length !== n) {
      throw new TypeError(
        `wasm: upload of ${data.length} values into ${fmtShape(aval.shape)}`,
      );
    }
    const b = this.#alloc(aval);
    this.#view(b.ptr, aval).set(data);
    return b;
  }

  /** Copies a block out to a fresh host array. */
  read(handle: unknown, aval: Aval): Promise<HostArray> {
    try {
      return Promise.resolve(this.readSync(handle, aval));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Copies a block out to a fresh host array, synchronously. */
  readSync(handle: unknown, aval: Aval): HostArray {
    const b = this.#block("read", handle);
    const out = hostArray(aval.dtype, sizeOf(aval.shape));
    out.set(this.#view(b.ptr, aval));
    return out;
  }

  /** Releases one reference; the block returns to its free list at zero. */
  free(handle: unknown): void {
    if (!(handle instanceof Block) || handle.refs <= 0) return;
    if (--handle.refs === 0) this.#arena.release(handle);
  }

  /** Whether the handle still refers to live storage. */
  isLive(handle: unknown): boolean {
    return handle instanceof Block && handle.refs > 0;
  }

  /** Live blocks and bytes, and bytes kept on free lists. */
  memory(): MemoryStats {
    const a = this.#arena;
    return {
      liveBuffers: a.liveBuffers,
      liveBytes: a.liveBytes,
      pooledBytes: a.pooledBytes,
    };
  }

  /**
   * Runs `prim` by its entry in the kernel table (`_dispatch.ts`): a wasm
   * kernel when one fits, else the CPU reference on views of the memory.
   */
  run<P extends Primitive>(
    prim: P,
    inputs: readonly Operand[],
    params: Params<P>,
    out: Aval,
  ): Block {
    if (!Object.hasOwn(KERNELS, prim)) {
      throw new TypeError(`wasm: unknown primitive "${String(prim)}"`);
    }
    const blocks = inputs.map((x) => this.#block(prim, x.handle));
    if (sharesStorage(prim, inputs, params, out)) {
      blocks[0]!.refs++;
      return blocks[0]!;
    }
    const ins: Ref[] = inputs.map((x, i) => ({
      ptr: blocks[i]!.ptr,
      aval: x.aval,
    }));
    const kernel = KERNELS[prim] as WasmKernel<P>;
    const done = kernel(this.#dispatch, ins, blocks, params, out);
    if (done) return done;
    const o = this.#alloc(out);
    if (sizeOf(out.shape) === 0) return o;
    const res = this.#cpu.run(
      prim,
      ins.map((x) => ({ handle: this.#view(x.ptr, x.aval), aval: x.aval })),
      params,
      out,
    );
    this.#view(o.ptr, out).set(res);
    return o;
  }

  /**
   * Runs a fused kernel as one generated SIMD function (`_fused.ts`),
   * compiled on first use and cached by its key; large ones on the threads.
   */
  runFused(kernel: FusedKernel, inputs: readonly Operand[]): Block[] {
    if (kernel.kind === "dot") return runDotSplit(this, kernel, inputs);
    const ins = inputs.map((x) => ({
      ptr: this.#block("runFused", x.handle).ptr,
      aval: x.aval,
    }));
    return this.#fused.run(kernel, ins);
  }

  /**
   * Runs a flash kernel (`flash.ts`) as tiled SIMD code (`_flash.ts`),
   * compiled on first use and cached by its key and mode.
   */
  runFlash(params: FlashParams, inputs: readonly Operand[]): Block {
    const ins = inputs.map((x) => ({
      ptr: this.#block("runFlash", x.handle).ptr,
      aval: x.aval,
    }));
    return this.#flash.run(params, ins);
  }

  /** Detaches this backend from the worker threads; later kernels run on the caller. */
  close(): void {
    this.#flash.close();
    this.#fused.close();
    this.#pool.close();
  }
}
