/**
 * The translator's half of bench/train_jit.ts: one mode (eager or jit) in
 * this process, measured on Multi30k (read from its folder, never copied).
 *
 * - training: the default Transformer on the first `pairs` training pairs
 *   (BPE, batches and loss exactly as `trainTranslator` makes them), the
 *   same epoch of batches twice through `fit`: pass 1 traces every batch
 *   shape (jit), pass 2 finds every program cached;
 * - evaluation: a trained checkpoint translates the first `sentences` test
 *   sentences twice (pass 1 compiles, pass 2 is cached), greedy and beam.
 *
 * Peak RSS is the kernel's high-water mark (VmHWM) of this process.
 *
 * @module
 */

import { fusedCompileStats } from "../ops/backends/wasm/_fused.ts";
import { type BackendName, dispose, foldIn, setBackend } from "../ops/mod.ts";
import {
  cleanText,
  loadDataset,
  normalizeText,
  pipe,
  tokenize,
  translationBatches,
} from "../data/mod.ts";
import {
  type FullTranslatorConfig,
  type TranslationInput,
  translatorLoss,
  type TranslatorParams,
} from "../models/arch/translator.ts";
import { decoderPrograms } from "../models/arch/decoding.ts";
import { fit } from "../models/train/fit.ts";
import { adamw } from "../models/train/optim.ts";
import { inverseSqrt } from "../models/train/schedules.ts";
import { corpusBleu } from "../models/train/metrics.ts";
import type { TranslatorTrainOptions } from "../models/train/translate.ts";
import { prepare } from "../models/train/_translate_setup.ts";
import { loadTranslator, translateTable } from "../models/inference.ts";
import { cpuMs, peakRssMiB } from "./attention_fused/_proc.ts";

/** CPU seconds (user + system, every thread) this process has used. */
function cpuSeconds(): number {
  return cpuMs() / 1000;
}

/** What one training mode measured. */
export interface TrainMeasured {
  readonly mode: "eager" | "jit";
  readonly steps: number;
  readonly tokens: number;
  readonly firstPassTokensPerSecond: number;
  readonly tokensPerSecond: number;
  readonly firstStepSeconds: number;
  readonly cachedStepSeconds: number;
  readonly programs: number;
  /** wasm fused-kernel modules compiled in the process (0 on other backends). */
  readonly modules: number;
  readonly peakRssMiB: number;
  readonly loss: number;
  /** CPU seconds of pass 2 (all threads). */
  readonly cpuSeconds: number;
}

/** Trains one epoch of the first `pairs` Multi30k pairs twice in one mode. */
export async function measureTranslateTraining(
  mode: "eager" | "jit",
  opts: {
    readonly data: string;
    readonly pairs: number;
    readonly backend: BackendName;
    /** The model's configuration (default: the defaults). */
    readonly model?: TranslatorTrainOptions["model"];
  },
): Promise<TrainMeasured> {
  await setBackend(opts.backend);
  const d = await loadDataset("multi30k", { path: opts.data });
  const data = {
    train: d.train.slice(0, opts.pairs),
    valid: d.valid.slice(0, 1),
    test: d.test.slice(0, 1),
  };
  const r = await prepare({
    data,
    ...(opts.model ? { model: opts.model } : {}),
  });
  const { labelSmoothing } = r;
  const config = r.config as FullTranslatorConfig;
  const epochOne = () =>
    translationBatches(r.trainIds, {
      ...r.batchOptions,
      key: foldIn(r.kData, 1),
    });
  const times: number[][] = [[], []];
  const t0: number[] = [], cpu0: number[] = [];
  const { progress, programs } = await fit({
    init: r.init as () => TranslatorParams,
    loss: (p: TranslatorParams, b: TranslationInput, key) =>
      translatorLoss(p, b, {
        config,
        training: true,
        key,
        labelSmoothing,
      }),
    batches: (epoch) => {
      const bs = epochOne();
      t0[epoch - 1] = performance.now();
      cpu0[epoch - 1] = cpuSeconds();
      return bs;
    },
    tokens: (b) => b.src.size + b.tgtIn.size,
    optimizer: adamw({ lr: inverseSqrt({ peak: 1e-3, warmup: r.warmup }) }),
    clip: 1,
    key: r.kDrop,
    epochs: 2,
    evaluate: () => ({}),
    score: () => 0,
    jit: mode === "jit",
    onStep: (p) => times[p.epoch - 1]!.push(performance.now()),
  });
  const cpu = cpuSeconds() - cpu0[1]!;
  const [r1, r2] = progress.history as [
    (typeof progress.history)[0],
    (typeof progress.history)[0],
  ];
  const steps2 = times[1]!.map((t, i) => t - (i ? times[1]![i - 1]! : t0[1]!))
    .sort((a, b) => a - b);
  return {
    mode,
    steps: times[1]!.length,
    tokens: Math.round(r2.tokensPerSecond * r2.seconds),
    firstPassTokensPerSecond: r1.tokensPerSecond,
    tokensPerSecond: r2.tokensPerSecond,
    firstStepSeconds: (times[0]![0]! - t0[0]!) / 1000,
    cachedStepSeconds: steps2[steps2.length >> 1]! / 1000,
    programs,
    modules: fusedCompileStats().modules,
    peakRssMiB: peakRssMiB(),
    loss: r2.loss,
    cpuSeconds: cpu,
  };
}

/** What one evaluation mode measured, per beam width. */
export interface EvalMeasured {
  readonly mode: "eager" | "jit";
  readonly beam: number;
  readonly sentences: number;
  /** Pass 1: compiles every new shape (jit). */
  readonly firstPassSentencesPerSecond: number;
  /** Pass 2: every program cached. */
  readonly sentencesPerSecond: number;
  /** Decoding programs compiled (encoder and step signatures). */
  readonly programs: number;
  readonly bleuLower: number;
  readonly peakRssMiB: number;
  /** Seconds of pass 1 and pass 2 (their difference is mostly compiling). */
  readonly seconds: readonly [number, number];
  /** CPU seconds of pass 2 (all threads). */
  readonly cpuSeconds: number;
  /** The translations of pass 2, to compare eager with jit. */
  readonly hypotheses: readonly string[];
}

/** Translates the first `sentences` test sentences twice per beam width. */
export async function measureTranslateEval(
  mode: "eager" | "jit",
  opts: {
    readonly data: string;
    readonly model: string;
    readonly sentences: number;
    readonly beams: readonly number[];
    readonly backend: BackendName;
  },
): Promise<EvalMeasured[]> {
  await setBackend(opts.backend);
  const dir = Deno.statSync(opts.model).isDirectory;
  const m = await loadTranslator(
    dir ? `${opts.model}/checkpoint.safetensors` : opts.model,
  );
  const d = await loadDataset("multi30k", { path: opts.data });
  const raw = d.test.slice(0, opts.sentences);
  const { source, target } = m.metadata.columns;
  const test = pipe(
    normalizeText([source]),
    cleanText([source]),
    tokenize(source, m.srcTokenizer, { as: () => "src_ids" }),
  )(raw);
  const refs = raw.array(target) as string[];
  const out: EvalMeasured[] = [];
  for (const beam of opts.beams) {
    const seconds: number[] = [];
    let hyp: string[] = [], cpu = 0;
    for (let pass = 0; pass < 2; pass++) {
      const t = performance.now(), c = cpuSeconds();
      hyp = await translateTable(m, test, { beam, jit: mode === "jit" });
      seconds.push((performance.now() - t) / 1000);
      cpu = cpuSeconds() - c;
    }
    out.push({
      mode,
      beam,
      sentences: refs.length,
      firstPassSentencesPerSecond: refs.length / seconds[0]!,
      sentencesPerSecond: refs.length / seconds[1]!,
      programs: decoderPrograms(m.config),
      bleuLower: corpusBleu(hyp, refs, { lowercase: true }).score,
      peakRssMiB: peakRssMiB(),
      seconds: [seconds[0]!, seconds[1]!],
      cpuSeconds: cpu,
      hypotheses: hyp,
    });
  }
  dispose(m.params);
  return out;
}
