/**
 * `deno task train`: trains a model from the command line. With no
 * arguments it trains the attention classifier on the bundled banking77
 * data and prints the test accuracy.
 *
 * @module
 */

import { runMain } from "./_errors.ts";
import { type BackendName, info, setBackend } from "../../ops/mod.ts";
import { loadDataset, type TranslationData } from "../../data/mod.ts";
import {
  appendMetrics,
  openRun,
  readRunJson,
  type RunInfo,
  safeTarget,
  truncateMetricsTo,
  writeRunJson,
} from "../train/run_dir.ts";
import { writeCurves } from "../train/curves.ts";
import {
  type DataIdentity,
  dataIdentity,
  validateResume,
} from "../train/validate.ts";
import { cliAttention } from "./_attention.ts";
import type { AttentionModule } from "../../attention/mod.ts";
import { type EpochMetrics, trainClassifier } from "../train/classify.ts";
import {
  trainTranslator,
  type TranslationEpochMetrics,
} from "../train/translate.ts";
import type { EpochRecord, StepProgress } from "../train/fit.ts";
import { parseTrainArgs, TRAIN_HELP, type TrainArgs } from "./args.ts";
import { classifyData, TEST_FRACTION } from "./_data.ts";
import {
  classifyOptions,
  type ClassifyTables,
  dryRun,
  translateOptions,
} from "./_plan.ts";

export { parseTrainArgs, type TrainArgs };

/**
 * On a terminal, a one-line progress bar per epoch (step, tokens/s, ETA of
 * the epoch); elsewhere nothing, so logs get only the per-epoch lines.
 */
function progressBar(
  enc: TextEncoder,
): ((p: StepProgress) => void) | undefined {
  if (!Deno.stdout.isTerminal()) return undefined;
  let last = 0, epochStart = 0, epoch = -1;
  return (p) => {
    const now = performance.now();
    if (p.epoch !== epoch) [epoch, epochStart] = [p.epoch, now];
    if (now - last < 200 && p.step !== p.steps) return;
    last = now;
    const width = 30, done = Math.round((width * p.step) / p.steps);
    const elapsed = (now - epochStart) / 1000;
    const eta = (elapsed / p.step) * (p.steps - p.step);
    Deno.stdout.writeSync(
      enc.encode(
        `\repoch ${p.epoch} [${"#".repeat(done)}${
          ".".repeat(width - done)
        }] ${p.step}/${p.steps}  loss ${p.loss?.toFixed(3) ?? "…"}  ${
          Math.round(p.tokens / Math.max(elapsed, 1e-3))
        } tokens/s  ETA ${eta.toFixed(0)} s `,
      ),
    );
  };
}

/** What the two tasks share: the parsed flags, where the run writes, its data. */
interface Run {
  readonly args: TrainArgs;
  /** The attention: a name or composition, or the user's module read from --attention PATH. */
  readonly attention: string | AttentionModule<unknown>;
  readonly checkpoint: { readonly path: string; readonly resume: boolean };
  /** Prints an epoch's line (its validation in `valid`) and appends its record to metrics.jsonl. */
  epoch(record: EpochRecord<object>, valid: string): Promise<void>;
  /** Appends the run's final record to metrics.jsonl. */
  done(record: object): Promise<void>;
  /** Keeps metrics.jsonl to the epochs the checkpoint holds; writes run.json with `more` added. */
  start(
    p: { readonly epoch: number },
    more?: Partial<RunInfo>,
  ): Promise<void>;
  readonly onStep: ((p: StepProgress) => void) | undefined;
}

function makeRun(
  args: TrainArgs,
  attention: Run["attention"],
  resume: boolean,
  info: RunInfo,
): Run {
  const enc = new TextEncoder();
  const append = (record: object) =>
    appendMetrics(args.out, {
      ...record,
      time: new Date().toISOString(),
    });
  return {
    args,
    attention,
    checkpoint: { path: `${args.out}/checkpoint.safetensors`, resume },
    async epoch(record, valid) {
      if (Deno.stdout.isTerminal()) {
        Deno.stdout.writeSync(enc.encode("\r\x1b[K"));
      }
      const { epoch, loss, tokensPerSecond, seconds } = record;
      console.log(
        `epoch ${epoch}: loss ${loss.toFixed(4)}, ${valid}, ` +
          `${Math.round(tokensPerSecond)} tokens/s, ${seconds.toFixed(1)} s`,
      );
      await append(record);
      await writeCurves(args.out, `heed train ${args.task}: ${args.out}`);
    },
    done: append,
    // called once the checkpoint (if any) has been checked: a refused
    // --resume leaves run.json and metrics.jsonl as they were
    async start(p, more = {}) {
      await truncateMetricsTo(args.out, p.epoch);
      await writeRunJson(args.out, { ...info, ...more });
    },
    onStep: progressBar(enc),
  };
}

async function translate(run: Run, data: TranslationData): Promise<number> {
  const { args } = run;
  const name = args.data ? `Multi30k (${args.data})` : "Tatoeba";
  console.log(
    `heed train: translate German to English on ${name} (${data.train.numRows()} train, ${data.test.numRows()} test pairs), ` +
      (args.model === "gru"
        ? "GRU encoder-decoder with additive attention"
        : `Transformer, attention ${args.attention}`) +
      `, backend ${info().default}`,
  );
  const t0 = performance.now();
  const result = await trainTranslator({
    ...translateOptions(args, data, run.attention, run.checkpoint),
    onStep: run.onStep,
    onStart: (p, setup) => run.start(p, { warmup: setup.warmup }),
    onEpoch: (m: TranslationEpochMetrics) => {
      collectGarbage();
      return run.epoch(
        m,
        `valid BLEU ${m.validBleu.toFixed(2)}, chrF ${m.validChrf.toFixed(2)}`,
      );
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  await run.done({
    best_epoch: result.bestEpoch,
    train_seconds: result.trainSeconds,
    test_bleu: result.testBleu,
    test_bleu_lower: result.testBleuLower,
    test_chrf: result.testChrf,
    seconds,
  });
  console.log(
    `test BLEU ${result.testBleu.toFixed(2)} (sacreBLEU default), ${
      result.testBleuLower.toFixed(2)
    } (lower-cased), ` +
      `chrF ${result.testChrf.toFixed(2)} (beam 4, epoch ${result.bestEpoch}; ${
        result.trainSeconds.toFixed(0)
      } s training, ${seconds.toFixed(0)} s in all)`,
  );
  return 0;
}

async function classify(
  run: Run,
  data: ClassifyTables,
): Promise<number> {
  const { args } = run;
  console.log(
    `heed train: classify ${
      args.data ?? "banking77"
    } (${data.train.numRows()} train, ${data.test.numRows()} test rows), ` +
      `attention ${args.attention}, backend ${info().default}`,
  );
  const t0 = performance.now();
  let pre = t0;
  const result = await trainClassifier({
    ...classifyOptions(args, data, run.attention, run.checkpoint),
    onPretrainEpoch: (epoch: number, loss: number) => {
      const now = performance.now();
      console.log(
        `pretrain epoch ${epoch}/${args.pretrain}: masked-token loss ${
          loss.toFixed(4)
        } (${((now - pre) / 1000).toFixed(1)} s)`,
      );
      pre = now;
    },
    onStep: run.onStep,
    onStart: (p) => run.start(p),
    onEpoch: (m: EpochMetrics) => {
      collectGarbage();
      return run.epoch(
        m,
        `valid accuracy ${(100 * m.validAccuracy).toFixed(2)}%`,
      );
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  await run.done({
    test_accuracy: result.testAccuracy,
    test_macro_f1: result.testMacroF1,
    seconds,
  });
  console.log(
    `test accuracy ${(100 * result.testAccuracy).toFixed(2)}%, macro-F1 ${
      (100 * result.testMacroF1).toFixed(2)
    }% ` +
      `(${data.test.numRows()} test rows, ${seconds.toFixed(0)} s)`,
  );
  return 0;
}

/** What run.json records: what eval and predict need besides the checkpoint. */
function runInfo(
  args: TrainArgs,
  data: DataIdentity | null,
  test: DataIdentity | null,
): RunInfo {
  const classifying = args.task === "classify";
  return {
    task: args.task,
    data: args.data,
    model: classifying ? "classifier" : args.model,
    attention: args.attention,
    seed: args.seed,
    ...(data ? { dataHash: data.hash } : {}),
    ...(test ? { testHash: test.hash } : {}),
    ...(classifying && args.data !== null
      ? {
        test: args.test,
        valid: args.valid,
        textColumn: args.textColumn,
        labelColumn: args.labelColumn,
        ...(args.test === null ? { testFraction: TEST_FRACTION } : {}),
      }
      : {}),
  };
}

/**
 * Collects garbage at an epoch's end, where a pause costs nothing, when the
 * process exposes `gc` (the `train` task runs with `--v8-flags=--expose-gc`):
 * otherwise the host-side garbage of a few epochs (batches, tensor wrappers)
 * waits for V8, and a default banking77 run peaked at 1,258 MiB instead of
 * about 950. Without the flag this does nothing.
 */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Runs `train` with `argv`; returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let args: TrainArgs;
  try {
    args = parseTrainArgs(argv);
  } catch (e) {
    console.error(`train: ${(e as Error).message}`);
    return 2;
  }
  if (args.help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  if (args.backend) await setBackend(args.backend as BackendName);
  // Every input is read and checked before --out is touched, so a bad
  // file leaves the previous run's records as they were.
  const classifying = args.task === "classify";
  const data = classifying
    ? await classifyData({ ...args, holdValid: args.valid === null })
    : args.data
    ? await loadDataset("multi30k", { path: args.data })
    : await loadDataset("tatoeba");
  const identity = args.data === null ? null : await dataIdentity(args.data);
  const testIdentity = classifying && args.test !== null
    ? await dataIdentity(args.test)
    : null;
  // a module of the user's is imported (and checked) before --out is touched
  const attention = await cliAttention(args.attention);
  if (args.dryRun) {
    // the checks --resume makes below, without the run's lock or writing
    const resume = args.resume &&
      await exists(`${args.out}/checkpoint.safetensors`);
    const saved = resume ? await readRunJson(args.out) : null;
    if (saved?.dataHash !== undefined && identity !== null) {
      validateResume(
        { data: { path: saved.data ?? null, hash: saved.dataHash } },
        { data: identity },
      );
    }
    const checkpoint = { path: `${args.out}/checkpoint.safetensors`, resume };
    return await dryRun(args, data, attention, checkpoint);
  }
  // One run per folder at a time; temporaries of a killed run are removed.
  await using folder = await openRun(args.out, {
    command: ["train", ...argv].join(" "),
  });
  for (const notice of folder.notices) console.error(`train: ${notice}`);
  // a link planted in the folder is refused before anything is written
  const own = ["checkpoint.safetensors", "run.json", "metrics.jsonl"];
  for (const name of [...own, "curves.svg"]) await safeTarget(args.out, name);
  let resume = args.resume;
  const saved = resume ? await readRunJson(args.out) : null;
  if (resume && !(await exists(`${args.out}/checkpoint.safetensors`))) {
    console.error(
      `train: --resume: ${args.out} holds no checkpoint yet; starting a new run`,
    );
    resume = false;
  }
  if (resume && saved?.dataHash !== undefined && identity !== null) {
    validateResume(
      { data: { path: saved.data ?? null, hash: saved.dataHash } },
      { data: identity },
    );
  }
  const run = makeRun(
    args,
    attention,
    resume,
    runInfo(args, identity, testIdentity),
  );
  return classifying
    ? await classify(run, data as ClassifyTables)
    : await translate(run, data as TranslationData);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

if (import.meta.main) await runMain("train", main, Deno.args);
