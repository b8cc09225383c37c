/**
 * `deno task predict` and `deno task eval` for a trained classifier: load
 * the checkpoint from `--out`, classify a sentence (with an SVG heatmap of
 * its attention) or score the test split.
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
} from "../ops/mod.ts";
import { loadDataset, tokenizerFromJSON } from "../data/mod.ts";
import { applyClassifier, type ClassifierParams } from "./classifier.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import type {
  ClassifierTrainResult,
  SavedProgress,
} from "./train_classifier.ts";
import { accuracy, macroF1 } from "./metrics.ts";
import { attentionSvg } from "./heatmap.ts";
import { csvData } from "./cli.ts";

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

/** Runs `predict`/`eval`; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const mode = argv[0];
  let out = "runs/latest";
  let data: string | null = null;
  const rest: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === "--out") out = argv[++i] ?? out;
    else if (argv[i] === "--data") data = argv[++i] ?? null;
    else if (argv[i] === "--help") {
      console.log(
        mode === "eval"
          ? "Usage: deno task eval [--out DIR] [--data CSV]: test accuracy and macro-F1 of the model in DIR"
          : 'Usage: deno task predict [--out DIR] "a sentence": top classes and DIR/attention.svg',
      );
      return 0;
    } else rest.push(argv[i]!);
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
    const { predictClasses } = await import("./train_classifier.ts");
    const { tokenize } = await import("../data/mod.ts");
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
