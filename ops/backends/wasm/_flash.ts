/**
 * Flash kernels on the wasm backend ({@link FlashRunner}): each kernel and
 * mode is generated (`_flash_codegen.ts`) into a small module of its own,
 * compiled once per process and cached by {@link flashKey} and the mode,
 * instantiated once per backend on its memory, and run with its operands
 * checked (count, sizes, the dtypes and reach of every load).
 *
 * A run writes the operands' addresses into a parameter block and gives
 * each thread unit its own scratch (tiles of `_flash_gen.ts`); query tiles
 * (key tiles for `grad_kv`, batch elements for `grad_qkv`) are split over
 * the backend's threads by the
 * grid driver, and every output element is summed by one unit in a fixed
 * order, so reruns are bit-identical whatever the threads. `grad_captured`
 * scatters into shared elements: each unit into partial sums of its own
 * (units fixed by the size of the problem, not by the threads), added up
 * in unit order.
 *
 * @module
 */

import { type Aval, sizeOf } from "../../dtype.ts";
import {
  flashArity,
  type FlashKernel,
  flashKey,
  type FlashNode,
  flashOutput,
  type FlashParams,
} from "../flash.ts";
import type { Arena, Block } from "./_arena.ts";
import { DRIVERS } from "./_drivers.ts";
import { classifyTiles, generateClassify } from "./_flash_classify.ts";

export { flashTileStats } from "./_flash_classify.ts";
import { generateFlash } from "./_flash_codegen.ts";
import { BC, BR, maskAxes, scratchBytes } from "./_flash_gen.ts";
import type { ImportName } from "./_fused_ops.ts";
import { assembleModule, HOST, MAX_MODULES, touch } from "./_fused_module.ts";
import { GRID_DRIVER } from "./_grid.ts";
import { type Exports, ThreadPool } from "./_threads.ts";

/** An operand: its byte address and abstract value. */
export interface FlashInput {
  /** Byte address of element 0. */
  readonly ptr: number;
  /** Shape and dtype. */
  readonly aval: Aval;
}

interface Compiled {
  readonly module: WebAssembly.Module;
  readonly imports: readonly string[];
}

const MODULES = new Map<string, Compiled>();

/** The module of one kernel and mode: host imports, memory, export `g0`. */
function compile(
  params: FlashParams,
  key: string,
  shared: boolean,
  fma: boolean,
): Compiled {
  const hit = MODULES.get(key);
  if (hit) return touch(MODULES, key, hit, MAX_MODULES);
  const imports: ImportName[] = [];
  const gen = generateFlash(params.kernel, params.mode, params.index, {
    imports,
    fma,
  });
  const fns = [gen.fn];
  if (params.kernel.mask) {
    fns.push(generateClassify(params.kernel, params.mode, imports));
  }
  const names = fns.length > 1 ? ["g0", "classify"] : ["g0"];
  const bytes = assembleModule(fns, names, imports, shared);
  const c = { module: new WebAssembly.Module(bytes), imports };
  return touch(MODULES, key, c, MAX_MODULES);
}

/** Checks every load: its input is a captured tensor of its dtype, read in bounds. */
function checkLoads(
  k: FlashKernel,
  nodes: readonly FlashNode[],
  what: string,
): void {
  const grid = [...k.batch, k.tq, k.tk];
  if (sizeOf(grid) === 0) return;
  nodes.forEach((n, i) => {
    if (n.kind === "dot") {
      if (what === "mask" || n.index < 0 || n.index >= k.queries) {
        throw new TypeError(
          `flash_attention: ${what} node ${i} is a dot of query ${n.index}`,
        );
      }
      return;
    }
    if (n.kind !== "load") return;
    const c = k.captured[n.input];
    if (!c || c.dtype !== n.dtype || n.strides.length !== grid.length) {
      throw new TypeError(
        `flash_attention: ${what} load ${i} reads captured ${n.input} as ` +
          `${n.dtype} with ${n.strides.length} strides`,
      );
    }
    let lo = n.offset, hi = n.offset;
    n.strides.forEach((s, ax) => {
      const span = (grid[ax]! - 1) * s;
      if (span < 0) lo += span;
      else hi += span;
    });
    if (lo < 0 || hi >= sizeOf(c.shape)) {
      throw new RangeError(
        `flash_attention: ${what} load ${i} reaches elements ${lo}..${hi} ` +
          `of captured ${n.input}, outside its ${sizeOf(c.shape)}`,
      );
    }
  });
}

interface Instance {
  readonly compiled: Compiled;
  readonly ex: Exports;
  pool: ThreadPool | null;
}

/** Compiles, caches and runs flash kernels against one arena's memory. */
export class FlashRunner {
  readonly #arena: Arena;
  readonly #shared: boolean;
  readonly #threads: number;
  readonly #fma: boolean;
  readonly #instances = new Map<string, Instance>();
  readonly #checked = new WeakSet<FlashKernel>();

  /**
   * A runner on `arena` that splits large kernels over `threads` and,
   * with `fma`, multiplies and adds with `f32x4.relaxed_madd`.
   */
  constructor(arena: Arena, threads = 1, fma = false) {
    this.#arena = arena;
    this.#threads = threads;
    this.#fma = fma;
    this.#shared = typeof SharedArrayBuffer !== "undefined" &&
      arena.memory.buffer instanceof SharedArrayBuffer;
  }

  #instance(params: FlashParams): Instance {
    const { kernel, mode, index } = params;
    const key = `${this.#shared ? "s" : "u"}${this.#fma ? "f" : ""}${mode}:${
      mode === "grad_captured" ? index : 0
    }:${flashKey(kernel)}`;
    const hit = this.#instances.get(key);
    const evict = (old: Instance) => old.pool?.close();
    if (hit) return touch(this.#instances, key, hit, MAX_MODULES, evict);
    const compiled = compile(params, key, this.#shared, this.#fma);
    const inst = new WebAssembly.Instance(compiled.module, {
      env: { memory: this.#arena.memory },
      m: HOST,
    });
    const made: Instance = {
      compiled,
      ex: inst.exports as unknown as Exports,
      pool: null,
    };
    return touch(this.#instances, key, made, MAX_MODULES, evict);
  }

  /** Resolves when every kernel's threads have attached (for tests). */
  async ready(): Promise<void> {
    for (const i of this.#instances.values()) await i.pool?.ready;
  }

  /** Detaches every kernel from the worker threads. */
  close(): void {
    for (const i of this.#instances.values()) i.pool?.close();
  }

  #check(params: FlashParams, inputs: readonly FlashInput[]): void {
    const { kernel: k, mode } = params;
    const arity = flashArity(k, mode);
    if (inputs.length !== arity) {
      throw new TypeError(
        `flash_attention: ${mode} takes ${arity} operands, got ${inputs.length}`,
      );
    }
    if (k.queries !== 1 && k.queries !== 2) {
      throw new RangeError(
        `flash_attention: queries must be 1 or 2, got ${k.queries}`,
      );
    }
    const nb = sizeOf(k.batch), nq = k.queries, nc = k.captured.length;
    const want: number[] = [];
    for (let q = 0; q < nq; q++) want.push(nb * k.tq * k.d);
    want.push(nb * k.tk * k.d, nb * k.tk * k.dv);
    for (const c of k.captured) want.push(sizeOf(c.shape));
    if (mode !== "forward" && mode !== "weights") {
      want.push(nb * k.tq * (k.dv + 1));
    }
    if (mode === "tangent") {
      want.push(...want.slice(0, nq + 2));
      k.captured.forEach((c) =>
        c.dtype === "float32" && want.push(sizeOf(c.shape))
      );
    } else if (mode.startsWith("grad")) want.push(nb * k.tq * (k.dv + 1));
    inputs.forEach((x, n) => {
      const size = sizeOf(x.aval.shape);
      const dt = n >= nq + 2 && n < nq + 2 + nc
        ? k.captured[n - nq - 2]!.dtype
        : "float32";
      if (size !== want[n] || x.aval.dtype !== dt) {
        throw new TypeError(
          `flash_attention: ${mode} operand ${n} has ${size} ${x.aval.dtype} ` +
            `elements, expected ${want[n]} ${dt}`,
        );
      }
    });
    if (this.#checked.has(k)) return;
    checkLoads(k, k.score.nodes, "score");
    if (k.mask) checkLoads(k, k.mask.nodes, "mask");
    this.#checked.add(k);
  }

  /** Runs `params` on `inputs`, returning a new block of its output. */
  run(params: FlashParams, inputs: readonly FlashInput[]): Block {
    this.#check(params, inputs);
    const { kernel: k, mode } = params;
    const a = this.#arena;
    const nb = sizeOf(k.batch);
    // Fewer batch elements than threads: grad_q and grad_kv split their
    // tiles over every thread (and give the same bits as grad_qkv).
    const work = nb * k.tq * k.tk * (k.d + k.dv);
    if (
      mode === "grad_qkv" && nb < this.#threads && work >= 1 << 21 &&
      this.#shared &&
      this.#instance({ ...params, mode: "grad_q" }).compiled.imports.length ===
        0
    ) {
      return this.#qkvApart(params, inputs);
    }
    const outBytes = sizeOf(flashOutput(params).shape) * 4;
    const out = a.alloc(outBytes);
    const tiles = mode === "grad_kv"
      ? Math.ceil(k.tk / BC)
      : mode === "grad_qkv"
      ? 1
      : Math.ceil(k.tq / BR);
    const items = nb * tiles;
    // Outputs written by accumulation, or with tiles a mask may skip.
    if (mode === "grad_captured" || items === 0 || mode === "weights") {
      a.u8.fill(0, out.ptr, out.ptr + outBytes);
    }
    if (items === 0 || outBytes === 0) return out;
    // ∂s/∂c is 0 where s does not read c.
    const captured = mode === "grad_captured";
    if (
      captured && (k.score.partials.captured[params.index] ?? null) === null
    ) {
      return out;
    }
    const inst = this.#instance(params);
    const tileCount = Math.ceil(k.tq / BR) * Math.ceil(k.tk / BC);
    const axes = k.mask ? maskAxes(k) : null;
    const table = axes ? a.alloc(axes.count * tileCount) : null;
    const ptrs = [...inputs.map((x) => x.ptr), out.ptr, table?.ptr ?? 0];
    const block = a.alloc(4 * ptrs.length);
    a.i32.set(ptrs, block.ptr / 4);
    const scratchLen = scratchBytes(k);
    if (axes) classifyTiles(inst.ex, k, a, block.ptr, table!.ptr);
    // grad_captured: a partial sum per unit after the scratch, added up in
    // unit order; its units do not depend on the threads (at most 32 MiB
    // of partial sums).
    const big = items >= 2 && work >= 1 << 21;
    const units = captured
      ? (big ? Math.max(1, Math.min(items, 8, (32 << 20) / outBytes | 0)) : 1)
      : this.#threaded(inst, big)
      ? Math.min(items, 4 * this.#threads)
      : 1;
    const partial = captured ? outBytes : 0;
    const chunk = Math.ceil(items / units);
    const unit = Math.ceil((scratchLen + partial) / (64 * chunk)) * 64 * chunk;
    const scratch = a.alloc(units * unit);
    try {
      const n = Math.ceil(items / chunk);
      if (units > 1 && this.#threaded(inst, big)) {
        const args = [0, 3, items, 1, 0, chunk, 1, n, 1, 1, 1, 1, 0, 0];
        args.push(0, 1, 0, 0, 0, 0);
        args.push(scratch.ptr, unit / chunk, 0, 0, 0, 0);
        args.push(block.ptr, 0, 0, 0, 0, 0);
        inst.pool!.run(GRID_DRIVER, args, n);
      } else {
        // One call per item (grad_captured: per unit, whose partial sums
        // a call starts at zero): V8 runs a new function in its baseline
        // tier and enters the optimised code only at a call, so a first
        // run of many items is not run whole in the baseline tier.
        for (let u = 0; u < n; u++) {
          const count = Math.min(chunk, items - u * chunk);
          const at = scratch.ptr + u * unit;
          const step = captured ? count : 1;
          for (let s = 0; s < count; s += step) {
            const c = Math.min(step, count - s);
            inst.ex.g0!(c, 0, 0, u * chunk + s, 1, at, 0, block.ptr, 0, 0, 0);
          }
        }
      }
      if (captured) {
        const f32 = a.f32, o = out.ptr / 4, len = outBytes / 4;
        for (let u = 0; u < n; u++) {
          const p = (scratch.ptr + u * unit + scratchLen) / 4;
          for (let e = 0; e < len; e++) f32[o + e]! += f32[p + e]!;
        }
      }
    } finally {
      a.release(scratch);
      a.release(block);
      if (table) a.release(table);
    }
    return out;
  }

  /** grad_qkv as grad_q and grad_kv, their blocks copied per batch element. */
  #qkvApart(params: FlashParams, inputs: readonly FlashInput[]): Block {
    const k = params.kernel, a = this.#arena;
    const gq = this.run({ ...params, mode: "grad_q" }, inputs);
    const gkv = this.run({ ...params, mode: "grad_kv" }, inputs);
    const bq = 4 * k.tq * k.queries * k.d, bkv = 4 * k.tk * (k.d + k.dv);
    const nb = sizeOf(k.batch);
    const out = a.alloc(nb * (bq + bkv));
    const u8 = a.u8;
    for (let b = 0; b < nb; b++) {
      const at = out.ptr + b * (bq + bkv);
      u8.copyWithin(at, gq.ptr + b * bq, gq.ptr + (b + 1) * bq);
      u8.copyWithin(at + bq, gkv.ptr + b * bkv, gkv.ptr + (b + 1) * bkv);
    }
    a.release(gq);
    a.release(gkv);
    return out;
  }

  /** Whether a run splits over threads (attaching them on first use). */
  #threaded(inst: Instance, big: boolean): boolean {
    if (this.#threads <= 1 || !big || inst.compiled.imports.length > 0) {
      return false;
    }
    inst.pool ??= ThreadPool.start(
      inst.compiled.module,
      this.#arena.memory,
      inst.ex,
      DRIVERS,
      this.#threads,
    );
    return true;
  }
}
