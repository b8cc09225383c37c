// Matmul epilogues: a float32 dot_general whose product one elementwise
// kernel alone reads becomes one dot kernel (bias, activation, residual add
// applied before the product is stored). jit equals eager: bit for bit on
// the CPU (which runs the kernel's equations in order), within float32
// tolerance on wasm and WebGPU.

import { assert, assertEquals } from "@std/assert";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import type { FusedDot } from "../../../ops/backends/fused.ts";
import { runFusedReference } from "../../../ops/backends/fused_reference.ts";
import { fuseProgram } from "../../../ops/jit/passes/fuse.ts";
import type { KernelStep, Plan } from "../../../ops/jit/plan.ts";
import { printPlan } from "../../../ops/jit/print.ts";
import {
  assertAllClose,
  randomTensor,
  testEachBackend,
} from "../../_helpers.ts";
import { checkPlan } from "./_plan_check.ts";
import { testBackend } from "./_fused_backend.ts";

const ROWS = [0.5, -1, 2, 0.25, -0.75, 1.5, 3, -2, 1, 0.125, -0.5, 0.75];

// deno-lint-ignore no-explicit-any
type Fn = (...a: any[]) => Tensor;

function planOf(f: Fn, ...args: Tensor[]): Plan {
  const { program } = h.makeProgram(f)(...args);
  const plan = fuseProgram(h.optimizeProgram(program));
  checkPlan(plan);
  return plan;
}

/** The dot kernels of a plan. */
function dots(plan: Plan): FusedDot[] {
  return plan.steps.flatMap((s) =>
    s.kind === "kernel" && s.kernel.kind === "dot" ? [s.kernel] : []
  );
}

/** jit(f) against f: equal on the CPU, within float32 tolerance elsewhere. */
async function agrees(f: Fn, ...args: Tensor[]): Promise<void> {
  const want = await f(...args).array();
  const got = await h.jit(f)(...args).array();
  if (h.getBackend().name === "cpu") assertEquals(got, want);
  else await assertAllClose(got, want, { rtol: 1e-5, atol: 1e-5 });
}

const x = () => randomTensor([6, 5], 1); // [M, K]
const w = () => randomTensor([5, 4], 2); // [K, N]
const b = () => randomTensor([4], 3); // [N]

const bias = (x: Tensor, w: Tensor, b: Tensor) => h.add(h.matmul(x, w), b);
const gelu = (x: Tensor, w: Tensor, b: Tensor) => h.gelu(bias(x, w, b));
const relu = (x: Tensor, w: Tensor, b: Tensor) => h.relu(bias(x, w, b));
// A Transformer block's tail: h + (x @ W2 + b2), scaled, cast round trip.
const residual = (x: Tensor, w: Tensor, r: Tensor) =>
  h.mul(h.add(r, h.matmul(x, w)), 0.5);

testEachBackend(
  "jit of a matmul with a bias, gelu or relu equals eager",
  async () => {
    await agrees(bias, x(), w(), b());
    await agrees(gelu, x(), w(), b());
    await agrees(relu, x(), w(), b());
    await agrees((x, w, b) => h.tanh(bias(x, w, b)), x(), w(), b());
  },
);

testEachBackend(
  "jit of a residual add after a matmul equals eager",
  async () => {
    await agrees(residual, x(), w(), randomTensor([6, 4], 4));
    // The residual is the left operand itself: x + x @ W.
    await agrees(
      (x: Tensor, w: Tensor) => h.add(x, h.matmul(x, w)),
      randomTensor([3, 5], 5),
      randomTensor([5, 5], 6),
    );
  },
);

testEachBackend(
  "jit of batched and transposed matmuls with epilogues equals eager",
  async () => {
    const xb = randomTensor([2, 3, 5], 7), wb = randomTensor([2, 5, 4], 8);
    await agrees((x, w, b) => h.relu(h.add(h.matmul(x, w), b)), xb, wb, b());
    // x @ Wᵀ with W stored [N, K]: the transpose folds into the dot.
    await agrees(
      (x, w, b) => h.gelu(h.add(h.matmul(x, h.transpose(w)), b)),
      x(),
      randomTensor([4, 5], 9),
      b(),
    );
    // xᵀ @ W.
    await agrees(
      (x, w) => h.tanh(h.matmul(h.transpose(x), w)),
      randomTensor([5, 6], 10),
      w(),
    );
  },
);

testEachBackend(
  "jit of a matmul with broadcast biases equals eager",
  async () => {
    await agrees(bias, x(), w(), randomTensor([1, 4], 11)); // [1, N]
    await agrees(bias, x(), w(), randomTensor([6, 1], 12)); // [M, 1]
    await agrees(bias, x(), w(), randomTensor([], 13)); // a scalar
    const xb = randomTensor([2, 3, 5], 14), wb = randomTensor([2, 5, 4], 15);
    await agrees(bias, xb, wb, randomTensor([2, 1, 4], 16)); // per batch
  },
);

testEachBackend(
  "jit of a matmul whose product is also returned equals eager",
  async () => {
    const f = (x: Tensor, w: Tensor, b: Tensor) => {
      const y = h.matmul(x, w);
      return h.concat([y, h.relu(h.add(y, b))], 0);
    };
    await agrees(f, x(), w(), b());
  },
);

testEachBackend(
  "jit(grad) through a matmul epilogue equals eager grad",
  async () => {
    const loss = (w: Tensor, x: Tensor, b: Tensor) => h.sum(gelu(x, w, b));
    const g = h.grad(loss);
    const want = await g(w(), x(), b()).array();
    const got = await h.jit(g)(w(), x(), b()).array();
    if (h.getBackend().name === "cpu") assertEquals(got, want);
    else await assertAllClose(got, want, { rtol: 1e-5, atol: 1e-5 });
  },
);

Deno.test("the plan of gelu(x @ W + b) is one dot kernel", () => {
  const plan = planOf(gelu, x(), w(), b());
  assertEquals(plan.steps.length, 1);
  const k = (plan.steps[0] as KernelStep).kernel as FusedDot;
  assertEquals(k.kind, "dot");
  assertEquals([k.lhsShape, k.rhsShape, k.shape], [[6, 5], [5, 4], [6, 4]]);
  assert(k.nodes.some((n) => n.kind === "reduced"));
  assert(
    /fused_dot\[\[6,5\]·\[5,4\] contract=\[1\]\/\[0\] .* tanh/.test(
      printPlan(plan),
    ),
    printPlan(plan),
  );
});

Deno.test("an MLP's hidden layer takes its epilogue; logits read twice do not", () => {
  // log_softmax(relu(x @ W1 + b1) @ W2 + b2): the logits' product feeds the
  // row max/sum kernel and the output kernel, so it is stored.
  const f = (x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) =>
    h.logSoftmax(h.add(h.matmul(h.relu(bias(x, w1, b1)), w2), b2));
  const plan = planOf(
    f,
    randomTensor([8, 6], 1),
    randomTensor([6, 5], 2),
    randomTensor([5], 3),
    randomTensor([5, 3], 4),
    randomTensor([3], 5),
  );
  const [k, ...more] = dots(plan);
  assertEquals([k?.lhsShape, more.length], [[8, 6], 0], printPlan(plan));
  assertEquals(plan.steps.length, 4, printPlan(plan));
});

Deno.test("a matmul's product read by two kernels stays a plain equation", () => {
  // y feeds a reduce (the max) and an elementwise kernel: stored once.
  const f = (x: Tensor, w: Tensor) => {
    const y = h.matmul(x, w);
    return h.sub(h.exp(y), h.max(y, { axis: -1, keepdims: true }));
  };
  const plan = planOf(f, x(), w());
  assertEquals(dots(plan).length, 0, printPlan(plan));
  assert(
    plan.steps.some((s) => s.kind === "eqn" && s.eqn.prim === "dot_general"),
  );
});

Deno.test("a matmul read through its transpose swaps its operands", () => {
  const t = (x: Tensor, w: Tensor) => h.exp(h.transpose(h.matmul(x, w)));
  const [k, ...more] = dots(planOf(t, x(), w()));
  assertEquals(more.length, 0);
  // (x·w)ᵀ = wᵀ·xᵀ: w [5,4] then x [6,5], contracting w's 0 and x's 1.
  assertEquals([k!.lhsShape, k!.rhsShape, k!.shape], [[5, 4], [6, 5], [4, 6]]);
  assertEquals([k!.dims.lhsContract, k!.dims.rhsContract], [[0], [1]]);
  // Batched: the free axes swap, the batch axis stays first.
  const bt = (x: Tensor, w: Tensor) =>
    h.tanh(h.transpose(h.matmul(x, w), [0, 2, 1]));
  const xb = randomTensor([2, 3, 5], 1), wb = randomTensor([2, 5, 4], 2);
  assertEquals(dots(planOf(bt, xb, wb)).length, 1);
});

Deno.test("a matmul read under a broadcast or another permutation is not fused", () => {
  // [6, 1] read across 4 columns: each product element read 4 times.
  const bc = (x: Tensor, w: Tensor) =>
    h.exp(h.broadcastTo(h.matmul(x, w), [6, 4]));
  assertEquals(dots(planOf(bc, x(), randomTensor([5, 1], 2))).length, 0);
  // The batch axis moved: no operand order computes it.
  const bt = (x: Tensor, w: Tensor) =>
    h.tanh(h.transpose(h.matmul(x, w), [1, 0, 2]));
  const xb = randomTensor([2, 3, 5], 1), wb = randomTensor([2, 5, 4], 2);
  assertEquals(dots(planOf(bt, xb, wb)).length, 0);
});

testEachBackend(
  "jit of transposed matmul products with epilogues equals eager",
  async () => {
    // An SGD update of a weight stored [K, N] from its gradient dot(g, x)
    // contracted over the batch, which comes out [N, K].
    const sgd = (w: Tensor, g: Tensor, x: Tensor) =>
      h.sub(w, h.mul(h.transpose(h.matmul(h.transpose(g), x)), 0.1));
    const args = [randomTensor([5, 4], 1), randomTensor([6, 4], 2), x()];
    assertEquals(dots(planOf(sgd, ...args)).length, 1);
    await agrees(sgd, ...args);
    await agrees(
      (x: Tensor, w: Tensor) => h.tanh(h.transpose(h.matmul(x, w), [0, 2, 1])),
      randomTensor([2, 3, 5], 3),
      randomTensor([2, 5, 4], 4),
    );
  },
);

Deno.test("integer matmuls are left alone", async () => {
  const xi = h.tensor([[1, 2], [3, 4]], { dtype: "int32" });
  const wi = h.tensor([[5, 6], [7, 8]], { dtype: "int32" });
  const bi = h.tensor([1, -1], { dtype: "int32" });
  const f = (x: Tensor, w: Tensor, b: Tensor) => h.add(h.matmul(x, w), b);
  const plan = planOf(f, xi, wi, bi);
  assertEquals(dots(plan).length, 0);
  assertEquals(await h.jit(f)(xi, wi, bi).array(), [[20, 21], [44, 49]]);
});

Deno.test("fuseProgram({ epilogues: false }) keeps the matmul a plain equation", () => {
  const { program } = h.makeProgram(gelu)(x(), w(), b());
  const plan = fuseProgram(h.optimizeProgram(program), { epilogues: false });
  checkPlan(plan);
  assertEquals(dots(plan).length, 0);
  assertEquals(plan.steps.length, 2);
});

Deno.test("a dot kernel's reference meaning is its equations in order", async () => {
  const args = [x(), w(), randomTensor([1, 4], 17)];
  const plan = planOf(gelu, ...args);
  const step = plan.steps[0] as KernelStep;
  const byVar = new Map(plan.program.inputs.map((v, i) => [v, args[i]!]));
  const host = await Promise.all(
    step.inputs.map(async (v) =>
      new Float32Array((await byVar.get(v)!.data()) as Float32Array)
    ),
  );
  const [got] = runFusedReference(step.kernel, host);
  const want = await gelu(args[0]!, args[1]!, args[2]!).data();
  await assertAllClose(Array.from(got!), Array.from(want), {
    rtol: 1e-6,
    atol: 1e-6,
  });
});

Deno.test("a backend with runFused gets one dot kernel per epilogue", async () => {
  for (const fused of [true, false]) {
    const tb = testBackend(fused);
    const args: [Tensor, Tensor, Tensor] = [
      tb.tensor(ROWS.slice(0, 12), [3, 4]),
      tb.tensor(ROWS.slice(0, 8), [4, 2]),
      tb.tensor([0.5, -0.25], [2]),
    ];
    const f = h.jit(gelu);
    const l = f.lower(...args);
    // One kernel on a fused backend; equation by equation elsewhere.
    assertEquals(l.kernels, fused ? 1 : 2, l.text);
    tb.counts.fused = tb.counts.runs = 0;
    const got = f(...args);
    assertEquals([tb.counts.fused, tb.counts.runs > 0], [
      fused ? 1 : 0,
      !fused,
    ]);
    const want = gelu(args[0]!, args[1]!, args[2]!);
    if (fused) {
      await assertAllClose(got, want, { rtol: 1e-6, atol: 1e-6 });
    } else assertEquals(await got.data(), await want.data());
  }
});

testEachBackend("a sum of two matmuls fuses one of them", async () => {
  // Both products are read only by the add: one kernel takes one product.
  const f = (x: Tensor, w: Tensor, y: Tensor, v: Tensor) =>
    h.relu(h.add(h.matmul(x, w), h.matmul(y, v)));
  const args = [x(), w(), randomTensor([6, 3], 20), randomTensor([3, 4], 21)];
  assertEquals(dots(planOf(f, ...args)).length, 1);
  await agrees(f, ...args);
});

testEachBackend(
  "a matmul read through a reshape takes its epilogue",
  async () => {
    // [B·T, D] @ W read back as [B, T, F], as the models' linear layers do.
    const f = (x: Tensor, w: Tensor, b: Tensor) =>
      h.gelu(h.add(h.reshape(h.matmul(h.reshape(x, [6, 5]), w), [2, 3, 4]), b));
    const args = [randomTensor([2, 3, 5], 30), w(), b()];
    const [k, ...more] = dots(planOf(f, ...args));
    assertEquals([k?.shape, more.length], [[2, 3, 4], 0]);
    await agrees(f, ...args);
  },
);
