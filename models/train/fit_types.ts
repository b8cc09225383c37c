/**
 * The option, progress and result types of {@link fit}, apart from its
 * loop so that each file holds one idea.
 *
 * @module
 */

import type { Key, Tensor } from "../../ops/mod.ts";
import type { Optimizer } from "./optim.ts";

/** Progress within an epoch, for progress bars. */
export interface StepProgress {
  /** Epoch (1-based). */
  readonly epoch: number;
  /** Step within the epoch (1-based). */
  readonly step: number;
  /** Steps in the epoch. */
  readonly steps: number;
  /** Tokens processed so far in this epoch (see {@link FitOptions.tokens}). */
  readonly tokens: number;
  /**
   * Programs the jitted step has compiled so far: one per batch shape
   * (0 with `jit: false`).
   */
  readonly programs: number;
  /**
   * The epoch's mean training loss as last read back, or null before the
   * first read. Reads happen at most once a second, between steps, and only
   * when there is an `onStep`.
   */
  readonly loss: number | null;
}

/** What `fit` records for every epoch: its statistics and the metrics of `evaluate`. */
export type EpochRecord<M> =
  & {
    /** Epoch (1-based). */
    readonly epoch: number;
    /** Mean training loss over the epoch. */
    readonly loss: number;
    /** Wall seconds of the epoch's training steps (evaluation excluded). */
    readonly seconds: number;
    /** Tokens per second of training (0 without {@link FitOptions.tokens}). */
    readonly tokensPerSecond: number;
  }
  & M;

/**
 * Weight averaging (see {@link FitOptions.average}): `ema` keeps an
 * exponential moving average of the parameters after every step,
 * bias-corrected as Adam's moments are (after t steps, the parameters of
 * step s weigh decayᵗ⁻ˢ, normalised; the initial ones weigh nothing);
 * `swa` keeps the uniform mean of the parameters at the end of every epoch
 * from epoch `start` on.
 */
export type Average =
  | { readonly kind: "ema"; readonly decay: number }
  | { readonly kind: "swa"; readonly start: number };

/** Where a run stands: saved in every checkpoint as its `fit` metadata. */
export interface FitProgress<M> {
  /** The last completed epoch. */
  readonly epoch: number;
  /** Optimiser steps taken. */
  readonly step: number;
  /** The best score so far, or null before the first evaluation. */
  readonly bestScore: number | null;
  /** Epoch of the best score (0 before the first evaluation). */
  readonly bestEpoch: number;
  /** Training seconds over every epoch so far, resumed runs included. */
  readonly trainSeconds: number;
  /** Every completed epoch's record. */
  readonly history: readonly EpochRecord<M>[];
  /** The run's weight averaging (null: none; absent in older checkpoints). */
  readonly average?: Average | null;
}

/** A checkpoint's metadata as `fit` writes it: the caller's, plus `fit`. */
export type FitMetadata<Meta, M> = Meta & { readonly fit: FitProgress<M> };

/** A training checkpoint, loaded by {@link loadFitCheckpoint}. */
export interface FitCheckpoint<P, S, Meta, M> {
  /** The parameters after the last completed epoch. */
  readonly params: P;
  /** The optimiser state after the last completed epoch. */
  readonly opt: S;
  /** The parameters of the best epoch so far (null before any evaluation). */
  readonly best: P | null;
  /** The running weight average and its update count (null without averaging). */
  readonly average: { readonly params: P; readonly count: Tensor } | null;
  /** The caller's metadata and the run's progress. */
  readonly metadata: FitMetadata<Meta, M>;
}

/** Options of `fit`. */
export interface FitOptions<P, B, M extends object, S, Meta extends object> {
  /** Fresh parameters (not called when resuming). */
  readonly init: () => P;
  /**
   * The scalar loss of one batch, differentiated with respect to `params`.
   * `key` differs at every step (`foldIn(opts.key, step)`): use it for
   * dropout.
   */
  readonly loss: (params: P, batch: B, key: Key) => Tensor;
  /**
   * The batches of an epoch (1-based), in training order. fit frees every
   * tensor in them after the epoch, so make them here, not once for all
   * epochs.
   */
  readonly batches: (epoch: number) => readonly B[];
  /** The optimiser, a pure `{ init, update }` pair. */
  readonly optimizer: Optimizer<S>;
  /** The key that per-step keys are folded from. */
  readonly key: Key;
  /** Most epochs. */
  readonly epochs: number;
  /** Validation metrics of the parameters after an epoch. */
  readonly evaluate: (params: P, epoch: number) => M | Promise<M>;
  /** The number to maximise, from the metrics: picks the best epoch and stops early. */
  readonly score: (metrics: M) => number;
  /** Stop after this many epochs without a better score (default: never). */
  readonly patience?: number;
  /** Clip gradients to this global norm (default: no clipping). */
  readonly clip?: number;
  /**
   * A training-time budget in seconds over every epoch, resumed ones
   * included: no epoch starts that the last epoch's duration says would end
   * past it (default: none).
   */
  readonly maxSeconds?: number;
  /** Tokens in a batch, for tokens per second (default 0). */
  readonly tokens?: (batch: B) => number;
  /** Save a checkpoint to `path` after every epoch, with `metadata` (JSON) beside fit's own. */
  readonly checkpoint?: { readonly path: string; readonly metadata: Meta };
  /** Continue from this checkpoint (see {@link loadFitCheckpoint}). */
  readonly resume?: FitCheckpoint<P, S, Meta, M> | null;
  /**
   * Called once before training with where the run stands (epoch 0 for a
   * new run): keep a log consistent with the checkpoint here.
   */
  readonly onStart?: (progress: FitProgress<M>) => void | Promise<void>;
  /** Called after every epoch with its record. */
  readonly onEpoch?: (record: EpochRecord<M>) => void | Promise<void>;
  /** Called after every step (no readback happens for it). */
  readonly onStep?: ((p: StepProgress) => void) | undefined;
  /**
   * Average the weights (default: none). The average, not the last step's
   * parameters, is what `evaluate` sees (from the first averaged epoch
   * on), what becomes best and what fit returns; the optimiser trains the
   * raw parameters. Kept in the checkpoint: a resumed run keeps its own
   * when this is absent, and refuses another.
   */
  readonly average?: Average;
  /**
   * Run the whole step (loss, gradients, clipping and the optimiser's
   * update) under `jit` (default true): one trace per batch shape (bucket
   * batches to keep them few), the per-step key and the optimiser state
   * traced inputs. heed's optimisers count steps in a tensor; a number in
   * your own optimiser's state would key the cache and trace every step.
   * The loss then sees only the batch's tensors, numbers, strings,
   * booleans and keys (other values, such as `rows`, read `undefined`) and
   * must not read values back. `false` runs every op eagerly, for
   * debugging.
   */
  readonly jit?: boolean;
}

/** What `fit` returns. */
export interface FitResult<P, M> {
  /** The parameters of the best epoch (the last ones if none was evaluated). */
  readonly params: P;
  /** Where the run stopped. */
  readonly progress: FitProgress<M>;
  /** Programs the jitted step compiled in this call: one per batch shape (0 with `jit: false`). */
  readonly programs: number;
}
