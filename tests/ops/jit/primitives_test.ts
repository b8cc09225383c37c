// Every primitive under jit: one small case per primitive (a typed table,
// so a new primitive without a case fails `deno check`), run eagerly and
// as a jitted program on every backend, with equal results: bit for bit
// on the CPU, within float32 tolerance elsewhere.

import { assertEquals, AssertionError } from "@std/assert";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import { bind } from "../../../ops/core.ts";
import { jit } from "../../../ops/jit/jit.ts";
import type { Primitive } from "../../../ops/primitives.ts";
import {
  assertAllClose,
  randomTensor,
  testEachBackend,
} from "../../_helpers.ts";

/** A case: the primitive applied to inputs `x` [2,3] (in (0.5, 2.5)) and `y` [3]. */
type Case = (x: Tensor, y: Tensor) => Tensor;

const unary = (p: Primitive): Case => (x) => bind(p, [x], {});
const binary = (p: Primitive): Case => (x, y) => bind(p, [x, y], {});
const idx = () => h.tensor([2, 0], { dtype: "int32" });

const CASES: { [P in Primitive]: Case | "not staged" } = {
  neg: unary("neg"),
  exp: unary("exp"),
  log: unary("log"),
  log1p: unary("log1p"),
  sqrt: unary("sqrt"),
  rsqrt: unary("rsqrt"),
  sin: unary("sin"),
  cos: unary("cos"),
  tanh: unary("tanh"),
  logistic: unary("logistic"),
  erf: unary("erf"),
  abs: (x) => bind("abs", [h.sub(x, 1.5)], {}),
  sign: (x) => bind("sign", [h.sub(x, 1.5)], {}),
  add: binary("add"),
  sub: binary("sub"),
  mul: binary("mul"),
  div: binary("div"),
  pow: binary("pow"),
  max: binary("max"),
  min: binary("min"),
  eq: binary("eq"),
  ne: binary("ne"),
  lt: binary("lt"),
  le: binary("le"),
  gt: binary("gt"),
  ge: binary("ge"),
  and: (x, y) => bind("and", [h.greater(x, 1), h.less(y, 2)], {}),
  or: (x, y) => bind("or", [h.greater(x, 1), h.less(y, 2)], {}),
  not: (x) => bind("not", [h.greater(x, 1)], {}),
  select: (x, y) => bind("select", [h.greater(x, y), x, y], {}),
  convert_element_type: (x) =>
    bind("convert_element_type", [h.mul(x, 3)], { dtype: "int32" }),
  reduce_sum: (x) => bind("reduce_sum", [x], { axes: [1] }),
  reduce_max: (x) => bind("reduce_max", [x], { axes: [0] }),
  reduce_min: (x) => bind("reduce_min", [x], { axes: [0, 1] }),
  argmax: (x) => bind("argmax", [x], { axis: 1 }),
  argmin: (x) => bind("argmin", [x], { axis: 0 }),
  dot_general: (x) =>
    bind("dot_general", [x, h.transpose(x)], {
      lhsContract: [1],
      rhsContract: [0],
      lhsBatch: [],
      rhsBatch: [],
    }),
  reshape: (x) => bind("reshape", [x], { shape: [3, 2] }),
  transpose: (x) => bind("transpose", [x], { perm: [1, 0] }),
  broadcast_in_dim: (x) =>
    bind("broadcast_in_dim", [x], { shape: [4, 2, 3], dims: [1, 2] }),
  slice: (x) => bind("slice", [x], { start: [0, 1], limit: [2, 3] }),
  pad: (x) => bind("pad", [x], { lo: [1, 0], hi: [0, 2], value: 0.5 }),
  concatenate: (x, y) =>
    bind("concatenate", [x, h.expandDims(y, 0)], { axis: 0 }),
  gather: (x) => bind("gather", [x, idx()], { axis: 1 }),
  scatter_add: (x) =>
    bind("scatter_add", [h.slice(x, [0, 0], [2, 2]), idx()], {
      axis: 1,
      shape: [2, 4],
    }),
  iota: (x) =>
    h.add(x, bind("iota", [], { shape: [2, 3], dim: 1, dtype: "float32" })),
  random_uniform: (x) =>
    h.mul(
      x,
      bind("random_uniform", [h.tensor([1, 2], { dtype: "int32" })], {
        shape: [2, 3],
        path: [],
      }),
    ),
  custom_lin: "not staged", // only in linear programs, under linearize
  // q, k = x as [1, 2, 3], v = 2x; the score scaled by a captured Σy
  flash_attention: (x, y) => {
    const q = h.reshape(x, [1, 2, 3]);
    return h.flashAttention(q, q, h.mul(q, 2), {
      score: ([r]) => h.mul(r!, h.sum(y)),
    });
  },
};

async function assertSame(a: Tensor, e: Tensor, what: string): Promise<void> {
  assertEquals([a.shape, a.dtype], [e.shape, e.dtype], what);
  if (h.defaultBackend() !== "cpu") {
    return assertAllClose(a, e, { rtol: 1e-6, atol: 1e-7 }, what);
  }
  const [x, y] = await Promise.all([a.data(), e.data()]);
  x.forEach((v, i) => {
    if (!Object.is(v, y[i])) {
      throw new AssertionError(`${what}: element ${i}: ${v} vs ${y[i]}`);
    }
  });
}

testEachBackend(
  "jit() runs every primitive as eager evaluation does",
  async () => {
    const x = h.add(randomTensor([2, 3], 11, "unit"), 1.5);
    const y = h.add(randomTensor([3], 12, "unit"), 1.5);
    for (const [prim, c] of Object.entries(CASES)) {
      if (c === "not staged") continue;
      const jf = jit(c);
      assertEquals(
        jf.program(x, y).eqns.some((e) => e.prim === prim) ||
          prim === "random_uniform", // folded: its value is known when compiling
        true,
        `${prim} is in its program`,
      );
      await assertSame(jf(x, y), c(x, y), prim);
    }
  },
);
