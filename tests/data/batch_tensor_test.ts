import * as aq from "arquero";
import { assertEquals, assertThrows } from "@std/assert";
import { key } from "../../ops/random_key.ts";
import {
  batches,
  hostBatches,
  hostTranslationBatches,
  translationBatches,
} from "../../data/mod.ts";

Deno.test("batches() returns int32 ids, a bool mask and int32 lengths that hold the host batches", async () => {
  const t = aq.table({ ids: [[5, 6, 7], [8], [9, 10], [11]] });
  const opts = { batchSize: 2, key: key(4) };
  const host = hostBatches(t, "ids", opts);
  const bs = batches(t, "ids", opts);
  assertEquals(bs.length, host.length);
  for (const [i, b] of bs.entries()) {
    const h = host[i]!;
    // The mask is bool, as attention's keyMask takes it (issue 12 section 5).
    assertEquals([b.ids.dtype, b.mask.dtype, b.lengths.dtype], [
      "int32",
      "bool",
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

Deno.test("translationBatches() returns aligned int32 ids and bool masks", async () => {
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
    assertEquals([b.srcMask.dtype, b.tgtMask.dtype], ["bool", "bool"]);
  }
});

Deno.test("batches() with labels carries each row's int32 class id in batch order", async () => {
  const t = aq.table({
    ids: [[5, 6, 7], [8], [9, 10], [11], [12, 13]],
    label: [4, 0, 2, 1, 3],
  });
  const opts = { batchSize: 2, key: key(7), labels: "label" };
  const host = hostBatches(t, "ids", opts);
  const bs = batches(t, "ids", opts);
  assertEquals(bs.length, host.length);
  for (const [i, b] of bs.entries()) {
    assertEquals(
      [...host[i]!.labels],
      [...b.rows].map((r) => [4, 0, 2, 1, 3][r]),
    );
    assertEquals(b.labels.dtype, "int32");
    assertEquals(b.labels.shape, [b.ids.shape[0]]);
    assertEquals([...(await b.labels.data())], [...host[i]!.labels]);
  }
  assertEquals(
    Object.hasOwn(batches(t, "ids")[0]!, "labels"),
    false,
  );
});

Deno.test("batches() names a label column that is missing or holds no class ids", () => {
  const t = aq.table({ ids: [[5], [6]], label: [1, -1], name: ["a", "b"] });
  assertThrows(
    () => batches(t, "ids", { labels: "y" }),
    TypeError,
    'hostBatches: no column "y" (the table has: ids, label, name)',
  );
  assertThrows(
    () => batches(t, "ids", { labels: "label" }),
    RangeError,
    'label column "label" row 1 holds -1, expected a non-negative int32 class id',
  );
  assertThrows(
    () => batches(t, "ids", { labels: "name" }),
    TypeError,
    "row 0 is string, expected an integer class id (encode class names with encodeLabels)",
  );
});
