// The Transformer's incremental decoder (models/arch/_translator_step.ts):
// one token a step against key/value caches gives, at every position, the
// log-probabilities that `decode` gives for the whole teacher-forced
// prefix; reordering the cache moves rows; on wasm the step's attention
// runs the fused kernel (one query row against the cache, its position a
// tensor), so one program serves every position.

import { assert, assertEquals } from "@std/assert";
import * as h from "../../mod.ts";
import {
  decode,
  encode,
  initTranslator,
  translatorConfig,
} from "../../models/arch/translator.ts";
import {
  cachedStep,
  reorderCache,
  startCache,
} from "../../models/arch/_translator_step.ts";
import { assertAllClose, testEachBackend } from "../_helpers.ts";

const config = translatorConfig({
  srcVocab: 23,
  tgtVocab: 19,
  dModel: 16,
  heads: 2,
  encLayers: 1,
  decLayers: 2,
  ffHidden: 32,
  maxLen: 12,
  dropout: 0,
});
const opts = { config };

/** Sources `[2, 5]` (the second padded after 3 tokens) and targets `[2, 7]`. */
function batch() {
  const i32 = { dtype: "int32" } as const;
  const src = h.tensor([[5, 6, 7, 8, 3], [9, 10, 3, 0, 0]], i32);
  const srcMask = h.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], {
    dtype: "bool",
  });
  const tgt = h.tensor(
    [[2, 4, 5, 6, 7, 8, 9], [2, 11, 12, 13, 14, 15, 16]],
    i32,
  );
  return { src, srcMask, tgt };
}

testEachBackend(
  "cached decoding steps give decode's log-probabilities at every position",
  async () => {
    const params = initTranslator(h.key(7), config);
    const { src, srcMask, tgt } = batch();
    const memory = encode(params, { src, srcMask }, opts);
    const t = tgt.shape[1]!;
    const full = h.logSoftmax(
      decode(params, {
        memory,
        srcMask,
        tgtIn: tgt,
        tgtMask: h.notEqual(tgt, 0),
      }, opts).logits,
    ); // [2, T, V]
    let cache = startCache(params, memory, srcMask, opts);
    const step = h.jit((c: typeof cache, ids: h.Tensor, pos: h.Tensor) =>
      cachedStep(params, c, ids, pos, opts)
    );
    for (let i = 0; i < t; i++) {
      const ids = h.reshape(h.slice(tgt, [0, i], [2, 1]), [2]);
      const out = step(cache, ids, h.tensor(Int32Array.of(i)));
      cache = { ...cache, self: out.self };
      const want = h.reshape(h.slice(full, [0, i, 0], [2, 1, 19]), [2, 19]);
      await assertAllClose(out.logp, want, { atol: 2e-5, rtol: 1e-4 });
    }
    // one program for every position: the position is a tensor
    assertEquals(step.cacheSize, 1);
    h.dispose([params, src, srcMask, tgt, memory, full, cache]);
  },
);

Deno.test("reorderCache moves self-attention rows and shares the source's", async () => {
  const params = initTranslator(h.key(8), config);
  const { src, srcMask, tgt } = batch();
  const memory = encode(params, { src, srcMask }, opts);
  const c0 = startCache(params, memory, srcMask, opts);
  const ids = h.tensor(Int32Array.of(4, 11)), pos = h.tensor(Int32Array.of(0));
  const c1 = { ...c0, self: cachedStep(params, c0, ids, pos, opts).self };
  const moved = reorderCache(c1, h.tensor(Int32Array.of(1, 1)));
  const row1 = await h.slice(c1.self[1]!.keys, [1, 0, 0, 0], [1, 2, 12, 8])
    .data();
  const got = await moved.self[1]!.keys.data();
  assertEquals([...got.slice(0, row1.length)], [...row1]);
  assertEquals([...got.slice(row1.length)], [...row1]);
  assert(moved.cross === c1.cross && moved.srcMask === c1.srcMask);
  h.dispose([params, src, srcMask, tgt, memory, c1, moved.self]);
});

Deno.test("on wasm a cached step's attention runs the fused kernel", async () => {
  await h.withBackend("wasm", () => {
    const params = initTranslator(h.key(9), config);
    const { src, srcMask } = batch();
    const memory = encode(params, { src, srcMask }, opts);
    const cache = startCache(params, memory, srcMask, opts);
    const { program } = h.makeProgram(
      (c: typeof cache, ids: h.Tensor, pos: h.Tensor) =>
        cachedStep(params, c, ids, pos, opts),
    )(cache, h.tensor(Int32Array.of(4, 11)), h.tensor(Int32Array.of(3)));
    const flash = program.eqns.filter((e) => e.prim === "flash_attention");
    // self- and cross-attention of both blocks
    assertEquals(flash.length, 4);
    h.dispose([params, src, srcMask, memory, cache]);
  });
});
