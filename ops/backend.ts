/**
 * The small contract every backend implements, and the choice of the default
 * backend. A backend owns storage handles; tensors hold a handle and the
 * backend it belongs to.
 *
 * @module
 */

import type { Aval, HostArray } from "./dtype.ts";
import type { Params, Primitive } from "./primitives.ts";
import { CpuBackend } from "./backends/cpu.ts";

/** Names of the backends heed knows. */
export type BackendName = "cpu";

/** An input to a kernel: a storage handle and its abstract value. */
export interface Operand {
  /** The backend's own storage handle. */
  readonly handle: unknown;
  /** Shape and dtype of the value the handle holds. */
  readonly aval: Aval;
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
  /** Releases storage early; later use of the handle is an error. */
  free(handle: unknown): void;
}

const factories: Record<BackendName, () => Backend> = {
  cpu: () => new CpuBackend(),
};

const instances = new Map<BackendName, Backend>();
let current: BackendName | null = null;

/** The names of all backends that can be used on this machine. */
export function backends(): BackendName[] {
  return Object.keys(factories) as BackendName[];
}

/** Returns the backend called `name`, creating it on first use. */
export function getBackend(name?: BackendName): Backend {
  const n = name ?? defaultBackendName();
  let b = instances.get(n);
  if (!b) {
    const make = factories[n];
    if (!make) {
      throw new RangeError(
        `getBackend: unknown backend "${n}" (known: ${backends().join(", ")})`,
      );
    }
    b = make();
    instances.set(n, b);
  }
  return b;
}

function defaultBackendName(): BackendName {
  if (current) return current;
  let env: string | undefined;
  try {
    env = Deno.env.get("HEED_BACKEND");
  } catch {
    env = undefined; // no --allow-env: use the built-in default
  }
  if (env !== undefined && env !== "") {
    if (!(env in factories)) {
      throw new RangeError(
        `HEED_BACKEND="${env}" is not a backend (known: ${
          backends().join(", ")
        })`,
      );
    }
    current = env as BackendName;
  } else {
    current = "cpu";
  }
  return current;
}

/** Sets the default backend for tensors created from now on. */
export function setBackend(name: BackendName): void {
  getBackend(name);
  current = name;
}

/** Runs `fn` with `name` as the default backend, then restores the old one. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const prev = defaultBackendName();
  setBackend(name);
  try {
    return fn();
  } finally {
    current = prev;
  }
}
