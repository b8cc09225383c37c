/**
 * `deno task train`: trains a model from the command line. With no
 * arguments it trains the attention classifier on the bundled banking77
 * data and prints the test accuracy.
 *
 * @module
 */

import { runMain } from "./_errors.ts";
import { type BackendName, info, setBackend } from "../../ops/mod.ts";
import { loadDataset } from "../../data/mod.ts";
import { checkAttentionName } from "../arch/attention_specs.ts";
import { type EpochMetrics, trainClassifier } from "../train/classify.ts";
import {
  trainTranslator,
  type TranslationEpochMetrics,
} from "../train/translate.ts";
import type { StepProgress } from "../train/fit.ts";
import { parseTrainArgs, TRAIN_HELP, type TrainArgs } from "./args.ts";
import { classifyData, TEST_FRACTION } from "./_data.ts";

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

/** Prints an epoch's line and appends its JSON line to the log. */
function epochLogger(log: Deno.FsFile, enc: TextEncoder) {
  return async (line: string, record: object): Promise<void> => {
    if (Deno.stdout.isTerminal()) {
      Deno.stdout.writeSync(enc.encode("\r\x1b[K"));
    }
    console.log(line);
    await log.write(
      enc.encode(
        JSON.stringify({ ...record, time: new Date().toISOString() }) + "\n",
      ),
    );
  };
}

async function translate(
  args: TrainArgs,
  log: Deno.FsFile,
  enc: TextEncoder,
): Promise<number> {
  const data = args.data
    ? await loadDataset("multi30k", { path: args.data })
    : await loadDataset("tatoeba");
  const name = args.data ? `Multi30k (${args.data})` : "Tatoeba";
  console.log(
    `heed train: translate German to English on ${name} (${data.train.numRows()} train, ${data.test.numRows()} test pairs), ` +
      (args.model === "gru"
        ? "GRU encoder-decoder with additive attention"
        : `Transformer, attention ${args.attention}`) +
      `, backend ${info().default}`,
  );
  const t0 = performance.now();
  const logEpoch = epochLogger(log, enc);
  const result = await trainTranslator({
    data,
    epochs: args.epochs,
    lr: args.lr,
    seed: args.seed,
    model: { attention: checkAttentionName(args.attention) },
    arch: args.model,
    checkpoint: {
      path: `${args.out}/checkpoint.safetensors`,
      resume: args.resume,
    },
    ...(args.maxMinutes === null ? {} : { maxSeconds: 60 * args.maxMinutes }),
    ...(args.maxTokens === null ? {} : { maxTokens: args.maxTokens }),
    onStep: progressBar(enc),
    onEpoch: (m: TranslationEpochMetrics) =>
      logEpoch(
        `epoch ${m.epoch}: loss ${m.loss.toFixed(4)}, valid BLEU ${
          m.validBleu.toFixed(2)
        }, chrF ${m.validChrf.toFixed(2)}, ` +
          `${Math.round(m.tokensPerSecond)} tokens/s, ${
            m.seconds.toFixed(1)
          } s`,
        m,
      ),
  });
  const seconds = (performance.now() - t0) / 1000;
  await log.write(
    enc.encode(
      JSON.stringify({
        best_epoch: result.bestEpoch,
        train_seconds: result.trainSeconds,
        test_bleu: result.testBleu,
        test_bleu_lower: result.testBleuLower,
        test_chrf: result.testChrf,
        seconds,
      }) + "\n",
    ),
  );
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
  args: TrainArgs,
  log: Deno.FsFile,
  enc: TextEncoder,
): Promise<number> {
  const data = await classifyData(args);
  const name = args.data ?? "banking77";
  console.log(
    `heed train: classify ${name} (${data.train.numRows()} train, ${data.test.numRows()} test rows), ` +
      `attention ${args.attention}, backend ${info().default}`,
  );
  const t0 = performance.now();
  const logEpoch = epochLogger(log, enc);
  const result = await trainClassifier({
    checkpoint: {
      path: `${args.out}/checkpoint.safetensors`,
      resume: args.resume,
    },
    data,
    ...(data.valid ? { valid: data.valid } : {}),
    epochs: args.epochs,
    batchSize: args.batchSize,
    lr: args.lr,
    seed: args.seed,
    model: { attention: checkAttentionName(args.attention) },
    onStep: progressBar(enc),
    onEpoch: (m: EpochMetrics) =>
      logEpoch(
        `epoch ${m.epoch}: loss ${m.loss.toFixed(4)}, valid accuracy ${
          (100 * m.validAccuracy).toFixed(2)
        }%, ${Math.round(m.tokensPerSecond)} tokens/s, ${
          m.seconds.toFixed(1)
        } s`,
        m,
      ),
  });
  const seconds = (performance.now() - t0) / 1000;
  const final = {
    test_accuracy: result.testAccuracy,
    test_macro_f1: result.testMacroF1,
    seconds,
  };
  await log.write(enc.encode(JSON.stringify(final) + "\n"));
  console.log(
    `test accuracy ${(100 * result.testAccuracy).toFixed(2)}%, macro-F1 ${
      (100 * result.testMacroF1).toFixed(2)
    }% ` +
      `(${data.test.numRows()} test rows, ${seconds.toFixed(0)} s)`,
  );
  return 0;
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
  if (args.backend) {
    try {
      await setBackend(args.backend as BackendName);
    } catch (e) {
      console.error(
        `train: --backend ${args.backend}: ${(e as Error).message}`,
      );
      return 1;
    }
  }
  await Deno.mkdir(args.out, { recursive: true });
  // What eval and predict need to know about this run besides the checkpoint.
  const classifying = args.task === "classify";
  await Deno.writeTextFile(
    `${args.out}/run.json`,
    JSON.stringify({
      task: args.task,
      data: args.data,
      model: classifying ? "classifier" : args.model,
      attention: args.attention,
      seed: args.seed,
      ...(classifying && args.data !== null
        ? {
          test: args.test,
          valid: args.valid,
          textColumn: args.textColumn,
          labelColumn: args.labelColumn,
          ...(args.test === null ? { testFraction: TEST_FRACTION } : {}),
        }
        : {}),
    }) + "\n",
  );
  using log = await Deno.open(`${args.out}/metrics.jsonl`, {
    write: true,
    create: true,
    append: args.resume,
    truncate: !args.resume,
  });
  const enc = new TextEncoder();
  return classifying
    ? await classify(args, log, enc)
    : await translate(args, log, enc);
}

if (import.meta.main) await runMain("train", main, Deno.args);
