/**
 * `deno task predict` and `deno task eval` for a trained model: load the
 * checkpoint from `--out`; classify or translate a sentence (with an SVG
 * heatmap of its attention), or score the test split.
 *
 * @module
 */

import {
  argmax,
  mean,
  reshape,
  scope,
  slice,
  softmax,
  tensor,
} from "../../ops/mod.ts";
import { loadDataset, tokenizerFromJSON } from "../../data/mod.ts";
import {
  evaluateTranslator,
  type LoadedTranslator,
  loadTranslator,
  translateText,
} from "../inference.ts";
import { applyClassifier, type ClassifierParams } from "../arch/classifier.ts";
import { loadCheckpoint } from "../train/checkpoint.ts";
import type {
  ClassifierTrainResult,
  SavedProgress,
} from "../train/classify.ts";
import { accuracy, macroF1 } from "../train/metrics.ts";
import { attentionSvg } from "../heatmap.ts";
import { csvData } from "./train.ts";

/** A trained classifier loaded from a checkpoint. */
export interface LoadedClassifier {
  readonly params: ClassifierParams;
  readonly progress: SavedProgress;
}

/** Loads `${out}/checkpoint.safetensors`. */
export async function loadClassifier(out: string): Promise<LoadedClassifier> {
  const ck = await loadCheckpoint<
    ClassifierParams,
    { best: ClassifierParams | null }
  >(`${out}/checkpoint.safetensors`);
  const progress = ck.metadata as unknown as SavedProgress;
  return { params: ck.optState?.best ?? ck.params, progress };
}

/** The top classes of `text` and the attention map of the last block, averaged over heads. */
export async function classifyText(
  m: LoadedClassifier,
  text: string,
  top = 3,
): Promise<
  {
    ranked: { label: string; p: number }[];
    attention: number[][];
    tokens: string[];
  }
> {
  const tok = tokenizerFromJSON(m.progress.tokenizer);
  const ids = tok.encode(text);
  if (ids.length === 0) {
    throw new RangeError("predict: the sentence has no tokens");
  }
  const pieces = tok.tokenize(text).map((t) => t.trim() || "␣");
  const t = ids.length;
  const { probs, attn } = scope(() => {
    const out = applyClassifier(m.params, m.progress.config, {
      ids: tensor(ids, { shape: [1, t] }),
      mask: tensor(new Int32Array(t).fill(1), { shape: [1, t] }),
    });
    const w = out.weights[m.progress.config.layers - 1]!; // [1, H, T', T']
    const tt = w.shape[2]!;
    return {
      probs: softmax(out.logits),
      attn: reshape(
        mean(slice(w, [0, 0, 0, 0], [1, w.shape[1]!, tt, tt]), { axis: 1 }),
        [tt, tt],
      ),
    };
  });
  const [p, a] = await Promise.all([
    probs.data(),
    attn.array() as Promise<number[][]>,
  ]);
  const ranked = [...p].map((v, i) => ({ label: m.progress.labels[i]!, p: v }))
    .sort((x, y) => y.p - x.p).slice(0, top);
  const labels = m.progress.config.pooling === "cls"
    ? ["[CLS]", ...pieces]
    : pieces;
  return { ranked, attention: a, tokens: labels };
}

const HELP = {
  eval: `Usage: deno task eval [--out DIR] [--data PATH] [--beam N]

Scores the model trained into DIR (default runs/latest) on its test split:
a classifier's accuracy and macro-F1, a translator's BLEU (sacreBLEU's
default and lower-cased) and chrF with beam search (default beam 4).
--data names the data the model was trained on when it was not the bundled
default (a CSV, or a Multi30k folder); by default the path recorded by
train in DIR/run.json.`,
  predict: `Usage: deno task predict [--out DIR] [--beam N] "a sentence"

Classifies the sentence (top classes) or translates it, with the model
trained into DIR (default runs/latest), and writes DIR/attention.svg: the
classifier's self-attention or the translator's cross-attention.`,
};

/** The `--data` that train recorded in `${out}/run.json`, if any. */
async function recordedData(out: string): Promise<string | null> {
  try {
    const run = JSON.parse(await Deno.readTextFile(`${out}/run.json`));
    return typeof run.data === "string" ? run.data : null;
  } catch {
    return null;
  }
}

async function runTranslator(
  mode: string,
  out: string,
  data: string | null,
  beam: number,
  text: string,
  m: LoadedTranslator,
): Promise<number> {
  if (mode === "eval") {
    const d = data
      ? await loadDataset("multi30k", { path: data })
      : await loadDataset("tatoeba");
    const t0 = performance.now();
    const s = await evaluateTranslator(m, d, { beam });
    console.log(
      `test BLEU ${s.bleu.toFixed(2)} (sacreBLEU default), ${
        s.bleuLower.toFixed(2)
      } (lower-cased), chrF ${s.chrf.toFixed(2)} ` +
        `(${s.sentences} sentences of ${data ?? "Tatoeba"}, beam ${beam}, ${
          ((performance.now() - t0) / 1000).toFixed(0)
        } s)`,
    );
    return 0;
  }
  if (!text) {
    console.error(
      'predict: give a sentence, e.g. deno task predict "Ein Hund läuft im Park."',
    );
    return 2;
  }
  const r = await translateText(m, text, { beam });
  console.log(r.text);
  const svg = attentionSvg(r.attention, r.targetTokens, r.sourceTokens, {
    title: `"${text}" → "${r.text}" (cross-attention${
      m.progress.arch === "gru" ? "" : ", last block, heads averaged"
    })`,
  });
  await Deno.writeTextFile(`${out}/attention.svg`, svg);
  console.log(`attention heatmap: ${out}/attention.svg`);
  return 0;
}

/** Runs `predict`/`eval`; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const mode = argv[0] === "eval" ? "eval" : "predict";
  let out = "runs/latest";
  let data: string | null = null;
  let beam = 4;
  const rest: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === "--out") out = argv[++i] ?? out;
    else if (argv[i] === "--data") data = argv[++i] ?? null;
    else if (argv[i] === "--beam") {
      beam = Number(argv[++i]);
      if (!Number.isInteger(beam) || beam < 1) {
        console.error(`${mode}: --beam must be a positive integer`);
        return 2;
      }
    } else if (argv[i] === "--help" || argv[i] === "-h") {
      console.log(HELP[mode]);
      return 0;
    } else rest.push(argv[i]!);
  }
  data ??= await recordedData(out);
  let translator: LoadedTranslator | null = null;
  try {
    translator = await loadTranslator(`${out}/checkpoint.safetensors`);
  } catch (e) {
    if (!(e instanceof TypeError)) {
      console.error(
        `${mode}: cannot load a trained model from ${out}: ${
          (e as Error).message
        }\nTrain one first: deno task train --out ${out}`,
      );
      return 1;
    }
  }
  if (translator) {
    return await runTranslator(
      mode,
      out,
      data,
      beam,
      rest.join(" ").trim(),
      translator,
    );
  }
  let m: LoadedClassifier;
  try {
    m = await loadClassifier(out);
  } catch (e) {
    console.error(
      `${mode}: cannot load a trained model from ${out}: ${
        (e as Error).message
      }\nTrain one first: deno task train --out ${out}`,
    );
    return 1;
  }
  if (mode === "eval") {
    const d = data ? await csvData(data, 0) : await loadDataset("banking77");
    const tok = tokenizerFromJSON(m.progress.tokenizer);
    const { predictClasses } = await import("../train/classify.ts");
    const { tokenize } = await import("../../data/mod.ts");
    const test = tokenize("text", tok, { as: () => "ids" })(d.test);
    const pred = await predictClasses(m.params, m.progress.config, test);
    const gold = Int32Array.from(test.array("label") as ArrayLike<number>);
    console.log(
      `test accuracy ${(100 * accuracy(pred, gold)).toFixed(2)}%, macro-F1 ${
        (100 * macroF1(pred, gold)).toFixed(2)
      }% (${gold.length} rows)`,
    );
    return 0;
  }
  const text = rest.join(" ").trim();
  if (!text) {
    console.error(
      'predict: give a sentence, e.g. deno task predict "my card has not arrived"',
    );
    return 2;
  }
  const r = await classifyText(m, text);
  for (const { label, p } of r.ranked) {
    console.log(`${(100 * p).toFixed(1).padStart(5)}%  ${label}`);
  }
  const svg = attentionSvg(r.attention, r.tokens, r.tokens, {
    title: `"${text}" → ${r.ranked[0]!.label} (last block, heads averaged)`,
  });
  await Deno.writeTextFile(`${out}/attention.svg`, svg);
  console.log(`attention heatmap: ${out}/attention.svg`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/** The most likely class name of `text` for a freshly trained classifier. */
export async function predictText(
  r: Pick<ClassifierTrainResult, "params" | "config" | "tokenizer" | "labels">,
  text: string,
): Promise<string> {
  const ids = r.tokenizer.encode(text);
  if (ids.length === 0) {
    throw new RangeError("predictText: the text has no tokens");
  }
  const pred = scope(() =>
    argmax(
      applyClassifier(r.params, r.config, {
        ids: tensor(ids, { shape: [1, ids.length] }),
        mask: tensor(new Int32Array(ids.length).fill(1), {
          shape: [1, ids.length],
        }),
      }).logits,
      { axis: -1 },
    )
  );
  return r.labels.labels[(await pred.data())[0]!]!;
}
