// vmap on every primitive: one case per primitive (a typed table, so a new
// primitive without a case fails `deno check`), batched along random axes
// (some operands unbatched), against a loop over the examples stacked along
// a random output axis, on every backend present.

import { assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { DType, Tensor } from "../../mod.ts";
import { bind } from "../../ops/core.ts";
import type { Primitive } from "../../ops/primitives.ts";
import { BATCH_RULES } from "../../ops/batching.ts";
import { vmap } from "../../ops/transforms/vmap.ts";
import {
  assertAllClose,
  type Domain,
  randomTensor,
  rng,
  testEachBackend,
} from "../_helpers.ts";

/** One operand of a case, per example. */
interface Operand {
  shape: number[];
  kind?: Domain | "bool" | { index: number };
}

/** A case: per-example operands and the function of them. */
interface Case {
  args: Operand[];
  f: (...xs: Tensor[]) => Tensor;
}

const un = (p: Primitive, kind: Operand["kind"] = "any"): Case => ({
  args: [{ shape: [2, 3], kind }],
  f: (x) => bind(p, [x!], {}),
});
// [2,3] with [3]: the operands differ in rank, so batch axes must be aligned.
const bin = (p: Primitive, kind: Operand["kind"] = "any"): Case => ({
  args: [{ shape: [2, 3], kind }, { shape: [3], kind }],
  f: (x, y) => bind(p, [x!, y!], {}),
});
const one = (shape: number[], f: (x: Tensor) => Tensor, kind?: Domain) => ({
  args: [{ shape, kind: kind ?? "any" }],
  f: (x: Tensor) => f(x),
});

const CASES: { [P in Primitive]: Case | "not bindable" } = {
  neg: un("neg"),
  exp: un("exp"),
  log: un("log", "positive"),
  log1p: un("log1p", "positive"),
  sqrt: un("sqrt", "positive"),
  rsqrt: un("rsqrt", "positive"),
  sin: un("sin"),
  cos: un("cos"),
  tanh: un("tanh"),
  logistic: un("logistic"),
  erf: un("erf"),
  abs: un("abs"),
  sign: un("sign"),
  add: bin("add"),
  sub: bin("sub"),
  mul: bin("mul"),
  div: bin("div", "nonzero"),
  pow: bin("pow", "positive"),
  max: bin("max"),
  min: bin("min"),
  eq: {
    args: [{ shape: [2, 3], kind: { index: 2 } }, {
      shape: [3],
      kind: { index: 2 },
    }],
    f: (x, y) => bind("eq", [x!, y!], {}),
  },
  ne: bin("ne"),
  lt: bin("lt"),
  le: bin("le"),
  gt: bin("gt"),
  ge: bin("ge"),
  and: bin("and", "bool"),
  or: bin("or", "bool"),
  not: un("not", "bool"),
  select: {
    args: [{ shape: [2, 3], kind: "bool" }, { shape: [3] }, { shape: [2, 1] }],
    f: (c, x, y) => bind("select", [c!, x!, y!], {}),
  },
  convert_element_type: one(
    [2, 3],
    (x) => bind("convert_element_type", [h.mul(x, 3)], { dtype: "int32" }),
  ),
  reduce_sum: one([2, 3, 2], (x) => bind("reduce_sum", [x], { axes: [1] })),
  reduce_max: one([2, 3], (x) => bind("reduce_max", [x], { axes: [0] })),
  reduce_min: one([2, 3], (x) => bind("reduce_min", [x], { axes: [0, 1] })),
  argmax: one([2, 3, 2], (x) => bind("argmax", [x], { axis: 1 }), "distinct"),
  argmin: one([2, 3], (x) => bind("argmin", [x], { axis: 0 }), "distinct"),
  // A batched matmul with its dot batch axis in the middle of the rhs.
  dot_general: {
    args: [{ shape: [2, 3, 4] }, { shape: [4, 2, 5] }],
    f: (x, y) =>
      bind("dot_general", [x!, y!], {
        lhsContract: [2],
        rhsContract: [0],
        lhsBatch: [0],
        rhsBatch: [1],
      }),
  },
  reshape: one([2, 3], (x) => bind("reshape", [x], { shape: [3, 1, 2] })),
  transpose: one([2, 3, 4], (x) => bind("transpose", [x], { perm: [2, 0, 1] })),
  broadcast_in_dim: one(
    [3, 1],
    (x) => bind("broadcast_in_dim", [x], { shape: [2, 3, 4], dims: [1, 2] }),
  ),
  slice: one(
    [3, 4],
    (x) => bind("slice", [x], { start: [1, 0], limit: [3, 3] }),
  ),
  pad: one(
    [2, 3],
    (x) => bind("pad", [x], { lo: [1, 0], hi: [0, 2], value: 0.5 }),
  ),
  concatenate: {
    args: [{ shape: [2, 3] }, { shape: [1, 3] }, { shape: [2, 3] }],
    f: (...xs) => bind("concatenate", xs, { axis: 0 }),
  },
  // Indices include negative and out-of-range ones: each example must see
  // its own rows, clamped as the kernels clamp.
  gather: {
    args: [{ shape: [3, 4, 2] }, { shape: [2, 3], kind: { index: 4 } }],
    f: (x, i) => bind("gather", [x!, i!], { axis: 1 }),
  },
  scatter_add: {
    args: [{ shape: [3, 2, 3, 2] }, { shape: [2, 3], kind: { index: 5 } }],
    f: (u, i) => bind("scatter_add", [u!, i!], { axis: 1, shape: [3, 5, 2] }),
  },
  iota: one(
    [2, 3],
    (x) =>
      h.add(x, bind("iota", [], { shape: [2, 3], dim: 1, dtype: "float32" })),
  ),
  random_uniform: one(
    [2, 3],
    (x) =>
      h.mul(
        x,
        bind("random_uniform", [h.tensor([1, 2], { dtype: "int32" })], {
          shape: [2, 3],
          path: [],
        }),
      ),
  ),
  custom_lin: "not bindable", // only in linear programs (see the transforms tests)
  // per example: q [2, 3] (Tq 2, d 3), k = v = y as [1, 3], a captured scale
  flash_attention: {
    args: [{ shape: [2, 3] }, { shape: [3] }],
    f: (x, y) =>
      h.flashAttention(x!, h.reshape(y!, [1, 3]), h.reshape(y!, [1, 3]), {
        score: ([r]) => h.mul(r!, h.sum(x!)),
      }),
  },
};

/** One example of an operand. */
function example(op: Operand, seed: number): Tensor {
  const kind = op.kind ?? "any";
  if (kind === "bool") return h.greater(randomTensor(op.shape, seed), 0);
  if (typeof kind === "object") {
    // Integers in [-n-1, n]: some negative, some out of range.
    const r = rng(seed), n = kind.index;
    const size = op.shape.reduce((a, b) => a * b, 1);
    const v = Int32Array.from(
      { length: size },
      () => Math.floor(r() * (2 * n + 2)) - n - 1,
    );
    return h.tensor(v, { shape: op.shape, dtype: "int32" as DType });
  }
  return randomTensor(op.shape, seed, kind);
}

/** A random batching of a case: batch size, in-axis per operand, out-axis. */
interface Batching {
  size: number;
  picks: number[];
  out: number;
  seed: number;
}

const arbBatching: fc.Arbitrary<Batching> = fc.record({
  size: fc.integer({ min: 1, max: 3 }),
  picks: fc.array(fc.nat(999), { minLength: 3, maxLength: 3 }),
  out: fc.nat(999),
  seed: fc.nat(1e6),
});

/**
 * The in-axis of each operand from `picks`: `null` for about a third of
 * them (never all), else an axis of the batched rank, negative half the time.
 */
function inAxesOf(c: Case, picks: readonly number[]): (number | null)[] {
  const axes = c.args.map((a, i) => {
    const p = picks[i]!;
    if (c.args.length > 1 && p % 3 === 0) return null;
    const r = a.shape.length + 1, ax = (p >> 2) % r;
    return p % 2 === 0 ? ax - r : ax;
  });
  if (!axes.some((a) => a !== null)) axes[0] = 0;
  return axes;
}

async function checkCase(prim: string, c: Case, b: Batching): Promise<void> {
  const inAxes = inAxesOf(c, b.picks);
  const examples = c.args.map((a, i) =>
    Array.from({ length: b.size }, (_, k) => example(a, b.seed + 97 * i + k))
  );
  // An unbatched operand is the same for every example.
  const args = examples.map((ex, i) =>
    inAxes[i] === null ? ex[0]! : h.stack(ex, inAxes[i]!)
  );
  const outs = Array.from(
    { length: b.size },
    (_, k) =>
      c.f(...examples.map((ex, i) => (inAxes[i] === null ? ex[0]! : ex[k]!))),
  );
  const outAxis = b.out % (outs[0]!.ndim + 1);
  const expected = h.stack(outs, outAxis);
  const actual = vmap(c.f, { inAxes, outAxes: outAxis })(...args);
  const what = `${prim} inAxes ${JSON.stringify(inAxes)} outAxes ${outAxis} ` +
    `size ${b.size}`;
  assertEquals(actual.shape, expected.shape, what);
  assertEquals(actual.dtype, expected.dtype, what);
  await assertAllClose(actual, expected, { rtol: 1e-5, atol: 1e-6 }, what);
}

testEachBackend(
  "vmap() of every primitive equals a loop over the examples",
  async () => {
    for (const [prim, c] of Object.entries(CASES)) {
      if (c === "not bindable") continue;
      await fc.assert(
        fc.asyncProperty(arbBatching, (b) => checkCase(prim, c, b)),
        { numRuns: 6, seed: 7 },
      );
    }
  },
);

Deno.test("vmap() refuses to batch custom_lin, naming it", () => {
  assertThrows(
    () => BATCH_RULES.custom_lin([], [0], { bwd: () => [] }, 2),
    TypeError,
    "custom_lin",
  );
});

testEachBackend(
  "vmap() of elementwise ops broadcasts operands of any ranks",
  async () => {
    const shapes = fc.tuple(
      fc.array(fc.constantFrom(1, 2, 3), { maxLength: 3 }),
      fc.array(fc.constantFrom(1, 3), { maxLength: 3 }),
    ).filter(([a, b]) => {
      for (let i = 1; i <= Math.min(a.length, b.length); i++) {
        const x = a[a.length - i]!, y = b[b.length - i]!;
        if (x !== y && x !== 1 && y !== 1) return false;
      }
      return true;
    });
    await fc.assert(
      fc.asyncProperty(shapes, arbBatching, ([s, t], b) =>
        checkCase("add", {
          args: [{ shape: s }, { shape: t }],
          f: (x, y) => h.add(h.mul(x!, 2), y!),
        }, b)),
      { numRuns: 15, seed: 11 },
    );
  },
);
