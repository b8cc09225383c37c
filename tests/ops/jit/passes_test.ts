// The program passes, each on a small program: dead-code elimination,
// common-subexpression elimination, constant folding and the pipeline jit
// runs. Passes are pure: they return new programs and change no input.

import { assert, assertEquals } from "@std/assert";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import { programsEqual } from "../../../ops/jit/equal.ts";
import { evalProgram } from "../../../ops/jit/eval.ts";
import { jit } from "../../../ops/jit/jit.ts";
import { makeProgram } from "../../../ops/jit/make_program.ts";
import { eliminateCommonSubexpressions } from "../../../ops/jit/passes/cse.ts";
import { eliminateDeadCode } from "../../../ops/jit/passes/dce.ts";
import { foldConstants } from "../../../ops/jit/passes/fold.ts";
import { optimizeProgram } from "../../../ops/jit/passes/optimize.ts";
import { printProgram } from "../../../ops/jit/print.ts";
import {
  eqn,
  newVar,
  type Program,
  program,
  type Var,
} from "../../../ops/jit/program.ts";
import { testEachBackend } from "../../_helpers.ts";

const prims = (p: Program) => p.eqns.map((e) => e.prim);

/** Runs `p` and `q` on the same inputs and requires equal bits. */
async function assertSameResults(p: Program, q: Program, xs: Tensor[]) {
  const a = evalProgram(p, xs), b = evalProgram(q, xs);
  assertEquals(
    await Promise.all(a.map((t) => t.data())),
    await Promise.all(b.map((t) => t.data())),
  );
}

Deno.test("eliminateDeadCode() drops unused equations and constants", async () => {
  const c = h.tensor([5, 6]);
  const x = h.tensor([1, 2]);
  const { program } = makeProgram((x: Tensor) => {
    h.add(h.exp(x), c); // dead, with its constant
    const y = h.sin(x);
    h.cos(y); // dead
    return h.mul(y, 2);
  })(x);
  const before = printProgram(program);
  const out = eliminateDeadCode(program);
  assertEquals(prims(program), ["exp", "add", "sin", "cos", "mul"]);
  assertEquals(prims(out), ["sin", "mul"]);
  assertEquals(out.consts.length, 0);
  assertEquals(out.inputs, program.inputs); // the signature stays
  assertEquals(printProgram(program), before); // the input is unchanged
  await assertSameResults(out, program, [x]);
  assert(programsEqual(eliminateDeadCode(out), out)); // idempotent
});

Deno.test("eliminateCommonSubexpressions() merges the same op on the same operands", async () => {
  const x = h.tensor([[1, 2], [3, 4]]);
  const { program } = makeProgram((x: Tensor) => {
    const a = h.add(h.exp(x), h.exp(x)); // exp twice: one
    const b = h.add(h.sum(x, { axis: 0 }), h.sum(x, { axis: 1 })); // params differ: two
    const c = h.sub(h.mul(x, 2), h.mul(x, 2.5)); // literals differ: two
    return [h.add(a, h.mul(x, 2)), b, c]; // mul(x, 2) again: merged with c's
  })(x);
  const out = eliminateCommonSubexpressions(program);
  assertEquals(prims(program).filter((p) => p === "exp").length, 2);
  assertEquals(prims(out).filter((p) => p === "exp").length, 1);
  assertEquals(prims(out).filter((p) => p === "reduce_sum").length, 2);
  assertEquals(prims(out).filter((p) => p === "mul").length, 2);
  assertEquals(
    printProgram(out),
    `{ lambda ; a:f32[2,2]. let
    b:f32[2,2] = exp a
    c:f32[2,2] = add b b
    d:f32[2] = reduce_sum[axes=[0]] a
    e:f32[2] = reduce_sum[axes=[1]] a
    f:f32[2] = add d e
    g:f32[2,2] = mul a 2.0:f32[]
    h:f32[2,2] = mul a 2.5:f32[]
    i:f32[2,2] = sub g h
    j:f32[2,2] = add c g
  in (j f i) }`,
  );
  await assertSameResults(out, program, [x]);
});

Deno.test("eliminateCommonSubexpressions() merges constants holding one tensor", async () => {
  const c = h.tensor([1, 2]);
  const aval = { shape: [2], dtype: "float32" as const };
  const [x, c1, c2, y, z] = [0, 1, 2, 3, 4].map(() => newVar(aval)) as Var[];
  const p = program({
    inputs: [x!],
    consts: [c1!, c2!],
    constValues: [c, c],
    eqns: [eqn("add", {}, [x!, c1!], [y!]), eqn("add", {}, [x!, c2!], [z!])],
    outputs: [y!, z!],
  });
  const out = eliminateCommonSubexpressions(p);
  assertEquals(out.consts.length, 1);
  assertEquals(prims(out), ["add"]);
  assertEquals(out.outputs[0], out.outputs[1]);
  await assertSameResults(out, p, [h.tensor([3, 4])]);
});

Deno.test("foldConstants() evaluates equations on constants at compile time", () =>
  h.withBackend("cpu", async () => {
    const x = h.tensor([1, 2, 3]);
    const w = h.tensor([1, 2, 3]);
    const { program } = makeProgram((x: Tensor) => {
      const scale = h.sum(h.mul(w, w)); // 14, known now
      const bias = h.sub(h.tensor(1), 0.5); // 0.5, known now
      return h.add(h.mul(x, scale), bias);
    })(x);
    assertEquals(prims(program), ["mul", "reduce_sum", "sub", "mul", "add"]);
    const out = foldConstants(program, { backend: h.getBackend("cpu") });
    assertEquals(prims(out), ["mul", "add"]);
    // On the CPU, folded scalars are read back at once and become literals.
    assertEquals(
      printProgram(eliminateDeadCode(out)),
      `{ lambda ; a:f32[3]. let
    b:f32[3] = mul a 14.0:f32[]
    c:f32[3] = add b 0.5:f32[]
  in (c) }`,
    );
    await assertSameResults(out, program, [x]);
  }));

Deno.test("foldConstants() keeps big results, broadcasts and iotas as equations", () => {
  const big = h.ones([100, 100]);
  const { program } = makeProgram((x: Tensor) =>
    h.add(x, h.add(h.exp(big), h.zeros([100, 100])))
  )(h.ones([100, 100]));
  assertEquals(prims(program), ["exp", "broadcast_in_dim", "add", "add"]);
  assertEquals(prims(foldConstants(program)), prims(program)); // 10⁴ > 4096
  const folded = foldConstants(program, { maxSize: 10_000 });
  assertEquals(prims(folded), ["broadcast_in_dim", "add", "add"]);
});

testEachBackend(
  "folded programs compute what the original computes",
  async () => {
    const x = h.tensor([[1, -2], [3, 0.5]]);
    const c = h.tensor([[0.25, 4], [-1, 2]]);
    const { program } = makeProgram((x: Tensor) =>
      h.mul(h.add(x, h.tanh(h.matmul(c, c))), h.exp(h.tensor(0.5)))
    )(x);
    const out = optimizeProgram(program, { backend: h.getBackend() });
    assertEquals(prims(out), ["add", "mul"]);
    const [a] = evalProgram(out, [x]), [b] = evalProgram(program, [x]);
    assertEquals(await a!.data(), await b!.data());
  },
);

Deno.test("jit() runs the optimised program", () => {
  const f = jit((x: Tensor) => {
    h.log(x); // dead
    const two = h.add(h.tensor(1), 1); // folded
    return h.add(h.mul(x, two), h.mul(x, two)); // one mul
  });
  const x = h.tensor([1, 2]);
  assertEquals(prims(f.program(x)), ["mul", "add"]);
});
