/**
 * One training skeleton for every model, heed's and users' own: batches
 * in, a pure step (loss, gradients, global-norm clipping, optimiser update)
 * carried from step to step, evaluation after every epoch, early stopping
 * on a score, a training-time budget, and checkpoints that `resume`
 * continues exactly. The step keeps the loss on the device; it is read once
 * per epoch (and at most once a second for a progress bar). The whole
 * step (loss, gradients, clipping, optimiser update) runs under `jit`:
 * traced once per batch shape, with the per-step key and the optimiser's
 * step counter traced inputs; it donates the state it replaces, so the
 * new state reuses the old one's memory.
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
  treeMap,
  valueAndGrad,
  zeros,
} from "../../ops/mod.ts";
import { clipByGlobalNorm, stepAsTensor } from "./optim.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import { checkFinite } from "./validate.ts";
import {
  type AverageState,
  checkAverage,
  emaUpdate,
  initAverage,
  resolveAverage,
  swaUpdate,
} from "./_average.ts";
import { checkResumed } from "./_fit_resume.ts";
import type {
  EpochRecord,
  FitOptions,
  FitProgress,
  FitResult,
  StepProgress,
} from "./fit_types.ts";

export { loadFitCheckpoint } from "./_fit_resume.ts";
export type {
  Average,
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

/** Whether `a` holds a tensor that `b` holds too. */
function sharesTensors(a: unknown, b: unknown): boolean {
  if (a === null) return false;
  const held = new Set(treeLeaves(b).filter((x) => x instanceof Tensor));
  return treeLeaves(a).some((x) => x instanceof Tensor && held.has(x));
}

interface State<P, S> {
  readonly params: P;
  readonly opt: S;
  readonly lossSum: Tensor;
  /** The best parameters so far (in the loop's state so `carry` keeps them alive). */
  readonly best: P | null;
  /** The weight average (null without averaging). */
  readonly avg: AverageState<P> | null;
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
  checkAverage(opts.average);
  const saved = opts.resume ?? null;
  const what = opts.checkpoint?.path ?? "checkpoint";
  const average = saved
    ? resolveAverage(opts.average, saved.metadata.fit.average, what)
    : opts.average ?? null;
  // the EMA follows every step, inside the jitted step
  const ema = average?.kind === "ema" ? average.decay : null;
  const emaStep = <A extends AverageState<P> | null>(a: A, p: P): A =>
    (a && ema !== null ? emaUpdate(a, p, ema) : a) as A;
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
  const wholeStep = (
    p: P,
    o: S,
    l: Tensor,
    a: AverageState<P> | null,
    b: B,
    k: Key,
  ) => {
    const { grads, lossSum } = gradStep(p, l, b, k);
    const next = optimizer.update(p, grads, o);
    const avg = emaStep(a, next.params);
    return { params: next.params, opt: next.state, lossSum, avg };
  };
  // The step gives up the state it replaces (params, optimiser state, loss
  // sum, average): their memory holds the new state, so a step peaks at
  // about one copy of the state, not two.
  const jitWhole = opts.jit === false
    ? null
    : jit(wholeStep, { donateArgnums: [0, 1, 2, 3] });
  // An optimiser whose state holds numbers (a step counted on the host)
  // would key the cache on them and trace every step: its update runs
  // eagerly after the jitted gradients instead.
  const jitGrads = opts.jit === false ? null : jit(gradStep);
  const runStep = (s: State<P, S>, b: B, k: Key): State<P, S> => {
    const hostState = treeLeaves(s.opt).some((x) => typeof x === "number");
    try {
      if (jitWhole && !hostState) {
        // Right after a new best epoch, best is the live parameters (or
        // average): a copy keeps it past the step that donates them.
        const best = sharesTensors(s.best, [s.params, s.opt, s.avg])
          ? treeMap((x) => add(x as Tensor, 0), s.best) as P
          : s.best;
        const r = jitWhole(
          s.params,
          s.opt,
          s.lossSum,
          s.avg,
          traceable(b) as B,
          k,
        );
        return { ...r, best };
      }
      const { grads, lossSum } = jitGrads
        ? jitGrads(s.params, s.lossSum, traceable(b) as B, k)
        : gradStep(s.params, s.lossSum, b, k);
      const next = optimizer.update(s.params, grads, s.opt);
      const avg = emaStep(s.avg, next.params);
      return {
        params: next.params,
        opt: next.state,
        lossSum,
        best: s.best,
        avg,
      };
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
  let state: State<P, S>;
  if (saved) {
    // checkpoints saved before the step counter was a tensor hold a number
    const opt = stepAsTensor(saved.opt);
    await checkResumed({ ...saved, opt }, opts, what);
    if (average && !saved.average) {
      throw new RangeError(
        `resume: ${what} holds no weight average, though its run averages`,
      );
    }
    state = {
      params: saved.params,
      opt,
      lossSum: zeros([]),
      best: saved.best,
      avg: average ? saved.average : null,
    };
  } else {
    const params = opts.init();
    state = {
      params,
      opt: optimizer.init(params),
      lossSum: zeros([]),
      best: null,
      avg: average ? initAverage(params) : null,
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
    average,
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
    // SWA averages from its start epoch on; until then the raw parameters count
    if (average?.kind === "swa" && epoch >= average.start) {
      state = carry(state, (s) => ({ ...s, avg: swaUpdate(s.avg!, s.params) }));
    }
    const averaged = average?.kind === "ema" ||
      (average?.kind === "swa" && epoch >= average.start);
    const current = (s: State<P, S>) => averaged ? s.avg!.params : s.params;
    const metrics = await opts.evaluate(current(state), epoch);
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
      state = carry(state, (s) => ({ ...s, best: current(s) }));
    }
    if (opts.checkpoint) {
      await saveCheckpoint(opts.checkpoint.path, {
        params: state.params,
        optState: { opt: state.opt, best: state.best, average: state.avg },
        metadata: { ...opts.checkpoint.metadata, fit: progress(epoch) },
      });
    }
  }
  dispose(state.lossSum);
  return {
    params: state.best ?? (state.avg ?? state).params,
    progress: progress(epoch),
    programs: programs(),
  };
}
