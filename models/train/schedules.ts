/**
 * Learning-rate schedules as pure functions of the step (0-based). Each
 * takes a number (→ a number) or a scalar step tensor (→ a float32 scalar
 * tensor, computed on the device), so that an optimiser's update can run
 * under `jit` with its step a traced input.
 *
 * @module
 */

import {
  add,
  cast,
  cos,
  div,
  less,
  maximum,
  minimum,
  mul,
  sqrt,
  sub,
  type Tensor,
  tensor,
  where,
} from "../../ops/mod.ts";

/** A learning-rate schedule: step → learning rate, on the host or on the device. */
export interface Schedule {
  /** The rate at `step` (0-based), on the host. */
  (step: number): number;
  /** The rate at a scalar `step` tensor, as a float32 scalar tensor. */
  (step: Tensor): Tensor;
}

/** A schedule from its host formula and its device formula (the same maths). */
function schedule(
  host: (step: number) => number,
  device: (step: Tensor) => Tensor,
): Schedule {
  return ((step: number | Tensor) =>
    typeof step === "number"
      ? host(step)
      : device(cast(step, "float32"))) as Schedule;
}

function check(name: string, cond: boolean, what: string): void {
  if (!cond) throw new RangeError(`${name}: ${what}`);
}

/** Options of {@link warmupCosine}. */
export interface WarmupCosineOptions {
  /** Peak learning rate, reached at the end of warm-up. */
  peak: number;
  /** Linear warm-up steps from 0. */
  warmup: number;
  /** Total steps; the cosine decays from `warmup` to `total`. */
  total: number;
  /** Final learning rate (default 0). */
  end?: number;
}

/**
 * Linear warm-up to `peak`, then cosine decay to `end` at `total` steps.
 *
 * @example
 * ```ts
 * import { warmupCosine } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * const lr = warmupCosine({ peak: 1, warmup: 10, total: 110 });
 * assertEquals([lr(0), lr(10), lr(110)], [0, 1, 0]);
 * ```
 */
export function warmupCosine(opts: WarmupCosineOptions): Schedule {
  const { peak, warmup, total } = opts;
  const end = opts.end ?? 0;
  check(
    "warmupCosine",
    warmup >= 0 && total > warmup,
    `need 0 <= warmup < total, got ${warmup}, ${total}`,
  );
  check("warmupCosine", peak >= 0 && end >= 0, "rates must be non-negative");
  return schedule((step) => {
    if (step < warmup) return (peak * step) / warmup;
    const p = Math.min(1, (step - warmup) / (total - warmup));
    return end + 0.5 * (peak - end) * (1 + Math.cos(Math.PI * p));
  }, (step) => {
    const warm = div(mul(step, peak), Math.max(warmup, 1));
    const p = minimum(div(sub(step, warmup), total - warmup), 1);
    const decay = add(
      mul(add(cos(mul(p, Math.PI)), 1), 0.5 * (peak - end)),
      end,
    );
    return where(less(step, warmup), warm, decay);
  });
}

/** Options of {@link inverseSqrt}. */
export interface InverseSqrtOptions {
  /** Peak learning rate, at the end of warm-up. */
  peak: number;
  /** Linear warm-up steps. */
  warmup: number;
}

/** The Transformer schedule: linear warm-up, then `peak·√(warmup / step)`. */
export function inverseSqrt(opts: InverseSqrtOptions): Schedule {
  check(
    "inverseSqrt",
    opts.warmup > 0 && opts.peak >= 0,
    "need warmup > 0 and peak >= 0",
  );
  const { peak, warmup } = opts;
  return schedule(
    (step) =>
      step < warmup
        ? (peak * step) / warmup
        : peak * Math.sqrt(warmup / Math.max(step, 1)),
    (step) =>
      where(
        less(step, warmup),
        div(mul(step, peak), warmup),
        mul(sqrt(div(warmup, maximum(step, 1))), peak),
      ),
  );
}

/** Options of {@link linear}. */
export interface LinearOptions {
  /** Rate at step 0. */
  from: number;
  /** Rate at `steps` and after. */
  to: number;
  /** Length of the ramp. */
  steps: number;
}

/** A linear ramp from `from` to `to` over `steps`, then constant. */
export function linearSchedule(opts: LinearOptions): Schedule {
  check("linear", opts.steps > 0, `steps must be positive, got ${opts.steps}`);
  const { from, to, steps } = opts;
  return schedule(
    (step) => from + (to - from) * Math.min(1, Math.max(0, step) / steps),
    (step) =>
      add(mul(minimum(div(maximum(step, 0), steps), 1), to - from), from),
  );
}

/** A constant rate. */
export function constant(lr: number): Schedule {
  return schedule(() => lr, () => tensor(lr));
}
