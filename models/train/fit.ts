/**
 * One training skeleton for every model, heed's and users' own: batches
 * in, a pure step (loss, gradients, global-norm clipping, optimiser update)
 * carried from step to step, evaluation after every epoch, early stopping
 * on a score, a training-time budget, and checkpoints that `resume`
 * continues exactly. The step keeps the loss on the device; it is read once
 * per epoch (and at most once a second for a progress bar). The whole
 * step (loss, gradients, clipping, optimiser update) runs under `jit`:
 * traced once per batch shape, with the per-step key and the optimiser's
 * step counter traced inputs.
 *
 * @module
 */

import {
  add,
  carry,
  dispose,
  div,
  foldIn,
  jit,
  Key,
  scope,
  Tensor,
  treeLeaves,
  valueAndGrad,
  zeros,
} from "../../ops/mod.ts";
import { clipByGlobalNorm, type Optimizer, stepAsTensor } from "./optim.ts";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { checkFinite, validateParams } from "./validate.ts";
import type {
  EpochRecord,
  FitCheckpoint,
  FitMetadata,
  FitOptions,
  FitProgress,
  FitResult,
  StepProgress,
} from "./fit_types.ts";

export type {
  EpochRecord,
  FitCheckpoint,
  FitMetadata,
  FitOptions,
  FitProgress,
  FitResult,
  StepProgress,
} from "./fit_types.ts";

/**
 * Reads the running loss sum back at most once a second, between steps
 * (one small readback a second, for progress bars).
 */
class LossMonitor {
  #last = -Infinity;
  #mean: number | null = null;
  reset(): void {
    this.#mean = null;
    this.#last = -Infinity;
  }
  async report(
    onStep: ((p: StepProgress) => void) | undefined,
    lossSum: Tensor,
    p: Omit<StepProgress, "loss">,
  ): Promise<void> {
    if (!onStep) return;
    const now = performance.now();
    if (now - this.#last >= 1000) {
      this.#last = now;
      using snap = scope(() => div(lossSum, p.step));
      this.#mean = (await snap.item()) as number;
    }
    onStep({ ...p, loss: this.#mean });
  }
}

/**
 * What a jitted step sees of a batch: its tensors, numbers (static, so
 * keep them few), strings, booleans and keys. Other values (the `rows`
 * typed arrays of `data`'s batches) would key the cache by identity and
 * trace every step, so they read `undefined`; use `jit: false` for a loss
 * that needs them.
 */
function traceable(x: unknown): unknown {
  if (x instanceof Tensor || x instanceof Key || typeof x !== "object") {
    return typeof x === "function" || typeof x === "symbol" ? undefined : x;
  }
  if (x === null) return x;
  if (Array.isArray(x)) return x.map(traceable);
  const proto = Object.getPrototypeOf(x);
  if (proto !== Object.prototype && proto !== null) return undefined;
  return Object.fromEntries(
    Object.entries(x).map(([k, v]) => [k, traceable(v)]),
  );
}

interface State<P, S> {
  readonly params: P;
  readonly opt: S;
  readonly lossSum: Tensor;
  /** The best parameters so far (in the loop's state so `carry` keeps them alive). */
  readonly best: P | null;
}

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
    { opt: S; best: P | null },
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
    metadata: ck.metadata as FitMetadata<Meta, M>,
  };
}

/**
 * A resumed checkpoint must hold what a fresh run would (every leaf's name,
 * dtype and shape, for the parameters, the best ones and the optimiser
 * state) and finite parameters; else a TypeError or RangeError naming the
 * first leaf at fault, before any step.
 */
async function checkResumed<P, S>(
  saved: { readonly params: P; readonly opt: S; readonly best: P | null },
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
    validateParams(fresh.opt, saved.opt, { what: `${what} (optimiser)` });
  } finally {
    dispose(fresh);
  }
  for (
    const [tree, which] of [[saved.params, what], [
      saved.best,
      `${what} (best)`,
    ]] as const
  ) {
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

/**
 * Trains `init()` by minimising `loss` over `batches`, evaluating after
 * every epoch and keeping the best parameters by `score`.
 *
 * @example Fit a line
 * ```ts
 * import { add, key, mean, mul, square, sub, tensor, type Tensor } from "@heed/heed";
 * import { fit, sgd } from "@heed/heed/models";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * type Line = { w: Tensor; b: Tensor };
 * type Batch = { x: Tensor; y: Tensor };
 * const mse = (p: Line, { x, y }: Batch) =>
 *   mean(square(sub(add(mul(x, p.w), p.b), y)));
 * // y = 2x + 1; fit frees each epoch's batches, so make them afresh
 * const data = (): Batch => ({ x: tensor([0, 1, 2, 3]), y: tensor([1, 3, 5, 7]) });
 * const { params, progress } = await fit({
 *   init: () => ({ w: tensor(0), b: tensor(0) }),
 *   loss: mse,
 *   batches: () => [data()],
 *   optimizer: sgd({ lr: 0.05, momentum: 0.5 }),
 *   key: key(0), // per-step keys for dropout (unused here)
 *   epochs: 300,
 *   evaluate: async (p) => ({ mse: await mse(p, data()).item() as number }),
 *   score: (m) => -m.mse, // keep the parameters of the lowest validation error
 *   patience: 10,
 * });
 * assertAlmostEquals(await params.w.item() as number, 2, 1e-2);
 * assertAlmostEquals(await params.b.item() as number, 1, 1e-2);
 * assertAlmostEquals(progress.history.at(-1)!.mse, 0, 1e-3);
 * ```
 */
export async function fit<P, B, M extends object, S, Meta extends object>(
  opts: FitOptions<P, B, M, S, Meta>,
): Promise<FitResult<P, M>> {
  const { optimizer, clip } = opts;
  const positive = [["patience", opts.patience], ["clip", opts.clip]] as const;
  for (const [name, v] of positive) {
    if (v !== undefined && !(v > 0)) {
      throw new RangeError(`fit: ${name} must be above 0, got ${v}`);
    }
  }
  if (opts.jit !== undefined && typeof opts.jit !== "boolean") {
    throw new TypeError(`fit: jit must be a boolean, got ${typeof opts.jit}`);
  }
  // The gradients are a pytree shaped like the parameters.
  const vg = valueAndGrad(
    opts.loss as (p: unknown, b: unknown, k: Key) => Tensor,
  ) as (params: P, batch: B, key: Key) => [Tensor, P];
  // One whole step. heed's optimisers keep their step counter as a
  // tensor, so their update traces once with the rest.
  const gradStep = (params: P, lossSum: Tensor, batch: B, key: Key) => {
    const [loss, g] = vg(params, batch, key);
    const grads = clip === undefined ? g : clipByGlobalNorm(g, clip).grads;
    return { grads, lossSum: add(lossSum, loss) };
  };
  const wholeStep = (p: P, o: S, l: Tensor, b: B, k: Key) => {
    const { grads, lossSum } = gradStep(p, l, b, k);
    const next = optimizer.update(p, grads, o);
    return { params: next.params, opt: next.state, lossSum };
  };
  const jitWhole = opts.jit === false ? null : jit(wholeStep);
  // An optimiser whose state holds numbers (a step counted on the host)
  // would key the cache on them and trace every step: its update runs
  // eagerly after the jitted gradients instead.
  const jitGrads = opts.jit === false ? null : jit(gradStep);
  const runStep = (s: State<P, S>, b: B, k: Key): State<P, S> => {
    const hostState = treeLeaves(s.opt).some((x) => typeof x === "number");
    try {
      if (jitWhole && !hostState) {
        const r = jitWhole(s.params, s.opt, s.lossSum, traceable(b) as B, k);
        return { ...r, best: s.best };
      }
      const { grads, lossSum } = jitGrads
        ? jitGrads(s.params, s.lossSum, traceable(b) as B, k)
        : gradStep(s.params, s.lossSum, b, k);
      const next = optimizer.update(s.params, grads, s.opt);
      return { params: next.params, opt: next.state, lossSum, best: s.best };
    } catch (e) {
      // A loss (or an update) that reads values or uses its key on the
      // host cannot be traced: say how to run it anyway.
      if (
        !jitWhole || !(e instanceof TypeError) || !/\bjit\b/.test(e.message)
      ) {
        throw e;
      }
      throw new TypeError(
        `fit: the loss cannot run under jit (${e.message}); pass jit: false to fit to run it eagerly`,
        { cause: e },
      );
    }
  };
  const programs = () =>
    (jitWhole?.cacheSize ?? 0) + (jitGrads?.cacheSize ?? 0);
  const saved = opts.resume ?? null;
  let state: State<P, S>;
  if (saved) {
    // checkpoints saved before the step counter was a tensor hold a number
    const opt = stepAsTensor(saved.opt);
    await checkResumed(
      { ...saved, opt },
      opts,
      opts.checkpoint?.path ?? "checkpoint",
    );
    state = {
      params: saved.params,
      opt,
      lossSum: zeros([]),
      best: saved.best,
    };
  } else {
    const params = opts.init();
    state = {
      params,
      opt: optimizer.init(params),
      lossSum: zeros([]),
      best: null,
    };
  }
  const p0 = saved?.metadata.fit;
  let step = p0?.step ?? 0;
  let best = { score: p0?.bestScore ?? null, epoch: p0?.bestEpoch ?? 0 };
  let trainSeconds = p0?.trainSeconds ?? 0;
  const history: EpochRecord<M>[] = [...(p0?.history ?? [])];
  const patience = opts.patience ?? Infinity;
  const budget = opts.maxSeconds ?? Infinity;
  const stopped = () => {
    const last = history[history.length - 1];
    if (!last) return false;
    if (last.epoch - best.epoch >= patience) return true;
    return trainSeconds + last.seconds > budget;
  };
  const progress = (epoch: number): FitProgress<M> => ({
    epoch,
    step,
    bestScore: best.score,
    bestEpoch: best.epoch,
    trainSeconds,
    history,
  });
  const monitor = new LossMonitor();
  let epoch = p0?.epoch ?? 0;
  await opts.onStart?.(progress(epoch));
  while (epoch < opts.epochs && !stopped()) {
    epoch++;
    const t0 = performance.now();
    const bs = opts.batches(epoch);
    monitor.reset();
    state = carry(state, (s) => ({ ...s, lossSum: zeros([]) }));
    let tokens = 0;
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i]!;
      const k = foldIn(opts.key, step++);
      state = carry(state, (s) => runStep(s, b, k));
      tokens += opts.tokens?.(b) ?? 0;
      await monitor.report(opts.onStep, state.lossSum, {
        epoch,
        step: i + 1,
        steps: bs.length,
        tokens,
        programs: programs(),
      });
    }
    dispose(bs);
    const loss = ((await state.lossSum.item()) as number) /
      Math.max(bs.length, 1);
    // One readback: a NaN or infinity in the loss or any parameter stops
    // the run before it can be saved or promoted to best.
    const bad = await checkFinite({ loss, params: state.params });
    if (bad !== null) {
      throw new RangeError(
        `fit: training diverged in epoch ${epoch} (${bad} is not finite); lower the learning rate. Nothing of this epoch was saved`,
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    trainSeconds += seconds;
    const metrics = await opts.evaluate(state.params, epoch);
    const score = opts.score(metrics);
    if (!Number.isFinite(score)) {
      throw new RangeError(`fit: the score of epoch ${epoch} is ${score}`);
    }
    const record = {
      epoch,
      loss,
      ...metrics,
      seconds,
      tokensPerSecond: tokens / seconds,
    } as EpochRecord<M>;
    history.push(record);
    await opts.onEpoch?.(record);
    if (best.score === null || score > best.score) {
      best = { score, epoch };
      state = carry(state, (s) => ({ ...s, best: s.params }));
    }
    if (opts.checkpoint) {
      await saveCheckpoint(opts.checkpoint.path, {
        params: state.params,
        optState: { opt: state.opt, best: state.best },
        metadata: { ...opts.checkpoint.metadata, fit: progress(epoch) },
      });
    }
  }
  dispose(state.lossSum);
  return {
    params: state.best ?? state.params,
    progress: progress(epoch),
    programs: programs(),
  };
}
