/**
 * `bind`, the interpreter stack and eager evaluation: every op a user calls
 * ends in {@link bind}, and the innermost transform among its operands
 * handles it (JAX's design, as in autodidax).
 *
 * @module
 */

import { type Aval, type DType, fmtShape, hostArray, sizeOf } from "./dtype.ts";
import { type Backend, getBackend } from "./backend.ts";
import type { Params, Primitive } from "./primitives.ts";
import { shapeRule } from "./shape_rules.ts";
import { Tensor, type TraceLevel, Tracer } from "./tensor.ts";
import { pin, setTransformsActiveHook, track } from "./memory.ts";

/** An interpreter: how one transform level processes primitives. */
export interface Trace {
  /** Applies `prim` to operands, at least one of which is this level's tracer. */
  process<P extends Primitive>(
    prim: P,
    inputs: readonly Tensor[],
    params: Params<P>,
    out: Aval,
  ): Tensor;
}

/** One entry of the interpreter stack. */
export class MainTrace implements TraceLevel {
  /** Position on the stack (0 is the first transform). */
  readonly level: number;
  /** The interpreter; set once, right after the level is pushed. */
  trace!: Trace;
  /** Whether the level is still on the stack (tracers of a popped level escaped). */
  active = true;
  /**
   * Whether the level stages every op bound while it is the innermost
   * staging level, even on concrete operands (jit's tracing, JAX's
   * "omnistaging"), so a traced program holds all of a function's work.
   */
  readonly staging: boolean;
  constructor(level: number, staging = false) {
    this.level = level;
    this.staging = staging;
  }
}

const stack: MainTrace[] = [];

/**
 * Whether any transform is running: then even a concrete tensor may be
 * held by an outer transform (a residual of its linearisation), so
 * nothing may be freed early.
 */
export function transformsActive(): boolean {
  return stack.length > 0;
}
setTransformsActiveHook(transformsActive);

/** Whether a transform other than jit's staging (jvp, linearize) is running. */
export function nonStagingActive(): boolean {
  return stack.some((m) => !m.staging);
}

/**
 * Runs `fn` with a new interpreter level on top of the stack; `make` builds
 * the interpreter for the level. A `staging` level receives every op bound
 * inside it, also ops on concrete tensors (see {@link MainTrace.staging}).
 */
export function withMain<T>(
  make: (main: MainTrace) => Trace,
  fn: (main: MainTrace) => T,
  staging = false,
): T {
  const main = new MainTrace(stack.length, staging);
  main.trace = make(main);
  stack.push(main);
  try {
    return fn(main);
  } finally {
    stack.pop();
    main.active = false;
  }
}

/** Returns the tracer's level, checking that it has not escaped its transform. */
function levelOf(x: Tracer): MainTrace {
  const m = x.main as MainTrace;
  if (!m.active) {
    throw new TypeError(
      `a traced value (${x.dtype}${
        fmtShape(x.shape)
      }) escaped from the transform that made it; return it from the transformed function instead of storing it`,
    );
  }
  return m;
}

/** The innermost staging level on the stack, if any. */
function innermostStaging(): MainTrace | null {
  for (let i = stack.length - 1; i >= 0; i--) {
    if (stack[i]!.staging) return stack[i]!;
  }
  return null;
}

/** Applies a primitive: the single entry point of every op. */
export function bind<P extends Primitive>(
  prim: P,
  inputs: readonly Tensor[],
  params: Params<P>,
): Tensor {
  const out = shapeRule(prim, inputs, params);
  let top: MainTrace | null = innermostStaging();
  for (const x of inputs) {
    if (x instanceof Tracer) {
      const m = levelOf(x);
      if (!top || m.level > top.level) top = m;
    }
  }
  if (top) return top.trace.process(prim, inputs, params, out);
  return evalPrimitive(prim, inputs, params, out);
}

/** Runs a primitive eagerly on concrete tensors, on their shared backend. */
function evalPrimitive<P extends Primitive>(
  prim: P,
  inputs: readonly Tensor[],
  params: Params<P>,
  out: Aval,
): Tensor {
  const backend = inputs.length > 0 ? inputs[0]!.backend : getBackend();
  for (const x of inputs) {
    if (x.backend !== backend) {
      throw new TypeError(
        `${prim}: operands live on different backends (${backend.name} and ${x.backend.name}); move one with toBackend()`,
      );
    }
  }
  const handle = backend.run(
    prim,
    inputs.map((x) => ({ handle: x.handle, aval: x })),
    params,
    out,
  );
  return track(new Tensor(out, backend, handle));
}

/** A concrete tensor from a host array on `backend` (default: the default backend). */
export function fromHost(
  data: Float32Array | Int32Array | Uint8Array,
  shape: readonly number[],
  dtype: DType,
  backend: Backend = getBackend(),
): Tensor {
  const aval = { shape, dtype };
  if (data.length !== sizeOf(shape)) {
    throw new TypeError(
      `tensor: ${data.length} values do not fill shape ${fmtShape(shape)}`,
    );
  }
  return track(new Tensor(aval, backend, backend.upload(data, aval)));
}

const SCALAR_CACHE_SIZE = 1024;
const scalars = new Map<string, Tensor>();
const scalarValues = new WeakMap<Tensor, number>();

/**
 * The value of a constant made by {@link scalar} (booleans as 1 and 0), or
 * `undefined` for any other tensor: traced programs record such constants
 * as literals.
 */
export function scalarValue(t: Tensor): number | undefined {
  return scalarValues.get(t);
}

/**
 * A scalar constant of `dtype` on `backend` (default: the default backend).
 * Constants are cached and pinned (never freed by scopes), so `add(x, 1)`
 * uploads nothing twice.
 */
export function scalar(
  value: number | boolean,
  dtype: DType,
  backend: Backend = getBackend(),
): Tensor {
  const v = typeof value === "boolean" ? (value ? 1 : 0) : value;
  const cacheKey = `${backend.name}:${dtype}:${Object.is(v, -0) ? "-0" : v}`;
  const hit = scalars.get(cacheKey);
  if (hit && !hit.released && (backend.isLive?.(hit.handle) ?? true)) {
    scalars.delete(cacheKey);
    scalars.set(cacheKey, hit); // most recently used last
    return hit;
  }
  const a = hostArray(dtype, 1);
  a[0] = v;
  const t = pin(
    new Tensor(
      { shape: [], dtype },
      backend,
      backend.upload(a, { shape: [], dtype }),
    ),
  );
  scalars.set(cacheKey, t);
  scalarValues.set(t, v);
  if (scalars.size > SCALAR_CACHE_SIZE) {
    const oldest = scalars.keys().next().value!;
    scalars.delete(oldest); // its storage is reclaimed by the GC safety net
  }
  return t;
}
