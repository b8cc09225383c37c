// The user-facing training example runs end to end on a small real CSV.

import { assert, assertEquals } from "@std/assert";
import { main } from "../examples/train_own_csv.ts";

const BANKING =
  new URL("../data/datasets/banking77/train.csv", import.meta.url).pathname;

Deno.test("examples/train_own_csv.ts trains on a user's CSV and classifies a sentence", async () => {
  const lines = (await Deno.readTextFile(BANKING)).split(/\r?\n/);
  const cats = ["card_arrival", "exchange_rate", "top_up_failed"];
  // 50 rows of each intent (the file is sorted by intent: the first 150
  // matching rows would all be one class, which any model gets right)
  const rows = cats.flatMap((c) =>
    lines.slice(1).filter((l) => l.slice(l.lastIndexOf(",") + 1) === c)
      .slice(0, 50)
  );
  const dir = await Deno.makeTempDir({ prefix: "heed_example_" });
  try {
    const path = `${dir}/intents.csv`;
    await Deno.writeTextFile(path, [lines[0], ...rows].join("\n") + "\n");
    const r = await main(path, "what exchange rate do you use?", 4);
    assert(r.testAccuracy > 0.5, `test accuracy ${r.testAccuracy}`);
    assertEquals(r.label, "exchange_rate");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
