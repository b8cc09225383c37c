// Programs as data: tracing with makeProgram, the text form, immutability
// and structural equality, and evaluation.

import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import { programsEqual } from "../../../ops/jit/equal.ts";
import { evalProgram } from "../../../ops/jit/eval.ts";
import { makeProgram } from "../../../ops/jit/make_program.ts";
import { printProgram } from "../../../ops/jit/print.ts";

const layer = (p: { w: Tensor; b: Tensor }, x: Tensor) =>
  h.tanh(h.add(h.matmul(x, p.w), p.b));

const params = () => ({
  w: h.tensor([[1, 2, 3], [4, 5, 6]]),
  b: h.tensor([1, 0, -1]),
});

Deno.test("printProgram() prints one typed equation per line (golden)", () => {
  const { program } = makeProgram(layer)(params(), h.tensor([[1, 2]]));
  assertEquals(
    printProgram(program),
    `{ lambda ; a:f32[2,3] b:f32[3] c:f32[1,2]. let
    d:f32[1,3] = dot_general[lhsContract=[1] rhsContract=[0] lhsBatch=[] rhsBatch=[]] c a
    e:f32[1,3] = add d b
    f:f32[1,3] = tanh e
  in (f) }`,
  );
});

Deno.test("printProgram() shows constants, literals, dtypes and several outputs", () => {
  const c = h.tensor([1, 2, 3]);
  const { program } = makeProgram((x: Tensor) => {
    const m = h.greater(x, 0);
    return [h.where(m, x, c), h.cast(m, "int32"), h.mul(x, -Infinity)];
  })(h.tensor([1, -1, 2]));
  assertEquals(
    printProgram(program),
    `{ lambda a:f32[3] ; b:f32[3]. let
    c:bool[3] = gt b 0.0:f32[]
    d:f32[3] = select c b a
    e:i32[3] = convert_element_type[dtype=int32] c
    f:f32[3] = mul b -inf:f32[]
  in (d e f) }`,
  );
  assertEquals(program.constValues, [c]);
});

Deno.test("makeProgram() stages ops on constants too, and records no values", () => {
  const { program } = makeProgram((x: Tensor) =>
    h.add(x, h.mul(h.tensor([2]), 3))
  )(h.tensor([1]));
  assertEquals(program.eqns.map((e) => e.prim), ["mul", "add"]);
  assertEquals(program.consts.length, 1);
});

Deno.test("programs are frozen", () => {
  const { program } = makeProgram(layer)(params(), h.tensor([[1, 2]]));
  assert(Object.isFrozen(program));
  assert(Object.isFrozen(program.eqns));
  assert(Object.isFrozen(program.eqns[0]));
  assert(Object.isFrozen(program.eqns[0]!.params));
  assert(Object.isFrozen(program.inputs[0]!.aval.shape));
  assertThrows(() => (program.eqns as unknown[]).push({}), TypeError);
});

Deno.test("programsEqual() compares up to renaming variables", () => {
  const x = h.tensor([[1, 2]]);
  const a = makeProgram(layer)(params(), x).program;
  const b = makeProgram(layer)(params(), x).program;
  assert(a !== b && programsEqual(a, b));
  assert(programsEqual(a, a));
  // Another op, other params, another shape, another literal: all differ.
  const other = (g: (p: { w: Tensor; b: Tensor }, x: Tensor) => Tensor) =>
    makeProgram(g)(params(), x).program;
  assert(
    !programsEqual(a, other((p, x) => h.sin(h.add(h.matmul(x, p.w), p.b)))),
  );
  assert(
    !programsEqual(
      a,
      makeProgram(layer)(params(), h.tensor([[1, 2], [3, 4]])).program,
    ),
  );
  const k = (n: number) => makeProgram((x: Tensor) => h.mul(x, n))(x).program;
  assert(programsEqual(k(2), k(2)));
  assert(!programsEqual(k(2), k(3)));
  const s = (axis: number) =>
    makeProgram((x: Tensor) => h.sum(x, { axis }))(x).program;
  assert(!programsEqual(s(0), s(1)));
  // Operand order matters.
  const sub = (swap: boolean) =>
    makeProgram((x: Tensor, y: Tensor) => swap ? h.sub(y, x) : h.sub(x, y))(
      x,
      x,
    ).program;
  assert(!programsEqual(sub(false), sub(true)));
});

Deno.test("makeProgram() takes static arguments and number leaves by value", () => {
  const f = (x: Tensor, n: number, mode: string) =>
    mode === "exp" ? h.exp(h.mul(x, n)) : h.mul(x, n);
  const p = makeProgram(f, { staticArgnums: [2] });
  const x = h.tensor([1]);
  assertEquals(p(x, 2, "exp").program.eqns.map((e) => e.prim), ["mul", "exp"]);
  assertEquals(p(x, 2, "lin").program.inputs.length, 1);
  assertThrows(
    () => makeProgram(f, { static: 1 } as never),
    TypeError,
    'makeProgram: unknown option "static"',
  );
});

Deno.test("evalProgram() runs a program on new inputs and checks them", async () => {
  const { program } = makeProgram(layer)(params(), h.tensor([[1, 2]]));
  const p2 = params();
  const x = h.tensor([[0.5, -1]]);
  const [y] = evalProgram(program, [p2.w, p2.b, x]);
  assertEquals(await y!.data(), await layer(p2, x).data());
  assertThrows(
    () => evalProgram(program, [p2.w, p2.b, h.tensor([[1, 2, 3]])]),
    TypeError,
    "evalProgram: input 2 is float32[1,3], but the program takes float32[1,2]",
  );
  assertThrows(
    () => evalProgram(program, [p2.w]),
    TypeError,
    "takes 3 input(s), got 1",
  );
});

Deno.test("printProgram: a flash kernel prints as its shapes, not [object Object]", () => {
  const q = h.normal(h.key(0), [2, 3, 4]);
  const { program } = makeProgram((x: Tensor) => h.flashAttention(x, x, x))(q);
  const text = printProgram(program);
  assert(!text.includes("[object Object]"), text);
  assertStringIncludes(text, "<flash [2] 3x3 d=4 dv=4 q=1 softmax");
});
