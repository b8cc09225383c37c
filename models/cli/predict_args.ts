/**
 * Command-line flags of `predict` and `eval` (and `explain`, which reads
 * predict's): parsing and the `--help` texts.
 *
 * @module
 */

import { flags, isAttentionPath, rules } from "./_flags.ts";

/** The help texts of `predict` and `eval`. */
export const PREDICT_HELP: { readonly eval: string; readonly predict: string } =
  {
    eval:
      `Usage: deno task eval [--out DIR] [--data PATH] [--test PATH] [--beam N] [--attention PATH.ts]

Scores the model trained into DIR (default runs/latest) on its test split:
a classifier's accuracy and macro-F1, a translator's BLEU (sacreBLEU's
default and lower-cased) and chrF with beam search (default beam 4).
By default the data are those that train recorded in DIR/run.json; --test
scores a labelled file of yours (CSV, TSV or JSONL, the columns train used),
--data a Multi30k folder. eval writes nothing. A model trained with your own
attention module imports it again from the path train recorded; if the file
moved, give it with --attention PATH.ts. --debug prints an error's stack
trace.`,
    predict:
      `Usage: deno task predict [--out DIR] [--beam N] [--attention PATH.ts] [--explain] "a sentence"

Classifies the sentence (top classes) or translates it (beam search, default
beam 4), with the model trained into DIR (default runs/latest), and writes
DIR/attention.svg: the classifier's self-attention or the translator's
cross-attention. --explain also writes DIR/explain.html, the report of
\`deno task explain\` (every layer and head, entropies, rollout or
alignment), and prints its path. \`deno task predict\` may write only under
runs/.
--debug prints an error's stack trace.`,
  };

/** Parsed options of `predict` and `eval`. */
export interface PredictArgs {
  /** Which program. */
  readonly mode: "predict" | "eval";
  /** The run folder. */
  readonly out: string;
  /** eval: a Multi30k folder or labelled file, instead of the recorded data. */
  readonly data: string | null;
  /** eval: a labelled test file, instead of the recorded one. */
  readonly test: string | null;
  /** Beam width of translation. */
  readonly beam: number;
  /** A path to the attention module the model needs, when its file moved. */
  readonly attention: string | null;
  /** predict: the sentence. */
  readonly text: string;
  /** predict: also write the HTML report `deno task explain` writes. */
  readonly explain: boolean;
  /** Print the help text. */
  readonly help: boolean;
}

/** Parses `predict`/`eval` arguments; throws a RangeError naming the bad flag. */
export function parsePredictArgs(
  mode: "predict" | "eval",
  argv: readonly string[],
): PredictArgs {
  let out = "runs/latest", data: string | null = null;
  let test: string | null = null, beam = 4, help = false;
  let attention: string | null = null, explain = false;
  const words: string[] = [];
  for (const [flag, value] of flags(argv)) {
    if (flag === "--out") out = rules.text(flag, value());
    else if (flag === "--data" && mode === "eval") {
      data = rules.text(flag, value());
    } else if (flag === "--test" && mode === "eval") {
      test = rules.text(flag, value());
    } else if (flag === "--beam") beam = rules.integer(flag, value(), 1);
    else if (flag === "--attention") {
      attention = rules.text(flag, value());
      if (!isAttentionPath(attention)) {
        throw new RangeError(
          `--attention: expected a path to your attention module (.ts or .js), got ${attention}`,
        );
      }
    } else if (flag === "--explain" && mode === "predict") explain = true;
    else if (flag === "--help" || flag === "-h") help = true;
    else if (flag.startsWith("--")) {
      throw new RangeError(`unknown option ${flag} (see --help)`);
    } else words.push(flag);
  }
  if (mode === "eval" && words.length > 0) {
    throw new RangeError(
      `eval takes no sentence (got "${words.join(" ")}"); use predict`,
    );
  }
  return {
    mode,
    out,
    data,
    test,
    beam,
    attention,
    text: words.join(" ").trim(),
    explain,
    help,
  };
}
