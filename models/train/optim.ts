/**
 * Optimisers as pure `{ init, update }` pairs over parameter pytrees: SGD
 * with momentum, Adam and AdamW, plus clipping by global norm. Nothing is
 * read back to the host: norms, clip factors and the step counter (an int32
 * scalar tensor in the state, from which schedules and bias corrections are
 * computed) stay on the device, so a whole update runs under `jit` as one
 * program for every step.
 *
 * @module
 */

import {
  add,
  cast,
  div,
  maximum,
  mul,
  pow,
  sqrt,
  sub,
  sum,
  Tensor,
  tensor,
  treeLeaves,
  treeMap,
  zeros,
  zerosLike,
} from "../../ops/mod.ts";
import type { Schedule } from "./schedules.ts";

/** A learning rate: a constant or a schedule of the step (0-based). */
export type LearningRate = number | Schedule;

/** An optimiser: pure functions from params and grads to new params and state. */
export interface Optimizer<S> {
  /** The initial state for `params`. */
  init(params: unknown): S;
  /** One step: new params and state from grads (both pytrees like params). */
  update<P>(params: P, grads: P, state: S): { params: P; state: S };
}

/**
 * The rate at `step` (an int32 scalar tensor): a number stays a number, a
 * schedule gives a scalar tensor. Schedules check their rates when made,
 * so nothing is read back here.
 */
function lrAt(lr: LearningRate, step: Tensor): number | Tensor {
  if (typeof lr === "number") {
    if (!Number.isFinite(lr) || lr < 0) {
      throw new RangeError(
        `optimizer: learning rate must be finite and non-negative, got ${lr}`,
      );
    }
    return lr;
  }
  const v = lr(step) as unknown;
  if (!(v instanceof Tensor)) {
    throw new TypeError(
      `optimizer: a schedule must map a step tensor to a rate tensor (make it with warmupCosine, inverseSqrt, linearSchedule or constant), got ${typeof v}`,
    );
  }
  return v;
}

/** A fresh step counter: an int32 scalar tensor. */
const stepZero = (): Tensor => tensor(0, { dtype: "int32" });

/**
 * An optimiser state whose `step` was saved as a JS number (checkpoints
 * before the counter became a tensor), with it as an int32 scalar tensor;
 * other states are returned as they are.
 */
export function stepAsTensor<S>(state: S): S {
  const st = state as { step?: unknown } | null;
  if (
    typeof st !== "object" || st === null || typeof st.step !== "number"
  ) return state;
  if (!Number.isSafeInteger(st.step) || st.step < 0 || st.step >= 2 ** 31) {
    throw new RangeError(
      `optimizer: a saved step must be an integer in [0, 2^31), got ${st.step}`,
    );
  }
  return { ...st, step: tensor(st.step, { dtype: "int32" }) } as S;
}

const t = (x: unknown) => x as Tensor;

/** State of {@link sgd}. */
export interface SgdState {
  /** Steps taken (an int32 scalar tensor). */
  readonly step: Tensor;
  /** Momentum buffers (a pytree like params), or null without momentum. */
  readonly velocity: unknown;
}

/** Options of {@link sgd}. */
export interface SgdOptions {
  /** Learning rate or schedule. */
  lr: LearningRate;
  /** Momentum coefficient (default 0). */
  momentum?: number;
  /** Use Nesterov momentum (default false). */
  nesterov?: boolean;
}

/**
 * Stochastic gradient descent with optional (Nesterov) momentum:
 * v ← μv + g, p ← p - lr·v (or p - lr·(g + μv) with Nesterov).
 *
 * @example
 * ```ts
 * import { tensor } from "@heed/heed";
 * import { sgd } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * const opt = sgd({ lr: 0.5 });
 * const { params } = opt.update({ w: tensor([1]) }, { w: tensor([2]) }, opt.init({ w: tensor([1]) }));
 * assertEquals(await params.w.array(), [0]);
 * ```
 */
export function sgd(opts: SgdOptions): Optimizer<SgdState> {
  const mu = opts.momentum ?? 0;
  if (!(mu >= 0 && mu < 1)) {
    throw new RangeError(`sgd: momentum must be in [0, 1), got ${mu}`);
  }
  return {
    init: (params) => ({
      step: stepZero(),
      velocity: mu > 0 ? treeMap((p) => zerosLike(t(p)), params) : null,
    }),
    update<P>(params: P, grads: P, state: SgdState) {
      const lr = lrAt(opts.lr, state.step);
      const step = add(state.step, 1);
      if (mu === 0) {
        return {
          params: treeMap<P>((p, g) => sub(t(p), mul(t(g), lr)), params, grads),
          state: { step, velocity: null },
        };
      }
      const velocity = treeMap(
        (v, g) => add(mul(t(v), mu), t(g)),
        state.velocity,
        grads,
      );
      const dir = opts.nesterov
        ? treeMap((g, v) => add(t(g), mul(t(v), mu)), grads, velocity)
        : velocity;
      return {
        params: treeMap<P>((p, d) => sub(t(p), mul(t(d), lr)), params, dir),
        state: { step, velocity },
      };
    },
  };
}

/** State of {@link adam} and {@link adamw}. */
export interface AdamState {
  /** Steps taken (an int32 scalar tensor). */
  readonly step: Tensor;
  /** First-moment estimates (pytree like params). */
  readonly m: unknown;
  /** Second-moment estimates (pytree like params). */
  readonly v: unknown;
}

/** Options of {@link adam}. */
export interface AdamOptions {
  /** Learning rate or schedule. */
  lr: LearningRate;
  /** First-moment decay (default 0.9). */
  b1?: number;
  /** Second-moment decay (default 0.999). */
  b2?: number;
  /** Added to the denominator (default 1e-8). */
  eps?: number;
}

/** Options of {@link adamw}. */
export interface AdamWOptions extends AdamOptions {
  /** Decoupled weight decay (default 0.01). */
  weightDecay?: number;
  /** Which leaves decay (default: those with 2 or more axes, i.e. not biases or norms). */
  decayMask?: (leaf: Tensor) => boolean;
}

function adamLike(
  name: string,
  opts: AdamWOptions,
  decoupled: boolean,
): Optimizer<AdamState> {
  const b1 = opts.b1 ?? 0.9, b2 = opts.b2 ?? 0.999, eps = opts.eps ?? 1e-8;
  const wd = decoupled ? opts.weightDecay ?? 0.01 : 0;
  const mask = opts.decayMask ?? ((x: Tensor) => x.ndim >= 2);
  for (const [k, v] of [["b1", b1], ["b2", b2]] as const) {
    if (!(v >= 0 && v < 1)) {
      throw new RangeError(`${name}: ${k} must be in [0, 1), got ${v}`);
    }
  }
  if (!(eps > 0)) {
    throw new RangeError(`${name}: eps must be positive, got ${eps}`);
  }
  return {
    init: (params) => ({
      step: stepZero(),
      m: treeMap((p) => zerosLike(t(p)), params),
      v: treeMap((p) => zerosLike(t(p)), params),
    }),
    update<P>(params: P, grads: P, state: AdamState) {
      const step = add(state.step, 1);
      const lr = lrAt(opts.lr, state.step);
      const n = cast(step, "float32");
      const m = treeMap(
        (mi, g) => add(mul(t(mi), b1), mul(t(g), 1 - b1)),
        state.m,
        grads,
      );
      const v = treeMap(
        (vi, g) => add(mul(t(vi), b2), mul(mul(t(g), t(g)), 1 - b2)),
        state.v,
        grads,
      );
      // Bias correction folded into the step size: lr·√(1-b2ᵗ)/(1-b1ᵗ).
      const root = sqrt(sub(1, pow(b2, n))); // √(1-b2ᵗ), a scalar
      const alpha = div(mul(root, lr), sub(1, pow(b1, n)));
      const epsHat = mul(root, eps);
      const decay = mul(lr, wd);
      const next = treeMap<P>(
        (p, mi, vi) => {
          const upd = div(t(mi), add(sqrt(t(vi)), epsHat));
          let q = sub(t(p), mul(upd, alpha));
          if (wd > 0 && mask(t(p))) q = sub(q, mul(t(p), decay));
          return q;
        },
        params,
        m,
        v,
      );
      return { params: next, state: { step, m, v } };
    },
  };
}

/** Adam (Kingma & Ba 2015). */
export function adam(opts: AdamOptions): Optimizer<AdamState> {
  return adamLike("adam", opts, false);
}

/** AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), p ← p - lr·wd·p. */
export function adamw(opts: AdamWOptions): Optimizer<AdamState> {
  return adamLike("adamw", opts, true);
}

/** The global L2 norm of a gradient pytree, as a scalar tensor. */
export function globalNorm(grads: unknown): Tensor {
  const leaves = treeLeaves(grads).map(t);
  let acc: Tensor | null = null;
  for (const g of leaves) {
    const s = sum(mul(g, g));
    acc = acc ? add(acc, s) : s;
  }
  return sqrt(acc ?? zeros([]));
}

/**
 * Scales grads so that their global norm is at most `maxNorm`; returns the
 * clipped grads and the norm before clipping (both stay on the device).
 */
export function clipByGlobalNorm<G>(
  grads: G,
  maxNorm: number,
): { grads: G; norm: Tensor } {
  if (!(maxNorm > 0)) {
    throw new RangeError(
      `clipByGlobalNorm: maxNorm must be positive, got ${maxNorm}`,
    );
  }
  const norm = globalNorm(grads);
  const factor = div(maxNorm, maximum(norm, maxNorm));
  return { grads: treeMap<G>((g) => mul(t(g), factor), grads), norm };
}
