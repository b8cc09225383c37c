import { assert, assertEquals, assertRejects } from "@std/assert";
import { key } from "../../ops/random_key.ts";
import { DataError, DATASETS, loadDataset } from "../../data/mod.ts";

const MULTI30K = "/work/shared/data/multi30k";

Deno.test("loadDataset('banking77') gives the official splits with encoded labels", async () => {
  const { train, test, labels } = await loadDataset("banking77");
  assertEquals([train.numRows(), test.numRows(), labels.size], [
    10003,
    3080,
    77,
  ]);
  assertEquals(train.columnNames(), ["text", "category", "label"]);
  const cats = train.array("category") as string[];
  const ids = train.array("label") as number[];
  assert(cats.every((c, i) => labels.decode(ids[i]!) === c));
  assertEquals(new Set(test.array("label")).size, 77);
});

Deno.test("loadDataset('tatoeba') skips the spurious header and splits grouped by English", async () => {
  const a = await loadDataset("tatoeba");
  const { train, valid, test } = a;
  assertEquals(train.numRows() + valid.numRows() + test.numRows(), 50001);
  assertEquals(train.columnNames(), ["en", "de"]);
  assert(!(train.array("en") as string[]).includes("1"));
  const trainEn = new Set(train.array("en") as string[]);
  for (const part of [valid, test]) {
    assert(
      (part.array("en") as string[]).every((en) => !trainEn.has(en)),
      "an English sentence leaks",
    );
  }
  const validEn = new Set(valid.array("en") as string[]);
  assert((test.array("en") as string[]).every((en) => !validEn.has(en)));
  assert(Math.abs(test.numRows() / 50001 - 0.05) < 0.01);
  const b = await loadDataset("tatoeba");
  assertEquals(b.test.objects(), test.objects());
  const c = await loadDataset("tatoeba", { key: key(1) });
  assert(JSON.stringify(c.test.objects()) !== JSON.stringify(test.objects()));
});

Deno.test("loadDataset('multi30k') needs a path and reads the official splits from it", async () => {
  await assertRejects(() => loadDataset("multi30k"), DataError, "not bundled");
  assertEquals(DATASETS.multi30k.bundled, false);
  try {
    await Deno.stat(MULTI30K);
  } catch {
    console.log(`skipped: ${MULTI30K} is absent`);
    return;
  }
  const { train, valid, test } = await loadDataset("multi30k", {
    path: MULTI30K,
  });
  assertEquals([train.numRows(), valid.numRows(), test.numRows()], [
    29000,
    1014,
    1000,
  ]);
  assertEquals(train.columnNames(), ["de", "en"]);
  await assertRejects(
    () => loadDataset("multi30k", { path: "/nonexistent" }),
    DataError,
    "file not found",
  );
});

Deno.test("loadDataset() rejects an unknown name", async () => {
  await assertRejects(
    () => loadDataset("imdb" as never),
    RangeError,
    "unknown data set",
  );
});
