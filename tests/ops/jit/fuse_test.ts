// The fusion pass on small programs: which groups form (softmax, layer
// norm, cross-entropy), what is read through as a strided load, and the
// legality rules (values used outside a group are its outputs; no cycle
// through a plain equation; no costly work copied).

import { assert, assertEquals, assertThrows } from "@std/assert";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import {
  type FusedKernel,
  type FusedLoad,
  reductionsOf,
} from "../../../ops/backends/fused.ts";
import { fuseProgram } from "../../../ops/jit/passes/fuse.ts";
import { orderSteps, peakBytes } from "../../../ops/jit/passes/_order.ts";
import type { KernelStep, Plan, Step } from "../../../ops/jit/plan.ts";
import { printPlan } from "../../../ops/jit/print.ts";
import { assertAllClose, randomTensor } from "../../_helpers.ts";
import { checkPlan } from "./_plan_check.ts";

// deno-lint-ignore no-explicit-any
function planOf(f: (...a: any[]) => unknown, ...args: unknown[]): Plan {
  const { program } = h.makeProgram(f)(...args);
  const plan = fuseProgram(h.optimizeProgram(program));
  checkPlan(plan);
  return plan;
}

/** `reduce_max` for a plain equation, `sum(exp sub)` for kernels. */
function describe(s: Step): string {
  if (s.kind === "eqn") return s.eqn.prim;
  const ops = s.kernel.nodes.flatMap((n) => n.kind === "op" ? [n.prim] : []);
  const what = s.kernel.kind === "reduce"
    ? reductionsOf(s.kernel).map((r) => r.op).join("_")
    : s.kernel.kind === "dot"
    ? "dot"
    : "map";
  return `${what}(${ops.join(" ")})`;
}

function kernels(plan: Plan): KernelStep[] {
  return plan.steps.filter((s): s is KernelStep => s.kind === "kernel");
}

function loads(k: FusedKernel): FusedLoad[] {
  return k.nodes.filter((n): n is FusedLoad => n.kind === "load");
}

const x45 = randomTensor([4, 5], 1);

Deno.test("fuseProgram() makes softmax one kernel of a max and a sum over its exp, and a divide", () => {
  const plan = planOf((x: Tensor) => h.softmax(x), x45);
  assertEquals(plan.steps.map(describe), [
    "max_sum(eq select sub exp)",
    "map(eq select sub exp div)",
  ], printPlan(plan));
  const [red, div] = kernels(plan) as [KernelStep, KernelStep];
  const k = red.kernel;
  if (k.kind !== "reduce") throw new Error("softmax: no reduce kernel");
  assertEquals([k.axes, k.shape], [[1], [4, 5]]);
  // The sum reads the maximum of its own row: a reduced node.
  assertEquals(
    k.nodes.flatMap((n) => n.kind === "reduced" ? [n.index] : []),
    [0],
  );
  assertEquals(red.outputs.length, 2);
  assertEquals(div.kernel.shape, [4, 5]);
  // The row maximum is read broadcast along the row: stride 0 on axis 1.
  const mIn = div.inputs.indexOf(red.outputs[0]!);
  assertEquals(
    loads(div.kernel).find((l) => l.input === mIn)?.strides,
    [1, 0],
  );
});

Deno.test("fuseProgram() makes layer norm one kernel of two sums with rsqrt as epilogue, and a map", () => {
  const plan = planOf((x: Tensor) => h.layerNorm(x), x45);
  assertEquals(plan.steps.map(describe), [
    "sum_sum(div sub mul div add rsqrt)",
    "map(div sub mul)",
  ], printPlan(plan));
  const [red] = kernels(plan);
  const k = red!.kernel;
  if (k.kind !== "reduce") throw new Error("layer norm: no reduce kernel");
  assertEquals(k.epilogue?.map((e) => e.shape), [[4, 1]]);
  assertEquals(
    red!.outputs.map((v) => v.aval.shape),
    [[4], [4], [4, 1]],
  );
});

Deno.test("fuseProgram() makes cross-entropy two reduce kernels", () => {
  const labels = h.tensor([0, 4, 2, 1], { dtype: "int32" });
  const plan = planOf((z: Tensor) => h.crossEntropy(z, labels), x45);
  const eager = h.makeProgram((z: Tensor) => h.crossEntropy(z, labels))(x45)
    .program.eqns.length;
  assertEquals(plan.steps.length, 2, printPlan(plan));
  assert(eager >= 20, `eager runs ${eager} kernels`);
  // Every elementwise equation runs inside a kernel.
  assertEquals(plan.steps.filter((s) => s.kind === "eqn").length, 0);
  assertEquals(plan.steps.map(describe).map((d) => d.split("(")[0]), [
    "max_sum_sum",
    "sum",
  ]);
});

Deno.test("a value used outside its group is one of the group's outputs", () => {
  const w = randomTensor([5, 3], 2);
  const plan = planOf((x: Tensor) => {
    const a = h.exp(x);
    return [h.add(a, 1), h.matmul(a, w)];
  }, x45);
  assertEquals(plan.steps.map(describe), ["map(exp add)", "dot_general"]);
  const [k] = kernels(plan) as [KernelStep];
  assertEquals(k.outputs.length, 2);
  const dot = plan.steps[1]!;
  assert(dot.kind === "eqn" && dot.eqn.inputs[0] === k.outputs[0]);
  assertEquals(k.kernel.kind === "elementwise" && k.kernel.outputs.length, 2);
});

Deno.test("a group never both feeds and reads one plain equation", () => {
  const plan = planOf((x: Tensor) => {
    const a = h.exp(x); // [5, 5]
    const m = h.matmul(a, a); // reads a
    return h.add(h.tanh(a), m); // reads m: cannot join a's group
  }, randomTensor([5, 5], 3));
  // The add is the matmul's epilogue (a dot kernel), apart from a's group.
  assertEquals(plan.steps.map(describe), [
    "map(exp tanh)",
    "dot(add)",
  ]);
});

Deno.test("several outputs of one shape share one kernel", () => {
  const plan = planOf((x: Tensor) => {
    const a = h.exp(x);
    return [a, h.sin(a), h.mul(a, h.cos(x))];
  }, x45);
  assertEquals(plan.steps.map(describe), ["map(exp sin cos mul)"]);
  assertEquals(kernels(plan)[0]!.outputs.length, 3);
});

Deno.test("broadcasts, transposes and unit-axis reshapes are read as strided loads", () => {
  const plan = planOf(
    (x: Tensor, y: Tensor) =>
      h.add(h.transpose(x), h.broadcastTo(h.reshape(y, [5, 1]), [5, 4])),
    x45,
    randomTensor([5], 4),
  );
  assertEquals(plan.steps.map(describe), ["map(add)"]);
  const k = kernels(plan)[0]!.kernel;
  assertEquals(k.shape, [5, 4]);
  assertEquals(loads(k).map((l) => l.strides), [[1, 5], [1, 0]]);
});

Deno.test("a reduction of a transposed value is one reduce kernel", () => {
  const plan = planOf(
    (x: Tensor) => h.sum(h.transpose(x), { axis: 1 }),
    x45,
  );
  assertEquals(plan.steps.map(describe), ["sum()"]);
  const k = kernels(plan)[0]!.kernel;
  assertEquals(loads(k).map((l) => l.strides), [[1, 5]]);
});

Deno.test("a transposed value that a plain equation needs is also materialised", () => {
  const plan = planOf((x: Tensor) => {
    const t = h.transpose(x); // [5, 4]
    // (A dot_general reads it through its dimension numbers instead.)
    return [h.exp(t), h.pad(t, [[1, 0], [0, 1]])];
  }, x45);
  assertEquals(plan.steps.map(describe), [
    "transpose",
    "map(exp)",
    "pad",
  ]);
  // The kernel reads x through the transpose, not the transpose's result.
  assertEquals(kernels(plan)[0]!.inputs, plan.program.inputs);
});

Deno.test("literals become literal nodes", () => {
  const plan = planOf((x: Tensor) => h.mul(h.add(x, 2), -0.5), x45);
  const k = kernels(plan)[0]!.kernel;
  assertEquals(
    k.nodes.filter((n) => n.kind === "literal").map((n) => n.value),
    [2, -0.5],
  );
});

Deno.test("costly elementwise work is not copied under a broadcast; cheap work is", () => {
  const y = randomTensor([4, 8], 5);
  const x = randomTensor([4], 6);
  const costly = planOf(
    (x: Tensor) => h.add(h.exp(h.reshape(x, [4, 1])), y),
    x,
  );
  assertEquals(costly.steps.map(describe), ["map(exp)", "map(add)"]);
  const cheap = planOf(
    (x: Tensor) => h.add(h.mul(h.reshape(x, [4, 1]), 3), y),
    x,
  );
  assertEquals(cheap.steps.map(describe), ["map(mul add)"]);
});

Deno.test("a group that more than two kernels read is written once", () => {
  const two = planOf((x: Tensor) => {
    const a = h.exp(x);
    return [h.sum(a, { axis: 0 }), h.max(a, { axis: 1 })];
  }, x45);
  assertEquals(two.steps.map(describe), ["sum(exp)", "max(exp)"]);
  const three = planOf((x: Tensor) => {
    const a = h.exp(x);
    return [
      h.sum(a, { axis: 0 }),
      h.max(a, { axis: 1 }),
      h.min(a), // (a min over axis 0 would join the sum's kernel)
    ];
  }, x45);
  assertEquals(three.steps.map(describe), [
    "map(exp)",
    "sum()",
    "max()",
    "min()",
  ]);
});

Deno.test("printPlan() shows each kernel's shape and ops and counts the kernels", () => {
  const text = printPlan(planOf((x: Tensor) => h.sum(h.exp(x)), x45));
  assertEquals(
    text,
    [
      "{ plan ; a:f32[4,5]. let  # 1 kernel",
      "    b:f32[] = fused_reduce_sum[axes=[0,1] of [4,5] 1 ops: exp] a",
      "  in (b) }",
    ].join("\n"),
  );
});

Deno.test("a reduction of one group member waits for the whole group's inputs (regression)", () => {
  // i and n share a kernel, so the sum of n depends on d through i: r
  // (reading the sum) must not join d's group, which would make a cycle.
  const plan = planOf(
    (a: Tensor, b: Tensor) => {
      const d = h.sigmoid(b); // []
      const hh = h.add(h.square(h.reshape(a, [1])), 1); // [1]
      const i = h.div(d, hh); // [1], reads d
      const o = h.sum(h.div(1, hh)); // [], does not read d
      return [i, h.mul(o, d)];
    },
    h.tensor(0.5),
    h.tensor(-1),
  );
  assertEquals(plan.steps.map(describe), [
    "map(logistic mul add div div)",
    "sum(logistic mul)", // mul(o, d) as the sum's epilogue
  ]);
});

Deno.test("fuseProgram() with maxCopies 1 computes every equation once", () => {
  const { program } = h.makeProgram((x: Tensor) => h.softmax(x))(x45);
  const plan = fuseProgram(h.optimizeProgram(program), { maxCopies: 1 });
  checkPlan(plan);
  assertEquals(plan.steps.map(describe), [
    "reduce_max",
    "map(eq select sub exp)",
    "sum()",
    "map(div)",
  ]);
  const runs = plan.steps.flatMap((s) => s.kind === "eqn" ? [s.eqn] : s.eqns)
    .filter((e) => e.prim !== "reshape");
  assertEquals(new Set(runs).size, runs.length);
});

Deno.test("fuseProgram() rejects unknown options and a bad maxCopies", () => {
  const { program } = h.makeProgram((x: Tensor) => h.exp(x))(x45);
  assertThrows(
    () => fuseProgram(program, { copies: 1 } as never),
    TypeError,
    "copies",
  );
  assertThrows(() => fuseProgram(program, { maxCopies: 0 }), RangeError, "0");
});

Deno.test("a group of a few cheap ops is copied into every kernel that reads it", () => {
  const plan = planOf((x: Tensor) => {
    const a = h.add(h.mul(x, 2), 1); // two cheap ops, read by three kernels
    return [
      h.sum(a, { axis: 0 }),
      h.max(a, { axis: 1 }),
      h.min(a),
    ];
  }, x45);
  assertEquals(plan.steps.map(describe), [
    "sum(mul add)",
    "max(mul add)",
    "min(mul add)",
  ]);
});

Deno.test("reduction families of two chains side by side never read each other (regression)", async () => {
  // An ensemble of two: each chain is a layer norm, a matmul, a layer norm,
  // every layer norm of an input plus one shared s of the same shape (so
  // that any two reductions may join: they read s). Families {a1, b2} and {b1, a2},
  // each acyclic alone, made a cycle with a1 → b1 and a2 → b2 (every other
  // family is one step of the plan).
  const f = (x1: Tensor, x2: Tensor, w1: Tensor, w2: Tensor, s: Tensor) => {
    const ln = (x: Tensor) => h.layerNorm(h.add(x, s));
    return [ln(h.matmul(ln(x1), w1)), ln(h.matmul(ln(x2), w2))]; // [3, 4]
  };
  const [x1, x2] = [randomTensor([3, 4], 1), randomTensor([3, 4], 2)];
  const [w1, w2] = [randomTensor([4, 4], 3), randomTensor([4, 4], 4)];
  const s = randomTensor([3, 4], 5);
  const plan = planOf(f, x1, x2, w1, w2, s);
  assertEquals(plan.steps.map((s) => describe(s).split("(")[0]), [
    "sum_sum",
    "map",
    "dot_general",
    "sum_sum_sum_sum", // b1 with a2: they do not depend on each other
    "map",
    "map",
    "dot_general",
    "sum_sum",
    "map",
  ], printPlan(plan));
  const got = h.jit(f)(x1, x2, w1, w2, s);
  const want = f(x1, x2, w1, w2, s);
  for (let i = 0; i < 2; i++) {
    await assertAllClose(got[i]!, want[i]!, { rtol: 1e-5, atol: 1e-5 });
  }
});

Deno.test("unrelated reductions of one shape stay apart; related ones join", async () => {
  // Bias gradients of many layers: column sums of unrelated tensors. One
  // kernel for all of them keeps every accumulator live through one loop
  // (on wasm 52 of them ran 4.5× slower than one kernel each).
  const f = (a: Tensor, b: Tensor, c: Tensor) => [
    h.sum(a, { axis: 0 }),
    h.sum(h.mul(b, b), { axis: 0 }),
    h.sum(c, { axis: 0 }),
    h.max(c, { axis: 0 }), // reads c, as the sum before it does
  ];
  const [a, b, c] = [1, 2, 3].map((i) => randomTensor([5, 4], i)) as [
    Tensor,
    Tensor,
    Tensor,
  ];
  const plan = planOf(f, a, b, c);
  assertEquals(
    plan.steps.map((s) => describe(s).split("(")[0]).sort(),
    ["reduce_sum", "sum", "sum_max"],
    printPlan(plan),
  );
  const got = h.jit(f)(a, b, c), want = f(a, b, c);
  for (let i = 0; i < 4; i++) {
    await assertAllClose(got[i]!, want[i]!, { rtol: 1e-6, atol: 1e-6 });
  }
});

Deno.test("an ensemble's members run one after another: a lower planned peak, the same results", async () => {
  // Three independent MLPs, the sum of their losses, gradients clipped by
  // their global norm: in program order every forward runs before any
  // backward; member by member only one member's activations are live.
  type P = { w1: Tensor; w2: Tensor };
  const loss = (ps: P[], x: Tensor) =>
    ps.map((p) => h.sum(h.matmul(h.gelu(h.matmul(x, p.w1)), p.w2)))
      .reduce((a, b) => h.add(a, b));
  const step = (ps: P[], x: Tensor) => {
    const [l, g] = h.valueAndGrad(loss)(ps, x);
    const norm = h.sqrt(
      g.flatMap((q) => [q.w1, q.w2]).map((t) => h.sum(h.mul(t, t)))
        .reduce((a, b) => h.add(a, b)),
    );
    const s = h.div(0.1, norm);
    return [
      l,
      g.map((q, i) => ({
        w1: h.sub(ps[i]!.w1, h.mul(q.w1, s)),
        w2: h.sub(ps[i]!.w2, h.mul(q.w2, s)),
      })),
    ] as const;
  };
  const x = randomTensor([64, 32], 1);
  const ps = [0, 1, 2].map((i) => ({
    w1: h.mul(randomTensor([32, 128], 10 + i), 0.1),
    w2: h.mul(randomTensor([128, 10], 20 + i), 0.1),
  }));
  const { program } = h.makeProgram(step)(ps, x);
  const plan = fuseProgram(program);
  checkPlan(plan);
  const first = new Map(program.eqns.map((e, i) => [e, i]));
  const at = (s: Step) => first.get(s.kind === "eqn" ? s.eqn : s.eqns[0]!) ?? 0;
  const inProgramOrder = orderSteps(
    program,
    [...plan.steps].sort((a, b) => at(a) - at(b)),
  );
  const planned = peakBytes(program, plan.steps);
  const plain = peakBytes(program, inProgramOrder);
  assert(planned < 0.75 * plain, `planned ${planned} vs ${plain} bytes`);
  const [gotL, gotP] = h.jit(step)(ps, x);
  const [wantL, wantP] = step(ps, x);
  await assertAllClose(gotL, wantL, { rtol: 1e-5, atol: 1e-5 });
  for (let i = 0; i < 3; i++) {
    await assertAllClose(gotP[i]!.w1, wantP[i]!.w1, { rtol: 1e-5, atol: 1e-6 });
    await assertAllClose(gotP[i]!.w2, wantP[i]!.w2, { rtol: 1e-5, atol: 1e-6 });
  }
});

Deno.test("an elementwise kernel that ties independent values together through a mask of the inputs is split", async () => {
  // A label mask (inputs only) read by two selects of unrelated sums: one
  // kernel for both would make each sum's readers wait for the other sum.
  const f = (lab: Tensor, x: Tensor, y: Tensor) => {
    const m = h.greaterEqual(lab, 0);
    const a = h.sum(h.exp(x), { axis: 1 }), b = h.sum(h.exp(y), { axis: 1 });
    return [h.where(m, a, 0), h.where(m, b, 0), m];
  };
  const lab = h.tensor(Int32Array.from([0, -1, 2, 3, -1, 5, 6, 7]));
  const [x, y] = [randomTensor([8, 5], 1), randomTensor([8, 5], 2)];
  const { program } = h.makeProgram(f)(lab, x, y);
  const plan = fuseProgram(h.optimizeProgram(program));
  checkPlan(plan);
  const [, px, py] = plan.program.inputs;
  assertEquals(plan.steps.length, 3, printPlan(plan));
  for (const s of plan.steps) {
    const ins = stepInputsOf(s);
    assert(!(ins.includes(px!) && ins.includes(py!)), printPlan(plan));
  }
  const got = h.jit(f)(lab, x, y), want = f(lab, x, y);
  for (let i = 0; i < 3; i++) {
    await assertAllClose(got[i]!, want[i]!, { rtol: 1e-6, atol: 1e-6 });
  }
});

function stepInputsOf(s: Step): readonly unknown[] {
  return s.kind === "kernel"
    ? s.inputs
    : s.eqn.inputs.filter((a) => a.kind === "var");
}
