/**
 * A sliding window over a padded batch: each token sees the two tokens
 * before it and itself, and never a padding token. Per-call data (the
 * lengths) travels in the options, so one spec serves every batch.
 * Run: `deno run examples/attention_window_padding.ts`.
 *
 * @module
 */

import {
  attention,
  padding,
  scaledDot,
  slidingWindow,
} from "@heed/heed/attention";
import { key, normal } from "@heed/heed/ops";
import { assert, assertEquals } from "@std/assert";

/** Runs the example, asserting what it shows; `log` prints. */
export async function main(
  log: (line: string) => void = console.log,
): Promise<void> {
  const t = 6, lengths = [6, 3]; // example 1 has 3 real tokens, then padding
  const attend = attention({
    score: scaledDot(),
    masks: [slidingWindow(2, 0), padding()],
  });
  const x = normal(key(1), [2, 1, t, 4]); // [B, H, T, d]
  const { weights } = attend(x, x, x, { lengths });
  const w = await weights.data(); // [2, 1, T, T]

  for (let b = 0; b < 2; b++) {
    log(`example ${b} (length ${lengths[b]}):`);
    for (let i = 0; i < t; i++) {
      const row = Array.from({ length: t }, (_, j) => w[(b * t + i) * t + j]!);
      for (let j = 0; j < t; j++) {
        const visible = j <= i && i - j <= 2 && j < lengths[b]!;
        assertEquals(
          row[j]! > 0,
          visible,
          `example ${b}, query ${i}, key ${j}`,
        );
      }
      log("  " + row.map((v) => (v > 0 ? "■" : "·")).join(" "));
    }
  }
  // Queries on padding still see the real tokens of their window (if any):
  // query 5 of example 1 sees keys 3..5, all padding, so its row is zero.
  assert(
    Array.from({ length: t }, (_, j) => w[(t + 5) * t + j]!).every((v) =>
      v === 0
    ),
  );
}

if (import.meta.main) await main();
