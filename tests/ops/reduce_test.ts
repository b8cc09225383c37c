// Reductions: golden values against a Float64 reference over axis lists,
// negative axes and keepdims; first-occurrence ties of argmax/argmin; and
// the numerical stability of logsumexp. Each property reads its tensors in
// one batch (readback dominates on WebGPU).

import { assertEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import {
  arbSeed,
  arbShape,
  assertAllClose,
  randomTensor,
  readAll,
  rng,
  RUNS,
  testEachBackend,
} from "../_helpers.ts";

// ---------------------------------------------------------------- reference

interface Ref {
  shape: number[];
  data: number[];
}

/**
 * Reduces `data` of `shape` over the (non-negative, sorted) `axes` with
 * `f`, which sees the reduced elements in row-major order.
 */
function refReduce(
  data: readonly number[],
  shape: readonly number[],
  axes: readonly number[],
  keepdims: boolean,
  f: (xs: number[]) => number,
): Ref {
  const outShape = shape.filter((_, i) => !axes.includes(i));
  const nOut = outShape.reduce((a, b) => a * b, 1);
  const groups: number[][] = Array.from({ length: nOut }, () => []);
  for (let flat = 0; flat < data.length; flat++) {
    let rem = flat, out = 0, stride = 1;
    for (let ax = shape.length - 1; ax >= 0; ax--) {
      const c = rem % shape[ax]!;
      rem = Math.floor(rem / shape[ax]!);
      if (!axes.includes(ax)) {
        out += c * stride;
        stride *= shape[ax]!;
      }
    }
    groups[out]!.push(data[flat]!);
  }
  return {
    shape: keepdims
      ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : outShape,
    data: groups.map(f),
  };
}

const sumRef = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const meanRef = (xs: number[]) => sumRef(xs) / xs.length;
const varRef = (xs: number[]) => {
  const m = meanRef(xs);
  return meanRef(xs.map((x) => (x - m) ** 2));
};
const lseRef = (xs: number[]) => {
  const m = Math.max(...xs);
  if (!Number.isFinite(m)) return m;
  return m + Math.log(sumRef(xs.map((x) => Math.exp(x - m))));
};
const argRef =
  (better: (a: number, b: number) => boolean) => (xs: number[]) => {
    let best = 0;
    for (let i = 1; i < xs.length; i++) if (better(xs[i]!, xs[best]!)) best = i;
    return best;
  };

/** fast-check: a shape of rank 0..4 with an axis selection for it. */
const arbAxes = arbShape(0, 4, [1, 2, 3, 4]).chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    // Each axis is picked or not, and written as a positive or negative index.
    picks: fc.array(fc.tuple(fc.boolean(), fc.boolean()), {
      minLength: shape.length,
      maxLength: shape.length,
    }),
    form: fc.constantFrom("list", "single", "all"),
    keepdims: fc.boolean(),
  })
);

/** The axis option to pass, and the sorted non-negative axes it means. */
function axisOption(
  shape: readonly number[],
  picks: readonly [boolean, boolean][],
  form: string,
): [number | number[] | undefined, number[]] {
  const r = shape.length;
  const all = [...Array(r).keys()];
  if (form === "all" || r === 0) return [undefined, all];
  const chosen = all.filter((i) => picks[i]![0]);
  if (form === "single") {
    const i = chosen[0] ?? r - 1;
    return [picks[i]![1] ? i - r : i, [i]];
  }
  // Written in reverse order, so the op must sort them.
  return [chosen.map((i) => (picks[i]![1] ? i - r : i)).reverse(), chosen];
}

const REDUCTIONS: [
  string,
  (x: Tensor, o: h.ReduceOptions) => Tensor,
  (xs: number[]) => number,
  number,
][] = [
  ["sum", h.sum, sumRef, 1e-5],
  ["mean", h.mean, meanRef, 1e-5],
  ["max", h.max, (xs) => Math.max(...xs), 0],
  ["min", h.min, (xs) => Math.min(...xs), 0],
  ["variance", h.variance, varRef, 1e-4],
  ["logsumexp", h.logsumexp, lseRef, 1e-5],
];

testEachBackend(
  "sum, mean, max, min, variance and logsumexp match Float64 for axis lists, negative axes and keepdims",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbAxes,
        arbSeed,
        async ({ shape, picks, form, keepdims }, seed) => {
          const x = randomTensor(shape, seed);
          const [axis, axes] = axisOption(shape, picks, form);
          const opts: h.ReduceOptions = axis === undefined
            ? { keepdims }
            : { axis, keepdims };
          const ys = REDUCTIONS.map(([, f]) => f(x, opts));
          const [xv, ...got] = await readAll([x, ...ys]);
          for (const [i, [name, , ref, rtol]] of REDUCTIONS.entries()) {
            const r = refReduce(xv!, shape, axes, keepdims, ref);
            const label = `${name}(${JSON.stringify(opts)}) on [${shape}]`;
            assertEquals(
              [ys[i]!.shape, ys[i]!.dtype],
              [r.shape, "float32"],
              label,
            );
            await assertAllClose(got[i], r.data, { rtol, atol: 1e-5 }, label);
          }
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("reductions keep known values on a 2x3 matrix", async () => {
  const x = h.tensor([[1, 5, 3], [4, 2, 6]]);
  const cases: [Tensor, number[][] | number[] | number][] = [
    [h.sum(x), 21],
    [h.sum(x, { axis: 0 }), [5, 7, 9]],
    [h.sum(x, { axis: -1, keepdims: true }), [[9], [12]]],
    [h.sum(x, { axis: [0, 1], keepdims: true }), [[21]]],
    [h.mean(x, { axis: 1 }), [3, 4]],
    [h.max(x, { axis: 0 }), [4, 5, 6]],
    [h.min(x, { axis: -1 }), [1, 2]],
    [h.max(x), 6],
    [h.variance(x, { axis: 1 }), [8 / 3, 8 / 3]],
    [h.variance(x), 17.5 / 6],
    [h.logsumexp(x, { axis: 1 }), [lseRef([1, 5, 3]), lseRef([4, 2, 6])]],
  ];
  const got = await readAll(cases.map(([y]) => y));
  for (const [i, [y, expected]] of cases.entries()) {
    const shape = Array.isArray(expected)
      ? Array.isArray(expected[0])
        ? [expected.length, (expected[0] as number[]).length]
        : [expected.length]
      : [];
    assertEquals(y.shape, shape);
    await assertAllClose(
      got[i],
      expected,
      { rtol: 1e-6, atol: 1e-6 },
      `case ${i}`,
    );
  }
});

testEachBackend("an empty axis list leaves the tensor as it is", async () => {
  const x = randomTensor([2, 3], 7);
  const ys = [h.sum, h.max, h.min, h.mean].map((f) => f(x, { axis: [] }));
  for (const y of ys) assertEquals(y.shape, [2, 3]);
  const [xv, ...got] = await readAll([x, ...ys]);
  for (const g of got) assertEquals(g, xv);
});

testEachBackend(
  "reduction dtypes: int32 stays int32, bool sums to int32, mean is float32",
  async () => {
    const i = h.tensor([[1, 2], [3, 4]], { dtype: "int32" });
    const ys = [
      h.sum(i, { axis: 0 }),
      h.max(i),
      h.min(i),
      h.sum(h.tensor([true, true, false])),
      h.mean(i),
      h.variance(i),
      h.logsumexp(i),
      h.sum(2.5),
    ];
    assertEquals(ys.map((y) => y.dtype), [
      "int32",
      "int32",
      "int32",
      "int32",
      "float32",
      "float32",
      "float32",
      "float32",
    ]);
    const got = await readAll(ys.slice(0, 5));
    assertEquals(got, [[4, 6], [4], [1], [2], [2.5]]);
  },
);

testEachBackend(
  "sum over an empty axis is 0, and ±Infinity and NaN go through max/min",
  async () => {
    const e = h.sum(h.zeros([0, 3]), { axis: 0 });
    assertEquals(e.shape, [3]);
    const got = await readAll([
      e,
      h.max(h.tensor([-Infinity, -Infinity])),
      h.min(h.tensor([Infinity, 1])),
      h.max(h.tensor([1, NaN, 3])),
      h.min(h.tensor([1, NaN, 3])),
    ]);
    assertEquals(got, [[0, 0, 0], [-Infinity], [1], [NaN], [NaN]]);
  },
);

// ----------------------------------------------------------- argmax/argmin

/** Small integers, so that ties are common. */
function tieTensor(shape: readonly number[], seed: number): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return h.tensor(Float32Array.from({ length: n }, () => Math.floor(r() * 3)), {
    shape,
  });
}

const ARG: [
  string,
  (x: Tensor, o?: h.ArgReduceOptions) => Tensor,
  (xs: number[]) => number,
][] = [
  ["argmax", h.argmax, argRef((a, b) => a > b)],
  ["argmin", h.argmin, argRef((a, b) => a < b)],
];

testEachBackend(
  "argmax and argmin pick the first occurrence on ties, along any axis or flattened",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 4, [1, 2, 3, 5]),
        arbSeed,
        fc.integer({ min: -4, max: 4 }),
        fc.boolean(),
        async (shape, seed, rawAxis, keepdims) => {
          const x = tieTensor(shape, seed);
          const r = shape.length;
          const axis = ((rawAxis % r) + r) % r;
          const written = rawAxis < 0 ? axis - r : axis;
          const ys = ARG.flatMap((
            [, f],
          ) => [f(x, { axis: written, keepdims }), f(x)]);
          const [xv, ...got] = await readAll([x, ...ys]);
          for (const [i, [name, , ref]] of ARG.entries()) {
            const along = refReduce(xv!, shape, [axis], keepdims, ref);
            const [y, flat] = [ys[2 * i]!, ys[2 * i + 1]!];
            assertEquals([y.dtype, y.shape, flat.shape], [
              "int32",
              along.shape,
              [],
            ], name);
            assertEquals(got[2 * i], along.data, `${name} axis ${written}`);
            assertEquals(got[2 * i + 1], [ref(xv!)], `${name} flattened`);
          }
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("argmax and argmin keep known values with ties", async () => {
  const x = h.tensor([[1, 3, 3], [2, 2, 1], [0, 0, 0]]);
  const got = await readAll([
    h.argmax(x, { axis: 1 }),
    h.argmin(x, { axis: 1 }),
    h.argmax(x, { axis: 0 }),
    h.argmin(x, { axis: -2 }),
    h.argmax(x, { axis: 1, keepdims: true }),
    h.argmax(x),
    h.argmin(x),
    h.argmax(h.tensor([true, false, true])),
    h.argmin(h.tensor([3, 1, 1], { dtype: "int32" })),
  ]);
  assertEquals(got, [
    [1, 0, 0],
    [0, 2, 0],
    [1, 0, 0],
    [2, 2, 2],
    [1, 0, 0],
    [1],
    [6],
    [0],
    [1],
  ]);
  assertEquals(h.argmax(x, { axis: 1, keepdims: true }).shape, [3, 1]);
});

// ---------------------------------------------------------------- logsumexp

testEachBackend(
  "logsumexp of [1e4, 1e4] is 1e4 + ln 2 and of [-1e4, -1e4] is -1e4 + ln 2",
  async () => {
    const [hi, lo] = await readAll([
      h.logsumexp(h.tensor([1e4, 1e4])),
      h.logsumexp(h.tensor([-1e4, -1e4])),
    ]);
    // float32 spacing near 1e4 is ~1e-3.
    await assertAllClose(hi, [1e4 + Math.LN2], { rtol: 0, atol: 2e-3 });
    await assertAllClose(lo, [-1e4 + Math.LN2], { rtol: 0, atol: 2e-3 });
  },
);

testEachBackend(
  "logsumexp of rows shifted by ±1e4 is finite and equals shift + logsumexp(row)",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 4 }),
        arbSeed,
        fc.constantFrom(1e4, -1e4),
        async (n, rows, seed, shift) => {
          const x = randomTensor([rows, n], seed);
          const [xv, got] = await readAll([
            x,
            h.logsumexp(h.add(x, shift), { axis: -1 }),
          ]);
          for (const v of got!) {
            assertEquals(Number.isFinite(v), true, `${v} is not finite`);
          }
          const base = refReduce(xv!, [rows, n], [1], false, lseRef);
          // float32 rounding of x + shift alone moves values by up to ~5e-4.
          await assertAllClose(got, base.data.map((b) => b + shift), {
            rtol: 0,
            atol: 3e-3,
          });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "logsumexp of a row of -Infinity is -Infinity, not NaN",
  async () => {
    const x = h.tensor([[-Infinity, -Infinity, -Infinity], [0, -Infinity, 0]]);
    const [rows, one] = await readAll([
      h.logsumexp(x, { axis: 1 }),
      h.logsumexp(h.tensor([-Infinity])),
    ]);
    await assertAllClose(rows, [-Infinity, Math.LN2]);
    assertEquals(one, [-Infinity]);
  },
);

testEachBackend(
  "logsumexp of a row holding +Infinity is +Infinity, not NaN",
  async () => {
    // Regression: shifting by an infinite maximum used to give inf - inf = NaN.
    const [one, rows] = await readAll([
      h.logsumexp(h.tensor([Infinity, 1])),
      h.logsumexp(h.tensor([[Infinity, -Infinity], [1, 2]]), { axis: -1 }),
    ]);
    assertEquals(one, [Infinity]);
    await assertAllClose(rows, [Infinity, lseRef([1, 2])]);
  },
);

testEachBackend(
  "logsumexp lies between the maximum and the maximum + ln n",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 3, [1, 2, 5]),
        arbSeed,
        async (shape, seed) => {
          const x = h.mul(randomTensor(shape, seed), 50);
          const [l, m] = await readAll([
            h.logsumexp(x, { axis: -1 }),
            h.max(x, { axis: -1 }),
          ]);
          const n = shape[shape.length - 1]!;
          l!.forEach((v, i) => {
            const ok = v >= m![i]! - 1e-4 && v <= m![i]! + Math.log(n) + 1e-4;
            assertEquals(ok, true, `logsumexp ${v} vs max ${m![i]} (n = ${n})`);
          });
        },
      ),
      { numRuns: RUNS },
    );
  },
);
