/**
 * Memory without ownership bookkeeping: scopes free the intermediates a
 * block created and did not return, a FinalizationRegistry frees what the
 * garbage collector finds unreachable, and `memory()` reports live storage
 * per backend. There is no `.ref` and no consuming semantics.
 *
 * @module
 */

import type { Backend } from "./backends/contract.ts";
import { releaseTensor, setDisposeHook, Tensor } from "./tensor.ts";
import { treeFlatten } from "./pytree.ts";

const scopes: Tensor[][] = [];

// Safety net: storage of tensors that became unreachable without a scope.
const registry = new FinalizationRegistry<
  { backend: Backend; handle: unknown }
>(
  ({ backend, handle }) => backend.free(handle),
);

/** Tensors the finaliser watches: each at most once, so it frees at most once. */
const registered = new WeakSet<Tensor>();

function register(t: Tensor): void {
  if (registered.has(t)) return;
  registered.add(t);
  registry.register(t, { backend: t.backend, handle: t.handle }, t);
}

/** Registers a new concrete tensor with the finaliser and the current scope. */
export function track(t: Tensor): Tensor {
  register(t);
  scopes[scopes.length - 1]?.push(t);
  return t;
}

const pinned = new WeakSet<Tensor>();

let transformsRunning: () => boolean = () => false;

/**
 * Tells this module how to ask whether a transform is running (core.ts
 * calls it once; memory.ts cannot import core.ts, which imports it).
 * Internal to heed.
 */
export function setTransformsActiveHook(active: () => boolean): void {
  transformsRunning = active;
}

/**
 * Marks a shared constant: scopes, `carry`, `dispose` and `using` never
 * free it; the GC safety net does once it is unreachable.
 */
export function pin(t: Tensor): Tensor {
  pinned.add(t);
  register(t);
  return t;
}

/**
 * Frees a tensor now (scopes, `carry`, `dispose`, `using`). Its finaliser
 * is unregistered first, so the storage is freed exactly once.
 */
function release(t: Tensor): void {
  if (pinned.has(t)) return;
  registry.unregister(t);
  releaseTensor(t);
}

setDisposeHook(release);

/**
 * Frees every tensor in `tree` (a tensor or a pytree of them) now. Use it,
 * or `using x = ...`, in async code that reads values back, where no
 * synchronous `scope` can cover the block. Later use of a freed tensor is an
 * error; freeing twice is harmless.
 *
 * @example An async loop that reads its loss back
 * ```ts
 * import { dispose, mul, sum, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const x = tensor([1, 2, 3]);
 * const seen: number[] = [];
 * for (let i = 1; i <= 2; i++) {
 *   using loss = sum(mul(x, i)); // freed at the end of each iteration
 *   seen.push(await loss.item() as number);
 * }
 * const y = mul(x, 2);
 * dispose({ y }); // frees y now
 * assertEquals(seen, [6, 12]);
 * assertEquals(y.released, true);
 * ```
 */
export function dispose(tree: unknown): void {
  for (const t of treeFlatten(tree)[0]) {
    if (t instanceof Tensor && !t.released) release(t);
  }
}

/**
 * Frees tensors now. heed's own async loops (decoding, evaluation) use it
 * for results they have read back, which no synchronous scope can cover;
 * user code needs `scope` and `carry` instead. Internal to heed (not
 * exported from `mod.ts`).
 */
export function releaseNow(...ts: readonly Tensor[]): void {
  for (const t of ts) if (t instanceof Tensor && !t.released) release(t);
}

function concreteLeaves(tree: unknown): Set<Tensor> {
  return new Set(
    treeFlatten(tree)[0].filter((l): l is Tensor =>
      l instanceof Tensor && !l.released
    ),
  );
}

/**
 * Runs `fn` and frees every tensor it created that is not part of its result
 * (a pytree); returned tensors move to the enclosing scope. `fn` must be
 * synchronous. Inside a function that a transform runs (`grad`, `jvp`,
 * `jit`, ...), a value `fn` made may be one the transform reads later, so
 * nothing is freed early there: such tensors move to the enclosing scope too.
 *
 * @example
 * ```ts
 * import { add, memory, mul, scope, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const x = tensor([1, 2, 3]);
 * const y = scope(() => add(mul(x, x), 1)); // the product is freed here
 * assertEquals(await y.array(), [2, 5, 10]);
 * ```
 */
export function scope<T>(fn: () => T): T {
  return scopeCreated(fn)[0];
}

/**
 * `scope(fn)` that also says which tensors of the result `fn` created (they
 * were not reachable before the call). Internal: the backward pass uses it
 * to free only what a user's rule made, never what it merely returned.
 */
export function scopeCreated<T>(fn: () => T): [T, Set<Tensor>] {
  return frameCreated(fn, !transformsRunning());
}

/**
 * `scope(fn)` that frees what `fn` created even while a transform runs.
 * Internal: only for computations whose every created tensor is local to
 * `fn` and can be no transform's residual, such as work on
 * `stopGradient`-ed concrete values (sparsemax's support), where the
 * memory bound matters.
 */
export function scopeLocal<T>(fn: () => T): T {
  return frameCreated(fn, true)[0];
}

function frameCreated<T>(fn: () => T, free: boolean): [T, Set<Tensor>] {
  const frame: Tensor[] = [];
  scopes.push(frame);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of frame) release(t);
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of frame) release(t);
    throw new TypeError(
      "scope: fn returned a Promise; scopes are synchronous: await outside the scope",
    );
  }
  const keep = concreteLeaves(result);
  const parent = scopes[scopes.length - 1];
  const created = new Set<Tensor>();
  for (const t of frame) {
    if (keep.has(t)) {
      parent?.push(t);
      created.add(t);
    } else if (free) release(t);
    // Under a transform, a tensor fn made may be a residual that the
    // transform reads later (grad's backward pass): it moves up, as the
    // result does, and is freed when an outer scope ends.
    else parent?.push(t);
  }
  return [result, created];
}

/**
 * Runs `fn` and returns its result with every concrete tensor created
 * during it and still alive (by ops or from host data; not cached
 * scalars), freeing none of them: they move to the enclosing scope. jit
 * uses it to keep the constants a trace made alive past the caller's
 * scopes.
 */
export function collectCreated<T>(fn: () => T): [T, Set<Tensor>] {
  const frame: Tensor[] = [];
  scopes.push(frame);
  try {
    return [fn(), new Set(frame.filter((t) => !t.released))];
  } finally {
    scopes.pop();
    scopes[scopes.length - 1]?.push(...frame);
  }
}

/**
 * One step of a loop that owns its state: runs `fn(state)` in a scope, then
 * frees the tensors of the old `state` that the new state does not contain.
 * Use it for training loops so that memory stays flat without `dispose()`.
 *
 * @example
 * ```ts
 * import { add, carry, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * let state = { n: tensor(0) };
 * for (let i = 0; i < 3; i++) state = carry(state, (s: { n: Tensor }) => ({ n: add(s.n, 1) }));
 * assertEquals(await state.n.item(), 3);
 * ```
 */
export function carry<S>(state: S, fn: (state: S) => S): S {
  const next = scope(() => fn(state));
  const keep = concreteLeaves(next);
  for (const t of concreteLeaves(state)) if (!keep.has(t)) release(t);
  return next;
}
