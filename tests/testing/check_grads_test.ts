// checkGrads: it passes correct derivatives in both modes, and it catches a
// wrong forward rule, a wrong reverse rule, and names the worst entry.

import { assert, assertRejects } from "@std/assert";
import {
  customJvp,
  customVjp,
  exp,
  matmul,
  mul,
  sin,
  softmax,
  sum,
  tanh,
  type Tensor,
  tensor,
} from "../../ops/mod.ts";
import { checkGrads } from "../../testing/mod.ts";
import { testEachBackend } from "../_helpers.ts";

testEachBackend(
  "checkGrads() passes correct derivatives of a matrix function",
  async () => {
    const f = (w: Tensor, x: Tensor) => softmax(tanh(matmul(x, w)));
    await checkGrads(f, [
      tensor([[0.3, -0.2], [0.5, 0.1], [-0.4, 0.2]]),
      tensor([[1, -1, 0.5], [0.2, 0.3, -0.7]]),
    ]);
  },
);

Deno.test("checkGrads() differentiates pytree arguments and holds other leaves fixed", async () => {
  const f = (p: { w: Tensor; scale: number; name: string }, ids: Tensor) =>
    mul(sum(mul(p.w, p.scale)), sum(ids));
  await checkGrads(f, [
    { w: tensor([0.5, -1]), scale: 3, name: "fixed" },
    tensor([1, 2], { dtype: "int32" }),
  ]);
});

Deno.test("checkGrads() catches a wrong forward rule and names the entry", async () => {
  // d sin = cos, not sin.
  const bad = customJvp(
    (x: Tensor) => sin(x),
    ([x], [dx]) => [sin(x!), mul(dx!, sin(x!))],
  );
  const e = await assertRejects(() =>
    checkGrads((p: { w: Tensor }) => bad(p.w), [{ w: tensor([0.1, 1.2]) }])
  );
  assert(e instanceof Error);
  assert(e.message.includes("forward mode (jvp) disagrees"), e.message);
  // The worst entry: the diagonal element where |sin − cos| is largest, x = 0.1.
  assert(e.message.includes("∂out[0] / ∂args[0].w[0]"), e.message);
});

Deno.test("checkGrads() catches a wrong reverse rule", async () => {
  // The gradient of exp is exp, not 1.
  const bad = customVjp(
    (x: Tensor) => exp(x),
    (x: Tensor) => [exp(x), x],
    (_x: Tensor, ct: Tensor) => [ct],
  );
  await assertRejects(
    () => checkGrads(bad, [tensor([0.5, -0.5])], { modes: ["rev"] }),
    Error,
    "reverse mode (vjp) disagrees",
  );
});

Deno.test("checkGrads() passes a correct custom reverse rule in reverse mode only", async () => {
  const good = customVjp(
    (x: Tensor) => exp(x),
    (x: Tensor) => [exp(x), exp(x)],
    (ex: Tensor, ct: Tensor) => [mul(ct, ex)],
  );
  await checkGrads(good, [tensor([0.5, -0.5])], { modes: ["rev"] });
});

Deno.test("checkGrads() rejects arguments without a float tensor", async () => {
  await assertRejects(
    () => checkGrads((n: number) => tensor(n), [3]),
    TypeError,
    "no float32 tensor",
  );
});
