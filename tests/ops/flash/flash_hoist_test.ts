// Regression: a hoisted gather followed by a reshape that drops the
// gather's extra leading unit axis (rank above the grid's) was refused
// ("does not broadcast to the scores' shape").

import { assertAlmostEquals, assertEquals } from "@std/assert";
import {
  add,
  flashAttention,
  key,
  matmul,
  normal,
  reshape,
  softmax,
  take,
  tensor,
  transpose,
} from "../../../mod.ts";

Deno.test("flashAttention: a reshaped hoisted gather of rank above the grid's is read at the grid index", async () => {
  const q = normal(key(1), [1, 1, 3, 4]);
  const k = normal(key(2), [1, 1, 2, 4]);
  const v = normal(key(3), [1, 1, 2, 4]);
  const table = tensor([[0.5, -1, 2, 0.25, 3, -2, 1, 0]]); // [1, 8]
  const idx = tensor([[[[0, 2], [1, 3], [4, 5]]]], { dtype: "int32" }); // [1,1,3,2]
  // take along axis 1 gives [1, 1, 1, 3, 2]: one leading unit axis more than the grid.
  const bias = () => reshape(take(table, idx, 1), [1, 1, 3, 2]);
  const got = flashAttention(q, k, v, { score: ([r]) => add(r!, bias()) });
  const scores = add(matmul(q, transpose(k, [0, 1, 3, 2])), bias());
  const want = matmul(softmax(scores, { axis: -1 }), v);
  assertEquals(got.shape, [1, 1, 3, 4]);
  const g = await got.data(), w = await want.data();
  w.forEach((x, i) => assertAlmostEquals(g[i]!, x, 1e-5));
});
