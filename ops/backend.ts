/**
 * The small contract every backend implements, and the choice of the default
 * backend. A backend owns storage handles; tensors hold a handle and the
 * backend it belongs to.
 *
 * Default: WebGPU when a hardware adapter exists, otherwise the
 * WebAssembly SIMD backend. A software adapter (Mesa llvmpipe) is not a
 * GPU: there wasm measured fastest for training (see the README).
 * `HEED_BACKEND=cpu|webgpu|wasm` or {@link setBackend} override the choice.
 *
 * @module
 */

import type { Aval, HostArray } from "./dtype.ts";
import type { Params, Primitive } from "./primitives.ts";
import { CpuBackend } from "./backends/cpu.ts";
import { WebGpuBackend } from "./backends/webgpu/backend.ts";
import { WasmBackend } from "./backends/wasm/backend.ts";
import {
  type AdapterInfo,
  describeAdapter,
  requestAdapter,
} from "./backends/webgpu/device.ts";

export type { AdapterInfo } from "./backends/webgpu/device.ts";

/** Names of the backends heed knows. */
export type BackendName = "cpu" | "webgpu" | "wasm";

/** An input to a kernel: a storage handle and its abstract value. */
export interface Operand {
  /** The backend's own storage handle. */
  readonly handle: unknown;
  /** Shape and dtype of the value the handle holds. */
  readonly aval: Aval;
}

/** Live storage of one backend. */
export interface MemoryStats {
  /** Storage buffers held by live tensors. */
  readonly liveBuffers: number;
  /** Bytes of those buffers. */
  readonly liveBytes: number;
  /** Bytes kept in a pool for reuse (not held by tensors). */
  readonly pooledBytes: number;
}

/** What a backend must provide: upload, read, run a primitive, free. */
export interface Backend {
  /** The backend's name, as `HEED_BACKEND` spells it. */
  readonly name: BackendName;
  /** Copies host data into new storage. The array is not retained. */
  upload(data: HostArray, aval: Aval): unknown;
  /** Reads storage back to the host (a fresh array the caller owns). */
  read(handle: unknown, aval: Aval): Promise<HostArray>;
  /** Runs one primitive on operands, returning new storage for `out`. */
  run<P extends Primitive>(
    prim: P,
    inputs: readonly Operand[],
    params: Params<P>,
    out: Aval,
  ): unknown;
  /** Releases one reference to storage; later use of the handle is an error. */
  free(handle: unknown): void;
  /** Live storage of this backend. */
  memory(): MemoryStats;
  /** Whether a handle is still usable (false after a device loss); default true. */
  isLive?(handle: unknown): boolean;
}

const KNOWN: readonly BackendName[] = ["cpu", "webgpu", "wasm"];
const instances = new Map<BackendName, Backend>([["cpu", new CpuBackend()]]);
let webgpuInit: Promise<WebGpuBackend | null> | null = null;
let wasmInit: Promise<WasmBackend> | null = null;

// Probe the adapter once at load: the default depends on whether a hardware
// GPU is present, and tensor creation must stay synchronous.
const adapter = await requestAdapter();
const adapterInfo: AdapterInfo | null = adapter
  ? describeAdapter(adapter)
  : null;

function envBackend(): string | undefined {
  try {
    const v = Deno.env.get("HEED_BACKEND");
    return v === "" ? undefined : v;
  } catch {
    return undefined; // no --allow-env: use the built-in default
  }
}

function checkName(op: string, name: string): BackendName {
  if (!KNOWN.includes(name as BackendName)) {
    throw new RangeError(
      `${op}: unknown backend "${name}" (known: ${KNOWN.join(", ")})`,
    );
  }
  return name as BackendName;
}

async function initWebGpu(): Promise<WebGpuBackend | null> {
  if (!webgpuInit) {
    webgpuInit = WebGpuBackend.create().then((b) => {
      if (b) instances.set("webgpu", b);
      return b;
    });
  }
  return await webgpuInit;
}

async function initWasm(): Promise<WasmBackend> {
  if (!wasmInit) {
    wasmInit = WasmBackend.create().then((b) => {
      instances.set("wasm", b);
      return b;
    });
  }
  return await wasmInit;
}

/**
 * The built-in default: WebGPU on a hardware GPU; otherwise (no adapter, or
 * only a software one such as llvmpipe) the wasm backend, which trains
 * fastest there (README: MLP step 143 steps/s on wasm, 33 on the CPU
 * reference, 14 on llvmpipe WebGPU, measured side by side). The CPU
 * reference is the fallback if WebAssembly SIMD is unavailable.
 */
function builtInDefault(): BackendName {
  return adapterInfo && !adapterInfo.isSoftware ? "webgpu" : "wasm";
}

const env = envBackend();
let current: BackendName = env !== undefined
  ? checkName("HEED_BACKEND", env)
  : builtInDefault();
if (current === "webgpu") {
  if (!(await initWebGpu())) {
    throw new Error(
      "HEED_BACKEND=webgpu, but no WebGPU adapter is available on this machine",
    );
  }
}
if (current === "wasm") {
  try {
    await initWasm();
  } catch (e) {
    if (env !== undefined) throw e;
    current = "cpu"; // no WebAssembly SIMD here: the reference backend still works
  }
}

/** The names of the backends usable on this machine (WebGPU only with an adapter). */
export function backends(): BackendName[] {
  return adapter ? ["cpu", "webgpu", "wasm"] : ["cpu", "wasm"];
}

/** The name of the current default backend. */
export function defaultBackend(): BackendName {
  return current;
}

/**
 * Returns the backend called `name` (default: the current one). WebGPU must
 * and wasm must have been initialised by {@link setBackend} or
 * `HEED_BACKEND`.
 */
export function getBackend(name?: BackendName): Backend {
  const n = name === undefined ? current : checkName("getBackend", name);
  const b = instances.get(n);
  if (!b) {
    throw new Error(
      `getBackend: the ${n} backend is not initialised; call \`await setBackend("${n}")\` first`,
    );
  }
  return b;
}

/**
 * Initialises backend `name` if needed (WebGPU acquires its device; wasm
 * compiles its kernels and starts its threads).
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
  }
  if (n === "wasm") await initWasm();
  return getBackend(n);
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
  const prev = current;
  await setBackend(name);
  try {
    return await fn();
  } finally {
    current = prev;
  }
}

/** Live storage per initialised backend. */
export function memory(): Partial<Record<BackendName, MemoryStats>> {
  const out: Partial<Record<BackendName, MemoryStats>> = {};
  for (const [name, b] of instances) out[name] = b.memory();
  return out;
}

/** What heed found on this machine. */
export interface BackendInfo {
  /** Usable backends. */
  readonly backends: readonly BackendName[];
  /** The current default. */
  readonly default: BackendName;
  /** The WebGPU adapter, if any. */
  readonly adapter: AdapterInfo | null;
}

/** Describes the backends, the default and the WebGPU adapter (with its limits). */
export function info(): BackendInfo {
  return { backends: backends(), default: current, adapter: adapterInfo };
}
