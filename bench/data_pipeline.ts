/**
 * Issue 6, point 8: tokenising and batching all 29,000 Multi30k training
 * pairs, BPE training included, should take at most a few seconds.
 *
 *   deno run --allow-read --allow-env bench/data_pipeline.ts [multi30k folder]
 *
 * Multi30k is not bundled (research-only licence); the default folder is
 * ../shared/data/multi30k. Prints a timing table (median of 3 runs after a
 * warm-up), with word-level tokenisation beside BPE for comparison.
 */

import { key } from "../ops/random_key.ts";
import {
  cleanText,
  filterLength,
  hostTranslationBatches,
  loadParallel,
  normalizeText,
  pipe,
  tokenize,
  type Tokenizer,
  trainBpe,
  trainWordTokenizer,
  translationBatches,
} from "../data/mod.ts";

const dir = Deno.args[0] ??
  new URL("../../shared/data/multi30k", import.meta.url).pathname;
try {
  await Deno.stat(`${dir}/train.de`);
} catch {
  console.log(
    `skipped: no Multi30k at ${dir} (pass its folder as the first argument)`,
  );
  Deno.exit(0);
}

const time = <T>(f: () => T): [T, number] => {
  const t0 = performance.now();
  const out = f();
  return [out, performance.now() - t0];
};
const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows: Record<string, number[]> = {};
const record = (name: string, ms: number) => (rows[name] ??= []).push(ms);

for (let run = 0; run < 4; run++) {
  const [loaded, tLoad] = await (async () => {
    const t0 = performance.now();
    const t = await loadParallel({
      de: `${dir}/train.de`,
      en: `${dir}/train.en`,
    });
    return [t, performance.now() - t0] as const;
  })();
  const [clean, tClean] = time(() =>
    pipe(
      normalizeText(["de", "en"], { lower: true }),
      cleanText(["de", "en"]),
      filterLength(["de", "en"], { min: 1 }),
    )(loaded)
  );
  const de = clean.array("de") as string[], en = clean.array("en") as string[];
  const [bpe, tTrain] = time(() => ({
    de: trainBpe(de, { vocabSize: 8000 }),
    en: trainBpe(en, { vocabSize: 8000 }),
  }));
  const [word, tWordTrain] = time(() => ({
    de: trainWordTokenizer(de, { minFreq: 2 }),
    en: trainWordTokenizer(en, { minFreq: 2 }),
  }));
  const enc = (tok: { de: Tokenizer; en: Tokenizer }) =>
    pipe(tokenize("de", tok.de), tokenize("en", tok.en))(clean);
  const [ids, tBpeEnc] = time(() => enc(bpe));
  const [, tWordEnc] = time(() => enc(word));
  const opts = {
    source: "de_ids",
    target: "en_ids",
    maxTokens: 4096,
    key: key(run),
  };
  const [host, tBatch] = time(() => hostTranslationBatches(ids, opts));
  const [, tTensor] = time(() => translationBatches(ids, opts));
  if (run === 0) {
    const tokens = host.reduce(
      (n, b) => n + b.source.lengths.reduce((a, x) => a + x, 0),
      0,
    );
    const cells = host.reduce((n, b) => n + b.source.ids.length, 0);
    console.log(
      `Multi30k train: ${clean.numRows()} pairs, BPE vocab ${bpe.de.vocab.size}/${bpe.en.vocab.size}, ` +
        `${host.length} batches, source padding ${
          (100 * (1 - tokens / cells)).toFixed(1)
        }%`,
    );
    continue; // warm-up
  }
  record("load (parallel text)", tLoad);
  record("normalise + clean + filter", tClean);
  record("train BPE (de + en, 8k each)", tTrain);
  record("encode BPE (58k sentences)", tBpeEnc);
  record("bucket + pad + shuffle (host)", tBatch);
  record("... as int32 tensors (cpu)", tTensor);
  record(
    "TOTAL (BPE pipeline, tensors)",
    tLoad + tClean + tTrain + tBpeEnc + tTensor,
  );
  record("word tokeniser: train", tWordTrain);
  record("word tokeniser: encode", tWordEnc);
}

console.log("\n| step | median ms |\n|---|---:|");
for (const [name, ms] of Object.entries(rows)) {
  console.log(`| ${name} | ${median(ms).toFixed(0)} |`);
}
