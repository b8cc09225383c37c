// Reductions: golden values against a Float64 reference over axis lists,
// negative axes and keepdims; first-occurrence ties of argmax/argmin; and
// the numerical stability of logsumexp.

import { assertEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import {
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
  const written = chosen.map((i) => (picks[i]![1] ? i - r : i));
  if (form === "single") {
    const i = chosen[0] ?? r - 1;
    return [picks[i]![1] ? i - r : i, [i]];
  }
  // A shuffled-looking order: reversed, so the op must sort.
  return [written.reverse(), chosen];
}

interface Reduction {
  f: (x: Tensor, opts: h.ReduceOptions) => Tensor;
  ref: (xs: number[]) => number;
  rtol: number;
  nonEmpty?: boolean;
}

const REDUCTIONS: Record<string, Reduction> = {
  sum: { f: h.sum, ref: sumRef, rtol: 1e-5 },
  mean: { f: h.mean, ref: meanRef, rtol: 1e-5 },
  max: { f: h.max, ref: (xs) => Math.max(...xs), rtol: 0 },
  min: { f: h.min, ref: (xs) => Math.min(...xs), rtol: 0 },
  variance: { f: h.variance, ref: varRef, rtol: 1e-4 },
  logsumexp: { f: h.logsumexp, ref: lseRef, rtol: 1e-5 },
};

for (const [name, c] of Object.entries(REDUCTIONS)) {
  testEachBackend(
    `${name} matches a Float64 reference for axis lists, negative axes and keepdims`,
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
            const y = c.f(x, opts);
            const ref = refReduce(
              await values(x),
              shape,
              axes,
              keepdims,
              c.ref,
            );
            assertEquals(
              y.shape,
              ref.shape,
              `${name} ${JSON.stringify(opts)} on [${shape}]`,
            );
            assertEquals(y.dtype, "float32");
            await assertAllClose(
              y,
              ref.data,
              { rtol: c.rtol, atol: 1e-5 },
              name,
            );
          },
        ),
        { numRuns: RUNS },
      );
    },
  );
}

testEachBackend("reductions keep known values on a 2x3 matrix", async () => {
  const x = h.tensor([[1, 5, 3], [4, 2, 6]]);
  assertEquals(await h.sum(x).item(), 21);
  assertEquals(await h.sum(x, { axis: 0 }).array(), [5, 7, 9]);
  assertEquals(await h.sum(x, { axis: -1, keepdims: true }).array(), [[9], [
    12,
  ]]);
  assertEquals(await h.sum(x, { axis: [0, 1], keepdims: true }).array(), [[
    21,
  ]]);
  assertEquals(await h.mean(x, { axis: 1 }).array(), [3, 4]);
  assertEquals(await h.max(x, { axis: 0 }).array(), [4, 5, 6]);
  assertEquals(await h.min(x, { axis: -1 }).array(), [1, 2]);
  assertEquals(await h.max(x).item(), 6);
  await assertAllClose(h.variance(x, { axis: 1 }), [8 / 3, 8 / 3]);
  await assertAllClose(h.variance(x), 17.5 / 6);
  await assertAllClose(
    h.logsumexp(x, { axis: 1 }),
    [lseRef([1, 5, 3]), lseRef([4, 2, 6])],
  );
});

testEachBackend("an empty axis list leaves the tensor as it is", async () => {
  const x = randomTensor([2, 3], 7);
  for (const f of [h.sum, h.max, h.min, h.mean]) {
    const y = f(x, { axis: [] });
    assertEquals(y.shape, [2, 3]);
    await assertAllClose(y, x, { rtol: 0, atol: 0 });
  }
});

testEachBackend(
  "reduction dtypes: int32 stays int32, bool sums to int32, mean is float32",
  async () => {
    const i = h.tensor([[1, 2], [3, 4]], { dtype: "int32" });
    const s = h.sum(i, { axis: 0 });
    assertEquals([s.dtype, await s.array()], ["int32", [4, 6]]);
    const m = h.max(i);
    assertEquals([m.dtype, await m.item()], ["int32", 4]);
    assertEquals(h.min(i).dtype, "int32");
    const b = h.sum(h.tensor([true, true, false]));
    assertEquals([b.dtype, await b.item()], ["int32", 2]);
    const mean = h.mean(i);
    assertEquals([mean.dtype, await mean.item()], ["float32", 2.5]);
    assertEquals(h.variance(i).dtype, "float32");
    assertEquals(h.logsumexp(i).dtype, "float32");
    assertEquals(h.sum(2.5).dtype, "float32");
  },
);

testEachBackend(
  "sum over an empty axis is 0 and max of ±Infinity is exact",
  async () => {
    const e = h.sum(h.zeros([0, 3]), { axis: 0 });
    assertEquals([e.shape, await e.array()], [[3], [0, 0, 0]]);
    assertEquals(
      await h.max(h.tensor([-Infinity, -Infinity])).item(),
      -Infinity,
    );
    assertEquals(await h.min(h.tensor([Infinity, 1])).item(), 1);
  },
);

testEachBackend("max and min propagate NaN", async () => {
  assertEquals(Number.isNaN(await h.max(h.tensor([1, NaN, 3])).item()), true);
  assertEquals(Number.isNaN(await h.min(h.tensor([1, NaN, 3])).item()), true);
});

// ----------------------------------------------------------- argmax/argmin

/** Small integers, so that ties are common. */
function tieTensor(shape: readonly number[], seed: number): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return h.tensor(Float32Array.from({ length: n }, () => Math.floor(r() * 3)), {
    shape,
  });
}

const ARG = {
  argmax: { f: h.argmax, ref: argRef((a, b) => a > b) },
  argmin: { f: h.argmin, ref: argRef((a, b) => a < b) },
};

for (const [name, c] of Object.entries(ARG)) {
  testEachBackend(
    `${name} picks the first occurrence on ties along any axis`,
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
            const y = c.f(x, { axis: written, keepdims });
            const ref = refReduce(
              await values(x),
              shape,
              [axis],
              keepdims,
              c.ref,
            );
            assertEquals(y.dtype, "int32");
            assertEquals(y.shape, ref.shape);
            assertEquals(await values(y), ref.data);
          },
        ),
        { numRuns: RUNS },
      );
    },
  );

  testEachBackend(
    `${name} without an axis indexes the flattened tensor`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          arbShape(0, 3, [1, 2, 3]),
          arbSeed,
          async (shape, seed) => {
            const x = tieTensor(shape, seed);
            const y = c.f(x);
            assertEquals(y.shape, []);
            assertEquals(await y.item(), c.ref(await values(x)));
          },
        ),
        { numRuns: RUNS },
      );
    },
  );
}

testEachBackend("argmax and argmin keep known values with ties", async () => {
  const x = h.tensor([[1, 3, 3], [2, 2, 1], [0, 0, 0]]);
  assertEquals(await h.argmax(x, { axis: 1 }).array(), [1, 0, 0]);
  assertEquals(await h.argmin(x, { axis: 1 }).array(), [0, 2, 0]);
  assertEquals(await h.argmax(x, { axis: 0 }).array(), [1, 0, 0]);
  assertEquals(await h.argmin(x, { axis: -2 }).array(), [2, 2, 2]);
  assertEquals(await h.argmax(x, { axis: 1, keepdims: true }).array(), [[1], [
    0,
  ], [0]]);
  assertEquals(await h.argmax(x).item(), 1);
  assertEquals(await h.argmin(x).item(), 6);
  assertEquals(await h.argmax(h.tensor([true, false, true])).item(), 0);
  assertEquals(
    await h.argmin(h.tensor([3, 1, 1], { dtype: "int32" })).item(),
    1,
  );
});

// ---------------------------------------------------------------- logsumexp

testEachBackend(
  "logsumexp of [1e4, 1e4] is 1e4 + ln 2 and of [-1e4, -1e4] is -1e4 + ln 2",
  async () => {
    const hi = await h.logsumexp(h.tensor([1e4, 1e4])).item();
    const lo = await h.logsumexp(h.tensor([-1e4, -1e4])).item();
    // float32 spacing near 1e4 is ~1e-3.
    await assertAllClose(hi, 1e4 + Math.LN2, { rtol: 0, atol: 2e-3 });
    await assertAllClose(lo, -1e4 + Math.LN2, { rtol: 0, atol: 2e-3 });
  },
);

testEachBackend(
  "logsumexp of a row shifted by ±1e4 is the shift plus logsumexp(row)",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 4 }),
        arbSeed,
        fc.constantFrom(1e4, -1e4),
        async (n, rows, seed, shift) => {
          const x = randomTensor([rows, n], seed);
          const y = h.logsumexp(h.add(x, shift), { axis: -1 });
          const shifted = await values(h.add(x, shift));
          const expected = refReduce(shifted, [rows, n], [1], false, lseRef);
          const base = refReduce(
            await values(x),
            [rows, n],
            [1],
            false,
            lseRef,
          );
          const got = await values(y);
          for (const v of got) assertEquals(Number.isFinite(v), true);
          await assertAllClose(got, expected.data, { rtol: 0, atol: 3e-3 });
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
    const y = await values(h.logsumexp(x, { axis: 1 }));
    assertEquals(y[0], -Infinity);
    await assertAllClose(y[1]!, Math.LN2);
    assertEquals(await h.logsumexp(h.tensor([-Infinity])).item(), -Infinity);
  },
);

testEachBackend(
  "logsumexp of a row holding +Infinity is +Infinity, not NaN",
  async () => {
    // Regression: shifting by an infinite maximum used to give inf - inf = NaN.
    assertEquals(await h.logsumexp(h.tensor([Infinity, 1])).item(), Infinity);
    const y = await values(
      h.logsumexp(h.tensor([[Infinity, -Infinity], [1, 2]]), { axis: -1 }),
    );
    assertEquals(y[0], Infinity);
    await assertAllClose(y[1]!, lseRef([1, 2]));
  },
);

testEachBackend(
  "logsumexp is at least the maximum and at most maximum + ln n",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 3, [1, 2, 5]),
        arbSeed,
        async (shape, seed) => {
          const x = h.mul(randomTensor(shape, seed), 50);
          const l = await values(h.logsumexp(x, { axis: -1 }));
          const m = await values(h.max(x, { axis: -1 }));
          const n = shape[shape.length - 1]!;
          l.forEach((v, i) => {
            assertEquals(
              v >= m[i]! - 1e-4 && v <= m[i]! + Math.log(n) + 1e-4,
              true,
            );
          });
        },
      ),
      { numRuns: RUNS },
    );
  },
);
