/**
 * The small contract every backend implements. Backends import this file
 * and nothing of the registry (`ops/backend.ts`), which imports them: the
 * import graph has no cycle.
 *
 * @module
 */

import type { Aval, HostArray } from "../dtype.ts";
import type { Params, Primitive } from "../primitives.ts";

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
  /**
   * Reads storage back synchronously (a fresh array), where the backend's
   * storage is host memory (cpu, wasm); absent where reading waits (WebGPU).
   * Ops use it to check small index tensors, such as class labels, at once.
   */
  readSync?(handle: unknown, aval: Aval): HostArray;
}

/**
 * Whether `prim` returns its first input's bytes unchanged (a reshape, a
 * cast to the same dtype, a reduction over no axes), so a backend with
 * reference-counted storage can hand back a new reference to it.
 */
export function sharesStorage<P extends Primitive>(
  prim: P,
  inputs: readonly Operand[],
  params: Params<P>,
  out: Aval,
): boolean {
  switch (prim) {
    case "reshape":
      return true;
    case "convert_element_type":
      return inputs[0]!.aval.dtype === out.dtype;
    case "reduce_sum":
    case "reduce_max":
    case "reduce_min":
      return (params as Params<"reduce_sum">).axes.length === 0;
    default:
      return false;
  }
}

/**
 * Reads an environment variable, or undefined when it is unset, empty, or
 * the program may not read the environment (no `--allow-env`, or no
 * `Deno` at all, as in a browser). heed reads the environment only when a
 * backend starts, never at import.
 */
export function readEnv(name: string): string | undefined {
  try {
    const deno = (globalThis as { Deno?: typeof Deno }).Deno;
    const v = deno?.env.get(name);
    return v === "" ? undefined : v;
  } catch {
    return undefined;
  }
}

/**
 * A kernel table for a list of primitives, one entry per name from
 * `entry`: backends build their elementwise entries from the lists in
 * `ops/primitives.ts` this way, never from a copy of the names.
 */
export function tableOf<K extends string, V>(
  keys: readonly K[],
  entry: (key: K) => V,
): Record<K, V> {
  return Object.fromEntries(keys.map((k) => [k, entry(k)])) as Record<K, V>;
}
