/**
 * The immutable {@link Tensor} and the base class of tracers.
 *
 * @module
 */

import {
  type Aval,
  type DType,
  fmtShape,
  type HostArray,
  sizeOf,
} from "./dtype.ts";
import type { Backend } from "./backends/contract.ts";

/** A nested array of numbers or booleans, as `Tensor.array()` returns. */
export type NestedArray = number | boolean | NestedArray[];

let releaseImpl: (t: Tensor) => boolean;
let disposeHook: ((t: Tensor) => void) | null = null;

/** Lets ops/memory.ts free a tensor (unregistering its finaliser) on `using`. */
export function setDisposeHook(hook: (t: Tensor) => void): void {
  disposeHook = hook;
}

/**
 * Drops a concrete tensor's storage reference (heed's scopes call this);
 * returns false if it was already released. Later reads of the tensor fail.
 */
export function releaseTensor(t: Tensor): boolean {
  return releaseImpl(t);
}

/** Why a tensor's storage was freed, where the freer said (donation). */
const freedBecause = new WeakMap<Tensor, string>();

/**
 * Records why `t` is about to be freed, for the error a later read raises
 * (`jit` notes its donated inputs). Internal to heed.
 */
export function noteFreed(t: Tensor, why: string): void {
  freedBecause.set(t, why);
}

/**
 * An immutable n-dimensional array on one backend. Ops never change a
 * tensor; they return new ones. Reading back is async.
 *
 * @example Reading a tensor back
 * ```ts
 * import { tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const x = tensor([[1, 2], [3, 4]]);
 * assertEquals(x.shape, [2, 2]);
 * assertEquals(await x.array(), [[1, 2], [3, 4]]);
 * ```
 */
export class Tensor implements Aval {
  /** Extent of each axis. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  #backend: Backend | null;
  #handle: unknown;
  #released = false;

  static {
    releaseImpl = (t: Tensor): boolean => {
      if (t.#released || !t.#backend) return false;
      t.#released = true;
      t.#backend.free(t.#handle);
      t.#handle = null;
      return true;
    };
  }

  /**
   * Wraps backend storage. Users create tensors with `tensor`, `zeros` and
   * the ops, never with this constructor.
   */
  constructor(aval: Aval, backend: Backend | null, handle: unknown) {
    this.shape = Object.freeze([...aval.shape]);
    this.dtype = aval.dtype;
    this.#backend = backend;
    this.#handle = handle;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /** Number of axes. */
  get ndim(): number {
    return this.shape.length;
  }

  /** The backend that holds this tensor's storage. */
  get backend(): Backend {
    if (!this.#backend) {
      throw new TypeError(
        "Tensor.backend: a traced value has no storage; return it from the transformed function to read it",
      );
    }
    return this.#backend;
  }

  /** The backend storage handle (internal to heed's backends). */
  get handle(): unknown {
    this.backend;
    if (this.#released) {
      throw new TypeError(
        `${this}: its storage was freed${
          freedBecause.has(this) ? ` (${freedBecause.get(this)})` : ""
        }. Keep a tensor past a block by returning it from \`scope\`; in a loop, pass the state through \`carry\` and use only the state it returns; free values you read back with \`using\` or \`dispose\` only after their last use`,
      );
    }
    return this.#handle;
  }

  /**
   * Frees this tensor's storage now, so that `using x = ...` releases it at
   * the end of the block, also across `await`. A traced value or an already
   * freed tensor is left alone.
   */
  [Symbol.dispose](): void {
    if (this.#released || !this.#backend) return;
    if (disposeHook) disposeHook(this);
    else releaseImpl(this);
  }

  /** Whether this tensor's storage has been freed by a scope. */
  get released(): boolean {
    return this.#released;
  }

  /** Reads the elements back as a flat typed array (row-major). */
  data(): Promise<HostArray> {
    try {
      return this.backend.read(this.handle, this);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Reads the elements back as nested arrays (booleans for `bool`). */
  async array(): Promise<NestedArray> {
    const flat = await this.data();
    const toJs = (i: number): number | boolean =>
      this.dtype === "bool" ? flat[i] !== 0 : flat[i]!;
    if (this.shape.length === 0) return toJs(0);
    let pos = 0;
    const build = (axis: number): NestedArray[] => {
      const out: NestedArray[] = [];
      const n = this.shape[axis]!;
      for (let i = 0; i < n; i++) {
        out.push(
          axis === this.shape.length - 1 ? toJs(pos++) : build(axis + 1),
        );
      }
      return out;
    };
    return build(0);
  }

  /** Reads a one-element tensor back as a number (or boolean). */
  async item(): Promise<number | boolean> {
    if (this.size !== 1) {
      throw new TypeError(
        `Tensor.item: expected one element, got shape ${fmtShape(this.shape)}`,
      );
    }
    const flat = await this.data();
    return this.dtype === "bool" ? flat[0] !== 0 : flat[0]!;
  }

  /** A short description: `Tensor(float32[2,3])`. */
  toString(): string {
    return `Tensor(${this.dtype}${fmtShape(this.shape)})`;
  }
}

/** The interpreter level a tracer belongs to (see `core.ts`). */
export interface TraceLevel {
  /** Position on the interpreter stack; higher is inner. */
  readonly level: number;
}

/**
 * A value being traced by a transform. It looks like a tensor (shape and
 * dtype) but has no storage; its `main` names the transform it belongs to,
 * so nested transforms never confuse perturbations.
 */
export abstract class Tracer extends Tensor {
  /** The transform level that owns this tracer. */
  readonly main: TraceLevel;

  /** Creates a tracer of `aval` owned by `main`. */
  constructor(aval: Aval, main: TraceLevel) {
    super(aval, null, null);
    this.main = main;
  }

  /**
   * The backend this value's storage lives on, where a transform that is
   * not a perturbation knows it (vmap: its batched value's), for the
   * constants an op makes beside it; `undefined` otherwise.
   */
  get storageBackend(): Backend | undefined {
    return undefined;
  }

  /**
   * This value with its transform's perturbation dropped (its primal), or
   * the tracer itself where that has no meaning.
   */
  dropPerturbation(): Tensor {
    return this;
  }

  override data(): Promise<HostArray> {
    return Promise.reject(
      new TypeError(
        `Tensor.data: cannot read a traced value (${this.dtype}${
          fmtShape(this.shape)
        }) inside a transform; return it from the transformed function instead`,
      ),
    );
  }
}

/** Whether `x` is a concrete tensor with storage (not a tracer). */
export function isConcrete(x: Tensor): boolean {
  return !(x instanceof Tracer);
}
