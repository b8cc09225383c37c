/**
 * `deno task train`: trains a model from the command line. With no
 * arguments it trains the attention classifier on the bundled banking77
 * data and prints the test accuracy.
 *
 * @module
 */

import { info, setBackend } from "../../ops/mod.ts";
import type { BackendName } from "../../ops/mod.ts";
import {
  type ClassificationData,
  encodeLabels,
  LabelEncoder,
  loadCsv,
  loadDataset,
  splitTable,
} from "../../data/mod.ts";
import { key } from "../../ops/mod.ts";
import {
  ATTENTION_NAMES,
  checkAttentionName,
} from "../arch/attention_specs.ts";
import {
  type EpochMetrics,
  type StepProgress,
  trainClassifier,
} from "../train/classify.ts";
import {
  trainTranslator,
  type TranslationEpochMetrics,
} from "../train/translate.ts";

/** Parsed command-line options of `train`. */
export interface TrainArgs {
  task: "classify" | "translate";
  data: string | null;
  attention: string;
  epochs: number;
  batchSize: number;
  lr: number;
  backend: string | null;
  seed: number;
  out: string;
  resume: boolean;
  maxMinutes: number | null;
  maxTokens: number | null;
  model: "transformer" | "gru";
  help: boolean;
}

const HELP = `heed train: train a model on the bundled data or your own.

Usage: deno task train [options]

  --task classify|translate  what to train (default classify)
  --data PATH                classify: a CSV with "text" and "category" columns
                             (default: the bundled banking77 intents);
                             translate: a Multi30k folder (train.de, train.en, val.*,
                             test_2016_flickr.*) (default: the bundled Tatoeba pairs)
  --attention NAME           the attention weight function: ${
  ATTENTION_NAMES.join(", ")
}
                             (default scaled-dot)
  --epochs N                 most epochs; training stops early when validation
                             accuracy stops improving (default 14 to classify, 10 to translate)
  --model transformer|gru    translate: the Transformer (default) or the GRU
                             encoder-decoder with additive (Bahdanau) attention
  --batch-size N             classify: rows per batch (default 64)
  --max-tokens N             translate: tokens per batch, padding included (default 4096;
                             lower it if a long-sentence data set runs out of memory)
  --lr X                     peak learning rate of warm-up + cosine (default 2e-3)
  --backend cpu|webgpu|wasm  where tensors live (default: heed's choice, see \`deno task info\`)
  --seed N                   seed of every random choice (default 0)
  --max-minutes X            translate: a training-time budget; no epoch starts that
                             would end past it (validation time not counted)
  --out DIR                  output folder for checkpoint.safetensors and metrics.jsonl
                             (default runs/latest)
  --resume                   continue the run saved in --out; it reaches the same
                             parameters as an uninterrupted run
  --help                     this text

Output: per-epoch loss, validation accuracy (classify) or BLEU and chrF
(translate, greedy) and tokens/s; at the end, test accuracy and macro-F1, or
test BLEU (sacreBLEU's default and lower-cased) and chrF with beam search,
on the official test split. A JSON line per epoch goes to DIR/metrics.jsonl;
the checkpoint after each epoch to DIR/checkpoint.safetensors, which
\`deno task predict\` and \`deno task eval\` read.`;

/** Parses `train` arguments; throws a RangeError naming the bad flag. */
export function parseTrainArgs(argv: readonly string[]): TrainArgs {
  const a: TrainArgs = {
    task: "classify",
    data: null,
    attention: "scaled-dot",
    epochs: 0,
    batchSize: 64,
    lr: 2e-3,
    backend: null,
    seed: 0,
    out: "runs/latest",
    resume: false,
    maxMinutes: null,
    maxTokens: null,
    model: "transformer",
    help: false,
  };
  let attentionGiven = false;
  const num = (flag: string, v: string | undefined, int: boolean): number => {
    const n = Number(v);
    if (
      v === undefined || !Number.isFinite(n) || (int && !Number.isInteger(n)) ||
      n < 0
    ) {
      throw new RangeError(
        `${flag}: expected a ${
          int ? "non-negative integer" : "non-negative number"
        }, got ${v}`,
      );
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [
      string,
      string | undefined,
    ];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--help":
      case "-h":
        a.help = true;
        break;
      case "--task": {
        const v = value();
        if (v !== "classify" && v !== "translate") {
          throw new RangeError(
            `--task: expected classify or translate, got ${v}`,
          );
        }
        a.task = v;
        break;
      }
      case "--data":
        a.data = value() ?? null;
        break;
      case "--attention":
        a.attention = checkAttentionName(value() ?? "");
        attentionGiven = true;
        break;
      case "--epochs":
        a.epochs = num(flag, value(), true);
        if (a.epochs < 1) throw new RangeError("--epochs: must be at least 1");
        break;
      case "--batch-size":
        a.batchSize = num(flag, value(), true);
        break;
      case "--lr":
        a.lr = num(flag, value(), false);
        break;
      case "--backend": {
        const v = value();
        if (v !== "cpu" && v !== "webgpu" && v !== "wasm") {
          throw new RangeError(
            `--backend: expected cpu, webgpu or wasm, got ${v}`,
          );
        }
        a.backend = v;
        break;
      }
      case "--seed":
        a.seed = num(flag, value(), true);
        break;
      case "--out":
        a.out = value() ?? a.out;
        break;
      case "--resume":
        a.resume = true;
        break;
      case "--max-tokens":
        a.maxTokens = num(flag, value(), true);
        if (a.maxTokens < 1) {
          throw new RangeError("--max-tokens: must be at least 1");
        }
        break;
      case "--max-minutes":
        a.maxMinutes = num(flag, value(), false);
        if (a.maxMinutes <= 0) {
          throw new RangeError("--max-minutes: must be above 0");
        }
        break;
      case "--model": {
        const v = value();
        if (v !== "transformer" && v !== "gru") {
          throw new RangeError(
            `--model: expected transformer or gru, got ${v}`,
          );
        }
        a.model = v;
        break;
      }
      default:
        throw new RangeError(`unknown option ${flag} (see --help)`);
    }
  }
  if (a.batchSize < 1) throw new RangeError("--batch-size: must be at least 1");
  if (attentionGiven && a.model === "gru") {
    throw new RangeError(
      "--attention: the GRU model's attention is always additive (Bahdanau); drop --attention or use --model transformer",
    );
  }
  if (a.epochs === 0) a.epochs = a.task === "classify" ? 14 : 10;
  if (a.maxMinutes !== null && a.task !== "translate") {
    throw new RangeError("--max-minutes: only for --task translate");
  }
  if (a.maxTokens !== null && a.task !== "translate") {
    throw new RangeError(
      "--max-tokens: only for --task translate (classify batches by --batch-size)",
    );
  }
  return a;
}

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

function clearBar(enc: TextEncoder): void {
  if (Deno.stdout.isTerminal()) Deno.stdout.writeSync(enc.encode("\r\x1b[K"));
}

function fmtEpoch(m: EpochMetrics): string {
  return `epoch ${m.epoch}: loss ${m.loss.toFixed(4)}, valid accuracy ${
    (100 * m.validAccuracy).toFixed(2)
  }%, ` +
    `${Math.round(m.tokensPerSecond)} tokens/s, ${m.seconds.toFixed(1)} s`;
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
    onEpoch: async (m: TranslationEpochMetrics) => {
      clearBar(enc);
      console.log(
        `epoch ${m.epoch}: loss ${m.loss.toFixed(4)}, valid BLEU ${
          m.validBleu.toFixed(2)
        }, chrF ${m.validChrf.toFixed(2)}, ` +
          `${Math.round(m.tokensPerSecond)} tokens/s, ${
            m.seconds.toFixed(1)
          } s`,
      );
      await log.write(
        enc.encode(
          JSON.stringify({ ...m, time: new Date().toISOString() }) + "\n",
        ),
      );
    },
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
  log.close();
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

/** A user's CSV (`text`, `category`): labels sorted, 20% held out as test. */
export async function csvData(
  path: string,
  seed: number,
): Promise<ClassificationData> {
  const table = await loadCsv(path, {
    schema: { text: "string", category: "string" },
  });
  const labels = LabelEncoder.fit(table, "category");
  const parts = splitTable(encodeLabels("category", labels)(table), {
    fractions: { train: 0.8, test: 0.2 },
    key: key(seed),
  });
  return { train: parts.train!, test: parts.test!, labels };
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
    console.log(HELP);
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
  try {
    await Deno.mkdir(args.out, { recursive: true });
  } catch (e) {
    console.error(
      `train: cannot create --out ${args.out}: ${(e as Error).message}`,
    );
    return 1;
  }
  // What eval and predict need to know about this run besides the checkpoint.
  await Deno.writeTextFile(
    `${args.out}/run.json`,
    JSON.stringify({
      task: args.task,
      data: args.data,
      model: args.task === "translate" ? args.model : "classifier",
      attention: args.attention,
    }) + "\n",
  );
  const log = await Deno.open(`${args.out}/metrics.jsonl`, {
    write: true,
    create: true,
    append: args.resume,
    truncate: !args.resume,
  });
  const enc = new TextEncoder();
  if (args.task === "translate") return await translate(args, log, enc);
  const data = args.data
    ? await csvData(args.data, args.seed)
    : await loadDataset("banking77");
  const name = args.data ?? "banking77";
  console.log(
    `heed train: classify ${name} (${data.train.numRows()} train, ${data.test.numRows()} test rows), ` +
      `attention ${args.attention}, backend ${info().default}`,
  );
  const t0 = performance.now();
  const result = await trainClassifier({
    checkpoint: {
      path: `${args.out}/checkpoint.safetensors`,
      resume: args.resume,
    },
    data,
    epochs: args.epochs,
    batchSize: args.batchSize,
    lr: args.lr,
    seed: args.seed,
    model: { attention: checkAttentionName(args.attention) },
    onStep: progressBar(enc),
    onEpoch: async (m) => {
      clearBar(enc);
      console.log(fmtEpoch(m));
      await log.write(
        enc.encode(
          JSON.stringify({ ...m, time: new Date().toISOString() }) + "\n",
        ),
      );
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const final = {
    test_accuracy: result.testAccuracy,
    test_macro_f1: result.testMacroF1,
    seconds,
  };
  await log.write(enc.encode(JSON.stringify(final) + "\n"));
  log.close();
  console.log(
    `test accuracy ${(100 * result.testAccuracy).toFixed(2)}%, macro-F1 ${
      (100 * result.testMacroF1).toFixed(2)
    }% ` +
      `(${data.test.numRows()} test rows, ${seconds.toFixed(0)} s)`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
