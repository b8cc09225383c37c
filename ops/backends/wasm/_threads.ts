/**
 * Threads for the wasm backend: workers that instantiate the same module on
 * the same shared memory and wait on a control block with `Atomics.wait`.
 *
 * A job is a driver (a self-contained function, sent to the workers as
 * source text) plus integer arguments in the control block. The calling
 * thread runs its own share as thread 0, then waits synchronously
 * (`Atomics.wait` is allowed on Deno's main thread), because
 * `Backend.run` is synchronous. Workers come from `node:worker_threads`
 * with `unref()`, so that idle workers never keep a program alive, and
 * from source text, so that they need no read or net permission.
 *
 * Control block (int32 words at address 0): 0 job sequence, 1 driver
 * index (-1 stops), 2 workers still running, 3 error flag, 8.. arguments.
 *
 * @module
 */

import { Worker } from "node:worker_threads";

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

function workerSource(drivers: readonly Driver[]): string {
  return `
const { parentPort } = require("node:worker_threads");
const DRIVERS = [${drivers.map((d) => d.toString()).join(",\n")}];
parentPort.once("message", ({ module, memory, tid, nt }) => {
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const ctl = new Int32Array(memory.buffer, 0, 64);
  parentPort.postMessage("ready");
  let seen = Atomics.load(ctl, 0);
  for (;;) {
    Atomics.wait(ctl, 0, seen);
    seen = Atomics.load(ctl, 0);
    const kind = ctl[1];
    if (kind < 0) break;
    const n = ctl[4];
    try { if (tid < n) DRIVERS[kind](ex, ctl, tid, n); } catch (e) { Atomics.store(ctl, 3, 1); console.error(e); }
    if (Atomics.sub(ctl, 2, 1) === 1) Atomics.notify(ctl, 2);
  }
});`;
}

/** A pool of `threads - 1` workers plus the calling thread. */
export class ThreadPool {
  /** Threads that share a job, the caller included. */
  readonly threads: number;
  #ctl: Int32Array;
  #ex: Exports;
  #drivers: readonly Driver[];
  #workers: Worker[] = [];

  private constructor(
    memory: WebAssembly.Memory,
    ex: Exports,
    drivers: readonly Driver[],
    threads: number,
  ) {
    this.threads = threads;
    this.#ctl = new Int32Array(memory.buffer, 0, 64);
    this.#ex = ex;
    this.#drivers = drivers;
  }

  /** Starts `threads - 1` workers and waits until each has instantiated. */
  static async start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    ex: Exports,
    drivers: readonly Driver[],
    threads: number,
  ): Promise<ThreadPool> {
    const pool = new ThreadPool(memory, ex, drivers, threads);
    const src = workerSource(drivers);
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < threads; tid++) {
      const w = new Worker(src, { eval: true });
      ready.push(
        new Promise((resolve, reject) => {
          w.once("message", () => resolve());
          w.once("error", reject);
        }),
      );
      w.postMessage({ module, memory, tid, nt: threads });
      pool.#workers.push(w);
    }
    await Promise.all(ready);
    for (const w of pool.#workers) w.unref();
    return pool;
  }

  /**
   * Runs driver `kind` on every thread with `args` and returns when all
   * have finished. `threads` limits how many take part (1: caller only).
   */
  run(kind: number, args: readonly number[], threads = this.threads): void {
    const ctl = this.#ctl;
    const nt = Math.max(1, Math.min(threads, this.threads));
    for (let i = 0; i < args.length; i++) ctl[ARGS + i] = args[i]!;
    if (nt === 1) {
      this.#drivers[kind]!(this.#ex, ctl, 0, 1);
      return;
    }
    // Workers with tid >= nt skip the driver but still check in.
    ctl[1] = kind;
    ctl[3] = 0;
    ctl[4] = nt;
    Atomics.store(ctl, 2, this.#workers.length);
    Atomics.add(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    let err: unknown = null;
    try {
      this.#drivers[kind]!(this.#ex, ctl, 0, nt);
    } catch (e) {
      err = e;
    }
    for (;;) {
      const left = Atomics.load(ctl, 2);
      if (left === 0) break;
      Atomics.wait(ctl, 2, left);
    }
    if (err) throw err;
    if (ctl[3] !== 0) throw new Error(`wasm: a worker failed in job ${kind}`);
  }

  /** Stops the workers. */
  close(): void {
    const ctl = this.#ctl;
    ctl[1] = -1;
    Atomics.add(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
  }
}
