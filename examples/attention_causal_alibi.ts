/**
 * Causal attention with ALiBi: each head penalises distance linearly, so
 * with equal content scores a query prefers recent tokens, more strongly
 * in the heads with steeper slopes. Run: `deno run examples/attention_causal_alibi.ts`.
 *
 * @module
 */

import {
  alibi,
  alibiSlopes,
  attention,
  causal,
  scaledDot,
} from "@heed/heed/attention";
import { key, normal, zeros } from "@heed/heed/ops";
import { assert, assertAlmostEquals } from "@std/assert";

/** Runs the example, asserting what it shows; `log` prints. */
export async function main(
  log: (line: string) => void = console.log,
): Promise<void> {
  const heads = 4, t = 6, d = 8;
  const attend = attention({
    score: scaledDot(),
    mods: [alibi(heads)],
    masks: [causal()],
  });

  // Equal content scores (all zero): only ALiBi and the mask shape the weights.
  const flat = zeros([1, heads, t, d]); // [B, H, T, d]
  const w = await attend(flat, flat, flat).weights.data(); // [1, H, T, T]
  const at = (h: number, i: number, j: number) => w[(h * t + i) * t + j]!;
  const slopes = alibiSlopes(heads);
  for (let h = 0; h < heads; h++) {
    const last = t - 1;
    // Causal: nothing from the future; each row sums to 1.
    for (let i = 0; i < t; i++) {
      let row = 0;
      for (let j = 0; j < t; j++) {
        if (j > i) assert(at(h, i, j) === 0, "no weight on future keys");
        row += at(h, i, j);
      }
      assertAlmostEquals(row, 1, 1e-5);
    }
    // ALiBi: neighbouring keys differ by a factor exp(slope).
    assertAlmostEquals(
      at(h, last, last) / at(h, last, last - 1),
      Math.exp(slopes[h]!),
      1e-4,
    );
    log(
      `head ${h} (slope ${slopes[h]!.toFixed(4)}): last query → ${
        Array.from({ length: t }, (_, j) => at(h, last, j).toFixed(3)).join(" ")
      }`,
    );
  }

  // With real content the same spec is one call on [B, H, T, d] tensors.
  const x = normal(key(0), [2, heads, t, d]);
  const { output } = attend(x, x, x);
  assert(output.shape.join() === "2,4,6,8");
  log(`output shape: [${output.shape}]`);
}

if (import.meta.main) await main();
