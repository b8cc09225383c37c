// Elementwise ops: golden values against plain JS (Float64) on the same
// float32 inputs, heed's dtype promotion rules, and NumPy broadcasting laws.

import { assertEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { DType, Tensor } from "../../mod.ts";
import {
  arbBroadcastPair,
  arbSeed,
  arbShape,
  assertAllClose,
  randomTensor,
  rng,
  RUNS,
  testEachBackend,
  values,
} from "../_helpers.ts";

// ---------------------------------------------------------------- reference

/** NumPy's broadcast shape, or null when the shapes are incompatible. */
function npBroadcast(...shapes: (readonly number[])[]): number[] | null {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i, d = s[i]!;
      if (d === out[o] || d === 1) continue;
      if (out[o] !== 1) return null;
      out[o] = d;
    }
  }
  return out;
}

/** For each flat index of `out`, the flat index of `shape` it reads. */
function broadcastIndex(
  shape: readonly number[],
  out: readonly number[],
): number[] {
  const n = out.reduce((a, b) => a * b, 1);
  const off = out.length - shape.length;
  const idx: number[] = [];
  for (let f = 0; f < n; f++) {
    let rem = f, src = 0, stride = 1;
    for (let ax = out.length - 1; ax >= 0; ax--) {
      const c = rem % out[ax]!;
      rem = Math.floor(rem / out[ax]!);
      const a = ax - off;
      if (a >= 0) {
        if (shape[a]! !== 1) src += c * stride;
        stride *= shape[a]!;
      }
    }
    idx.push(src);
  }
  return idx;
}

/** Applies `f` elementwise with NumPy broadcasting, in Float64. */
async function refBroadcast(
  xs: readonly Tensor[],
  f: (...v: number[]) => number,
): Promise<{ shape: number[]; data: number[] }> {
  const shape = npBroadcast(...xs.map((x) => x.shape))!;
  const data = await Promise.all(xs.map(values));
  const idx = xs.map((x) => broadcastIndex(x.shape, shape));
  const n = shape.reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(f(...data.map((d, j) => d[idx[j]![i]!]!)));
  }
  return { shape, data: out };
}

/** erf in Float64 by its Maclaurin series (exact to ~1e-10 for |x| ≤ 4). */
function erfRef(x: number): number {
  if (Math.abs(x) > 4) return Math.sign(x);
  let term = x, acc = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const t = term / (2 * n + 1);
    acc += t;
    if (Math.abs(t) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * acc;
}

const sigmoidRef = (x: number) => 1 / (1 + Math.exp(-x));
const geluTanhRef = (x: number) =>
  0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const geluExactRef = (x: number) => 0.5 * x * (1 + erfRef(x / Math.SQRT2));

/** A float32 tensor of small integers (-2..2), so comparisons see ties. */
function smallInts(shape: readonly number[], seed: number): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return h.tensor(
    Float32Array.from({ length: n }, () => Math.floor(r() * 5) - 2),
    { shape },
  );
}

// ------------------------------------------------------------ unary golden

interface UnaryGolden {
  f: (x: Tensor) => Tensor;
  ref: (x: number) => number;
  domain: "any" | "positive";
}

const UNARY: Record<string, UnaryGolden> = {
  neg: { f: h.neg, ref: (x) => -x, domain: "any" },
  abs: { f: h.abs, ref: Math.abs, domain: "any" },
  sign: { f: h.sign, ref: Math.sign, domain: "any" },
  exp: { f: h.exp, ref: Math.exp, domain: "any" },
  log: { f: h.log, ref: Math.log, domain: "positive" },
  log1p: { f: h.log1p, ref: Math.log1p, domain: "positive" },
  sqrt: { f: h.sqrt, ref: Math.sqrt, domain: "positive" },
  rsqrt: { f: h.rsqrt, ref: (x) => 1 / Math.sqrt(x), domain: "positive" },
  sin: { f: h.sin, ref: Math.sin, domain: "any" },
  cos: { f: h.cos, ref: Math.cos, domain: "any" },
  tanh: { f: h.tanh, ref: Math.tanh, domain: "any" },
  erf: { f: h.erf, ref: erfRef, domain: "any" },
  sigmoid: { f: h.sigmoid, ref: sigmoidRef, domain: "any" },
  relu: { f: h.relu, ref: (x) => Math.max(x, 0), domain: "any" },
  gelu: { f: (x) => h.gelu(x), ref: geluTanhRef, domain: "any" },
  "gelu (exact)": {
    f: (x) => h.gelu(x, { approximate: false }),
    ref: geluExactRef,
    domain: "any",
  },
  square: { f: h.square, ref: (x) => x * x, domain: "any" },
};

for (const [name, c] of Object.entries(UNARY)) {
  testEachBackend(
    `${name} matches Math in Float64 on random float32 inputs`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          arbShape(0, 3, [1, 2, 5]),
          arbSeed,
          async (shape, seed) => {
            const x = randomTensor(shape, seed, c.domain);
            const y = c.f(x);
            assertEquals(y.shape, x.shape);
            assertEquals(y.dtype, "float32");
            const expected = (await values(x)).map(c.ref);
            await assertAllClose(y, expected, { rtol: 2e-6, atol: 2e-6 }, name);
          },
        ),
        { numRuns: RUNS },
      );
    },
  );
}

testEachBackend(
  "unary ops give the IEEE results at special points",
  async () => {
    const x = h.tensor([0, -0.5, Infinity, -Infinity, NaN]);
    await assertAllClose(h.exp(x), [1, Math.exp(-0.5), Infinity, 0, NaN]);
    await assertAllClose(h.log(h.tensor([0, -1, Infinity, 1])), [
      -Infinity,
      NaN,
      Infinity,
      0,
    ]);
    await assertAllClose(h.sqrt(h.tensor([0, -1, 4])), [0, NaN, 2]);
    await assertAllClose(h.rsqrt(h.tensor([0, 4])), [Infinity, 0.5]);
    await assertAllClose(h.sign(h.tensor([-3, 0, 2, NaN])), [-1, 0, 1, NaN]);
    await assertAllClose(h.tanh(h.tensor([-50, 50])), [-1, 1]);
    await assertAllClose(h.erf(h.tensor([-10, 0, 10])), [-1, 0, 1]);
    await assertAllClose(h.log1p(h.tensor([1e-7, -1])), [
      1e-7 - 5e-15,
      -Infinity,
    ], {
      rtol: 1e-6,
    });
  },
);

testEachBackend("sigmoid is stable for large |x| and symmetric", async () => {
  const y = await values(
    h.sigmoid(h.tensor([-1000, -100, -20, 0, 20, 100, 1000])),
  );
  await assertAllClose(y, [
    0,
    Math.exp(-100),
    sigmoidRef(-20),
    0.5,
    sigmoidRef(20),
    1,
    1,
  ], {
    // e^-100 is a float32 subnormal, so only its magnitude is checked.
    rtol: 1e-5,
    atol: 1e-40,
  });
  await fc.assert(
    fc.asyncProperty(arbSeed, async (seed) => {
      const x = h.mul(randomTensor([17], seed), 20);
      await assertAllClose(
        h.add(h.sigmoid(x), h.sigmoid(h.neg(x))),
        h.full([17], 1),
        {
          atol: 1e-6,
        },
      );
    }),
    { numRuns: RUNS },
  );
});

testEachBackend("relu, gelu, square and abs keep known values", async () => {
  const x = h.tensor([-2, -0.5, 0, 0.5, 2]);
  await assertAllClose(h.relu(x), [0, 0, 0, 0.5, 2]);
  await assertAllClose(h.gelu(h.tensor([1])), [0.8411919906082768], {
    rtol: 1e-6,
  });
  await assertAllClose(h.gelu(h.tensor([1]), { approximate: false }), [
    0.8413447460685429,
  ], {
    rtol: 1e-6,
  });
  await assertAllClose(h.square(x), [4, 0.25, 0, 0.25, 4]);
  await assertAllClose(h.abs(x), [2, 0.5, 0, 0.5, 2]);
});

// ----------------------------------------------------------- binary golden

interface BinaryGolden {
  f: (x: Tensor, y: Tensor) => Tensor;
  ref: (a: number, b: number) => number;
  positive?: boolean;
}

const BINARY: Record<string, BinaryGolden> = {
  add: { f: h.add, ref: (a, b) => a + b },
  sub: { f: h.sub, ref: (a, b) => a - b },
  mul: { f: h.mul, ref: (a, b) => a * b },
  div: { f: h.div, ref: (a, b) => a / b },
  pow: { f: h.pow, ref: (a, b) => a ** b, positive: true },
  maximum: { f: h.maximum, ref: Math.max },
  minimum: { f: h.minimum, ref: Math.min },
};

for (const [name, c] of Object.entries(BINARY)) {
  testEachBackend(
    `${name} matches Float64 JS and follows NumPy broadcasting on random pairs`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          arbBroadcastPair(),
          arbSeed,
          async ([sa, sb], seed) => {
            const domain = c.positive ? "positive" : "any";
            const x = randomTensor(sa, seed, domain),
              y = randomTensor(sb, seed + 1, domain);
            const z = c.f(x, y);
            const ref = await refBroadcast([x, y], c.ref);
            // The result shape is NumPy's broadcast shape ...
            assertEquals(z.shape, ref.shape);
            assertEquals(z.dtype, "float32");
            await assertAllClose(z, ref.data, { rtol: 2e-6, atol: 1e-6 }, name);
            // ... and broadcasting first changes nothing.
            const s = ref.shape;
            await assertAllClose(
              z,
              c.f(h.broadcastTo(x, s), h.broadcastTo(y, s)),
              {
                rtol: 0,
                atol: 0,
              },
            );
          },
        ),
        { numRuns: RUNS },
      );
    },
  );
}

testEachBackend(
  "binary ops keep known values, including NaN propagation",
  async () => {
    const a = h.tensor([1, -2, 3]), b = h.tensor([4, 5, -6]);
    await assertAllClose(h.add(a, b), [5, 3, -3]);
    await assertAllClose(h.sub(a, b), [-3, -7, 9]);
    await assertAllClose(h.mul(a, b), [4, -10, -18]);
    await assertAllClose(h.div(a, b), [0.25, -0.4, -0.5]);
    await assertAllClose(h.pow(h.tensor([2, 4, 9]), h.tensor([3, 0.5, -0.5])), [
      8,
      2,
      1 / 3,
    ]);
    await assertAllClose(h.pow(h.tensor([0, -8]), h.tensor([0, 1 / 3])), [
      1,
      NaN,
    ]);
    await assertAllClose(h.div(h.tensor([1, -1, 0]), 0), [
      Infinity,
      -Infinity,
      NaN,
    ]);
    await assertAllClose(
      h.maximum(h.tensor([NaN, 1, 2]), h.tensor([1, NaN, 1])),
      [NaN, NaN, 2],
    );
    await assertAllClose(
      h.minimum(h.tensor([NaN, 1, 2]), h.tensor([1, NaN, 1])),
      [NaN, NaN, 1],
    );
    await assertAllClose(h.clip(h.tensor([-2, 0.25, 2]), -1, 1), [-1, 0.25, 1]);
  },
);

testEachBackend("a broadcast row and column give an outer sum", async () => {
  const col = h.tensor([[0], [10], [20]]), row = h.tensor([1, 2]);
  const z = h.add(col, row);
  assertEquals(z.shape, [3, 2]);
  assertEquals(await z.array(), [[1, 2], [11, 12], [21, 22]]);
});

testEachBackend(
  "clip equals minimum(maximum(x, lo), hi) on random inputs",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbShape(0, 3), arbSeed, async (shape, seed) => {
        const x = randomTensor(shape, seed);
        const expected = (await values(x)).map((v) =>
          Math.min(Math.max(v, -0.5), 0.75)
        );
        await assertAllClose(h.clip(x, -0.5, 0.75), expected, {
          rtol: 0,
          atol: 0,
        });
      }),
      { numRuns: RUNS },
    );
  },
);

// -------------------------------------------------------------- comparisons

const COMPARE: Record<
  string,
  [(x: Tensor, y: Tensor) => Tensor, (a: number, b: number) => boolean]
> = {
  equal: [h.equal, (a, b) => a === b],
  notEqual: [h.notEqual, (a, b) => a !== b],
  less: [h.less, (a, b) => a < b],
  lessEqual: [h.lessEqual, (a, b) => a <= b],
  greater: [h.greater, (a, b) => a > b],
  greaterEqual: [h.greaterEqual, (a, b) => a >= b],
};

for (const [name, [f, ref]] of Object.entries(COMPARE)) {
  testEachBackend(
    `${name} gives bool, broadcasts, and matches JS (ties included)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          arbBroadcastPair(),
          arbSeed,
          fc.constantFrom<DType>("float32", "int32"),
          async ([sa, sb], seed, dtype) => {
            const x = h.cast(smallInts(sa, seed), dtype),
              y = h.cast(smallInts(sb, seed + 1), dtype);
            const z = f(x, y);
            const r = await refBroadcast([x, y], (a, b) => (ref(a, b) ? 1 : 0));
            assertEquals(z.dtype, "bool");
            assertEquals(z.shape, r.shape);
            assertEquals(await values(z), r.data);
          },
        ),
        { numRuns: RUNS },
      );
    },
  );
}

testEachBackend("comparisons with NaN are false except notEqual", async () => {
  const x = h.tensor([NaN, 1]), y = h.tensor([NaN, NaN]);
  assertEquals(await h.equal(x, y).array(), [false, false]);
  assertEquals(await h.notEqual(x, y).array(), [true, true]);
  assertEquals(await h.less(x, y).array(), [false, false]);
  assertEquals(await h.greaterEqual(x, y).array(), [false, false]);
});

testEachBackend(
  "logical ops follow their truth tables and broadcast",
  async () => {
    const a = h.tensor([[true], [false]]), b = h.tensor([true, false]);
    assertEquals(await h.logicalAnd(a, b).array(), [[true, false], [
      false,
      false,
    ]]);
    assertEquals(await h.logicalOr(a, b).array(), [[true, true], [
      true,
      false,
    ]]);
    assertEquals(await h.logicalNot(b).array(), [false, true]);
    assertEquals(await h.logicalAnd(b, true).array(), [true, false]);
    assertEquals(h.logicalOr(a, b).dtype, "bool");
  },
);

// -------------------------------------------------------------------- where

/** fast-check: three shapes that broadcast together. */
const arbBroadcastTriple: fc.Arbitrary<[number[], number[], number[]]> = fc
  .tuple(
    arbShape(0, 3),
    fc.array(fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), {
      minLength: 3,
      maxLength: 3,
    }),
    fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 3, maxLength: 3 }),
  )
  .map(([base, ones, drops]) =>
    [0, 1, 2].map((k) =>
      base.map((d, i) => (ones[k]![i] ? 1 : d)).slice(
        Math.min(drops[k]!, base.length),
      )
    ) as [number[], number[], number[]]
  );

testEachBackend(
  "where picks per element with three-way broadcasting",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbBroadcastTriple,
        arbSeed,
        async ([sc, st, sf], seed) => {
          const c = h.greater(randomTensor(sc, seed), 0);
          const t = randomTensor(st, seed + 1), f = randomTensor(sf, seed + 2);
          const z = h.where(c, t, f);
          const r = await refBroadcast(
            [c, t, f],
            (ci, ti, fi) => (ci ? ti : fi),
          );
          assertEquals(z.shape, r.shape);
          await assertAllClose(z, r.data, { rtol: 0, atol: 0 });
          const s = r.shape;
          await assertAllClose(
            z,
            h.where(
              h.broadcastTo(c, s),
              h.broadcastTo(t, s),
              h.broadcastTo(f, s),
            ),
            { rtol: 0, atol: 0 },
          );
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("where with number branches keeps known values", async () => {
  const x = h.tensor([-1, 2, -3]);
  assertEquals(await h.where(h.greater(x, 0), x, 0).array(), [0, 2, 0]);
  assertEquals(await h.where(h.tensor([true, false]), 1, -1).array(), [1, -1]);
});

// --------------------------------------------------------------------- cast

testEachBackend(
  "cast truncates toward zero, maps nonzero to true, and bool to 0/1",
  async () => {
    const x = h.tensor([-2.7, -0.5, 0, 0.5, 2.7, 7]);
    const i = h.cast(x, "int32");
    assertEquals(i.dtype, "int32");
    assertEquals(await i.array(), [-2, 0, 0, 0, 2, 7]);
    const b = h.cast(x, "bool");
    assertEquals(b.dtype, "bool");
    assertEquals(await b.array(), [true, true, false, true, true, true]);
    const f = h.cast(h.tensor([true, false]), "float32");
    assertEquals([f.dtype, await f.array()], ["float32", [1, 0]]);
    assertEquals(await h.cast(h.tensor([true, false]), "int32").array(), [
      1,
      0,
    ]);
    assertEquals(
      await h.cast(h.cast(h.tensor([3, -4]), "int32"), "float32").array(),
      [3, -4],
    );
    assertEquals(await h.cast(2.5, "int32").item(), 2);
  },
);

testEachBackend(
  "cast round trips float32 → int32 → float32 on integers",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbShape(0, 3), arbSeed, async (shape, seed) => {
        const x = smallInts(shape, seed);
        await assertAllClose(h.cast(h.cast(x, "int32"), "float32"), x, {
          rtol: 0,
          atol: 0,
        });
      }),
      { numRuns: RUNS },
    );
  },
);

// --------------------------------------------------------------- promotion

const i32 = (v: number[]) => h.tensor(v, { dtype: "int32" });
const b8 = (v: boolean[]) => h.tensor(v);

interface PromotionCase {
  y: () => Tensor;
  dtype: DType;
  value: number[];
}

const PROMOTION: Record<string, PromotionCase> = {
  "int32 + int32 is int32": {
    y: () => h.add(i32([1]), i32([2])),
    dtype: "int32",
    value: [3],
  },
  "int32 + 1 keeps int32 (weak number)": {
    y: () => h.add(i32([1]), 1),
    dtype: "int32",
    value: [2],
  },
  "int32 + 1.5 widens to float32": {
    y: () => h.add(i32([1]), 1.5),
    dtype: "float32",
    value: [2.5],
  },
  "int32 + float32 is float32": {
    y: () => h.add(i32([1]), h.tensor([0.5])),
    dtype: "float32",
    value: [1.5],
  },
  "float32 * 2 stays float32": {
    y: () => h.mul(h.tensor([1.5]), 2),
    dtype: "float32",
    value: [3],
  },
  "bool + bool is int32": {
    y: () => h.add(b8([true]), b8([true])),
    dtype: "int32",
    value: [2],
  },
  "bool + 1 is int32": {
    y: () => h.add(b8([true]), 1),
    dtype: "int32",
    value: [2],
  },
  "bool * 0.5 is float32": {
    y: () => h.mul(b8([true]), 0.5),
    dtype: "float32",
    value: [0.5],
  },
  "bool + int32 is int32": {
    y: () => h.add(b8([true]), i32([4])),
    dtype: "int32",
    value: [5],
  },
  "number + number is float32": {
    y: () => h.add(1, 2),
    dtype: "float32",
    value: [3],
  },
  "int32 / int32 is float32 true division": {
    y: () => h.div(i32([7, -7]), i32([2, 2])),
    dtype: "float32",
    value: [3.5, -3.5],
  },
  "int32 / 2 is float32": {
    y: () => h.div(i32([3]), 2),
    dtype: "float32",
    value: [1.5],
  },
  "int32 ** int32 stays int32": {
    y: () => h.pow(i32([2, -3]), i32([3, 2])),
    dtype: "int32",
    value: [8, 9],
  },
  "int32 ** 0.5 is float32": {
    y: () => h.pow(i32([4]), 0.5),
    dtype: "float32",
    value: [2],
  },
  "maximum(int32, 2) is int32": {
    y: () => h.maximum(i32([1, 3]), 2),
    dtype: "int32",
    value: [2, 3],
  },
  "minimum(int32, 2.5) is float32": {
    y: () => h.minimum(i32([1, 3]), 2.5),
    dtype: "float32",
    value: [1, 2.5],
  },
  "neg of int32 is int32": {
    y: () => h.neg(i32([3])),
    dtype: "int32",
    value: [-3],
  },
  "neg of bool is int32": {
    y: () => h.neg(b8([true])),
    dtype: "int32",
    value: [-1],
  },
  "abs of int32 is int32": {
    y: () => h.abs(i32([-3])),
    dtype: "int32",
    value: [3],
  },
  "sign of int32 is int32": {
    y: () => h.sign(i32([-3, 0, 5])),
    dtype: "int32",
    value: [-1, 0, 1],
  },
  "square of int32 is int32": {
    y: () => h.square(i32([-3])),
    dtype: "int32",
    value: [9],
  },
  "exp of int32 is float32": {
    y: () => h.exp(i32([0])),
    dtype: "float32",
    value: [1],
  },
  "sqrt of a number is float32": {
    y: () => h.sqrt(4),
    dtype: "float32",
    value: [2],
  },
  "relu of int32 is float32": {
    y: () => h.relu(i32([-1, 2])),
    dtype: "float32",
    value: [0, 2],
  },
  "equal(int32, 1.5) compares in float32": {
    y: () => h.cast(h.equal(i32([1, 2]), 1.5), "int32"),
    dtype: "int32",
    value: [0, 0],
  },
  "equal(bool, 1) compares as numbers": {
    y: () => h.cast(h.equal(b8([true, false]), 1), "int32"),
    dtype: "int32",
    value: [1, 0],
  },
  "where(c, int32, 2) is int32": {
    y: () => h.where(b8([true, false]), i32([1, 2]), 2),
    dtype: "int32",
    value: [1, 2],
  },
  "where(c, int32, 2.5) is float32": {
    y: () => h.where(b8([true, false]), i32([1, 2]), 2.5),
    dtype: "float32",
    value: [1, 2.5],
  },
  "where(c, true, false) is bool": {
    y: () => h.where(b8([true, false]), true, false),
    dtype: "bool",
    value: [1, 0],
  },
  "where(c, 1, 2) is float32": {
    y: () => h.where(b8([true, false]), 1, 2),
    dtype: "float32",
    value: [1, 2],
  },
};

for (const [name, c] of Object.entries(PROMOTION)) {
  testEachBackend(`promotion: ${name}`, async () => {
    const y = c.y();
    assertEquals(y.dtype, c.dtype);
    assertEquals(await values(y), c.value);
  });
}

testEachBackend("comparisons give bool for every dtype pair", async () => {
  const xs: Tensor[] = [h.tensor([1.5]), i32([1]), b8([true])];
  for (const a of xs) {
    for (const b of xs) {
      for (
        const f of [
          h.equal,
          h.notEqual,
          h.less,
          h.lessEqual,
          h.greater,
          h.greaterEqual,
        ]
      ) {
        assertEquals(f(a, b).dtype, "bool");
      }
    }
  }
  assertEquals(await h.less(i32([1]), h.tensor([1.5])).array(), [true]);
});

// --------------------------------------------------------------------- laws

testEachBackend("add and mul commute exactly and x - x is 0", async () => {
  await fc.assert(
    fc.asyncProperty(arbBroadcastPair(), arbSeed, async ([sa, sb], seed) => {
      const x = randomTensor(sa, seed), y = randomTensor(sb, seed + 1);
      await assertAllClose(h.add(x, y), h.add(y, x), { rtol: 0, atol: 0 });
      await assertAllClose(h.mul(x, y), h.mul(y, x), { rtol: 0, atol: 0 });
      await assertAllClose(h.sub(x, x), h.zeros(sa), { rtol: 0, atol: 0 });
    }),
    { numRuns: RUNS },
  );
});

testEachBackend(
  "a JS number operand equals a filled tensor of the same dtype",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3),
        arbSeed,
        fc.double({ min: -3, max: 3, noNaN: true }),
        async (shape, seed, c) => {
          const x = randomTensor(shape, seed);
          const cf = Math.fround(c);
          for (const f of [h.add, h.sub, h.mul, h.maximum, h.minimum]) {
            await assertAllClose(f(x, cf), f(x, h.full(shape, cf)), {
              rtol: 0,
              atol: 0,
            });
            await assertAllClose(f(cf, x), f(h.full(shape, cf), x), {
              rtol: 0,
              atol: 0,
            });
          }
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "exp and log are inverse and log turns products into sums",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbShape(0, 3), arbSeed, async (shape, seed) => {
        const x = randomTensor(shape, seed, "positive"),
          y = randomTensor(shape, seed + 1, "positive");
        await assertAllClose(h.log(h.exp(x)), x, { rtol: 1e-6, atol: 1e-6 });
        await assertAllClose(h.log(h.mul(x, y)), h.add(h.log(x), h.log(y)), {
          rtol: 1e-5,
          atol: 1e-6,
        });
      }),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("elementwise ops never change their inputs", async () => {
  const x = h.tensor([1, 2, 3]);
  h.add(x, 1);
  h.neg(x);
  h.where(h.greater(x, 1), x, 0);
  assertEquals(await x.array(), [1, 2, 3]);
});
