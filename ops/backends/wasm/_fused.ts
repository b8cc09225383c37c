/**
 * Fused kernels on the wasm backend ({@link FusedRunner}): compiled on first
 * use (`_fused_module.ts`, `_fused_codegen.ts`), instantiated once per
 * backend on its memory, and run with their loads checked against the
 * inputs' sizes. What a run needs besides the inputs (key, plan, instance)
 * is kept per kernel object, so a jit executable's reruns cost about a
 * microsecond each above the kernel itself.
 *
 * Threads: a large kernel (at least {@link THREAD_MIN_ELEMS} elements, as
 * for eager kernels) whose module imports no host function is split over
 * the backend's threads along its split loop (the outermost loop over
 * outputs), by the grid driver that splits eager kernels; its module is
 * attached to the worker threads on first use (until they have it, the
 * caller runs it alone). Kernels that call host functions (sin, cos, erf,
 * pow) and full reductions run on the calling thread.
 *
 * @module
 */

import { type Aval, type DType, type HostArray, sizeOf } from "../../dtype.ts";
import { INT32_RANGE } from "../_cpu_math.ts";
import {
  type FusedKernel,
  type FusedLoopKernel,
  fusedOutputs,
  type FusedReduce,
  reductionsOf,
} from "../fused.ts";
import { runFusedReference } from "../fused_reference.ts";
import type { Arena, Block } from "./_arena.ts";
import { DRIVERS } from "./_drivers.ts";
import {
  compile,
  type Compiled,
  HOST,
  kernelKey,
  MAX_MODULES,
  touch,
} from "./_fused_module.ts";
import { ELEM_BYTES, inputCount, loadRanges, loadsOf } from "./_fused_plan.ts";
import { GRID_DRIVER, THREAD_MIN_ELEMS } from "./_grid.ts";
import { type Exports, MAX_ARGS, ThreadPool } from "./_threads.ts";

export { fusedCompileStats, kernelKey } from "./_fused_module.ts";

/** An input of a fused kernel: its byte address and abstract value. */
export interface FusedInput {
  /** Byte address of element 0. */
  readonly ptr: number;
  /** Shape and dtype. */
  readonly aval: Aval;
}

/** About how many elements one unit of a threaded kernel holds. */
const UNIT_ELEMS = 1 << 15;
/** Grid driver arguments before the operands', and per operand. */
const GRID_HEAD = 14, GRID_PER_OP = 6;

/** A kernel instantiated on one backend's memory. */
interface Instance {
  readonly compiled: Compiled;
  readonly ex: Exports;
  /** The threads that share it, once a large run asked for them. */
  pool: ThreadPool | null;
}

/** The value a reduction over no elements gives (the CPU reference's). */
function identity(op: "sum" | "max" | "min", dt: DType): number {
  if (op === "sum") return 0;
  if (dt === "float32") return op === "max" ? -Infinity : Infinity;
  if (dt === "int32") return INT32_RANGE[op === "max" ? 0 : 1];
  return op === "max" ? 0 : 1;
}

/** What runs of one kernel object need, worked out on its first run. */
interface Prepared {
  /** Inputs the loads read (one more than the largest index). */
  readonly need: number;
  /** Each load's node, input and dtype. */
  readonly loads: readonly (readonly [number, number, DType])[];
  /** The elements each input's loads reach, by input; null when none. */
  readonly reach: ReadonlyMap<number, [number, number]> | null;
  /** The outputs' avals. */
  readonly outs: readonly Aval[];
  /** The instance, or null: an empty output or an empty reduction. */
  readonly inst: Instance | null;
  /** Whether an output is empty. */
  readonly empty: boolean;
  /** Iteration elements. */
  readonly total: number;
}

/** Checks the kernel's own structure (the nodes are checked by codegen). */
function checkAxes(kernel: FusedLoopKernel): void {
  if (kernel.kind !== "reduce") return;
  const rank = kernel.shape.length, axes = kernel.axes;
  if (
    axes.length === 0 ||
    axes.some((a, i) =>
      !Number.isInteger(a) || a < 0 || a >= rank ||
      (i > 0 && a <= axes[i - 1]!)
    )
  ) {
    throw new RangeError(
      `fused kernel: reduce axes [${axes}] must be sorted, unique and ` +
        `within ${rank} axes`,
    );
  }
}

/** Checks operand count, load dtypes and that every load stays in bounds. */
function checkInputs(p: Prepared, inputs: readonly FusedInput[]): void {
  if (inputs.length < p.need) {
    throw new TypeError(
      `fused kernel: expected ${p.need} inputs, got ${inputs.length}`,
    );
  }
  for (const [i, input, dtype] of p.loads) {
    const dt = inputs[input]!.aval.dtype;
    if (dt !== dtype) {
      throw new TypeError(
        `fused kernel: load ${i} reads input ${input} as ${dtype}, ` +
          `but it is ${dt}`,
      );
    }
  }
  for (const [input, [lo, hi]] of p.reach ?? []) {
    const n = sizeOf(inputs[input]!.aval.shape);
    if (lo < 0 || hi >= n) {
      throw new RangeError(
        `fused kernel: loads of input ${input} reach elements ${lo}..${hi}, ` +
          `outside its ${n}`,
      );
    }
  }
}

/**
 * Compiles, caches and runs fused kernels against one arena's memory.
 * Instances are shared by equal kernels through a map of at most
 * `maxModules` keys; a kernel keeps its instance (and the instance its
 * threads) for as long as the kernel lives, also after the map forgets it,
 * so a program with more kernels than the map holds keeps every kernel
 * threaded. A pool's threads detach when its instance is collected.
 */
export class FusedRunner {
  readonly #arena: Arena;
  readonly #shared: boolean;
  readonly #threads: number;
  readonly #maxModules: number;
  readonly #instances = new Map<string, Instance>();
  /** Every pool started and not yet collected, for `ready` and `close`. */
  readonly #pools = new Set<WeakRef<ThreadPool>>();
  /** Per kernel object (kernels are immutable data), so reruns skip the key. */
  readonly #prepared = new WeakMap<FusedLoopKernel, Prepared>();

  /**
   * A runner on `arena` that splits large kernels over `threads`, sharing
   * instances between equal kernels through a map of `maxModules` keys.
   */
  constructor(arena: Arena, threads = 1, maxModules = MAX_MODULES) {
    this.#arena = arena;
    this.#threads = threads;
    this.#maxModules = maxModules;
    this.#shared = typeof SharedArrayBuffer !== "undefined" &&
      arena.memory.buffer instanceof SharedArrayBuffer;
  }

  #instance(kernel: FusedLoopKernel): Instance {
    const key = `${this.#shared ? "s" : "u"}${kernelKey(kernel)}`;
    const hit = this.#instances.get(key);
    if (hit) return touch(this.#instances, key, hit, this.#maxModules);
    const compiled = compile(kernel, key, this.#shared);
    const inst = new WebAssembly.Instance(compiled.module, {
      env: { memory: this.#arena.memory },
      m: HOST,
    });
    const ex = inst.exports as unknown as Exports;
    const made: Instance = { compiled, ex, pool: null };
    return touch(this.#instances, key, made, this.#maxModules);
  }

  /** The pools still alive (dropping those collected). */
  *#livePools(): Generator<ThreadPool> {
    for (const ref of this.#pools) {
      const pool = ref.deref();
      if (pool === undefined) this.#pools.delete(ref);
      else yield pool;
    }
  }

  /** Resolves when every kernel's threads have attached (for tests). */
  async ready(): Promise<void> {
    for (const pool of this.#livePools()) await pool.ready;
  }

  /** Detaches every kernel from the worker threads. */
  close(): void {
    for (const pool of this.#livePools()) pool.close();
  }

  #prepare(kernel: FusedLoopKernel): Prepared {
    let p = this.#prepared.get(kernel);
    if (p) return p;
    checkAxes(kernel);
    const outs = fusedOutputs(kernel);
    const total = sizeOf(kernel.shape);
    const empty = outs.some((o) => sizeOf(o.shape) === 0);
    p = {
      need: inputCount(kernel),
      loads: loadsOf(kernel).map(([i, l]) => [i, l.input, l.dtype] as const),
      reach: loadRanges(kernel),
      outs,
      inst: empty || total === 0 ? null : this.#instance(kernel),
      empty,
      total,
    };
    this.#prepared.set(kernel, p);
    return p;
  }

  /** Runs `kernel`, returning one new block per output. */
  run(kernel: FusedKernel, inputs: readonly FusedInput[]): Block[] {
    if (kernel.kind === "dot") {
      throw new TypeError(
        "fused kernel: a dot kernel runs through the backend's runFused (its matmul, then its epilogue)",
      );
    }
    const p = this.#prepare(kernel);
    checkInputs(p, inputs);
    const a = this.#arena, inst = p.inst;
    const blocks = p.outs.map((o) =>
      a.alloc(sizeOf(o.shape) * ELEM_BYTES[o.dtype])
    );
    if (p.empty) return blocks;
    if (inst === null) {
      // A reduction over an empty axis: each reduction's output is its
      // identity; an epilogue over those is left to the reference.
      const k = kernel as FusedReduce;
      if (k.epilogue?.length) {
        const host = inputs.map((x) => this.#host(x.ptr, x.aval));
        runFusedReference(k, host).forEach((h, j) => {
          const b = blocks[j]!;
          if (h instanceof Float32Array) a.f32.set(h, b.ptr / 4);
          else if (h instanceof Int32Array) a.i32.set(h, b.ptr / 4);
          else a.u8.set(h, b.ptr);
        });
        return blocks;
      }
      reductionsOf(k).forEach((r, j) => {
        const o = p.outs[j]!, b = blocks[j]!, n = sizeOf(o.shape);
        const v = identity(r.op, o.dtype);
        if (o.dtype === "float32") a.f32.fill(v, b.ptr / 4, b.ptr / 4 + n);
        else if (o.dtype === "int32") a.i32.fill(v, b.ptr / 4, b.ptr / 4 + n);
        else a.u8.fill(v, b.ptr, b.ptr + n);
      });
      return blocks;
    }
    const base = blocks.map((b) => b.ptr);
    for (let i = 0; i < p.need; i++) base.push(inputs[i]!.ptr);
    const plan = inst.compiled.plan;
    const ptrs = plan.pointers.map((q) => base[q.param]! + q.offsetBytes);
    if (this.#threaded(inst, p.total)) {
      this.#split(inst, ptrs, p.total);
    } else {
      const args = [plan.splitExtent, 0, 0];
      for (const q of ptrs) args.push(q, 0);
      inst.ex.g0!(...args, 0, 0);
    }
    return blocks;
  }

  /** A copy of an input's elements. */
  #host(ptr: number, aval: Aval): HostArray {
    const a = this.#arena, n = sizeOf(aval.shape);
    return aval.dtype === "float32"
      ? a.f32.slice(ptr / 4, ptr / 4 + n)
      : aval.dtype === "int32"
      ? a.i32.slice(ptr / 4, ptr / 4 + n)
      : a.u8.slice(ptr, ptr + n);
  }

  /** Whether to split this run over threads (attaching them on first use). */
  #threaded(inst: Instance, total: number): boolean {
    const { plan, imports, module } = inst.compiled;
    const ok = this.#threads > 1 && total >= THREAD_MIN_ELEMS &&
      imports.length === 0 && plan.split !== null && plan.splitExtent > 1 &&
      GRID_HEAD + GRID_PER_OP * plan.pointers.length <= MAX_ARGS;
    if (ok && inst.pool === null) {
      inst.pool = ThreadPool.start(
        module,
        this.#arena.memory,
        inst.ex,
        DRIVERS,
        this.#threads,
      );
      this.#pools.add(new WeakRef(inst.pool));
    }
    return ok;
  }

  /** Runs the split loop in units over the threads (see `gridDriver`). */
  #split(inst: Instance, ptrs: readonly number[], total: number): void {
    const plan = inst.compiled.plan, pool = inst.pool!;
    const n = plan.splitExtent;
    const want = Math.min(Math.ceil(total / UNIT_ELEMS), 16 * pool.threads);
    let chunk = Math.ceil(n / Math.min(n, want));
    // Vector splits keep whole blocks of 16 lanes.
    if (plan.split === "vector") chunk = Math.ceil(chunk / 16) * 16;
    const units = Math.ceil(n / chunk);
    const args = [0, ptrs.length, n, 1, 0, chunk, 1, units, 1, 1, 1, 1, 0, 0];
    ptrs.forEach((p, k) => args.push(p, plan.splitSteps[k]!, 0, 0, 0, 0));
    pool.run(GRID_DRIVER, args, units);
  }
}
