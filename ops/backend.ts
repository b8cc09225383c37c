/**
 * The backend registry: which backends exist, which one new tensors use,
 * and starting them. The contract they implement is in
 * `backends/contract.ts`; this file imports the backends, never the
 * reverse.
 *
 * Importing heed does nothing: no adapter probe, no environment read, no
 * worker, no top-level `await`. The first op that needs a backend resolves
 * the default, synchronously:
 *
 * 1. `HEED_BACKEND`, read then (`cpu`, `wasm` or `webgpu`). `cpu` and
 *    `wasm` start at once (wasm compiles its kernels synchronously and its
 *    worker threads attach in the background; kernels run on the calling
 *    thread until they do). `webgpu` needs an asynchronous start, so
 *    without an earlier `await init()` or `await setBackend("webgpu")` the
 *    op throws an error that says to call one of them.
 * 2. Else the choice of {@link init}, if it has run: it probes the WebGPU
 *    adapter once and picks WebGPU on a hardware GPU, else wasm, else the
 *    CPU reference. A software adapter (Mesa llvmpipe) is not a GPU: there
 *    wasm measured fastest for training (see the README).
 * 3. Else wasm (the CPU reference if WebAssembly SIMD is unavailable).
 *
 * {@link setBackend} and {@link withBackend} override all three. A program
 * that wants WebGPU on a GPU calls `await init()` once at its start.
 *
 * @module
 */

/// <reference types="npm:@webgpu/types@0.1.74" />

import { CpuBackend } from "./backends/cpu.ts";
import {
  type Backend,
  type BackendName,
  type MemoryStats,
  readEnv,
} from "./backends/contract.ts";
import {
  hasSimd,
  type ThreadStatus,
  WasmBackend,
} from "./backends/wasm/backend.ts";
import { WebGpuBackend } from "./backends/webgpu/backend.ts";
import {
  type AdapterInfo,
  describeAdapter,
  requestAdapter,
} from "./backends/webgpu/device.ts";

export type {
  Backend,
  BackendName,
  MemoryStats,
  Operand,
} from "./backends/contract.ts";
export type { AdapterInfo } from "./backends/webgpu/device.ts";
export type { ThreadStatus } from "./backends/wasm/backend.ts";

const KNOWN: readonly BackendName[] = ["cpu", "webgpu", "wasm"];
const instances = new Map<BackendName, Backend>();
/** The default once resolved (null: resolve on the next op). */
let current: BackendName | null = null;
/** The adapter probe of {@link init}; null until it runs. */
let probe: Promise<GPUAdapter | null> | null = null;
/** The probed adapter: undefined until the probe settles. */
let adapter: GPUAdapter | null | undefined;
let adapterInfo: AdapterInfo | null = null;
let webgpuInit: Promise<WebGpuBackend | null> | null = null;
/** Whether {@link setBackend} chose the default (then {@link init} keeps it). */
let explicit = false;

function checkName(op: string, name: string): BackendName {
  if (!KNOWN.includes(name as BackendName)) {
    throw new RangeError(
      `${op}: unknown backend "${name}" (known: ${KNOWN.join(", ")})`,
    );
  }
  return name as BackendName;
}

/** The policy of {@link init}: WebGPU on a hardware GPU, else wasm, else cpu. */
function policy(): BackendName {
  if (adapterInfo && !adapterInfo.isSoftware) return "webgpu";
  return hasSimd() ? "wasm" : "cpu";
}

/** The default, resolved (not started) on first need; see the module docs. */
function resolveDefault(): BackendName {
  if (current === null) {
    const env = readEnv("HEED_BACKEND");
    current = env !== undefined
      ? checkName("HEED_BACKEND", env)
      : hasSimd()
      ? "wasm"
      : "cpu";
  }
  return current;
}

/** Starts `cpu` or `wasm` synchronously; WebGPU must have been started by `init`/`setBackend`. */
function startSync(name: BackendName): Backend {
  const have = instances.get(name);
  if (have) return have;
  let b: Backend;
  if (name === "cpu") b = new CpuBackend();
  else if (name === "wasm") b = WasmBackend.createSync();
  else {
    throw new Error(
      `the webgpu backend starts asynchronously: call \`await init()\` or \`await setBackend("webgpu")\` before creating tensors`,
    );
  }
  instances.set(name, b);
  return b;
}

function probeAdapter(): Promise<GPUAdapter | null> {
  probe ??= requestAdapter().then((a) => {
    adapter = a;
    adapterInfo = a ? describeAdapter(a) : null;
    return a;
  });
  return probe;
}

async function initWebGpu(): Promise<WebGpuBackend | null> {
  webgpuInit ??= probeAdapter().then(async (a) => {
    const b = a ? await WebGpuBackend.create(a) : null;
    if (b) instances.set("webgpu", b);
    return b;
  });
  return await webgpuInit;
}

/**
 * Probes the WebGPU adapter (once) and makes the policy's choice the
 * default: `HEED_BACKEND` if set, else WebGPU on a hardware GPU, else
 * wasm, else the CPU reference. It starts that backend and resolves with
 * {@link info}. A default chosen by {@link setBackend}, or already used by
 * tensors created before the call, stays (then it only probes, so that
 * {@link backends} lists WebGPU). Call it once at the start of a program,
 * before creating tensors, to get WebGPU on a hardware GPU.
 *
 * @example
 * ```ts
 * import { init } from "@heed/heed";
 * import { assert } from "@std/assert";
 *
 * const found = await init();
 * assert(found.probed);
 * assert(found.backends.includes(found.default));
 * ```
 */
export async function init(): Promise<BackendInfo> {
  await probeAdapter();
  // Keep a default that setBackend chose or that tensors already use.
  if (!explicit && current === null) {
    const env = readEnv("HEED_BACKEND");
    const choice = env !== undefined
      ? checkName("HEED_BACKEND", env)
      : policy();
    if (choice === "webgpu" && !adapter) {
      throw new Error(
        "HEED_BACKEND=webgpu, but no WebGPU adapter is available on this machine",
      );
    }
    try {
      await initBackend(choice);
      current = choice;
    } catch (e) {
      if (env !== undefined || choice !== "wasm") throw e;
      current = "cpu"; // wasm failed to start: the reference still works
    }
  }
  return info();
}

/**
 * The names of the backends usable on this machine. WebGPU is listed once
 * {@link init} has found an adapter, or once it has been started.
 */
export function backends(): BackendName[] {
  return adapter || instances.has("webgpu")
    ? ["cpu", "webgpu", "wasm"]
    : ["cpu", "wasm"];
}

/** The name of the current default backend (resolved, not started). */
export function defaultBackend(): BackendName {
  return resolveDefault();
}

/**
 * Returns the backend called `name` (default: the current one), starting
 * `cpu` or `wasm` if needed. WebGPU must have been started by
 * {@link init}, {@link initBackend} or {@link setBackend}.
 */
export function getBackend(name?: BackendName): Backend {
  const n = name === undefined
    ? resolveDefault()
    : checkName("getBackend", name);
  if (name !== undefined || instances.has(n) || n !== "wasm") {
    return startSync(n);
  }
  try {
    return startSync(n);
  } catch (e) {
    if (readEnv("HEED_BACKEND") !== undefined) throw e;
    current = "cpu"; // no WebAssembly SIMD here: the reference backend still works
    return startSync("cpu");
  }
}

/**
 * Starts backend `name` if needed and waits until it is fully ready
 * (WebGPU acquires its device; wasm's worker threads attach).
 */
export async function initBackend(name: BackendName): Promise<Backend> {
  const n = checkName("initBackend", name);
  if (n === "webgpu") {
    const b = await initWebGpu();
    if (!b) {
      throw new Error(
        "initBackend: no WebGPU adapter is available on this machine",
      );
    }
    await b.ready();
    return b;
  }
  const b = startSync(n);
  if (b instanceof WasmBackend) await b.ready();
  return b;
}

/**
 * Makes `name` the default backend for tensors created from now on,
 * initialising it first.
 *
 * @example
 * ```ts
 * import { defaultBackend, setBackend } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const before = defaultBackend();
 * await setBackend("cpu");
 * assertEquals(defaultBackend(), "cpu");
 * await setBackend(before);
 * ```
 */
export async function setBackend(name: BackendName): Promise<void> {
  await initBackend(name);
  current = name;
  explicit = true;
}

/**
 * Runs `fn` with `name` as the default backend and restores the previous
 * default when it settles. Do not interleave it with other code that
 * creates tensors concurrently.
 */
export async function withBackend<T>(
  name: BackendName,
  fn: () => T | Promise<T>,
): Promise<T> {
  const prev = current, prevExplicit = explicit;
  await setBackend(name);
  try {
    return await fn();
  } finally {
    current = prev;
    explicit = prevExplicit;
  }
}

/** Live storage per started backend. */
export function memory(): Partial<Record<BackendName, MemoryStats>> {
  const out: Partial<Record<BackendName, MemoryStats>> = {};
  for (const [name, b] of instances) out[name] = b.memory();
  return out;
}

/** What heed found on this machine. */
export interface BackendInfo {
  /** Usable backends (WebGPU only once probed or started). */
  readonly backends: readonly BackendName[];
  /** The current default. */
  readonly default: BackendName;
  /** The WebGPU adapter, if probed and present. */
  readonly adapter: AdapterInfo | null;
  /** Whether {@link init} has probed for a WebGPU adapter yet. */
  readonly probed: boolean;
  /**
   * The wasm backend's threads once it has started (null before): how
   * many share large kernels now, and why fewer than requested, as in a
   * browser page without cross-origin isolation (COOP/COEP headers).
   */
  readonly wasmThreads: ThreadStatus | null;
}

/**
 * Describes the backends, the default and the WebGPU adapter (with its
 * limits). It probes nothing: before {@link init} has run, `probed` is
 * false and `adapter` null; `await init()` first for the full picture.
 */
export function info(): BackendInfo {
  const wasm = instances.get("wasm");
  return {
    backends: backends(),
    default: resolveDefault(),
    adapter: adapterInfo,
    probed: adapter !== undefined,
    wasmThreads: wasm instanceof WasmBackend ? wasm.threadStatus() : null,
  };
}
