// Transposes folded into dot_general's dimension numbers: the fold drops
// the copy, keeps every result bit for bit (on the CPU reference, whose
// matmul permutes its operands itself), and refuses a fold that would
// reorder the result's axes.

import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import { evalProgram } from "../../../ops/jit/eval.ts";
import { jit } from "../../../ops/jit/jit.ts";
import { makeProgram } from "../../../ops/jit/make_program.ts";
import { foldDotTransposes } from "../../../ops/jit/passes/dot_layout.ts";
import { fuseProgram } from "../../../ops/jit/passes/fuse.ts";
import {
  eqn,
  newVar,
  type Program,
  program,
} from "../../../ops/jit/program.ts";
import type { DotGeneralParams } from "../../../ops/primitives.ts";
import { assertAllClose, testEachBackend } from "../../_helpers.ts";
import { checkPlan } from "./_plan_check.ts";

const prims = (p: Program) => p.eqns.map((e) => e.prim);

function seq(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + seed) * 3);
}

function randomTensor(shape: readonly number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return h.reshape(h.tensor(seq(n, seed)), [...shape]);
}

/** `dot_general(transpose(x, px), transpose(y, py))` as a program. */
function transposedDot(
  xs: readonly number[],
  ys: readonly number[],
  px: readonly number[],
  py: readonly number[],
  d: DotGeneralParams,
  outShape: readonly number[],
): Program {
  const x = newVar({ shape: xs, dtype: "float32" });
  const y = newVar({ shape: ys, dtype: "float32" });
  const tx = newVar({ shape: px.map((a) => xs[a]!), dtype: "float32" });
  const ty = newVar({ shape: py.map((a) => ys[a]!), dtype: "float32" });
  const out = newVar({ shape: outShape, dtype: "float32" });
  return program({
    inputs: [x, y],
    consts: [],
    constValues: [],
    eqns: [
      eqn("transpose", { perm: px }, [x], [tx]),
      eqn("transpose", { perm: py }, [y], [ty]),
      eqn("dot_general", d, [tx, ty], [out]),
    ],
    outputs: [out],
  });
}

Deno.test("foldDotTransposes() folds matmul(transpose(x), y) into one dot_general, bit-equal", async () => {
  const x = randomTensor([5, 3], 1), y = randomTensor([5, 4], 2);
  const { program: p } = makeProgram((x: Tensor, y: Tensor) =>
    h.matmul(h.transpose(x), y)
  )(x, y);
  const q = foldDotTransposes(p);
  assertEquals(prims(q), ["dot_general"]);
  assertEquals(q.eqns[0]!.inputs, p.inputs);
  const [a] = evalProgram(p, [x, y]), [b] = evalProgram(q, [x, y]);
  assertEquals(await b!.data(), await a!.data());
});

Deno.test("foldDotTransposes() keeps a transpose that would reorder the result's free axes", () => {
  // Free axes 0 and 1 of the transposed lhs are source axes 1 and 0.
  const p = transposedDot([3, 2, 4], [4, 5], [1, 0, 2], [0, 1], {
    lhsContract: [2],
    rhsContract: [0],
    lhsBatch: [],
    rhsBatch: [],
  }, [2, 3, 5]);
  const q = foldDotTransposes(p);
  assertEquals(prims(q), ["transpose", "dot_general"]);
  assertEquals(q.eqns[1]!.inputs[0], p.eqns[0]!.outs[0]);
});

Deno.test("a transpose folded into dot_general is no kernel of the plan", () => {
  const x = randomTensor([6, 4], 3), y = randomTensor([5, 4], 4);
  const f = jit((x: Tensor, y: Tensor) => h.matmul(x, h.transpose(y)));
  const plan = fuseProgram(f.program(x, y));
  checkPlan(plan);
  assertEquals(
    plan.steps.map((s) => s.kind === "eqn" ? s.eqn.prim : s.kernel.kind),
    ["dot_general"],
  );
});

Deno.test("folded batched dot_generals equal the transposed ones bit for bit (random axes)", async () => {
  // Batch, lhs free, rhs free and contracted axes of random extents, each
  // operand transposed by a random permutation.
  const arb = fc.record({
    b: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 1 }),
    m: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    n: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    k: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 2 }),
    sx: fc.integer(),
    sy: fc.integer(),
  });
  let folded = 0;
  await fc.assert(
    fc.asyncProperty(arb, async ({ b, m, n, k, sx, sy }) => {
      // Transposed operands: x' = [b, m, k], y' = [b, k, n].
      const xt = [...b, ...m, ...k], yt = [...b, ...k, ...n];
      const perm = (len: number, seed: number) => {
        const p = [...Array(len).keys()];
        for (let i = len - 1; i > 0; i--) {
          const j = Math.abs(seed + i * 7919) % (i + 1);
          [p[i], p[j]] = [p[j]!, p[i]!];
        }
        return p;
      };
      const px = perm(xt.length, sx), py = perm(yt.length, sy);
      // x'[...] = x[perm], so x's shape puts x' axis d at position px[d].
      const xs = new Array<number>(xt.length),
        ys = new Array<number>(yt.length);
      px.forEach((a, d) => (xs[a] = xt[d]!));
      py.forEach((a, d) => (ys[a] = yt[d]!));
      const range = (from: number, len: number) =>
        Array.from({ length: len }, (_, i) => from + i);
      const nb = b.length;
      const p = transposedDot(xs, ys, px, py, {
        lhsBatch: range(0, nb),
        rhsBatch: range(0, nb),
        lhsContract: range(nb + m.length, k.length),
        rhsContract: range(nb, k.length),
      }, [...b, ...m, ...n]);
      const q = foldDotTransposes(p);
      if (q.eqns.length < p.eqns.length) folded++;
      const x = randomTensor(xs, sx % 97), y = randomTensor(ys, sy % 89);
      const [want] = evalProgram(p, [x, y]), [got] = evalProgram(q, [x, y]);
      assertEquals(got!.shape, want!.shape);
      assertEquals(await got!.data(), await want!.data());
    }),
    { numRuns: 60 },
  );
  assert(folded > 10, `only ${folded} of 60 programs folded a transpose`);
});

testEachBackend(
  "jitted matmuls of transposed operands equal eager",
  async () => {
    const x = randomTensor([7, 5], 5), y = randomTensor([6, 7], 6);
    const g = (x: Tensor, y: Tensor) =>
      h.matmul(h.transpose(x), h.transpose(y)); // [5, 6]
    await assertAllClose(jit(g)(x, y), g(x, y), { rtol: 1e-5, atol: 1e-5 });
  },
);
