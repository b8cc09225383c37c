/**
 * Command-line flags of `train`: parsing, the checks between flags, and
 * the `--help` text (predict's and eval's are in predict_args.ts).
 *
 * @module
 */

import { ATTENTION_HELP, parseAttention } from "../arch/attention_syntax.ts";
import type { Average } from "../train/fit_types.ts";
import { flags, isAttentionPath, rules } from "./_flags.ts";
import { SPECIALS } from "../../data/vocab.ts";

export { isAttentionPath };
export {
  parsePredictArgs,
  PREDICT_HELP,
  type PredictArgs,
} from "./predict_args.ts";

/** Parsed command-line options of `train`. */
export interface TrainArgs {
  /** What to train. */
  task: "classify" | "translate";
  /** Training data: a labelled text file (classify) or a Multi30k folder (translate). */
  data: string | null;
  /** classify: a labelled test file (default: 20% of --data held out). */
  test: string | null;
  /** classify: a labelled validation file (default: 10% of train held out). */
  valid: string | null;
  /** classify: the text column of --data, --test and --valid. */
  textColumn: string;
  /** classify: the label column of --data, --test and --valid. */
  labelColumn: string;
  /** classify: rows longer than this many tokens are cut to it. */
  maxLength: number;
  /** The attention: a built-in name, a composition, or a path to the user's module. */
  attention: string;
  /** Most epochs. */
  epochs: number;
  /** classify: rows per batch. */
  batchSize: number;
  /** classify: ensemble members, or null for the run's (1 when new). */
  ensemble: number | null;
  /** classify: character n-gram hash buckets (0 off), or null for the run's. */
  subwords: number | null;
  /** classify: bag-of-n-grams member hash buckets (0 off), or null for the run's. */
  bag: number | null;
  /** classify: model width, or null for the run's (128 when new). */
  dModel: number | null;
  /** classify: encoder blocks, or null for the run's (2 when new). */
  layers: number | null;
  /** classify: dropout rate, or null for the run's (0.2 when new). */
  dropout: number | null;
  /** classify: epochs of masked-token pretraining before training (0: none). */
  pretrain: number;
  /** Epochs without a better validation score before stopping, or null for the task's default. */
  patience: number | null;
  /** classify: weight averaging, or null for the run's (none when new). */
  average: Average | null;
  /** Peak learning rate. */
  lr: number;
  /** Backend, or null for heed's choice. */
  backend: string | null;
  /** Seed of every random choice. */
  seed: number;
  /** Output folder. */
  out: string;
  /** Continue the run in --out. */
  resume: boolean;
  /** translate: training-time budget in minutes. */
  maxMinutes: number | null;
  /** translate: tokens per batch. */
  maxTokens: number | null;
  /** translate: the architecture. */
  model: "transformer" | "gru";
  /** translate: warm-up steps of the learning rate, or null for the run's (400 when new). */
  warmup: number | null;
  /** translate: how the learning rate falls after warm-up, or null for the run's (inverse-sqrt when new). */
  decay: "inverse-sqrt" | "cosine" | null;
  /** translate: size of one vocabulary shared by both languages (0: two), or null for the run's. */
  sharedVocab: number | null;
  /** Check everything and print what would train, then exit without training or writing. */
  dryRun: boolean;
  /** Print the help text. */
  help: boolean;
}

const OUT_HELP =
  `  --out DIR                  output folder (default runs/latest). \`deno task\` may write
                             only under runs/ (--allow-write=runs): pick DIR there, or run
                             the script with your own --allow-write`;

/** `deno task train --help`. */
export const TRAIN_HELP: string =
  `heed train: train a model on the bundled data or your own.

Usage: deno task train [options]

  --task classify|translate  what to train (default classify)
  --data PATH                classify: your training file, CSV, TSV or JSONL (by extension)
                             with a text and a label column (default: the bundled banking77
                             intents); translate: a Multi30k folder (train.de, train.en,
                             val.*, test_2016_flickr.*) (default: the bundled Tatoeba pairs)
  --test PATH                classify: your test file, same format (default: 20% of --data,
                             held out with --seed)
  --valid PATH               classify: your validation file for early stopping (default: 10%
                             of the training rows, held out with --seed)
  --text-column NAME         classify: the column (JSON key) of the text (default text)
  --label-column NAME        classify: the column (JSON key) of the class (default category)
  --max-length N             classify: rows longer than N tokens are cut to N, at least 1
                             (default 128; memory grows with the longest row)
${ATTENTION_HELP}
  --epochs N                 most epochs, at least 1; training stops early when validation
                             stops improving (default 14 to classify, 10 to translate)
  --model transformer|gru    translate: the Transformer (default) or the GRU
                             encoder-decoder with additive (Bahdanau) attention
  --batch-size N             classify: rows per batch, at least 1 (default 64)
  --ensemble N               classify: train N independent classifiers side by side (own
                             initialisation and dropout, same batches) and average their
                             logits, at least 1 (default 3; with --bag 20000 they reach
                             92.7% on banking77, one alone 91.1%); N times the time per
                             step. Kept in the checkpoint; --resume keeps the run's unless
                             given again, and refuses another
  --subwords N               classify: fastText-style subword inputs: each word's character
                             3- to 5-grams hashed into N buckets, their mean embedding added
                             to the word's; 0 turns them off (default 0). Kept in the
                             checkpoint like --ensemble
  --bag N                    classify: add a bag-of-n-grams member, a linear model over the
                             words, word pairs and character 3- to 5-grams (pairs and
                             n-grams hashed into N buckets) trained beside the Transformer;
                             their log-probabilities are averaged. 0 turns it off (default
                             20000). Kept in the checkpoint like --ensemble
  --d-model N                model width, a multiple of the 4 heads (default 128; the
                             feed-forward layer is twice as wide to classify, four times to
                             translate)
  --layers N                 encoder blocks, at least 1 (default 2); translate: encoder and
                             decoder blocks, each
  --dropout X                dropout rate in [0, 1) (default 0.2 to classify, 0.1 to
                             translate). --d-model, --layers and --dropout are kept in the
                             checkpoint like --ensemble; translate: Transformer only
  --pretrain N               classify: first N epochs of masked-token pretraining on the
                             training texts (15% of each row's tokens masked and predicted
                             through the tied word embeddings), then training as usual
                             (default 0: none; --resume does not pretrain again)
  --patience N               stop after N epochs without a better validation accuracy
                             (classify) or BLEU (translate), at least 1 (default 4 to
                             classify, 3 to translate)
  --average ema:D|swa:E      evaluate, keep and save an average of the weights:
                             ema:D an exponential moving average after every step with
                             decay D in (0, 1), bias-corrected as Adam's moments (e.g.
                             ema:0.998 averages about the last 500 steps); swa:E the
                             mean of the weights at the end of every epoch from epoch E
                             on (default: none). Kept in the checkpoint; --resume keeps
                             the run's unless given again, and refuses another
  --max-tokens N             translate: tokens per batch, padding included, at least 1
                             (default 4096; lower it if a long-sentence data set runs out
                             of memory; the GRU needs about 1024 on wasm)
  --lr X                     peak learning rate, above 0 (default 2e-3)
  --warmup N                 translate: steps of linear learning-rate warm-up before the
                             inverse-square-root decay, at least 1 (default 400; a tiny
                             data set with few steps needs fewer). Recorded in run.json;
                             --resume keeps the run's unless given again, and refuses
                             another
  --decay inverse-sqrt|cosine
                             translate: after warm-up, the learning rate falls as the
                             inverse square root of the step, or along a cosine to 0 at
                             the end of --epochs (the last epochs anneal; pick --epochs
                             to fit --max-minutes). Kept in the checkpoint like --warmup
                             (default inverse-sqrt)
  --shared-vocab N           translate: one BPE vocabulary of N pieces learned from both
                             languages' training texts, and one embedding table for
                             source tokens, target tokens and the output layer; 0: a
                             vocabulary of 4000 per language and two tables (default 0).
                             Transformer only; kept in the checkpoint like --warmup
  --backend cpu|webgpu|wasm  where tensors live (default: heed's choice, see \`deno task info\`)
  --seed N                   seed of every random choice, at least 0 (default 0)
  --max-minutes X            translate: a training-time budget above 0; no epoch starts
                             that would end past it (validation time not counted)
${OUT_HELP}
  --resume                   continue the run saved in --out; it reaches the same
                             parameters as an uninterrupted run
  --dry-run                  check every option, load and check the data (and the
                             checkpoint with --resume), build the model, print what
                             would train (task, model, attention, parameters, data
                             sizes, steps, budget) and exit without writing anything
  --help                     this text
  --debug                    on an error, print its stack trace too

Writes to DIR: checkpoint.safetensors after each epoch (read by \`deno task
predict\` and \`deno task eval\`), metrics.jsonl (a JSON line per epoch) and
run.json (what eval needs to find the data again).

Output: per-epoch loss, validation accuracy (classify) or BLEU and chrF
(translate, greedy) and tokens/s; at the end, test accuracy and macro-F1, or
test BLEU (sacreBLEU's default and lower-cased) and chrF with beam search,
on the test split.`;

const ONLY_CLASSIFY = [
  "--test",
  "--valid",
  "--text-column",
  "--label-column",
  "--max-length",
  "--ensemble",
  "--subwords",
  "--bag",
  "--pretrain",
];

/** Parses `train` arguments; throws a RangeError naming the bad flag. */
export function parseTrainArgs(argv: readonly string[]): TrainArgs {
  const a: TrainArgs = {
    task: "classify",
    data: null,
    test: null,
    valid: null,
    textColumn: "text",
    labelColumn: "category",
    maxLength: 128,
    attention: "scaled-dot",
    epochs: 0,
    batchSize: 64,
    ensemble: null,
    subwords: null,
    bag: null,
    dModel: null,
    layers: null,
    dropout: null,
    average: null,
    patience: null,
    pretrain: 0,
    lr: 2e-3,
    backend: null,
    seed: 0,
    out: "runs/latest",
    resume: false,
    maxMinutes: null,
    maxTokens: null,
    model: "transformer",
    warmup: null,
    decay: null,
    sharedVocab: null,
    dryRun: false,
    help: false,
  };
  const given = new Set<string>();
  for (const [flag, value] of flags(argv)) {
    given.add(flag);
    switch (flag) {
      case "--help":
      case "-h":
        a.help = true;
        break;
      case "--task":
        a.task = rules.oneOf(flag, value(), ["classify", "translate"]);
        break;
      case "--data":
        a.data = rules.text(flag, value());
        break;
      case "--test":
        a.test = rules.text(flag, value());
        break;
      case "--valid":
        a.valid = rules.text(flag, value());
        break;
      case "--text-column":
        a.textColumn = rules.text(flag, value());
        break;
      case "--label-column":
        a.labelColumn = rules.text(flag, value());
        break;
      case "--max-length":
        a.maxLength = rules.integer(flag, value(), 1);
        break;
      case "--attention":
        a.attention = rules.text(flag, value());
        // a composition is checked now; a file is imported when training starts
        if (!isAttentionPath(a.attention)) parseAttention(a.attention);
        break;
      case "--epochs":
        a.epochs = rules.integer(flag, value(), 1);
        break;
      case "--batch-size":
        a.batchSize = rules.integer(flag, value(), 1);
        break;
      case "--ensemble":
        a.ensemble = rules.integer(flag, value(), 1);
        break;
      case "--subwords":
        a.subwords = rules.integer(flag, value(), 0);
        break;
      case "--bag":
        a.bag = rules.integer(flag, value(), 0);
        break;
      case "--d-model":
        a.dModel = rules.integer(flag, value(), 1);
        if (a.dModel % 4 !== 0) {
          throw new RangeError(
            `--d-model: expected a multiple of the 4 heads, got ${a.dModel}`,
          );
        }
        break;
      case "--layers":
        a.layers = rules.integer(flag, value(), 1);
        break;
      case "--dropout":
        a.dropout = rules.fraction(flag, value());
        break;
      case "--pretrain":
        a.pretrain = rules.integer(flag, value(), 0);
        break;
      case "--patience":
        a.patience = rules.integer(flag, value(), 1);
        break;
      case "--average":
        a.average = rules.average(flag, value());
        break;
      case "--lr":
        a.lr = rules.positive(flag, value());
        break;
      case "--backend":
        a.backend = rules.oneOf(flag, value(), ["cpu", "webgpu", "wasm"]);
        break;
      case "--seed":
        a.seed = rules.integer(flag, value(), 0);
        break;
      case "--out":
        a.out = rules.text(flag, value());
        break;
      case "--resume":
        a.resume = true;
        break;
      case "--max-tokens":
        a.maxTokens = rules.integer(flag, value(), 1);
        break;
      case "--max-minutes":
        a.maxMinutes = rules.positive(flag, value());
        break;
      case "--model":
        a.model = rules.oneOf(flag, value(), ["transformer", "gru"]);
        break;
      case "--warmup":
        a.warmup = rules.integer(flag, value(), 1);
        break;
      case "--decay":
        a.decay = rules.oneOf(
          flag,
          value(),
          ["inverse-sqrt", "cosine"] as const,
        );
        break;
      case "--shared-vocab":
        a.sharedVocab = rules.integer(flag, value(), 0);
        if (a.sharedVocab > 0 && a.sharedVocab < SPECIALS.length) {
          throw new RangeError(
            `--shared-vocab: 0 (two vocabularies) or at least ${SPECIALS.length} (the special tokens), got ${a.sharedVocab}`,
          );
        }
        break;
      case "--dry-run":
        a.dryRun = true;
        break;
      default:
        throw new RangeError(`unknown option ${flag} (see --help)`);
    }
  }
  if (given.has("--attention") && a.model === "gru") {
    throw new RangeError(
      "--attention: the GRU model's attention is always additive (Bahdanau); drop --attention or use --model transformer",
    );
  }
  for (const flag of ["--d-model", "--layers", "--dropout", "--shared-vocab"]) {
    if (given.has(flag) && a.model === "gru") {
      throw new RangeError(
        `${flag}: only for the Transformer; the GRU model's sizes are fixed (drop ${flag} or use --model transformer)`,
      );
    }
  }
  const translate = a.task === "translate";
  if (a.epochs === 0) a.epochs = translate ? 10 : 14;
  for (
    const flag of [
      "--max-minutes",
      "--max-tokens",
      "--model",
      "--warmup",
      "--decay",
      "--shared-vocab",
    ]
  ) {
    if (given.has(flag) && !translate) {
      throw new RangeError(
        `${flag}: only for --task translate${
          flag === "--max-tokens" ? " (classify batches by --batch-size)" : ""
        }`,
      );
    }
  }
  for (const flag of ONLY_CLASSIFY) {
    if (given.has(flag) && translate) {
      throw new RangeError(`${flag}: only for --task classify`);
    }
  }
  if ((a.test !== null || a.valid !== null) && a.data === null) {
    throw new RangeError(
      `${
        a.test !== null ? "--test" : "--valid"
      }: give --data too (your training file)`,
    );
  }
  if (a.textColumn === a.labelColumn) {
    throw new RangeError(
      `--label-column: the text and label columns are both ${a.textColumn}`,
    );
  }
  return a;
}
