/**
 * `deno task explain "text"`: runs the model trained into `--out` on a
 * sentence and writes one self-contained HTML report of where it looked
 * (`--out`/explain.html): every layer's and head's attention, per-head
 * entropy, the gate's choice of a gated model, the classifier's attention
 * rollout or the translator's cross-attention alignment.
 *
 * @module
 */

import { runMain } from "./_errors.ts";
import { start } from "./predict.ts";
import { parsePredictArgs } from "./predict_args.ts";
import { writeExplanation } from "./_report.ts";

/** `deno task explain --help`. */
export const EXPLAIN_HELP: string =
  `Usage: deno task explain [--out DIR] [--beam N] [--attention PATH.ts] "text"

Runs the model trained into DIR (default runs/latest) on the text and writes
DIR/explain.html, one self-contained page (inline SVG, no external files):
attention heatmaps for every layer and head (the translator: every encoder
block's self-attention, and every decoder block's causal self-attention and
cross-attention), each head's entropy, the gate's choice per query for a
gate: model, attention rollout to the prediction (classifier) or the
cross-attention alignment per decoder block (translator). Prints the page's
path. \`deno task predict --explain "text"\` writes the same page.
--beam sets the translator's beam (default 4); --attention gives your own
attention module's file if it moved since training. --debug prints an
error's stack trace too.`;

/** Runs `explain`; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(EXPLAIN_HELP);
    return 0;
  }
  try {
    parsePredictArgs("predict", argv);
  } catch (e) {
    console.error(`explain: ${(e as Error).message}`);
    return 2;
  }
  const { out: dir } = parsePredictArgs("predict", argv);
  try {
    await Deno.stat(`${dir}/checkpoint.safetensors`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    console.error(
      `explain: no trained model in ${dir} (no checkpoint.safetensors); train one first: deno task train --out ${dir}`,
    );
    return 1;
  }
  const s = await start("predict", argv);
  if (typeof s === "number") return s;
  const { args: { text, out, beam }, trained } = s;
  if (!text) {
    console.error(`explain: give a sentence, e.g. deno task explain "hello"`);
    return 2;
  }
  console.log(await writeExplanation(trained, text, { out, beam }));
  return 0;
}

if (import.meta.main) await runMain("explain", main, Deno.args);
