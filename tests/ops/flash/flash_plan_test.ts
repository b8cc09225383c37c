// flashPlan: what becomes a kernel (captured tensors, hoisted gathers,
// partials), why some scores cannot be fused, and the errors for wrong
// shapes, dtypes and options.

import { assert, assertEquals, assertThrows } from "@std/assert";
import * as h from "../../../mod.ts";
import type { FlashPlan, FlashPlanned, Tensor } from "../../../mod.ts";
import { flashKey } from "../../../ops/backends/flash.ts";
import { assertAllClose, randomTensor } from "../../_helpers.ts";
import { composed } from "./_composed.ts";

const TOL = { rtol: 2e-4, atol: 2e-5 };

function kernelOf(p: FlashPlan): FlashPlanned {
  if ("reason" in p) throw new Error(`expected a kernel, got: ${p.reason}`);
  return p;
}

function onCpu(fn: () => Promise<void> | void): () => Promise<void> {
  return () =>
    h.withBackend("cpu", () => {
      q = randomTensor([2, 3, 4], 1);
      k = randomTensor([2, 5, 4], 2);
      v = randomTensor([2, 5, 3], 3);
      return fn();
    });
}

// Made inside each test, on the CPU backend.
let q: Tensor, k: Tensor, v: Tensor;

Deno.test(
  "flashPlan captures closed-over tensors, and new values keep the same kernel",
  onCpu(() => {
    const plan = (b: Tensor) =>
      kernelOf(h.flashPlan(q, k, v, { score: ([r]) => h.add(r!, b) }));
    const p1 = plan(randomTensor([3, 5], 4)),
      p2 = plan(randomTensor([3, 5], 5));
    assertEquals(p1.kernel.captured, [{ shape: [3, 5], dtype: "float32" }]);
    assertEquals(flashKey(p1.kernel), flashKey(p2.kernel));
    assertEquals(p1.operands.length, 4); // q, k, v, the bias
    // ∂s/∂r = 1 and ∂s/∂bias = 1: literal nodes.
    const { nodes, partials } = p1.kernel.score;
    assertEquals(nodes[partials.dots[0]!], {
      kind: "literal",
      value: 1,
      dtype: "float32",
    });
    assertEquals(nodes[partials.captured[0]!]!.kind, "literal");
  }),
);

Deno.test(
  "flashPlan hoists a gather of a relative-position table and differentiates through it",
  onCpu(async () => {
    const table = randomTensor([9], 6);
    const idx = () =>
      h.add(h.sub(h.reshape(h.arange(3), [3, 1]), h.arange(5)), 4); // [3, 5]
    const opts = (t: Tensor) => ({
      score: ([r]: readonly Tensor[]) => h.mul(r!, h.take(t, idx())),
    });
    const p = kernelOf(h.flashPlan(q, k, v, opts(table)));
    assertEquals(p.kernel.captured, [{ shape: [3, 5], dtype: "float32" }]);
    await assertAllClose(
      h.flashAttention(q, k, v, opts(table)),
      composed(q, k, v, opts(table)),
      TOL,
    );
    const loss = (f: typeof composed) => (t: Tensor) =>
      h.sum(h.square(f(q, k, v, opts(t))));
    await assertAllClose(
      h.grad(loss(h.flashAttention))(table),
      h.grad(loss(composed))(table),
      TOL,
    );
  }),
);

Deno.test(
  "a mask becomes bool nodes over captured tensors, without dot nodes",
  onCpu(() => {
    const mask = () =>
      h.greaterEqual(h.reshape(h.arange(3), [3, 1]), h.arange(5));
    const { kernel } = kernelOf(h.flashPlan(q, k, v, { mask }));
    const m = kernel.mask;
    if (!m) throw new Error("expected a mask");
    assertEquals(m.nodes[m.value]!.dtype, "bool");
    assert(m.nodes.every((n) => n.kind !== "dot"));
    assertEquals(kernel.score.partials.captured, [null, null]); // int32 iotas
  }),
);

Deno.test(
  "flashPlan gives a reason naming the primitive for a score that is not elementwise",
  onCpu(() => {
    const p = h.flashPlan(q, k, v, { score: ([r]) => h.softmax(r!) });
    const reason = "reason" in p ? p.reason : "";
    assert(reason.includes("reduce_max"), reason);
    const p2 = h.flashPlan(q, k, v, {
      score: ([r]) => h.sum(r!, { axis: -1, keepdims: true }),
    });
    assert("reason" in p2 && p2.reason.includes("reduce_sum"));
    assertThrows(
      () => h.flashAttention(q, k, v, { score: ([r]) => h.softmax(r!) }),
      TypeError,
      "reduce_max",
    );
  }),
);

Deno.test(
  "flashPlan rejects wrong shapes, dtypes and options with a TypeError",
  onCpu(() => {
    assertThrows(() => h.flashPlan(q, v, v), TypeError, "do not fit");
    assertThrows(
      () => h.flashPlan(h.cast(q, "int32"), k, v),
      TypeError,
      "float32",
    );
    assertThrows(
      () => h.flashPlan(q, k, v, { mask: () => h.ones([3, 5]) }),
      TypeError,
      "bool",
    );
    assertThrows(
      () => h.flashPlan(q, k, v, { score: ([r]) => h.cast(r!, "int32") }),
      TypeError,
      "float32",
    );
    assertThrows(
      () =>
        h.flashPlan(q, k, v, { mask: () => h.ones([4, 5], { dtype: "bool" }) }),
      TypeError,
      "broadcasting",
    );
    assertThrows(
      // deno-lint-ignore no-explicit-any
      () => h.flashPlan(q, k, v, { scale: 2 } as any),
      TypeError,
      "scale",
    );
  }),
);

Deno.test(
  "second-order derivatives and gradients of the weights are clear errors",
  onCpu(() => {
    assertThrows(
      () =>
        h.grad((x: Tensor) =>
          h.sum(h.grad((y: Tensor) => h.sum(h.flashAttention(y, k, v)))(x))
        )(q),
      TypeError,
      "second-order derivatives are not fused",
    );
    assertThrows(
      () => h.grad((x: Tensor) => h.sum(h.flashWeights(x, k, v)))(q),
      TypeError,
      "not differentiable",
    );
  }),
);

Deno.test(
  "a captured tensor read through two patterns is two captured inputs, and its gradient sums both",
  onCpu(async () => {
    const qs = randomTensor([2, 4, 3], 7), ks = randomTensor([2, 4, 3], 8);
    const b = randomTensor([4, 4], 9);
    const opts = (b: Tensor) => ({
      score: ([r]: readonly Tensor[]) =>
        h.add(h.mul(r!, b), h.transpose(b, [1, 0])),
    });
    const { kernel, operands } = kernelOf(h.flashPlan(qs, ks, ks, opts(b)));
    assertEquals(kernel.captured.length, 2);
    assert(operands[3] === operands[4]); // the same tensor, two read patterns
    const loss = (f: typeof composed) => (b: Tensor) =>
      h.sum(h.square(f(qs, ks, ks, opts(b))));
    await assertAllClose(
      h.grad(loss(h.flashAttention))(b),
      h.grad(loss(composed))(b),
      TOL,
    );
  }),
);

Deno.test(
  "a reshape that reorders a transposed captured tensor is read correctly",
  onCpu(async () => {
    const qs = randomTensor([2, 3], 10), ks = randomTensor([3, 3], 11);
    const b = randomTensor([2, 3], 12);
    // transpose → [3, 2] (strides [1, 3]), reshape → [2, 3]: not a stride view.
    const opts = {
      score: ([r]: readonly Tensor[]) =>
        h.add(r!, h.reshape(h.transpose(b, [1, 0]), [2, 3])),
    };
    await assertAllClose(
      h.flashAttention(qs, ks, ks, opts),
      composed(qs, ks, ks, opts),
      TOL,
    );
  }),
);
