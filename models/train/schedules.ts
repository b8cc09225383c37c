/**
 * Learning-rate schedules as pure functions of the step (0-based).
 *
 * @module
 */

/** A learning-rate schedule: step → learning rate. */
export type Schedule = (step: number) => number;

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
  return (step) => {
    if (step < warmup) return (peak * step) / warmup;
    const p = Math.min(1, (step - warmup) / (total - warmup));
    return end + 0.5 * (peak - end) * (1 + Math.cos(Math.PI * p));
  };
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
  return (step) =>
    step < opts.warmup
      ? (opts.peak * step) / opts.warmup
      : opts.peak * Math.sqrt(opts.warmup / Math.max(step, 1));
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
  return (step) =>
    opts.from +
    (opts.to - opts.from) * Math.min(1, Math.max(0, step) / opts.steps);
}

/** A constant rate. */
export function constant(lr: number): Schedule {
  return () => lr;
}
