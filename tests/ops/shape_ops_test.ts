// Shape ops: values against index-level references, and round trips
// (reshape, transpose, expandDims/squeeze, slice/concat, stack, pad, take,
// oneHot). Inputs hold distinct values 0, 1, 2, ... so that every move shows;
// each property reads its tensors in one batch (readback dominates on WebGPU).

import { assertEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import {
  arbBroadcastPair,
  arbSeed,
  arbShape,
  randomTensor,
  readAll,
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

/** 0, 1, 2, ... in row-major order: element i of the result is its source index. */
const iota = (shape: readonly number[]) =>
  h.tensor(Float32Array.from({ length: sizeOf(shape) }, (_, i) => i), {
    shape,
  });

const range = (n: number) => [...Array(n).keys()];

/** fast-check: a permutation of `0..n-1`. */
const arbPerm = (n: number) =>
  fc.shuffledSubarray(range(n), { minLength: n, maxLength: n });

// ------------------------------------------------------------------ reshape

testEachBackend(
  "reshape keeps the row-major order and infers one -1",
  async () => {
    const x = iota([2, 3, 4]);
    const cases: [Tensor, number[]][] = [
      [h.reshape(x, [4, -1]), [4, 6]],
      [h.reshape(x, [-1]), [24]],
      [h.reshape(x, [2, -1, 3]), [2, 4, 3]],
      [h.flatten(x), [24]],
      [h.reshape(h.tensor(5), [1, 1]), [1, 1]],
      [h.reshape(h.zeros([0, 3]), [3, -1]), [3, 0]],
    ];
    assertEquals(cases.map(([y]) => y.shape), cases.map(([, s]) => s));
    const got = await readAll(cases.map(([y]) => y));
    for (const g of got.slice(0, 4)) assertEquals(g, range(24));
    assertEquals(got.slice(4), [[5], []]);
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
          const shape = [...a, ...b], target = [...b, ...a];
          const x = iota(shape);
          const written = target.map((
            d,
            i,
          ) => (i === pos % target.length ? -1 : d));
          const y = h.reshape(x, written), back = h.reshape(y, shape);
          assertEquals([y.shape, back.shape], [target, shape]);
          const [yv, backV] = await readAll([y, back]);
          assertEquals(yv, range(sizeOf(shape)));
          assertEquals(backV, range(sizeOf(shape)));
        },
      ),
      { numRuns: RUNS },
    );
  },
);

// ---------------------------------------------------------------- transpose

testEachBackend(
  "transpose moves elements as the permutation says and its inverse undoes it",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 4, [1, 2, 3]).chain((s) =>
          fc.tuple(fc.constant(s), arbPerm(s.length))
        ),
        fc.boolean(),
        async ([shape, perm], negative) => {
          const x = iota(shape);
          const y = h.transpose(
            x,
            negative ? perm.map((p) => p - shape.length) : perm,
          );
          const outShape = perm.map((p) => shape[p]!);
          const inv = new Array<number>(perm.length);
          perm.forEach((p, i) => (inv[p] = i));
          const back = h.transpose(y, inv);
          assertEquals([y.shape, back.shape], [outShape, shape]);
          const expected = build(outShape, (o) => {
            const src = new Array<number>(shape.length);
            perm.forEach((p, i) => (src[p] = o[i]!));
            return ravel(src, shape);
          });
          assertEquals(await readAll([y, back]), [
            expected,
            range(sizeOf(shape)),
          ]);
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "transpose without a permutation reverses the axes",
  async () => {
    const m = h.transpose(h.tensor([[1, 2, 3], [4, 5, 6]]));
    assertEquals([m.shape, h.transpose(iota([2, 3, 4])).shape], [[3, 2], [
      4,
      3,
      2,
    ]]);
    assertEquals(await readAll([m, h.transpose(h.tensor(3))]), [[
      1,
      4,
      2,
      5,
      3,
      6,
    ], [3]]);
  },
);

// ------------------------------------------------------ expandDims, squeeze

testEachBackend(
  "expandDims inserts a size-1 axis and squeeze of that axis removes it",
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
          const back = h.squeeze(y, axis), back2 = h.squeeze(y, at);
          assertEquals([y.shape, back.shape, back2.shape], [
            expected,
            shape,
            shape,
          ]);
          const got = await readAll([y, back, back2]);
          for (const g of got) assertEquals(g, range(sizeOf(shape)));
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
  assertEquals(h.squeeze(h.zeros([2, 3])).shape, [2, 3]);
});

// -------------------------------------------------------------- broadcastTo

testEachBackend(
  "broadcastTo repeats values along new and size-1 axes",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbBroadcastPair(), async ([a, b]) => {
        const rank = Math.max(a.length, b.length);
        const target = range(rank).map((i) =>
          Math.max(a[i - (rank - a.length)] ?? 1, b[i - (rank - b.length)] ?? 1)
        );
        const y = h.broadcastTo(iota(a), target);
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
    const got = await readAll([
      h.broadcastTo(h.tensor([1, 2]), [2, 2]),
      h.broadcastTo(3, [2]),
    ]);
    assertEquals(got, [[1, 2, 1, 2], [3, 3]]);
  },
);

// -------------------------------------------------------------------- slice

testEachBackend(
  "slice takes begin..begin+size on each axis (negative begins, size -1)",
  async () => {
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
          const sizes = shape.map((d, i) =>
            sizeSeeds[i]! % (d - begins[i]! + 1)
          );
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
          const y = h.slice(iota(shape), begin, size);
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
  },
);

testEachBackend(
  "slice keeps known values; missing axes are taken whole",
  async () => {
    const x = h.tensor([[1, 2, 3], [4, 5, 6]]);
    const ys = [
      h.slice(x, [1]),
      h.slice(x, [0, 1], [2, 2]),
      h.slice(x, [-1, -2]),
      h.slice(x, [0, 1], [-1, 1]),
      h.slice(x, [0, 3]),
    ];
    assertEquals(ys.map((y) => y.shape), [[1, 3], [2, 2], [1, 2], [2, 1], [
      2,
      0,
    ]]);
    assertEquals(await readAll(ys), [
      [4, 5, 6],
      [2, 3, 5, 6],
      [5, 6],
      [2, 5],
      [],
    ]);
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
          const parts = cuts.slice(1).map((end, i) =>
            h.slice(
              x,
              shape.map((_, j) => (j === axis ? cuts[i]! : 0)),
              shape.map((e, j) => (j === axis ? end - cuts[i]! : e)),
            )
          );
          const y = h.concat(parts, negative ? axis - shape.length : axis);
          assertEquals(y.shape, shape);
          assertEquals(await values(y), range(sizeOf(shape)));
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
    // Mixed dtypes promote (as NumPy and JAX concatenate), they do not throw.
    const mixed = h.concat([
      h.tensor([1], { dtype: "int32" }),
      h.tensor([0.5]),
    ]);
    const ints = h.concat([
      h.tensor([1], { dtype: "int32" }),
      h.tensor([2], { dtype: "int32" }),
    ]);
    assertEquals([mixed.dtype, ints.dtype], ["float32", "int32"]);
    const ys = [
      h.concat([a, b]),
      h.concat([a, h.transpose(b)], 1),
      h.concat([a, h.transpose(b)], -1),
      h.concat([a]),
    ];
    assertEquals(ys.map((y) => y.shape), [[3, 2], [2, 3], [2, 3], [2, 2]]);
    assertEquals(await readAll([...ys, mixed, ints]), [
      [1, 2, 3, 4, 5, 6],
      [1, 2, 5, 3, 4, 6],
      [1, 2, 5, 3, 4, 6],
      [1, 2, 3, 4],
      [1, 0.5],
      [1, 2],
    ]);
  },
);

// -------------------------------------------------------------------- stack

testEachBackend(
  "stack equals concat of expandDims, and slicing recovers each part",
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
          const xs = range(n).map((i) => randomTensor(shape, seed + i));
          const y = h.stack(xs, axis);
          const at = axis < 0 ? axis + shape.length + 1 : axis;
          const outShape = [...shape];
          outShape.splice(at, 0, n);
          assertEquals(y.shape, outShape);
          const viaConcat = h.concat(xs.map((x) => h.expandDims(x, axis)), at);
          const parts = range(n).map((i) =>
            h.squeeze(
              h.slice(
                y,
                outShape.map((_, j) => (j === at ? i : 0)),
                outShape.map((d, j) => (j === at ? 1 : d)),
              ),
              at,
            )
          );
          const [yv, cv, ...rest] = await readAll([
            y,
            viaConcat,
            ...parts,
            ...xs,
          ]);
          assertEquals(yv, cv);
          assertEquals(rest.slice(0, n), rest.slice(n));
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("stack keeps known values", async () => {
  const a = h.tensor([1, 2]), b = h.tensor([3, 4]);
  const ys = [
    h.stack([a, b]),
    h.stack([a, b], 1),
    h.stack([a, b], -1),
    h.stack([h.tensor(1), h.tensor(2), 3]),
  ];
  assertEquals(ys.map((y) => y.shape), [[2, 2], [2, 2], [2, 2], [3]]);
  assertEquals(await readAll(ys), [[1, 2, 3, 4], [1, 3, 2, 4], [1, 3, 2, 4], [
    1,
    2,
    3,
  ]]);
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
          const [yv, back] = await readAll([
            y,
            h.slice(y, w.map((p) => p[0]), shape),
          ]);
          assertEquals(yv, expected);
          assertEquals(back, range(sizeOf(shape)).map((i) => i + 100));
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("pad keeps known values and the dtype", async () => {
  const i = h.pad(h.tensor([1], { dtype: "int32" }), [[1, 0]]);
  assertEquals(i.dtype, "int32");
  const got = await readAll([
    h.pad(h.tensor([1, 2]), [[1, 2]]),
    h.pad(h.tensor([[1]]), [[0, 1], [1, 0]], 9),
    i,
  ]);
  assertEquals(got, [[0, 1, 2, 0, 0], [9, 1, 9, 9], [0, 1]]);
});

// --------------------------------------------------------------------- take

testEachBackend(
  "take gathers along any axis, wrapping negative indices once and clamping the rest",
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
          const d = shape[axis]!;
          const r = rng(seed);
          // Indices in [-d - 2, d + 2).
          const raw = range(sizeOf(idxShape)).map(() =>
            Math.floor(r() * (2 * d + 4)) - d - 2
          );
          const idx = h.tensor(Int32Array.from(raw), { shape: idxShape });
          const y = h.take(iota(shape), idx, axis);
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
          const [yv, gv] = await readAll([y, h.gather(iota(shape), idx, axis)]);
          assertEquals(yv, expected);
          assertEquals(gv, expected);
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
    const i32 = (v: number[][] | number[]) => h.tensor(v, { dtype: "int32" });
    const ys = [
      h.take(emb, i32([[2, 0], [1, 1]])),
      h.take(emb, 1),
      h.take(emb, i32([-1])),
      h.take(h.tensor([[1, 2, 3]]), i32([2, 0]), 1),
      h.take(h.tensor([1, 2, 3]), i32([5])),
    ];
    assertEquals(ys.map((y) => y.shape), [[2, 2, 2], [2], [1, 2], [1, 2], [1]]);
    assertEquals(await readAll(ys), [[2, 2, 0, 0, 1, 1, 1, 1], [1, 1], [2, 2], [
      3,
      1,
    ], [3]]);
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
          const raw = range(sizeOf(shape)).map(() => Math.floor(r() * depth));
          const y = h.oneHot(h.tensor(Int32Array.from(raw), { shape }), depth);
          assertEquals([y.shape, y.dtype], [[...shape, depth], "float32"]);
          const expected = build(
            [...shape, depth],
            (
              o,
            ) => (o[o.length - 1] === raw[ravel(o.slice(0, -1), shape)]
              ? 1
              : 0),
          );
          const [yv, back] = await readAll([y, h.argmax(y, { axis: -1 })]);
          assertEquals(yv, expected);
          assertEquals(back, raw);
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "oneHot of an out-of-range index is a row of zeros",
  async () => {
    const got = await readAll([
      h.oneHot(h.tensor([0, 2, 3, -1], { dtype: "int32" }), 3),
      h.oneHot(1, 2),
    ]);
    assertEquals(got, [[1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0], [0, 1]]);
  },
);

// ------------------------------------------------------------------ general

testEachBackend(
  "shape ops keep the dtype and never change their input",
  async () => {
    const x = h.tensor([[1, 2], [3, 4]], { dtype: "int32" });
    const b = h.tensor([[true, false]]);
    const ys = [
      h.reshape(x, [4]),
      h.transpose(x),
      h.slice(x, [1]),
      h.concat([x, x]),
      h.stack([x, x]),
      h.pad(x, [[1, 0], [0, 1]]),
      h.take(x, 0),
      h.broadcastTo(x, [3, 2, 2]),
      h.expandDims(x, 0),
      h.squeeze(h.expandDims(x, 1)),
    ];
    for (const y of ys) assertEquals(y.dtype, "int32");
    assertEquals([
      h.transpose(b).dtype,
      h.concat([b, b]).dtype,
      h.take(b, 0).dtype,
    ], ["bool", "bool", "bool"]);
    assertEquals(await x.array(), [[1, 2], [3, 4]]);
  },
);
