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
 * retired after {@link IDLE_MS} by an unref'd timer; the next job then runs
 * on the calling thread alone while the workers restart in the background
 * (they are back after the next `await`). `node:worker_threads` with
 * `unref()` was tried first: in Deno 2.9 a second pool then never starts.
 *
 * Control block (int32 words at address 0): 0 job sequence, 1 driver
 * index (-1 stops), 2 workers still running, 3 error flag, 4 threads in
 * this job, 8.. arguments.
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
    const kind = ctl[1];
    if (kind < 0) break;
    const n = ctl[4];
    try { if (tid < n) DRIVERS[kind](ex, ctl, tid, n); } catch (e) { Atomics.store(ctl, 3, 1); console.error(e); }
    if (Atomics.sub(ctl, 2, 1) === 1) Atomics.notify(ctl, 2);
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

  /** Resolves when the workers run (restarting them if they were retired). */
  warm(): Promise<void> {
    if (this.running || this.#closed) return Promise.resolve();
    this.#starting ??= this.#spawn().finally(() => (this.#starting = null));
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
  }

  /**
   * Runs driver `kind` on every thread with `args` and returns when all
   * have finished. `threads` limits how many take part (1: caller only).
   */
  run(kind: number, args: readonly number[], threads = this.threads): void {
    const ctl = this.#ctl;
    let nt = Math.max(1, Math.min(threads, this.threads));
    if (nt > 1 && this.#workers.length === 0) {
      void this.warm().catch(() => {}); // back after the next await
      nt = 1;
    }
    for (let i = 0; i < args.length; i++) ctl[ARGS + i] = args[i]!;
    if (nt === 1) {
      this.#drivers[kind]!(this.#ex, ctl, 0, 1);
      return;
    }
    this.#lastJob = performance.now();
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

  /** Stops the workers for good. */
  close(): void {
    this.#closed = true;
    this.#retire();
    // URL.revokeObjectURL(this.#url);
  }
}
