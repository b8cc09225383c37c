// Weight averaging for fit: an exponential moving average of the
// parameters after every step (Polyak averaging, "ema"), or the uniform
// mean of the parameters at the end of every epoch from a given epoch on
// (stochastic weight averaging, "swa"). The average is what fit evaluates,
// keeps as best and returns; the optimiser keeps training the raw
// parameters. Both updates are pure and traceable: the EMA runs inside
// the jitted step.

import {
  add,
  div,
  exp,
  mul,
  sub,
  type Tensor,
  tensor,
  treeMap,
} from "../../ops/mod.ts";
import type { Average } from "./fit_types.ts";

/** The average's state: the averaged parameters and how many updates made them. */
export interface AverageState<P> {
  /** The averaged parameters. */
  readonly params: P;
  /** Updates so far (a float32 scalar: steps for "ema", epochs for "swa"). */
  readonly count: Tensor;
}

/** Checks an `average` option; a RangeError or TypeError names the bad field. */
export function checkAverage(a: Average | undefined): void {
  if (a === undefined) return;
  if (a === null || typeof a !== "object") {
    throw new TypeError(`fit: average must be an object, got ${a}`);
  }
  if (a.kind === "ema") {
    if (!(a.decay > 0 && a.decay < 1)) {
      throw new RangeError(
        `fit: average.decay must be in (0, 1), got ${a.decay}`,
      );
    }
  } else if (a.kind === "swa") {
    if (!Number.isInteger(a.start) || a.start < 1) {
      throw new RangeError(
        `fit: average.start must be an epoch of at least 1, got ${a.start}`,
      );
    }
  } else {
    throw new TypeError(
      `fit: average.kind must be "ema" or "swa", got ${
        (a as { kind: unknown }).kind
      }`,
    );
  }
}

/** The average as text, for messages and `--help`: `ema:0.999`, `swa:10`. */
export function formatAverage(a: Average | null | undefined): string {
  if (!a) return "none";
  return a.kind === "ema" ? `ema:${a.decay}` : `swa:${a.start}`;
}

/** A fresh average: a copy of `params`, zero updates. */
export function initAverage<P>(params: P): AverageState<P> {
  return {
    params: treeMap((x) => add(x as Tensor, 0), params),
    count: tensor(0),
  };
}

/**
 * One EMA update after the t-th step (1-based): the bias-corrected moving
 * average, as Adam corrects its moments. With mₜ = d·mₜ₋₁ + (1 − d)·pₜ and
 * m₀ = 0, the average is mₜ / (1 − dᵗ), which is
 * avgₜ = avgₜ₋₁ + wₜ·(pₜ − avgₜ₋₁) with wₜ = (1 − d) / (1 − dᵗ): the
 * parameters after step s weigh d^(t − s), and the initial ones nothing.
 */
export function emaUpdate<P>(
  s: AverageState<P>,
  params: P,
  decay: number,
): AverageState<P> {
  const t = add(s.count, 1);
  // 1 − dᵗ = −expm1(t·ln d), exact for small t·ln d; no expm1 op, so exp
  const w = div(1 - decay, sub(1, exp(mul(t, Math.log(decay)))));
  return {
    params: treeMap(
      (a, p) => add(a as Tensor, mul(w, sub(p as Tensor, a as Tensor))),
      s.params,
      params,
    ),
    count: t,
  };
}

/** One SWA update at an epoch's end: the running mean avg + (p − avg) / (n + 1). */
export function swaUpdate<P>(s: AverageState<P>, params: P): AverageState<P> {
  const n = add(s.count, 1);
  return {
    params: treeMap(
      (a, p) => add(a as Tensor, div(sub(p as Tensor, a as Tensor), n)),
      s.params,
      params,
    ),
    count: n,
  };
}

/**
 * The average a resumed run uses: its own (none for a checkpoint saved
 * without one); given another, a RangeError (its average so far would
 * mean something else).
 */
export function resolveAverage(
  given: Average | undefined,
  saved: Average | null | undefined,
  path: string,
): Average | null {
  const run = saved ?? null;
  if (given !== undefined && formatAverage(given) !== formatAverage(run)) {
    throw new RangeError(
      `resume: ${path} ${
        run
          ? `averages its weights by ${formatAverage(run)}`
          : "averages no weights"
      }, not ${
        formatAverage(given)
      }; resume with the run's average or start a new run`,
    );
  }
  return run;
}
