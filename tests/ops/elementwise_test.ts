// Elementwise ops: golden values against plain JS (Float64) on the same
// float32 inputs, heed's dtype promotion rules, and NumPy broadcasting laws.
//
// Readback is the slow part on WebGPU (~11 ms a round trip, but concurrent
// reads overlap), so each property reads all its tensors in one batch.

import { assertEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import { acrossBackends } from "./_backend_pairs.ts";
import type { DType, Tensor } from "../../mod.ts";
import {
  arbBroadcastPair,
  arbSeed,
  arbShape,
  assertAllClose,
  randomTensor,
  readAll,
  rng,
  RUNS,
  testEachBackend,
  type Tolerance,
} from "../_helpers.ts";

// ------------------------------------------------------------------ reading

/** One `assertAllClose` check: actual, expected, tolerance, label. */
type Check = [unknown, unknown, Tolerance?, string?];

/** Runs `assertAllClose` on every check after one batched read. */
async function closeAll(checks: readonly Check[]): Promise<void> {
  const read = await readAll(checks.flatMap(([a, e]) => [a, e]));
  for (const [i, [a, e, tol, msg]] of checks.entries()) {
    if (a instanceof h.Tensor && e instanceof h.Tensor) {
      assertEquals(a.shape, e.shape, msg);
    }
    await assertAllClose(read[2 * i], read[2 * i + 1], tol, msg);
  }
}

const EXACT: Tolerance = { rtol: 0, atol: 0 };

// ---------------------------------------------------------------- reference

/** NumPy's broadcast shape (the shapes are known to be compatible). */
function npBroadcast(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    s.forEach((d, i) => {
      if (d !== 1) out[rank - s.length + i] = d;
    });
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

/** Applies `f` elementwise to host data with NumPy broadcasting, in Float64. */
function refBroadcast(
  shapes: readonly (readonly number[])[],
  data: readonly number[][],
  f: (...v: number[]) => number,
): number[] {
  const shape = npBroadcast(...shapes);
  const idx = shapes.map((s) => broadcastIndex(s, shape));
  const n = shape.reduce((a, b) => a * b, 1);
  return Array.from(
    { length: n },
    (_, i) => f(...data.map((d, j) => d[idx[j]![i]!]!)),
  );
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
  positive?: boolean;
}

const UNARY: Record<string, UnaryGolden> = {
  neg: { f: h.neg, ref: (x) => -x },
  abs: { f: h.abs, ref: Math.abs },
  sign: { f: h.sign, ref: Math.sign },
  exp: { f: h.exp, ref: Math.exp },
  log: { f: h.log, ref: Math.log, positive: true },
  log1p: { f: h.log1p, ref: Math.log1p, positive: true },
  sqrt: { f: h.sqrt, ref: Math.sqrt, positive: true },
  rsqrt: { f: h.rsqrt, ref: (x) => 1 / Math.sqrt(x), positive: true },
  sin: { f: h.sin, ref: Math.sin },
  cos: { f: h.cos, ref: Math.cos },
  tanh: { f: h.tanh, ref: Math.tanh },
  erf: { f: h.erf, ref: erfRef },
  sigmoid: { f: h.sigmoid, ref: sigmoidRef },
  relu: { f: h.relu, ref: (x) => Math.max(x, 0) },
  gelu: { f: (x) => h.gelu(x), ref: geluTanhRef },
  "gelu (exact)": {
    f: (x) => h.gelu(x, { approximate: false }),
    ref: geluExactRef,
  },
  square: { f: h.square, ref: (x) => x * x },
};

testEachBackend(
  "every unary op matches Math in Float64 on random float32 inputs",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3, [1, 2, 5]),
        arbSeed,
        async (shape, seed) => {
          const any = randomTensor(shape, seed),
            pos = randomTensor(shape, seed + 1, "positive");
          const cases = Object.entries(UNARY);
          const ys = cases.map(([, c]) => c.f(c.positive ? pos : any));
          const [anyV, posV, ...got] = await readAll([any, pos, ...ys]);
          for (const [i, [name, c]] of cases.entries()) {
            assertEquals(
              [ys[i]!.shape, ys[i]!.dtype],
              [shape, "float32"],
              name,
            );
            const expected = (c.positive ? posV! : anyV!).map(c.ref);
            await assertAllClose(
              got[i],
              expected,
              { rtol: 2e-6, atol: 2e-6 },
              name,
            );
          }
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "unary ops give the IEEE results at special points",
  async () => {
    const x = h.tensor([0, -0.5, Infinity, -Infinity, NaN]);
    await closeAll([
      [h.exp(x), [1, Math.exp(-0.5), Infinity, 0, NaN]],
      [h.log(h.tensor([0, -1, Infinity, 1])), [-Infinity, NaN, Infinity, 0]],
      [h.sqrt(h.tensor([0, -1, 4])), [0, NaN, 2]],
      [h.rsqrt(h.tensor([0, 4])), [Infinity, 0.5]],
      [h.sign(h.tensor([-3, 0, 2, NaN])), [-1, 0, 1, NaN]],
      [h.tanh(h.tensor([-50, 50])), [-1, 1]],
      [h.erf(h.tensor([-10, 0, 10])), [-1, 0, 1]],
      [h.log1p(h.tensor([1e-7, -1])), [1e-7 - 5e-15, -Infinity], {
        rtol: 1e-6,
      }],
    ]);
  },
);

testEachBackend(
  "sigmoid is stable for large |x| and sigmoid(x) + sigmoid(-x) = 1",
  async () => {
    await closeAll([[
      h.sigmoid(h.tensor([-1000, -100, -20, 0, 20, 100, 1000])),
      [0, Math.exp(-100), sigmoidRef(-20), 0.5, sigmoidRef(20), 1, 1],
      // e^-100 is a float32 subnormal, so only its magnitude is checked.
      { rtol: 1e-5, atol: 1e-40 },
    ]]);
    await fc.assert(
      fc.asyncProperty(arbSeed, async (seed) => {
        const x = h.mul(randomTensor([17], seed), 20);
        await closeAll([[
          h.add(h.sigmoid(x), h.sigmoid(h.neg(x))),
          h.full([17], 1),
          { atol: 1e-6 },
        ]]);
      }),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "relu, gelu, square, abs and clip keep known values",
  async () => {
    const x = h.tensor([-2, -0.5, 0, 0.5, 2]);
    await closeAll([
      [h.relu(x), [0, 0, 0, 0.5, 2]],
      [h.gelu(h.tensor([1])), [0.8411919906082768], { rtol: 1e-6 }],
      [h.gelu(h.tensor([1]), { approximate: false }), [0.8413447460685429], {
        rtol: 1e-6,
      }],
      [h.square(x), [4, 0.25, 0, 0.25, 4]],
      [h.abs(x), [2, 0.5, 0, 0.5, 2]],
      [h.clip(x, -1, 1), [-1, -0.5, 0, 0.5, 1]],
    ]);
  },
);

// ----------------------------------------------------------- binary golden

interface BinaryGolden {
  f: (x: h.TensorLike, y: h.TensorLike) => Tensor;
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

testEachBackend(
  "every binary op matches Float64 JS, gives NumPy's broadcast shape, and equals the op on broadcastTo'd operands",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbBroadcastPair(), arbSeed, async ([sa, sb], seed) => {
        const s = npBroadcast(sa, sb);
        const x = randomTensor(sa, seed), y = randomTensor(sb, seed + 1);
        const px = randomTensor(sa, seed + 2, "positive"),
          py = randomTensor(sb, seed + 3, "positive");
        const cases = Object.entries(BINARY);
        const outs = cases.map(([, c]) => {
          const [a, b] = c.positive ? [px, py] : [x, y];
          return [
            c.f(a, b),
            c.f(h.broadcastTo(a, s), h.broadcastTo(b, s)),
          ] as const;
        });
        const [xv, yv, pxv, pyv, ...got] = await readAll([
          x,
          y,
          px,
          py,
          ...outs.flat(),
        ]);
        for (const [i, [name, c]] of cases.entries()) {
          const z = outs[i]![0];
          assertEquals([z.shape, z.dtype], [s, "float32"], name);
          const data = c.positive ? [pxv!, pyv!] : [xv!, yv!];
          await assertAllClose(
            got[2 * i],
            refBroadcast([sa, sb], data, c.ref),
            {
              rtol: 2e-6,
              atol: 1e-6,
            },
            name,
          );
          await assertAllClose(
            got[2 * i],
            got[2 * i + 1],
            EXACT,
            `${name} vs broadcastTo`,
          );
        }
      }),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "binary ops keep known values, including NaN propagation",
  async () => {
    const a = h.tensor([1, -2, 3]), b = h.tensor([4, 5, -6]);
    await closeAll([
      [h.add(a, b), [5, 3, -3]],
      [h.sub(a, b), [-3, -7, 9]],
      [h.mul(a, b), [4, -10, -18]],
      [h.div(a, b), [0.25, -0.4, -0.5]],
      [h.pow(h.tensor([2, 4, 9]), h.tensor([3, 0.5, -0.5])), [8, 2, 1 / 3]],
      [h.pow(h.tensor([0, -8]), h.tensor([0, 1 / 3])), [1, NaN]],
      [h.div(h.tensor([1, -1, 0]), 0), [Infinity, -Infinity, NaN]],
      [h.maximum(h.tensor([NaN, 1, 2]), h.tensor([1, NaN, 1])), [NaN, NaN, 2]],
      [h.minimum(h.tensor([NaN, 1, 2]), h.tensor([1, NaN, 1])), [NaN, NaN, 1]],
    ]);
  },
);

testEachBackend("a broadcast column and row give an outer sum", async () => {
  const z = h.add(h.tensor([[0], [10], [20]]), h.tensor([1, 2]));
  assertEquals(z.shape, [3, 2]);
  assertEquals(await z.array(), [[1, 2], [11, 12], [21, 22]]);
});

// -------------------------------------------------------------- comparisons

const COMPARE: [
  string,
  (x: Tensor, y: Tensor) => Tensor,
  (a: number, b: number) => boolean,
][] = [
  ["equal", h.equal, (a, b) => a === b],
  ["notEqual", h.notEqual, (a, b) => a !== b],
  ["less", h.less, (a, b) => a < b],
  ["lessEqual", h.lessEqual, (a, b) => a <= b],
  ["greater", h.greater, (a, b) => a > b],
  ["greaterEqual", h.greaterEqual, (a, b) => a >= b],
];

testEachBackend(
  "every comparison gives bool, broadcasts, and matches JS with ties",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbBroadcastPair(),
        arbSeed,
        fc.constantFrom<DType>("float32", "int32"),
        async ([sa, sb], seed, dtype) => {
          const x = h.cast(smallInts(sa, seed), dtype),
            y = h.cast(smallInts(sb, seed + 1), dtype);
          const zs = COMPARE.map(([, f]) => f(x, y));
          const [xv, yv, ...got] = await readAll([x, y, ...zs]);
          for (const [i, [name, , ref]] of COMPARE.entries()) {
            assertEquals([zs[i]!.shape, zs[i]!.dtype], [
              npBroadcast(sa, sb),
              "bool",
            ], name);
            const expected = refBroadcast(
              [sa, sb],
              [xv!, yv!],
              (a, b) => (ref(a, b) ? 1 : 0),
            );
            assertEquals(got[i], expected, name);
          }
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("comparisons with NaN are false except notEqual", async () => {
  const x = h.tensor([NaN, 1]), y = h.tensor([NaN, NaN]);
  const got = await readAll(COMPARE.map(([, f]) => f(x, y)));
  assertEquals(got, [[0, 0], [1, 1], [0, 0], [0, 0], [0, 0], [0, 0]]);
});

testEachBackend(
  "logical ops follow their truth tables and broadcast",
  async () => {
    const a = h.tensor([[true], [false]]), b = h.tensor([true, false]);
    const and = h.logicalAnd(a, b), or = h.logicalOr(a, b);
    assertEquals([and.dtype, or.dtype, and.shape], ["bool", "bool", [2, 2]]);
    const got = await readAll([
      and,
      or,
      h.logicalNot(b),
      h.logicalAnd(b, true),
    ]);
    assertEquals(got, [[1, 0, 0, 0], [1, 1, 1, 0], [0, 1], [1, 0]]);
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
          const s = npBroadcast(sc, st, sf);
          const z = h.where(c, t, f);
          const zb = h.where(
            h.broadcastTo(c, s),
            h.broadcastTo(t, s),
            h.broadcastTo(f, s),
          );
          assertEquals(z.shape, s);
          const [cv, tv, fv, zv, zbv] = await readAll([c, t, f, z, zb]);
          const expected = refBroadcast(
            [sc, st, sf],
            [cv!, tv!, fv!],
            (ci, ti, fi) => (ci ? ti : fi),
          );
          await assertAllClose(zv, expected, EXACT);
          await assertAllClose(zv, zbv, EXACT);
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("where with number branches keeps known values", async () => {
  const x = h.tensor([-1, 2, -3]);
  const got = await readAll([
    h.where(h.greater(x, 0), x, 0),
    h.where(h.tensor([true, false]), 1, -1),
  ]);
  assertEquals(got, [[0, 2, 0], [1, -1]]);
});

// --------------------------------------------------------------------- cast

testEachBackend(
  "cast truncates toward zero, maps nonzero to true, and bool to 0/1",
  async () => {
    const x = h.tensor([-2.7, -0.5, 0, 0.5, 2.7, 7]);
    const i = h.cast(x, "int32"), b = h.cast(x, "bool");
    const f = h.cast(h.tensor([true, false]), "float32");
    assertEquals([i.dtype, b.dtype, f.dtype], ["int32", "bool", "float32"]);
    const got = await readAll([
      i,
      b,
      f,
      h.cast(h.tensor([true, false]), "int32"),
      h.cast(h.cast(h.tensor([3, -4]), "int32"), "float32"),
      h.cast(2.5, "int32"),
      h.cast(h.tensor([NaN]), "bool"),
    ]);
    assertEquals(got, [
      [-2, 0, 0, 0, 2, 7],
      [1, 1, 0, 1, 1, 1],
      [1, 0],
      [1, 0],
      [3, -4],
      [2],
      [1],
    ]);
  },
);

testEachBackend(
  "cast round trips float32 → int32 → float32 on integers",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbShape(0, 3), arbSeed, async (shape, seed) => {
        const x = smallInts(shape, seed);
        await closeAll([[h.cast(h.cast(x, "int32"), "float32"), x, EXACT]]);
      }),
      { numRuns: RUNS },
    );
  },
);

// --------------------------------------------------------------- promotion

const i32 = (v: number[]) => h.tensor(v, { dtype: "int32" });
const b8 = (v: boolean[]) => h.tensor(v);

/** Each case: the op, the dtype it must give, and the values. */
const PROMOTION: [string, () => Tensor, DType, number[]][] = [
  ["int32 + int32 is int32", () => h.add(i32([1]), i32([2])), "int32", [3]],
  [
    "int32 + 1 keeps int32 (the number is weak)",
    () => h.add(i32([1]), 1),
    "int32",
    [2],
  ],
  ["int32 + 1.5 widens to float32", () => h.add(i32([1]), 1.5), "float32", [
    2.5,
  ]],
  [
    "int32 + float32 is float32",
    () => h.add(i32([1]), h.tensor([0.5])),
    "float32",
    [1.5],
  ],
  ["float32 * 2 stays float32", () => h.mul(h.tensor([1.5]), 2), "float32", [
    3,
  ]],
  ["bool + bool is int32", () => h.add(b8([true]), b8([true])), "int32", [2]],
  ["bool + 1 is int32", () => h.add(b8([true]), 1), "int32", [2]],
  ["bool * 0.5 is float32", () => h.mul(b8([true]), 0.5), "float32", [0.5]],
  ["bool + int32 is int32", () => h.add(b8([true]), i32([4])), "int32", [5]],
  ["number + number is float32", () => h.add(1, 2), "float32", [3]],
  [
    "int32 / int32 is float32 true division",
    () => h.div(i32([7, -7]), i32([2, 2])),
    "float32",
    [3.5, -3.5],
  ],
  ["int32 / 2 is float32", () => h.div(i32([3]), 2), "float32", [1.5]],
  [
    "int32 ** int32 stays int32",
    () => h.pow(i32([2, -3]), i32([3, 2])),
    "int32",
    [8, 9],
  ],
  ["int32 ** 0.5 is float32", () => h.pow(i32([4]), 0.5), "float32", [2]],
  ["maximum(int32, 2) is int32", () => h.maximum(i32([1, 3]), 2), "int32", [
    2,
    3,
  ]],
  [
    "minimum(int32, 2.5) is float32",
    () => h.minimum(i32([1, 3]), 2.5),
    "float32",
    [1, 2.5],
  ],
  ["neg of int32 is int32", () => h.neg(i32([3])), "int32", [-3]],
  ["neg of bool is int32", () => h.neg(b8([true])), "int32", [-1]],
  ["abs of int32 is int32", () => h.abs(i32([-3])), "int32", [3]],
  ["sign of int32 is int32", () => h.sign(i32([-3, 0, 5])), "int32", [
    -1,
    0,
    1,
  ]],
  ["square of int32 is int32", () => h.square(i32([-3])), "int32", [9]],
  ["exp of int32 is float32", () => h.exp(i32([0])), "float32", [1]],
  ["sqrt of a number is float32", () => h.sqrt(4), "float32", [2]],
  ["relu of int32 is float32", () => h.relu(i32([-1, 2])), "float32", [0, 2]],
  [
    "clip of int32 by ints is int32",
    () => h.clip(i32([-5, 5]), -1, 1),
    "int32",
    [-1, 1],
  ],
  [
    "equal(int32, 1.5) compares in float32",
    () => h.equal(i32([1, 2]), 1.5),
    "bool",
    [0, 0],
  ],
  [
    "equal(bool, 1) compares as numbers",
    () => h.equal(b8([true, false]), 1),
    "bool",
    [1, 0],
  ],
  [
    "less(int32, float32) compares in float32",
    () => h.less(i32([1]), h.tensor([1.5])),
    "bool",
    [1],
  ],
  [
    "where(c, int32, 2) is int32",
    () => h.where(b8([true, false]), i32([1, 2]), 2),
    "int32",
    [1, 2],
  ],
  [
    "where(c, int32, 2.5) is float32",
    () => h.where(b8([true, false]), i32([1, 2]), 2.5),
    "float32",
    [1, 2.5],
  ],
  [
    "where(c, true, false) is bool",
    () => h.where(b8([true, false]), true, false),
    "bool",
    [1, 0],
  ],
  [
    "where(c, 1, 2) is float32",
    () => h.where(b8([true, false]), 1, 2),
    "float32",
    [1, 2],
  ],
];

testEachBackend(
  "dtype promotion: JS numbers are weak, div is float32, comparisons are bool",
  async () => {
    const ys = PROMOTION.map(([, f]) => f());
    const got = await readAll(ys);
    for (const [i, [name, , dtype, value]] of PROMOTION.entries()) {
      assertEquals([ys[i]!.dtype, got[i]], [dtype, value], name);
    }
  },
);

testEachBackend("comparisons give bool for every dtype pair", () => {
  const xs: Tensor[] = [h.tensor([1.5]), i32([1]), b8([true])];
  for (const a of xs) {
    for (const b of xs) {
      for (const [name, f] of COMPARE) {
        assertEquals(f(a, b).dtype, "bool", `${name}(${a}, ${b})`);
      }
    }
  }
});

// --------------------------------------------------------------------- laws

testEachBackend("add and mul commute exactly and x - x is 0", async () => {
  await fc.assert(
    fc.asyncProperty(arbBroadcastPair(), arbSeed, async ([sa, sb], seed) => {
      const x = randomTensor(sa, seed), y = randomTensor(sb, seed + 1);
      await closeAll([
        [h.add(x, y), h.add(y, x), EXACT],
        [h.mul(x, y), h.mul(y, x), EXACT],
        [h.sub(x, x), h.zeros(sa), EXACT],
      ]);
    }),
    { numRuns: RUNS },
  );
});

testEachBackend(
  "a JS number operand equals a filled tensor, on either side",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3),
        arbSeed,
        fc.double({ min: -3, max: 3, noNaN: true }),
        async (shape, seed, c) => {
          const x = randomTensor(shape, seed);
          const cf = Math.fround(c);
          const checks: Check[] = [];
          for (const [name, { f }] of Object.entries(BINARY)) {
            if (name === "pow") continue; // negative bases: NaN on both sides
            checks.push([f(x, cf), f(x, h.full(shape, cf)), EXACT, name]);
            checks.push([f(cf, x), f(h.full(shape, cf), x), EXACT, name]);
          }
          await closeAll(checks);
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
        await closeAll([
          [h.log(h.exp(x)), x, { rtol: 1e-6, atol: 1e-6 }],
          [h.log(h.mul(x, y)), h.add(h.log(x), h.log(y)), {
            rtol: 1e-5,
            atol: 1e-6,
          }],
        ]);
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

Deno.test("a JS number takes the backend of the op's tensor operand", async () => {
  // Regression: add(x, 1) with x on the CPU failed after setBackend("wasm")
  // with "operands live on different backends".
  await acrossBackends(
    () => ({ x: h.tensor([1, -2, 3]), mask: h.tensor([true, false, true]) }),
    async ({ x, mask }, home, other) => {
      const results = [
        h.add(x, 1),
        h.mul(2, x),
        h.sub(x, 0.5),
        h.pow(x, 2),
        h.maximum(x, 0),
        h.where(mask, x, 0),
        h.where(mask, 1, 0),
        h.logicalOr(mask, false),
        h.greater(x, 0),
        h.clip(x, -1, 1),
        h.logsumexp(x),
        h.take(x, 2),
      ];
      for (const r of results) assertEquals(r.backend.name, home);
      await assertAllClose(results[0], [2, -1, 4]);
      await assertAllClose(results[6], [1, 0, 1]);
      await assertAllClose(results[9], [1, -1, 1]);
      await assertAllClose(results[11], 3);
      // A number with no tensor operand uses the default backend.
      assertEquals(h.add(1, 2).backend.name, other);
    },
  );
});
