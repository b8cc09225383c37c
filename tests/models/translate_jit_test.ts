// The Transformer's decoding under jit: the encoder and each decoder step
// (one token against key/value caches) run as compiled programs over
// bucketed shapes (sentences and source length padded and masked), give
// eager's tokens for greedy and beam search, and keep one program per
// bucket, whatever the lengths.

import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertRejects,
} from "@std/assert";
import { loadDataset } from "../../data/mod.ts";
import { trainTranslator } from "../../models/train/translate.ts";
import * as h from "../../mod.ts";
import {
  initTranslator,
  type SourceBatch,
  translatorConfig,
  type TranslatorParams,
} from "../../models/arch/translator.ts";
import {
  beamSearch,
  DECODE_BUCKET,
  decoderPrograms,
  transformerDecoder,
} from "../../models/arch/decoding.ts";
import { testEachBackend } from "../_helpers.ts";

/** A fresh small configuration object (programs are kept per object). */
const small = () =>
  translatorConfig({
    srcVocab: 23,
    tgtVocab: 19,
    dModel: 16,
    heads: 2,
    encLayers: 1,
    decLayers: 1,
    ffHidden: 32,
    maxLen: 20,
    dropout: 0,
  });

/** `b` sources of lengths `lengths[i]`, pseudo-random ids 4..22, padded with masked 0s. */
function sources(lengths: readonly number[], seed: number): SourceBatch {
  const b = lengths.length, s = Math.max(...lengths);
  let x = seed;
  const ids = new Int32Array(b * s), mask = new Uint8Array(b * s);
  lengths.forEach((n, i) => {
    for (let j = 0; j < n; j++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      ids[i * s + j] = j === n - 1 ? 3 : 4 + (x % 19);
      mask[i * s + j] = 1;
    }
  });
  return {
    src: h.tensor(ids, { shape: [b, s] }),
    srcMask: h.tensor(mask, { shape: [b, s], dtype: "bool" }),
  };
}

/** Translates with and without jit; returns both token lists. */
async function both(
  params: TranslatorParams,
  config: ReturnType<typeof small>,
  batch: SourceBatch,
  beam: number,
) {
  const run = (jit: boolean) =>
    beamSearch(transformerDecoder(params, batch, { config, jit }), {
      beam,
      maxLen: 9, // prefixes of 1..9 tokens
    });
  const eager = await run(false), jitted = await run(true);
  return { eager: eager.map((t) => [...t]), jitted: jitted.map((t) => [...t]) };
}

testEachBackend(
  "transformerDecoder under jit gives eager's tokens, greedy and beam",
  async () => {
    const config = small();
    const params = initTranslator(h.key(4), config);
    // 3 sentences pad to 4 rows; lengths 5..11 pad to 8 and 16 source columns
    const batch = sources([11, 5, 7], 1);
    for (const beam of [1, 2]) {
      const { eager, jitted } = await both(params, config, batch, beam);
      assertEquals(jitted, eager, `beam ${beam}`);
      // an untrained model still says something different per sentence
      assert(new Set(eager.map((t) => t.join())).size > 1, `beam ${beam}`);
    }
    h.dispose([params, batch]);
  },
);

// The cache key holds the backend, but bucketing does not depend on it:
// the default backend is enough.
Deno.test(
  "decoding under jit keeps one program per bucket across sentence lengths",
  async () => {
    const config = small();
    const params = initTranslator(h.key(5), config);
    // greedy over 1..19 source tokens, 2 or 3 sentences: sources pad to 8,
    // 16 and 20 (maxLen) columns, prefixes to 8, 16 and 20, rows to 2 and 4
    const counts: number[] = [];
    for (let n = 1; n < 20; n++) {
      const batch = sources(n % 2 ? [n, 1] : [n, 2, 1], n);
      await beamSearch(transformerDecoder(params, batch, { config }), {
        beam: 1,
        maxLen: 13,
      });
      h.dispose(batch);
      counts.push(decoderPrograms(config));
    }
    const programs = counts.at(-1)!;
    // encoder: 2 row buckets × 3 source buckets; step: the same (its cache
    // has a fixed capacity and the position is a tensor, so prefix lengths
    // compile nothing; unpadded, each of the 19 lengths would trace its own)
    assert(programs <= 6 + 6, `${programs} programs`);
    assert(programs >= 6, `${programs} programs`);
    // the count grows only where a length crosses into a new bucket
    assert(new Set(counts).size <= 6, counts.join(" "));
    // a second pass over the same lengths compiles nothing new
    for (let n = 1; n < 20; n++) {
      const batch = sources(n % 2 ? [n, 1] : [n, 2, 1], n + 100);
      await beamSearch(transformerDecoder(params, batch, { config }), {
        beam: 1,
        maxLen: 13,
      });
      h.dispose(batch);
    }
    assertEquals(decoderPrograms(config), programs);
    // eager decoding compiles nothing; another configuration object has its own cache
    assertEquals(decoderPrograms(small()), 0);
    assertEquals(DECODE_BUCKET, 8);
    h.dispose(params);
  },
);

Deno.test("transformerDecoder rejects a jit option that is not a boolean", () => {
  const config = small();
  const batch = sources([3], 1);
  const params = initTranslator(h.key(0), config);
  let err: unknown;
  try {
    transformerDecoder(params, batch, {
      config,
      jit: "yes" as unknown as boolean,
    });
  } catch (e) {
    err = e;
  }
  assert(err instanceof TypeError && /jit must be a boolean/.test(err.message));
  h.dispose([params, batch]);
});

Deno.test("trainTranslator trains and decodes alike with and without jit", async () => {
  const d = await loadDataset("tatoeba");
  const data = {
    train: d.train.slice(0, 120),
    valid: d.valid.slice(0, 12),
    test: d.test.slice(0, 6),
  };
  const run = (jit: boolean) =>
    trainTranslator({
      data,
      epochs: 2,
      vocabSize: 200,
      maxTokens: 1024,
      model: {
        dModel: 16,
        heads: 2,
        encLayers: 1,
        decLayers: 1,
        ffHidden: 32,
        maxLen: 24,
      },
      validSentences: 12,
      beam: 2,
      warmup: 5,
      jit,
    });
  const eager = await run(false), jitted = await run(true);
  assertEquals(jitted.history.length, 2);
  // the same losses, and the same validation translations (chrF above 0)
  assert(eager.history[0]!.validChrf > 0);
  for (const [e, j] of eager.history.map((h, i) => [h, jitted.history[i]!])) {
    assertAlmostEquals(j!.loss, e!.loss, 1e-4);
    assertEquals(j!.validBleu, e!.validBleu);
    assertEquals(j!.validChrf, e!.validChrf);
  }
  assertEquals(jitted.testBleu, eager.testBleu);
  // only the jitted run compiled decoding programs
  assert(decoderPrograms(jitted.config as ReturnType<typeof small>) > 0);
  assertEquals(decoderPrograms(eager.config as ReturnType<typeof small>), 0);
  assertEquals(jitted.testChrf, eager.testChrf);
  h.dispose([eager.params, jitted.params]);
  await assertRejects(
    () => run("no" as unknown as boolean),
    TypeError,
    "jit must be a boolean",
  );
});
