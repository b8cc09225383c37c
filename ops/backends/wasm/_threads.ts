/**
 * Threads for the wasm backend: one set of workers per process or page
 * (`node:worker_threads` under Deno, Web Workers in a browser) that
 * instantiate each backend's module on that backend's shared memory and
 * wait on a control block with `Atomics.wait`.
 *
 * A job is a driver (a self-contained function, sent to the workers as
 * source text) over `units` numbered pieces of work, with integer arguments
 * in the control block. Every thread, the caller included, claims units by
 * compare-and-swap on one word until none are left; the caller then waits
 * (synchronously: `Backend.run` is synchronous; `Atomics.wait` is allowed
 * on Deno's main thread, a browser's main thread spins instead) for the
 * units that others claimed. A slow or descheduled thread therefore takes
 * fewer units, and a worker that never starts takes none: it cannot hang or
 * slow a job down.
 *
 * Workers are started once per process and kept: Deno 2.9 was seen to
 * sometimes never deliver the first message to workers started after
 * other workers had run jobs on shared memory (not reproduced in 40 later
 * tries, but designed around), so later backends reuse the same workers
 * (an `attach` message gives them the new module and memory), idle workers
 * are never retired, and `start` waits for a new worker's answer only once
 * and at most {@link ATTACH_TIMEOUT_MS}. Under Deno they are
 * `node:worker_threads`, `unref`'d, so they do not keep a program alive
 * (Deno's Web Workers cannot be), and they need no permission (`eval`
 * source). In a browser they are Web Workers from a `blob:` URL, which can
 * share memory only on a cross-origin-isolated page (COOP/COEP headers):
 * elsewhere there is no `SharedArrayBuffer`, and the backend runs on one
 * thread with an unshared memory and says why ({@link ThreadPool.status}).
 *
 * Nothing starts at import: `node:worker_threads` is imported, and the
 * workers started, by the first {@link ThreadPool.start}, in the
 * background. Until they have attached, every job runs on the caller
 * alone, so a backend is usable synchronously from its first kernel.
 *
 * Control block (int32 words of its own SharedArrayBuffer): 0 wake-up
 * sequence, 1 driver, 2 backend slot, 3 error flag, 4 threads allowed,
 * 5 claims, 6 next claim (job generation << 16 | claims taken), 7 claims
 * done, 8..71 arguments, 72 units, 73 units per claim, 74 claims workers
 * have taken since the start (a statistic), 80.. messages
 * posted to each worker (a worker leaves its wait loop to read its
 * messages when it has received fewer).
 *
 * @module
 */

import {
  ARGS,
  ATTACH_TIMEOUT_MS,
  CLAIMS,
  CTL_WORDS,
  DONE,
  type Driver,
  ERR,
  type Exports,
  KIND,
  MAIL,
  MAX_ARGS,
  MAX_CLAIMS,
  MAX_THREADS,
  NEXT,
  NT,
  PER,
  SEQ,
  SLOT,
  TAKEN,
  UNITS,
  workerSource,
} from "./_control.ts";
import {
  mayBlock,
  sharedMemoryUnavailable,
  type Spawn,
  spawner,
  type ThreadHandle,
  type WorkerInit,
} from "./_spawn.ts";

export { sharedMemoryUnavailable } from "./_spawn.ts";
export { ARGS, ATTACH_TIMEOUT_MS, MAX_ARGS, MAX_THREADS } from "./_control.ts";

export type { Driver, Exports } from "./_control.ts";

/** The process-wide workers and their control block. */
class Workers {
  readonly ctl: Int32Array = new Int32Array(
    new SharedArrayBuffer(CTL_WORDS * 4),
  );
  readonly drivers: readonly Driver[];
  #source: string;
  #workers: ThreadHandle[] = [];
  #acks = new Map<number, () => void>();
  /** Workers that have answered an attach: new ones are waited for too. */
  #ready = new Set<number>();
  #gen = 0;
  #spawn: Spawn | string;
  #block = mayBlock();

  /** Workers that `spawn` starts, or none, for the reason `spawn` names. */
  constructor(drivers: readonly Driver[], spawn: Spawn | string) {
    this.drivers = drivers;
    this.#source = workerSource(drivers);
    this.#spawn = spawn;
  }

  /** Workers started (each may or may not be running yet). */
  get count(): number {
    return this.#workers.length;
  }

  /** Starts workers until there are `n`; returns how many it started. */
  grow(n: number): number {
    const before = this.#workers.length;
    const spawn = this.#spawn;
    if (typeof spawn === "string") throw new Error(spawn);
    while (this.#workers.length < Math.min(n, MAX_THREADS - 1)) {
      const tid = this.#workers.length + 1;
      const init: WorkerInit = {
        ctl: this.ctl.buffer as SharedArrayBuffer,
        tid,
      };
      const w = spawn(this.#source, init, (m) => {
        if (m.attached === undefined) return;
        this.#ready.add(tid);
        this.#acks.get(m.attached)?.();
      });
      this.#workers.push(w);
    }
    return this.#workers.length - before;
  }

  /** Posts `msg` to every worker and wakes them to read it. */
  post(msg: unknown): void {
    this.#workers.forEach((w, i) => {
      w.post(msg);
      Atomics.add(this.ctl, MAIL + i + 1, 1);
    });
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
  }

  /**
   * Gives every worker `module` on `memory` as `slot`. Resolves when the
   * workers that ever answered, and those started by `fresh`, have it, or
   * on timeout: a worker that never started is not waited for twice.
   */
  async attach(
    slot: number,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    fresh: number,
  ): Promise<void> {
    let left = this.#ready.size + fresh;
    if (left === 0) {
      this.post({ attach: slot, module, memory });
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const all = new Promise<void>((resolve) => {
      this.#acks.set(slot, () => --left === 0 && resolve());
    });
    this.post({ attach: slot, module, memory });
    // A ref'd timer keeps the program alive while the workers answer.
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ATTACH_TIMEOUT_MS);
    });
    await Promise.race([all, timeout]);
    clearTimeout(timer);
    this.#acks.delete(slot);
  }

  /** Runs a job (see the module comment); the caller is thread 0. */
  run(
    ex: Exports,
    slot: number,
    kind: number,
    units: number,
    nt: number,
  ): void {
    const ctl = this.ctl, driver = this.drivers[kind]!;
    const per = Math.ceil(units / MAX_CLAIMS);
    const claims = Math.ceil(units / per);
    ctl[KIND] = kind;
    ctl[SLOT] = slot;
    ctl[NT] = nt;
    ctl[UNITS] = units;
    ctl[PER] = per;
    ctl[CLAIMS] = claims;
    ctl[ERR] = 0;
    Atomics.store(ctl, DONE, 0);
    const gen = this.#gen = (this.#gen + 1) & 0xffff;
    Atomics.store(ctl, NEXT, gen << 16);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);
    let err: unknown = null;
    for (;;) {
      const v = Atomics.load(ctl, NEXT), c = v & 0xffff;
      if (c >= claims) break;
      if (Atomics.compareExchange(ctl, NEXT, v, v + 1) !== v) continue;
      try {
        for (let u = c * per; u < Math.min(units, c * per + per); u++) {
          driver(ex, ctl, u, 0);
        }
      } catch (e) {
        err ??= e;
      }
      Atomics.add(ctl, DONE, 1);
    }
    for (
      let d = Atomics.load(ctl, DONE);
      d < claims;
      d = Atomics.load(ctl, DONE)
    ) {
      if (this.#block) Atomics.wait(ctl, DONE, d); // else spin: a browser's main thread
    }
    Atomics.store(ctl, NEXT, (gen << 16) | 0xffff);
    if (err) throw err;
    if (ctl[ERR] !== 0) throw new Error(`wasm: a worker failed in job ${kind}`);
  }
}

let shared: Workers | null = null;
let loading: Promise<Workers> | null = null;
let nextSlot = 1;
const detach = new FinalizationRegistry<number>((slot) => {
  shared?.post({ detach: slot });
});

/** The process's workers, made on first use. */
function workers(drivers: readonly Driver[]): Promise<Workers> {
  loading ??= spawner().then((spawn) => shared ??= new Workers(drivers, spawn));
  return loading;
}

/** How many threads run a pool's jobs now, and why not more. */
export interface ThreadStatus {
  /** Threads that share large jobs now, the caller included. */
  readonly threads: number;
  /** Threads asked for (the `threads` option, `HEED_THREADS`, or one per core). */
  readonly requested: number;
  /** Why `threads` is below `requested`, or null when it is not. */
  readonly reason: string | null;
}

/** Threads for one backend: its module instance on the shared workers. */
export class ThreadPool {
  /** Threads that may share a job, the caller included (once attached). */
  readonly threads: number;
  /** Resolves when the workers have attached (or given up): see {@link ThreadPool.start}. */
  readonly ready: Promise<void>;
  #ex: Exports;
  #drivers: readonly Driver[];
  #slot = 0;
  #closed = false;
  #ctl = new Int32Array(CTL_WORDS);
  #requested: number;
  /** Why this pool has no workers (null: it has or is getting them). */
  #why: string | null = null;

  private constructor(
    ex: Exports,
    drivers: readonly Driver[],
    threads: number,
    attach: ((pool: ThreadPool) => Promise<void>) | null,
    requested = threads,
  ) {
    this.#ex = ex;
    this.#drivers = drivers;
    this.threads = threads;
    this.#requested = requested;
    // A pool whose workers cannot attach keeps running jobs on the caller.
    this.ready = attach ? attach(this).catch(() => {}) : Promise.resolve();
  }

  /**
   * A pool of `threads` (the caller included), usable at once: jobs run on
   * the caller until the process's workers (started now, in the
   * background, if there are fewer) have instantiated `module` on
   * `memory`; {@link ThreadPool.ready} resolves then, or after at most
   * {@link ATTACH_TIMEOUT_MS}. Without worker threads in the runtime, or
   * without shared memory (a page that is not cross-origin isolated), the
   * pool stays on the caller and {@link ThreadPool.status} says why.
   */
  static start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    ex: Exports,
    drivers: readonly Driver[],
    threads: number,
  ): ThreadPool {
    if (threads <= 1) return new ThreadPool(ex, drivers, 1, null);
    const why = sharedMemoryUnavailable();
    if (why !== null || !(memory.buffer instanceof SharedArrayBuffer)) {
      const pool = new ThreadPool(ex, drivers, 1, null, threads);
      pool.#why = why ?? "the memory is not shared";
      return pool;
    }
    if (shared && shared.drivers !== drivers) {
      throw new Error("wasm: every backend must use the same thread drivers");
    }
    return new ThreadPool(ex, drivers, threads, async (pool) => {
      const w = await workers(drivers);
      if (w.drivers !== drivers) {
        throw new Error("wasm: every backend must use the same thread drivers");
      }
      let fresh: number;
      try {
        fresh = w.grow(threads - 1);
      } catch (e) {
        // No workers here (a runtime without node:worker_threads or Web Workers).
        pool.#why = e instanceof Error ? e.message : String(e);
        return;
      }
      const slot = nextSlot++;
      await w.attach(slot, module, memory, fresh);
      if (pool.#closed) {
        w.post({ detach: slot });
        return;
      }
      pool.#slot = slot;
      detach.register(pool, slot, pool);
    });
  }

  /**
   * Runs driver `kind` on `units` units with `args`, on at most `threads`
   * threads (1: the caller alone), and returns when all are done.
   */
  run(
    kind: number,
    args: readonly number[],
    units: number,
    threads = this.threads,
  ): void {
    if (args.length > MAX_ARGS) {
      throw new RangeError("wasm: too many job arguments");
    }
    let nt = Math.min(threads, this.threads, units);
    if (this.#closed || this.#slot === 0) nt = 1;
    // Threaded jobs read the workers' control block; the caller alone, its own.
    const ctl = nt > 1 ? shared!.ctl : this.#ctl;
    for (let i = 0; i < args.length; i++) ctl[ARGS + i] = args[i]!;
    if (nt > 1) {
      shared!.run(this.#ex, this.#slot, kind, units, nt);
      return;
    }
    const driver = this.#drivers[kind]!;
    for (let u = 0; u < units; u++) driver(this.#ex, ctl, u, 0);
  }

  /** How many threads run jobs now, and why not the number requested. */
  get status(): ThreadStatus {
    const requested = this.#requested;
    const one = (reason: string): ThreadStatus => ({
      threads: 1,
      requested,
      reason: requested > 1 ? reason : null,
    });
    if (this.#why !== null) return one(this.#why);
    if (this.#closed) return one("the backend was closed");
    if (this.#slot === 0) return one("the worker threads are still starting");
    return { threads: this.threads, requested, reason: null };
  }

  /** Claims of work that worker threads (not callers) have taken in this process. */
  static workerClaims(): number {
    return shared ? Atomics.load(shared.ctl, TAKEN) : 0;
  }

  /** Worker threads started in this process (none until a pool needs them). */
  static workersStarted(): number {
    return shared?.count ?? 0;
  }

  /** Detaches this backend from the workers; later jobs run on the caller. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#slot !== 0) {
      detach.unregister(this);
      shared?.post({ detach: this.#slot });
    }
  }
}
