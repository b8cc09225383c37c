/**
 * `deno task predict`: classifies or translates a sentence with the model
 * trained into `--out`, and draws where it looked as an SVG heatmap.
 *
 * @module
 */

import { runMain } from "./_errors.ts";
import {
  classifyText,
  loadTrained,
  type TrainedModel,
  translateText,
} from "../inference.ts";
import { attentionSvg } from "../heatmap.ts";
import {
  readRunJson,
  type RunInfo,
  writeFileAtomic,
} from "../train/run_dir.ts";
import {
  parsePredictArgs,
  PREDICT_HELP,
  type PredictArgs,
} from "./predict_args.ts";
import { cliAttention } from "./_attention.ts";
import { writeExplanation } from "./_report.ts";
import type { AttentionModule } from "../../attention/mod.ts";

/** Parses `argv` and loads the model, or prints why not; returns an exit code or both. */
export async function start(
  mode: "predict" | "eval",
  argv: readonly string[],
): Promise<
  number | { args: PredictArgs; trained: TrainedModel; run: RunInfo | null }
> {
  let args: PredictArgs;
  try {
    args = parsePredictArgs(mode, argv);
  } catch (e) {
    console.error(`${mode}: ${(e as Error).message}`);
    return 2;
  }
  if (args.help) {
    console.log(PREDICT_HELP[mode]);
    return 0;
  }
  const path = `${args.out}/checkpoint.safetensors`;
  let trained: TrainedModel;
  try {
    trained = await loadTrained(path, {
      modules: args.attention === null
        ? []
        : [await cliAttention(args.attention) as AttentionModule<unknown>],
    });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    console.error(
      `${mode}: no trained model in ${args.out} (no checkpoint.safetensors); train one first: deno task train --out ${args.out}`,
    );
    return 1;
  }
  // run.json is untrusted: every field is checked as it is read
  const run = await readRunJson(args.out);
  if (run !== null && run.task !== trained.task) {
    throw new TypeError(
      `${path} holds a ${
        NOUN[trained.task]
      }, but ${args.out}/run.json records a ${
        NOUN[run.task]
      } run: the folder mixes two runs; train again into a new --out`,
    );
  }
  return { args, trained, run };
}

const NOUN = { classify: "classifier", translate: "translator" } as const;

/** Runs `predict`; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const s = await start("predict", argv);
  if (typeof s === "number") return s;
  const { args: { text, out, beam, explain }, trained } = s;
  if (!text) {
    const example = trained.task === "translate"
      ? "Ein Hund läuft im Park."
      : "my card has not arrived";
    console.error(
      `predict: give a sentence, e.g. deno task predict "${example}"`,
    );
    return 2;
  }
  let svg: string;
  if (trained.task === "translate") {
    const m = trained.model;
    const r = await translateText(m, text, { beam });
    if (r.truncated > 0) {
      console.error(
        `predict: the sentence is ${r.truncated} tokens longer than the model reads; the end was cut`,
      );
    }
    console.log(r.text);
    svg = attentionSvg(r.attention, r.targetTokens, r.sourceTokens, {
      title: `"${text}" → "${r.text}" (cross-attention${
        m.arch === "gru" ? "" : ", last block, heads averaged"
      })`,
    });
  } else {
    const r = await classifyText(trained.model, text);
    if (r.truncated > 0) {
      console.error(
        `predict: the sentence is ${r.truncated} tokens longer than the model reads (${trained.model.config.maxLen}); the end was cut`,
      );
    }
    for (const { label, p } of r.ranked) {
      console.log(`${(100 * p).toFixed(1).padStart(5)}%  ${label}`);
    }
    svg = attentionSvg(r.attention, r.tokens, r.tokens, {
      title: `"${text}" → ${r.ranked[0]!.label} (last block, heads averaged)`,
    });
  }
  // never through a link planted in the run folder
  await writeFileAtomic(out, "attention.svg", svg);
  console.log(`attention heatmap: ${out}/attention.svg`);
  if (explain) {
    console.log(
      `explanation: ${await writeExplanation(trained, text, { out, beam })}`,
    );
  }
  return 0;
}

if (import.meta.main) await runMain("predict", main, Deno.args);
