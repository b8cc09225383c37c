// Custom rules with vmap between them and the derivative: grad(vmap(g)) and
// jvp(vmap(g)) for a customVjp or customJvp function g must use g's rule
// per example, as vmap(grad(g)) does, also for arguments shared by the
// batch (their cotangents sum over it) and under nested vmap.
//
// Needs the hook in ops/transforms/custom.ts that calls
// batchedCustomJvp/batchedCustomVjp (ops/transforms/_vmap_custom.ts).

import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { vmap } from "../../ops/transforms/vmap.ts";
import { assertAllClose, randomTensor, testEachBackend } from "../_helpers.ts";

const TOL = { rtol: 1e-5, atol: 1e-6 };

// The identity scaled by w, with its input's gradient clipped to ±0.5.
const clipped = h.customVjp(
  (x: Tensor, w: Tensor) => h.mul(x, w),
  (x: Tensor, w: Tensor) => [h.mul(x, w), { x, w }],
  (res: { x: Tensor; w: Tensor }, ct: Tensor) => [
    h.clip(h.mul(ct, res.w), -0.5, 0.5),
    h.mul(ct, res.x),
  ],
);

// 2x with a deliberately wrong tangent (100·dx), so the rule is visible.
const loud = h.customJvp(
  (x: Tensor) => h.mul(x, 2),
  ([x], [dx]) => [h.mul(x!, 2), h.mul(dx!, 100)],
);

testEachBackend(
  "grad(vmap(customVjp)) uses the rule, summing shared cotangents",
  async () => {
    const xs = randomTensor([4, 3], 1), w = h.tensor([3, -3, 0.1]);
    const loss = (x: Tensor, v: Tensor) =>
      h.sum(vmap(clipped, { inAxes: [0, null] })(x, v));
    const [gx, gw] = h.grad(loss, { argnums: [0, 1] })(xs, w);
    const perEx = h.grad((x: Tensor, v: Tensor) => h.sum(clipped(x, v)), {
      argnums: [0, 1],
    });
    const loop = [0, 1, 2, 3].map((i) => perEx(h.take(xs, i), w));
    await assertAllClose(gx, h.stack(loop.map((l) => l[0]), 0), TOL, "x");
    const sumW = loop.map((l) => l[1]).reduce((a, b) => h.add(a, b));
    await assertAllClose(gw, sumW, TOL, "w");
    // Clipped: clip(w, ±0.5) for every example.
    const clip = h.broadcastTo(h.tensor([0.5, -0.5, 0.1]), [4, 3]);
    await assertAllClose(gx, clip, TOL, "clipped");
  },
);

testEachBackend("grad and jvp of vmap(customJvp) use the rule", async () => {
  const xs = randomTensor([2, 3], 2);
  const g = h.grad((x: Tensor) => h.sum(vmap(loud)(x)))(xs);
  await assertAllClose(g, h.mul(h.onesLike(xs), 100), TOL, "grad");
  const [, t] = h.jvp(vmap(loud), [xs], [h.onesLike(xs)]);
  await assertAllClose(t, h.mul(h.onesLike(xs), 100), TOL, "jvp");
  // Nested vmap, batch axis 1 inside.
  const x3 = randomTensor([2, 3, 2], 3);
  const g3 = h.grad((x: Tensor) =>
    h.sum(vmap(vmap(loud, { inAxes: 1 }), { inAxes: 0 })(x))
  )(x3);
  await assertAllClose(g3, h.mul(h.onesLike(x3), 100), TOL, "nested");
});

testEachBackend("vmap(customVjp) alone computes the function", async () => {
  const xs = randomTensor([3, 2], 4), ws = randomTensor([3, 2], 5);
  await assertAllClose(vmap(clipped)(xs, ws), h.mul(xs, ws), TOL);
  await assertAllClose(vmap(loud)(xs), h.mul(xs, 2), TOL);
});
