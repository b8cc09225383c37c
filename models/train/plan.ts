/**
 * What a training run would do, checked but not trained: the plan that
 * `deno task train --dry-run` prints.
 *
 * @module
 */

import { dispose } from "../../ops/mod.ts";
import { leafSpecs } from "./validate.ts";

/** A training run's plan: built by `planClassifier` or `planTranslator`. */
export interface TrainingPlan {
  /** Trainable numbers in the model's parameters. */
  readonly parameters: number;
  /** The full model configuration (a module's attention as its record). */
  readonly config: object;
  /** Vocabulary sizes by name (`words`, or `source` and `target`). */
  readonly vocab: Readonly<Record<string, number>>;
  /** Rows (classify) or sentence pairs (translate) per split, after cleaning. */
  readonly rows: {
    readonly train: number;
    readonly valid: number;
    readonly test: number;
  };
  /** Optimiser steps in one epoch. */
  readonly stepsPerEpoch: number;
  /** Most epochs. */
  readonly epochs: number;
  /** Learning-rate warm-up steps. */
  readonly warmup: number;
  /**
   * How the learning rate falls after warm-up: the inverse square root of
   * the step, or a cosine to 0 at `steps`.
   */
  readonly decay:
    | { readonly kind: "inverse-sqrt" }
    | { readonly kind: "cosine"; readonly steps: number };
  /** Epochs without a better validation score before training stops. */
  readonly patience: number;
  /** The epoch a resumed checkpoint holds, or null for a new run. */
  readonly resumeEpoch: number | null;
}

/**
 * The number of trainable numbers in a parameter pytree (the product of
 * each tensor leaf's shape; a number leaf counts one).
 *
 * @example
 * ```ts
 * import { countParameters } from "./plan.ts";
 * import { zeros } from "../../ops/mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(countParameters({ w: zeros([2, 3]), b: [zeros([3])] }), 9);
 * ```
 */
export function countParameters(tree: unknown): number {
  let n = 0;
  for (const s of leafSpecs(tree).values()) {
    n += s === "number" ? 1 : s.shape.reduce((a, b) => a * b, 1);
  }
  return n;
}

/** Counts the parameters `init` makes, then frees them. */
export function countInit(init: () => unknown): number {
  const params = init();
  const n = countParameters(params);
  dispose(params);
  return n;
}
