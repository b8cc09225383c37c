// The user-facing training example runs end to end on a small real CSV.

import { assert } from "@std/assert";
import { main } from "../examples/train_own_csv.ts";

const BANKING =
  new URL("../data/datasets/banking77/train.csv", import.meta.url).pathname;

Deno.test("examples/train_own_csv.ts trains on a user's CSV and classifies a sentence", async () => {
  const lines = (await Deno.readTextFile(BANKING)).split(/\r?\n/);
  const cats = ["card_arrival", "exchange_rate", "top_up_failed"];
  const rows = lines.slice(1).filter((l) =>
    cats.includes(l.slice(l.lastIndexOf(",") + 1))
  ).slice(0, 150);
  const dir = await Deno.makeTempDir({ prefix: "heed_example_" });
  try {
    const path = `${dir}/intents.csv`;
    await Deno.writeTextFile(path, [lines[0], ...rows].join("\n") + "\n");
    const r = await main(path, "what exchange rate do you use?", 4);
    assert(r.testAccuracy > 0.5, `test accuracy ${r.testAccuracy}`);
    assert(cats.includes(r.label), r.label);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
