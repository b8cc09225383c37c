/**
 * Threads for the wasm backend: Web Workers that instantiate the same module
 * on the same shared memory and wait on a control block with
 * `Atomics.wait`.
 *
 * A job is a driver (a self-contained function, sent to the workers as
 * source text) plus integer arguments in the control block. The calling
 * thread runs its own share as thread 0, then waits synchronously
 * (`Atomics.wait` is allowed on Deno's main thread), because
 * `Backend.run` is synchronous. Workers start from a blob URL, so they
 * need no read or net permission.
 *
 * Deno keeps a program alive while it has workers, so idle workers are
 * retired after {@link IDLE_MS} by an unref'd timer, and later jobs run on
 * the calling thread alone. Workers are never restarted: in Deno 2.9,
 * creating workers after other workers have run jobs on shared memory
 * sometimes never starts them (their first message is never delivered;
 * reproduced with plain Web Workers and with `node:worker_threads`), so a
 * process should start one pool, once. That is also why the backend uses
 * one thread unless `HEED_THREADS` asks for more.
 *
 * Control block (int32 words at address 0): 0 job sequence, 1 driver
 * index (-1 stops), 3 error flag, 4 threads in this job, 8..31 arguments,
 * 32.. a claim word per share, 48.. a done word per share.
 *
 * Shares are claimed with compare-and-swap: after its own share the caller
 * takes every share no worker has claimed yet, and waits only for shares
 * that a worker claimed (so it is running). A worker that never wakes, as
 * in the start-up problem above, slows a job down but cannot hang it.
 *
 * @module
 */

/** The exports a driver calls; all arguments are int32. */
export type Exports = Record<string, (...args: number[]) => void>;

/** A job body run by every thread on its share of the work. */
export type Driver = (
  ex: Exports,
  ctl: Int32Array,
  tid: number,
  nt: number,
) => void;

/** First argument word of the control block. */
export const ARGS = 8;

/** First claim word; share t's is CLAIM + t (0 free, 1 worker, 2 caller). */
export const CLAIM = 32;

/** First done word; share t's is DONE + t. */
export const DONE = 48;

/** Most threads a pool can have (claim and done words per share). */
export const MAX_THREADS = 16;

/** Idle milliseconds after which workers are retired. */
export const IDLE_MS = 2000;

function workerSource(drivers: readonly Driver[]): string {
  return `
const DRIVERS = [${drivers.map((d) => d.toString()).join(",\n")}];
self.onmessage = ({ data: { module, memory, tid } }) => {
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const ctl = new Int32Array(memory.buffer, 0, 64);
  self.postMessage("ready");
  let seen = Atomics.load(ctl, 0);
  for (;;) {
    Atomics.wait(ctl, 0, seen);
    seen = Atomics.load(ctl, 0);
    if (ctl[1] < 0) break;
    // Claim this thread's share; the caller may already have taken it.
    if (tid < ctl[4] && Atomics.compareExchange(ctl, ${CLAIM} + tid, 0, 1) === 0) {
      const kind = ctl[1], n = ctl[4]; // read after the claim: the current job's
      try { DRIVERS[kind](ex, ctl, tid, n); } catch (e) { Atomics.store(ctl, 3, 1); console.error(e); }
      Atomics.store(ctl, ${DONE} + tid, 1);
      Atomics.notify(ctl, ${DONE} + tid);
    }
  }
};`;
}

/** A pool of `threads - 1` workers plus the calling thread. */
export class ThreadPool {
  /** Threads that share a job, the caller included. */
  readonly threads: number;
  #ctl: Int32Array;
  #ex: Exports;
  #module: WebAssembly.Module;
  #memory: WebAssembly.Memory;
  #drivers: readonly Driver[];
  #url: string;
  #workers: Worker[] = [];
  #starting: Promise<void> | null = null;
  #lastJob = 0;
  #closed = false;
  #retired = false;

  private constructor(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    ex: Exports,
    drivers: readonly Driver[],
    threads: number,
  ) {
    this.threads = threads;
    this.#ctl = new Int32Array(memory.buffer, 0, 64);
    this.#ex = ex;
    this.#module = module;
    this.#memory = memory;
    this.#drivers = drivers;
    this.#url = URL.createObjectURL(
      new Blob([workerSource(drivers)], { type: "application/javascript" }),
    );
  }

  /** Starts `threads - 1` workers and waits until each has instantiated. */
  static async start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    ex: Exports,
    drivers: readonly Driver[],
    threads: number,
  ): Promise<ThreadPool> {
    const pool = new ThreadPool(module, memory, ex, drivers, threads);
    await pool.warm();
    return pool;
  }

  /** Whether the workers are running (false while idle-retired). */
  get running(): boolean {
    return this.#workers.length > 0 || this.threads === 1;
  }

  /** Starts the workers (once; a retired pool stays on one thread). */
  warm(): Promise<void> {
    if (this.running || this.#closed || this.#retired) {
      return Promise.resolve();
    }
    this.#starting ??= this.#spawn();
    return this.#starting;
  }

  async #spawn(): Promise<void> {
    const ws: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < this.threads; tid++) {
      const w = new Worker(this.#url, { type: "module" });
      ready.push(
        new Promise((resolve, reject) => {
          w.onmessage = () => resolve();
          w.onerror = (e) => {
            e.preventDefault();
            reject(new Error(`wasm: a worker failed to start: ${e.message}`));
          };
        }),
      );
      w.postMessage({ module: this.#module, memory: this.#memory, tid });
      ws.push(w);
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      for (const w of ws) w.terminate();
      throw e;
    }
    if (this.#closed) {
      for (const w of ws) w.terminate();
      return;
    }
    this.#workers = ws;
    this.#lastJob = performance.now();
    this.#watchIdle(IDLE_MS);
  }

  #watchIdle(ms: number): void {
    const id = setTimeout(() => {
      if (this.#workers.length === 0) return;
      const idle = performance.now() - this.#lastJob;
      if (idle >= IDLE_MS) this.#retire();
      else this.#watchIdle(IDLE_MS - idle + 10);
    }, ms);
    Deno.unrefTimer(id);
  }

  #retire(): void {
    const ctl = this.#ctl;
    ctl[1] = -1;
    Atomics.add(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    this.#retired = true;
  }

  /**
   * Runs driver `kind` on every thread with `args` and returns when all
   * have finished. `threads` limits how many take part (1: caller only).
   */
  run(kind: number, args: readonly number[], threads = this.threads): void {
    const ctl = this.#ctl;
    let nt = Math.max(1, Math.min(threads, this.threads));
    if (this.#closed) nt = 1;
    if (this.#workers.length === 0) nt = 1;
    for (let i = 0; i < args.length; i++) ctl[ARGS + i] = args[i]!;
    if (nt === 1) {
      this.#drivers[kind]!(this.#ex, ctl, 0, 1);
      return;
    }
    this.#lastJob = performance.now();
    // Arguments first, then fresh claim words, then wake the workers.
    ctl[1] = kind;
    ctl[3] = 0;
    ctl[4] = nt;
    for (let t = 1; t < nt; t++) {
      Atomics.store(ctl, DONE + t, 0);
      Atomics.store(ctl, CLAIM + t, 0);
    }
    Atomics.add(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    let err: unknown = null;
    const share = (t: number) => {
      try {
        this.#drivers[kind]!(this.#ex, ctl, t, nt);
      } catch (e) {
        err ??= e;
      }
    };
    share(0);
    for (let t = 1; t < nt; t++) {
      if (Atomics.compareExchange(ctl, CLAIM + t, 0, 2) === 0) share(t);
    }
    for (let t = 1; t < nt; t++) {
      if (Atomics.load(ctl, CLAIM + t) !== 1) continue;
      while (Atomics.load(ctl, DONE + t) === 0) Atomics.wait(ctl, DONE + t, 0);
    }
    if (err) throw err;
    if (ctl[3] !== 0) throw new Error(`wasm: a worker failed in job ${kind}`);
  }

  /**
   * Stops threaded jobs for good; the workers exit when the idle timer
   * next fires (terminating them here would not make a new pool safer).
   */
  close(): void {
    this.#closed = true;
    this.#lastJob = 0;
  }
}
