/**
 * How the wasm backend's workers start: `node:worker_threads` (imported
 * lazily) under Deno or Node, Web Workers from a `blob:` URL in a browser,
 * which can share memory only on a cross-origin-isolated page. The worker's
 * own code is built in `_threads.ts`; this file adds each API's start-up.
 *
 * @module
 */

import type { Worker as NodeWorker } from "node:worker_threads";

type WorkerClass = typeof NodeWorker;

/** What a worker needs first: the control block and its thread id. */
export interface WorkerInit {
  readonly ctl: SharedArrayBuffer;
  readonly tid: number;
}

/** A started worker, whichever API made it. */
export interface ThreadHandle {
  post(msg: unknown): void;
}

/** Starts a worker running `source` with `init`; its messages go to `onMessage`. */
export type Spawn = (
  source: string,
  init: WorkerInit,
  onMessage: (m: { attached?: number }) => void,
) => ThreadHandle;

/** The end of a `node:worker_threads` worker: its init is `workerData`. */
const NODE_START = `
const { parentPort, workerData } = require("node:worker_threads");
ctl = new Int32Array(workerData.ctl);
tid = workerData.tid;
post = (m) => parentPort.postMessage(m);
parentPort.on("message", onMessage);`;

/** The end of a Web Worker: its init is the first message. */
const WEB_START = `
post = (m) => self.postMessage(m);
self.onmessage = (e) => {
  ctl = new Int32Array(e.data.ctl);
  tid = e.data.tid;
  self.onmessage = (e) => onMessage(e.data);
};`;

function nodeSpawn(Thread: WorkerClass): Spawn {
  return (source, init, onMessage) => {
    const w = new Thread(source + NODE_START, { eval: true, workerData: init });
    w.on("message", onMessage);
    w.on("error", (e: unknown) => console.error("wasm worker:", e));
    w.unref();
    return { post: (m) => w.postMessage(m) };
  };
}

function webSpawn(): Spawn {
  const urls = new Map<string, string>();
  return (source, init, onMessage) => {
    let url = urls.get(source);
    if (url === undefined) {
      const blob = new Blob([source + WEB_START], { type: "text/javascript" });
      url = URL.createObjectURL(blob);
      urls.set(source, url);
    }
    const w = new Worker(url);
    w.onmessage = (e: MessageEvent) => onMessage(e.data);
    w.onerror = (e: ErrorEvent) => console.error("wasm worker:", e.message);
    w.postMessage(init);
    return { post: (m) => w.postMessage(m) };
  };
}

/** Why this page cannot share memory with workers, or null when it can. */
export function sharedMemoryUnavailable(): string | null {
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (
    typeof SharedArrayBuffer !== "function" || g.crossOriginIsolated === false
  ) {
    return "the page is not cross-origin isolated (no SharedArrayBuffer): serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp";
  }
  return null;
}

/** Whether this thread may block in `Atomics.wait` (a browser's main thread may not). */
export function mayBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * How this runtime starts workers: `node:worker_threads` (imported now)
 * under Deno or Node, Web Workers in a browser; else why there are none.
 */
export async function spawner(): Promise<Spawn | string> {
  const g = globalThis as {
    Deno?: unknown;
    process?: { versions?: { node?: string } };
    Worker?: unknown;
  };
  if (g.Deno !== undefined || g.process?.versions?.node !== undefined) {
    try {
      return nodeSpawn((await import("node:worker_threads")).Worker);
    } catch {
      return "no worker threads in this runtime (node:worker_threads failed to load)";
    }
  }
  const why = sharedMemoryUnavailable();
  if (why !== null) return why;
  if (typeof g.Worker !== "function") return "no Web Workers in this runtime";
  return webSpawn();
}
