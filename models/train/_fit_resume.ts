// Resuming fit: loading a checkpoint it saved and checking it holds what
// a fresh run would.

import { dispose, scope, type Tensor } from "../../ops/mod.ts";
import type { Optimizer } from "./optim.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { checkFinite, validateParams } from "./validate.ts";
import type { FitCheckpoint, FitMetadata } from "./fit_types.ts";

/**
 * Loads a checkpoint that {@link fit} saved, typed by the caller's metadata
 * `Meta` and metrics `M`. `check` sees the metadata first (throw there to
 * refuse another kind of run); a file without fit's progress is a
 * RangeError.
 */
export async function loadFitCheckpoint<P, S, Meta extends object, M>(
  path: string,
  check?: (metadata: Partial<FitMetadata<Meta, M>>) => void,
): Promise<FitCheckpoint<P, S, Meta, M>> {
  const ck = await loadCheckpoint<
    P,
    {
      opt: S;
      best: P | null;
      average?: { params: P; count: Tensor } | null;
    },
    Partial<FitMetadata<Meta, M>>
  >(path);
  check?.(ck.metadata);
  const { fit: progress } = ck.metadata;
  if (
    ck.optState === undefined || typeof progress !== "object" ||
    progress === null || !Number.isInteger(progress.epoch)
  ) {
    throw new RangeError(
      `resume: ${path} is not a training checkpoint (no optimiser state or fit progress)`,
    );
  }
  return {
    params: ck.params,
    opt: ck.optState.opt,
    best: ck.optState.best ?? null,
    average: ck.optState.average ?? null,
    metadata: ck.metadata as FitMetadata<Meta, M>,
  };
}

/**
 * A resumed checkpoint must hold what a fresh run would (every leaf's name,
 * dtype and shape, for the parameters, the best ones and the optimiser
 * state) and finite parameters; else a TypeError or RangeError naming the
 * first leaf at fault, before any step.
 */
export async function checkResumed<P, S>(
  saved: Pick<
    FitCheckpoint<P, S, object, unknown>,
    "params" | "opt" | "best" | "average"
  >,
  opts: { readonly init: () => P; readonly optimizer: Optimizer<S> },
  what: string,
): Promise<void> {
  const fresh = scope(() => {
    const params = opts.init();
    return { params, opt: opts.optimizer.init(params) };
  });
  try {
    validateParams(fresh.params, saved.params, { what });
    if (saved.best !== null) {
      validateParams(fresh.params, saved.best, { what: `${what} (best)` });
    }
    if (saved.average !== null) {
      validateParams(fresh.params, saved.average.params, {
        what: `${what} (average)`,
      });
    }
    validateParams(fresh.opt, saved.opt, { what: `${what} (optimiser)` });
  } finally {
    dispose(fresh);
  }
  const trees = [
    [saved.params, what],
    [saved.best, `${what} (best)`],
    [saved.average?.params ?? null, `${what} (average)`],
  ] as const;
  for (const [tree, which] of trees) {
    const bad = await checkFinite(tree);
    if (bad !== null) {
      throw new RangeError(
        `${which}: parameter ${
          JSON.stringify(bad)
        } is not finite (NaN or infinity); it cannot be trained on`,
      );
    }
  }
}
