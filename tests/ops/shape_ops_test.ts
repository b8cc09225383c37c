// Shape ops: values against index-level references, and round trips
// (reshape, transpose, expandDims/squeeze, slice/concat, stack, pad, take,
// oneHot).

import { assertEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
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

const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let ax = shape.length - 1; ax >= 0; ax--) {
    idx[ax] = flat % shape[ax]!;
    flat = Math.floor(flat / shape[ax]!);
  }
  return idx;
}

function ravel(idx: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let ax = 0; ax < shape.length; ax++) f = f * shape[ax]! + idx[ax]!;
  return f;
}

/** Builds a row-major array of `shape` from a function of the multi-index. */
function build(
  shape: readonly number[],
  at: (idx: number[]) => number,
): number[] {
  return Array.from({ length: sizeOf(shape) }, (_, f) => at(unravel(f, shape)));
}

/** Distinct values 0, 1, 2, ... in a tensor of `shape`: every move shows. */
const iota = (shape: readonly number[]) =>
  h.tensor(Float32Array.from({ length: sizeOf(shape) }, (_, i) => i), {
    shape,
  });

/** fast-check: a permutation of `0..n-1`. */
const arbPerm = (n: number) =>
  fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n });

// ------------------------------------------------------------------ reshape

testEachBackend(
  "reshape keeps the row-major order and infers one -1",
  async () => {
    const x = iota([2, 3, 4]);
    const y = h.reshape(x, [4, -1]);
    assertEquals(y.shape, [4, 6]);
    assertEquals(await values(y), await values(x));
    assertEquals(h.reshape(x, [-1]).shape, [24]);
    assertEquals(h.reshape(x, [2, -1, 3]).shape, [2, 4, 3]);
    assertEquals(h.reshape(h.tensor(5), [1, 1]).shape, [1, 1]);
    assertEquals(h.reshape(h.zeros([0, 3]), [3, -1]).shape, [3, 0]);
    assertEquals(await h.reshape(h.tensor([[1, 2], [3, 4]]), [4]).array(), [
      1,
      2,
      3,
      4,
    ]);
    assertEquals(h.flatten(x).shape, [24]);
  },
);

testEachBackend(
  "reshape to any factorisation and back is the identity",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 4),
        arbShape(0, 4),
        fc.nat(),
        async (a, b, pos) => {
          // Reshape [a..., b...] to [b..., a...] with one axis written as -1.
          const x = iota([...a, ...b]);
          const target = [...b, ...a];
          const written = target.length === 0
            ? target
            : target.map((d, i) => (i === pos % target.length ? -1 : d));
          const y = h.reshape(x, written);
          assertEquals(y.shape, target);
          assertEquals(await values(y), await values(x));
          await assertAllClose(h.reshape(y, x.shape), x, { rtol: 0, atol: 0 });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

// ---------------------------------------------------------------- transpose

testEachBackend(
  "transpose moves elements as the permutation says",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 4, [1, 2, 3]).chain((s) =>
          fc.tuple(fc.constant(s), arbPerm(s.length))
        ),
        fc.boolean(),
        async ([shape, perm], negative) => {
          const x = iota(shape);
          const written = negative ? perm.map((p) => p - shape.length) : perm;
          const y = h.transpose(x, written);
          const outShape = perm.map((p) => shape[p]!);
          assertEquals(y.shape, outShape);
          const expected = build(outShape, (o) => {
            const src = new Array<number>(shape.length);
            perm.forEach((p, i) => (src[p] = o[i]!));
            return ravel(src, shape);
          });
          assertEquals(await values(y), expected);
          // The inverse permutation undoes it.
          const inv = new Array<number>(perm.length);
          perm.forEach((p, i) => (inv[p] = i));
          await assertAllClose(h.transpose(y, inv), x, { rtol: 0, atol: 0 });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "transpose without a permutation reverses the axes",
  async () => {
    assertEquals(await h.transpose(h.tensor([[1, 2, 3], [4, 5, 6]])).array(), [
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    assertEquals(h.transpose(iota([2, 3, 4])).shape, [4, 3, 2]);
    assertEquals(await h.transpose(h.tensor(3)).item(), 3);
  },
);

// ------------------------------------------------------ expandDims, squeeze

testEachBackend(
  "expandDims then squeeze of that axis is the identity",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3).chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.integer({ min: -(s.length + 1), max: s.length }),
          )
        ),
        async ([shape, axis]) => {
          const x = iota(shape);
          const y = h.expandDims(x, axis);
          const at = axis < 0 ? axis + shape.length + 1 : axis;
          const expected = [...shape];
          expected.splice(at, 0, 1);
          assertEquals(y.shape, expected);
          assertEquals(await values(y), await values(x));
          assertEquals(h.squeeze(y, axis).shape, shape);
          await assertAllClose(h.squeeze(y, at), x, { rtol: 0, atol: 0 });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("squeeze removes all size-1 axes, or only those named", () => {
  const x = h.zeros([1, 3, 1, 2, 1]);
  assertEquals(h.squeeze(x).shape, [3, 2]);
  assertEquals(h.squeeze(x, 0).shape, [3, 1, 2, 1]);
  assertEquals(h.squeeze(x, [-1, 2]).shape, [1, 3, 2]);
  assertEquals(h.squeeze(h.zeros([1, 1])).shape, []);
});

// -------------------------------------------------------------- broadcastTo

testEachBackend(
  "broadcastTo repeats values along new and size-1 axes",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbBroadcastPair(), async ([a, b]) => {
        // Broadcast the smaller-or-equal one to the common shape.
        const rank = Math.max(a.length, b.length);
        const target = Array.from({ length: rank }, (_, i) => {
          const da = a[i - (rank - a.length)] ?? 1,
            db = b[i - (rank - b.length)] ?? 1;
          return Math.max(da, db);
        });
        const x = iota(a);
        const y = h.broadcastTo(x, target);
        assertEquals(y.shape, target);
        const off = rank - a.length;
        const expected = build(
          target,
          (o) => ravel(a.map((d, i) => (d === 1 ? 0 : o[i + off]!)), a),
        );
        assertEquals(await values(y), expected);
      }),
      { numRuns: RUNS },
    );
    assertEquals(await h.broadcastTo(h.tensor([1, 2]), [2, 2]).array(), [
      [1, 2],
      [1, 2],
    ]);
    assertEquals(await h.broadcastTo(3, [2]).array(), [3, 3]);
  },
);

// -------------------------------------------------------------------- slice

testEachBackend("slice takes begin..begin+size on each axis", async () => {
  await fc.assert(
    fc.asyncProperty(
      arbShape(1, 3, [1, 2, 3, 5]).chain((s) =>
        fc.tuple(
          fc.constant(s),
          fc.tuple(...s.map((d) => fc.integer({ min: 0, max: d }))),
          fc.tuple(...s.map(() => fc.nat())),
          fc.tuple(...s.map(() => fc.nat(2))),
        )
      ),
      async ([shape, begins, sizeSeeds, forms]) => {
        const x = iota(shape);
        const sizes = shape.map((d, i) => sizeSeeds[i]! % (d - begins[i]! + 1));
        // Write each begin as positive or negative, and some sizes as -1.
        const begin = begins.map((
          b,
          i,
        ) => (forms[i] === 1 && b < shape[i]! ? b - shape[i]! : b));
        const size = sizes.map((s, i) => (forms[i] === 2 ? -1 : s));
        const outShape = shape.map((
          d,
          i,
        ) => (forms[i] === 2 ? d - begins[i]! : sizes[i]!));
        const y = h.slice(x, begin, size);
        assertEquals(y.shape, outShape);
        const expected = build(
          outShape,
          (o) => ravel(o.map((c, i) => c + begins[i]!), shape),
        );
        assertEquals(await values(y), expected);
      },
    ),
    { numRuns: RUNS },
  );
});

testEachBackend(
  "slice keeps known values; missing axes are taken whole",
  async () => {
    const x = h.tensor([[1, 2, 3], [4, 5, 6]]);
    assertEquals(await h.slice(x, [1]).array(), [[4, 5, 6]]);
    assertEquals(await h.slice(x, [0, 1], [2, 2]).array(), [[2, 3], [5, 6]]);
    assertEquals(await h.slice(x, [-1, -2]).array(), [[5, 6]]);
    assertEquals(await h.slice(x, [0, 1], [-1, 1]).array(), [[2], [5]]);
    assertEquals(h.slice(x, [0, 3]).shape, [2, 0]);
  },
);

// ------------------------------------------------------------------- concat

testEachBackend(
  "concat of the slices of a tensor along any axis rebuilds it",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 3, [1, 2, 4, 5]).chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.integer({ min: 0, max: s.length - 1 }),
            fc.array(fc.nat(5), { maxLength: 3 }),
            fc.boolean(),
          )
        ),
        async ([shape, axis, cutSeeds, negative]) => {
          const x = iota(shape);
          const d = shape[axis]!;
          const cuts = [
            0,
            ...cutSeeds.map((c) => c % (d + 1)).sort((a, b) => a - b),
            d,
          ];
          const parts = cuts.slice(1).map((end, i) => {
            const begin = shape.map((_, j) => (j === axis ? cuts[i]! : 0));
            const size = shape.map((e, j) => (j === axis ? end - cuts[i]! : e));
            return h.slice(x, begin, size);
          });
          const y = h.concat(parts, negative ? axis - shape.length : axis);
          await assertAllClose(y, x, { rtol: 0, atol: 0 });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "concat keeps known values and promotes dtypes as binary ops do",
  async () => {
    const a = h.tensor([[1, 2], [3, 4]]), b = h.tensor([[5, 6]]);
    assertEquals(await h.concat([a, b]).array(), [[1, 2], [3, 4], [5, 6]]);
    assertEquals(await h.concat([a, h.transpose(b)], 1).array(), [[1, 2, 5], [
      3,
      4,
      6,
    ]]);
    assertEquals(await h.concat([a, h.transpose(b)], -1).array(), [[1, 2, 5], [
      3,
      4,
      6,
    ]]);
    const one = h.concat([a]);
    assertEquals(await one.array(), await a.array());
    // Mixed dtypes promote (as NumPy and JAX concatenate), they do not throw.
    const mixed = h.concat([
      h.tensor([1], { dtype: "int32" }),
      h.tensor([0.5]),
    ]);
    assertEquals([mixed.dtype, await mixed.array()], ["float32", [1, 0.5]]);
    const ints = h.concat([
      h.tensor([1], { dtype: "int32" }),
      h.tensor([2], { dtype: "int32" }),
    ]);
    assertEquals(ints.dtype, "int32");
  },
);

// -------------------------------------------------------------------- stack

testEachBackend(
  "stack equals concat of expandDims and slicing recovers each part",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3).chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.integer({ min: -(s.length + 1), max: s.length }),
            fc.integer({ min: 1, max: 4 }),
          )
        ),
        arbSeed,
        async ([shape, axis, n], seed) => {
          const xs = Array.from(
            { length: n },
            (_, i) => randomTensor(shape, seed + i),
          );
          const y = h.stack(xs, axis);
          const at = axis < 0 ? axis + shape.length + 1 : axis;
          const expectedShape = [...shape];
          expectedShape.splice(at, 0, n);
          assertEquals(y.shape, expectedShape);
          await assertAllClose(
            y,
            h.concat(xs.map((x) => h.expandDims(x, axis)), at),
            {
              rtol: 0,
              atol: 0,
            },
          );
          for (let i = 0; i < n; i++) {
            const begin = expectedShape.map((_, j) => (j === at ? i : 0));
            const size = expectedShape.map((d, j) => (j === at ? 1 : d));
            await assertAllClose(
              h.squeeze(h.slice(y, begin, size), at),
              xs[i]!,
              {
                rtol: 0,
                atol: 0,
              },
            );
          }
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("stack keeps known values", async () => {
  const a = h.tensor([1, 2]), b = h.tensor([3, 4]);
  assertEquals(await h.stack([a, b]).array(), [[1, 2], [3, 4]]);
  assertEquals(await h.stack([a, b], 1).array(), [[1, 3], [2, 4]]);
  assertEquals(await h.stack([a, b], -1).array(), [[1, 3], [2, 4]]);
  assertEquals(await h.stack([h.tensor(1), h.tensor(2), 3]).array(), [1, 2, 3]);
});

// ---------------------------------------------------------------------- pad

testEachBackend(
  "pad surrounds the tensor with the value and slicing undoes it",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3, [1, 2, 3]).chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.tuple(...s.map(() => fc.tuple(fc.nat(2), fc.nat(2)))),
          )
        ),
        fc.constantFrom(0, -1.5, 7),
        async ([shape, widths], value) => {
          const x = h.add(iota(shape), 100);
          const w = widths as [number, number][];
          const y = value === 0 ? h.pad(x, w) : h.pad(x, w, value);
          const outShape = shape.map((d, i) => d + w[i]![0] + w[i]![1]);
          assertEquals(y.shape, outShape);
          const expected = build(outShape, (o) => {
            const src = o.map((c, i) => c - w[i]![0]);
            return src.every((c, i) => c >= 0 && c < shape[i]!)
              ? ravel(src, shape) + 100
              : value;
          });
          assertEquals(await values(y), expected);
          await assertAllClose(h.slice(y, w.map((p) => p[0]), shape), x, {
            rtol: 0,
            atol: 0,
          });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("pad keeps known values", async () => {
  assertEquals(await h.pad(h.tensor([1, 2]), [[1, 2]]).array(), [
    0,
    1,
    2,
    0,
    0,
  ]);
  assertEquals(await h.pad(h.tensor([[1]]), [[0, 1], [1, 0]], 9).array(), [[
    9,
    1,
  ], [9, 9]]);
  const i = h.pad(h.tensor([1], { dtype: "int32" }), [[1, 0]]);
  assertEquals([i.dtype, await i.array()], ["int32", [0, 1]]);
});

// --------------------------------------------------------------------- take

testEachBackend(
  "take gathers along any axis with negative and clamped indices",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 3, [1, 2, 3, 4]).chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.integer({ min: 0, max: s.length - 1 }),
            arbShape(0, 2, [1, 2, 3]),
          )
        ),
        arbSeed,
        async ([shape, axis, idxShape], seed) => {
          const x = iota(shape);
          const d = shape[axis]!;
          const r = rng(seed);
          // Indices in [-d - 2, d + 2): negatives wrap once, the rest clamp.
          const raw = Array.from(
            { length: sizeOf(idxShape) },
            () => Math.floor(r() * (2 * d + 4)) - d - 2,
          );
          const idx = h.tensor(Int32Array.from(raw), { shape: idxShape });
          const y = h.take(x, idx, axis);
          const outShape = [
            ...shape.slice(0, axis),
            ...idxShape,
            ...shape.slice(axis + 1),
          ];
          assertEquals(y.shape, outShape);
          const norm = raw.map((i) =>
            Math.min(Math.max(i < 0 ? i + d : i, 0), d - 1)
          );
          const k = idxShape.length;
          const expected = build(outShape, (o) => {
            const j = norm[ravel(o.slice(axis, axis + k), idxShape)]!;
            return ravel([...o.slice(0, axis), j, ...o.slice(axis + k)], shape);
          });
          assertEquals(await values(y), expected);
          await assertAllClose(h.gather(x, idx, axis), y, { rtol: 0, atol: 0 });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "take keeps known values, with a number index dropping the axis",
  async () => {
    const emb = h.tensor([[0, 0], [1, 1], [2, 2]]);
    const ids = h.tensor([[2, 0], [1, 1]], { dtype: "int32" });
    assertEquals(await h.take(emb, ids).array(), [[[2, 2], [0, 0]], [[1, 1], [
      1,
      1,
    ]]]);
    assertEquals(await h.take(emb, 1).array(), [1, 1]);
    assertEquals(
      await h.take(emb, h.tensor([-1], { dtype: "int32" })).array(),
      [[2, 2]],
    );
    assertEquals(
      await h.take(
        h.tensor([[1, 2, 3]]),
        h.tensor([2, 0], { dtype: "int32" }),
        1,
      ).array(),
      [[3, 1]],
    );
    assertEquals(
      await h.take(h.tensor([1, 2, 3]), h.tensor([5], { dtype: "int32" }))
        .array(),
      [3],
    );
  },
);

// ------------------------------------------------------------------- oneHot

testEachBackend(
  "oneHot puts a single 1 at each index and argmax recovers it",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3),
        fc.integer({ min: 1, max: 6 }),
        arbSeed,
        async (shape, depth, seed) => {
          const r = rng(seed);
          const raw = Array.from(
            { length: sizeOf(shape) },
            () => Math.floor(r() * depth),
          );
          const idx = h.tensor(Int32Array.from(raw), { shape });
          const y = h.oneHot(idx, depth);
          assertEquals(y.shape, [...shape, depth]);
          assertEquals(y.dtype, "float32");
          const expected = build(
            [...shape, depth],
            (
              o,
            ) => (o[o.length - 1] === raw[ravel(o.slice(0, -1), shape)]
              ? 1
              : 0),
          );
          assertEquals(await values(y), expected);
          await assertAllClose(h.argmax(y, { axis: -1 }), idx, {
            rtol: 0,
            atol: 0,
          });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "oneHot of an out-of-range index is a row of zeros",
  async () => {
    const y = h.oneHot(h.tensor([0, 2, 3, -1], { dtype: "int32" }), 3);
    assertEquals(await y.array(), [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]);
    assertEquals(await h.oneHot(1, 2).array(), [0, 1]);
  },
);

// ------------------------------------------------------------------ general

testEachBackend(
  "shape ops keep the dtype and never change their input",
  async () => {
    const x = h.tensor([[1, 2], [3, 4]], { dtype: "int32" });
    const b = h.tensor([[true, false]]);
    for (
      const y of [
        h.reshape(x, [4]),
        h.transpose(x),
        h.slice(x, [1]),
        h.concat([x, x]),
        h.stack([x, x]),
        h.pad(x, [[1, 0], [0, 1]]),
        h.take(x, 0),
        h.broadcastTo(x, [3, 2, 2]),
        h.expandDims(x, 0),
      ]
    ) assertEquals(y.dtype, "int32");
    assertEquals(h.transpose(b).dtype, "bool");
    assertEquals(h.concat([b, b]).dtype, "bool");
    assertEquals(await x.array(), [[1, 2], [3, 4]]);
  },
);
