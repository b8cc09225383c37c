import * as aq from "arquero";
import { assertEquals } from "@std/assert";
import { key } from "../../ops/random_key.ts";
import {
  batches,
  hostBatches,
  hostTranslationBatches,
  translationBatches,
} from "../../data/mod.ts";

Deno.test("batches() returns int32 tensors that hold the host batches", async () => {
  const t = aq.table({ ids: [[5, 6, 7], [8], [9, 10], [11]] });
  const opts = { batchSize: 2, key: key(4) };
  const host = hostBatches(t, "ids", opts);
  const bs = batches(t, "ids", opts);
  assertEquals(bs.length, host.length);
  for (const [i, b] of bs.entries()) {
    const h = host[i]!;
    assertEquals([b.ids.dtype, b.mask.dtype, b.lengths.dtype], [
      "int32",
      "int32",
      "int32",
    ]);
    assertEquals([b.ids.shape, b.mask.shape, b.lengths.shape], [
      h.shape,
      h.shape,
      [h.shape[0]],
    ]);
    assertEquals([...(await b.ids.data())], [...h.ids]);
    assertEquals([...(await b.mask.data())], [...h.mask]);
    assertEquals([...(await b.lengths.data())], [...h.lengths]);
    assertEquals(b.rows, h.rows);
  }
});

Deno.test("translationBatches() returns aligned int32 tensors", async () => {
  const t = aq.table({
    de: [[7, 8], [9], [4, 4, 4]],
    en: [[5], [6, 4, 4], [8, 9]],
  });
  const opts = { source: "de", target: "en", batchSize: 2, key: key(1) };
  const host = hostTranslationBatches(t, opts);
  const bs = translationBatches(t, opts);
  for (const [i, b] of bs.entries()) {
    const h = host[i]!;
    assertEquals(b.src.shape, h.source.shape);
    assertEquals([...(await b.src.data())], [...h.source.ids]);
    assertEquals([...(await b.srcMask.data())], [...h.source.mask]);
    assertEquals([...(await b.srcLengths.data())], [...h.source.lengths]);
    assertEquals([...(await b.tgtIn.data())], [...h.targetIn.ids]);
    assertEquals([...(await b.tgtOut.data())], [...h.targetOut.ids]);
    assertEquals([...(await b.tgtMask.data())], [...h.targetOut.mask]);
    assertEquals([...(await b.tgtLengths.data())], [...h.targetOut.lengths]);
    assertEquals(b.tgtIn.dtype, "int32");
  }
});
