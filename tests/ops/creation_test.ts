// Creating tensors: tensor() from nested arrays and typed arrays (shapes and
// inferred dtypes), zeros/ones/full and their *Like forms, arange, linspace
// and eye, against values computed in plain JS.

import { assertEquals, assertStrictEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { DType, Tensor } from "../../mod.ts";
import {
  arbShape,
  assertAllClose,
  readAll,
  RUNS,
  testEachBackend,
  values,
} from "../_helpers.ts";

// ------------------------------------------------------------------- tensor

testEachBackend("tensor infers shapes from nested arrays", async () => {
  const cases: [Tensor, number[], number[]][] = [
    [h.tensor(3.5), [], [3.5]],
    [h.tensor([1, 2, 3]), [3], [1, 2, 3]],
    [h.tensor([[1, 2, 3], [4, 5, 6]]), [2, 3], [1, 2, 3, 4, 5, 6]],
    [h.tensor([[[1], [2]]]), [1, 2, 1], [1, 2]],
    [h.tensor([]), [0], []],
    [h.tensor([[], []]), [2, 0], []],
  ];
  assertEquals(cases.map(([t]) => t.shape), cases.map(([, s]) => s));
  assertEquals(await readAll(cases.map(([t]) => t)), cases.map(([, , v]) => v));
  assertEquals(await h.tensor([[1, 2], [3, 4]]).array(), [[1, 2], [3, 4]]);
});

testEachBackend(
  "tensor infers dtypes: float32 for numbers, bool for booleans, int32 for Int32Array",
  () => {
    const cases: [Tensor, DType][] = [
      [h.tensor([1, 2]), "float32"],
      [h.tensor(1), "float32"],
      [h.tensor([true, false]), "bool"],
      [h.tensor(true), "bool"],
      [h.tensor([1, true]), "float32"],
      [h.tensor([]), "float32"],
      [h.tensor(new Int32Array([1, 2])), "int32"],
      [h.tensor(new Float32Array([1, 2])), "float32"],
      [h.tensor(new Float64Array([1, 2])), "float32"],
      [h.tensor([1, 2], { dtype: "int32" }), "int32"],
      [h.tensor([0, 2], { dtype: "bool" }), "bool"],
    ];
    assertEquals(cases.map(([t]) => t.dtype), cases.map(([, d]) => d));
  },
);

testEachBackend(
  "tensor converts values to the dtype: float32 rounding, int32 truncation, bool as != 0",
  async () => {
    const got = await readAll([
      h.tensor([0.1, 1e40, -1e-50]),
      h.tensor(new Float64Array([0.1])),
      h.tensor([1.7, -1.7, 2], { dtype: "int32" }),
      h.tensor([0, 2, -0.5], { dtype: "bool" }),
      h.tensor([true, false], { dtype: "float32" }),
      h.tensor([1, true, false]),
      h.tensor([NaN, Infinity, -Infinity]),
    ]);
    assertEquals(got, [
      [Math.fround(0.1), Infinity, -0],
      [Math.fround(0.1)],
      [1, -1, 2],
      [0, 1, 1],
      [1, 0],
      [1, 1, 0],
      [NaN, Infinity, -Infinity],
    ]);
    assertEquals(await h.tensor([true, false]).array(), [true, false]);
  },
);

testEachBackend(
  "tensor of a flat typed array takes the shape option",
  async () => {
    const t = h.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
    const i = h.tensor(new Int32Array([1, 2, 3, 4]), { shape: [2, 2] });
    const n = h.tensor([1, 2, 3, 4], { shape: [2, 2] });
    const s = h.tensor(new Float32Array([7]), { shape: [] });
    assertEquals([t.shape, i.shape, i.dtype, n.shape, s.shape], [
      [2, 3],
      [2, 2],
      "int32",
      [2, 2],
      [],
    ]);
    assertEquals(await readAll([t, i, n, s]), [
      [1, 2, 3, 4, 5, 6],
      [1, 2, 3, 4],
      [1, 2, 3, 4],
      [7],
    ]);
  },
);

testEachBackend(
  "tensor round trips nested arrays of any shape through array()",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3, [1, 2, 3]),
        fc.integer(),
        async (shape, seed) => {
          // Small integers survive float32 exactly.
          let k = seed;
          const build = (axis: number): h.NestedValues =>
            axis === shape.length
              ? ((k = (k * 1103515245 + 12345) | 0), (k >> 16) % 100)
              : Array.from({ length: shape[axis]! }, () => build(axis + 1));
          const nested = build(0);
          const t = h.tensor(nested);
          assertEquals(t.shape, shape);
          assertEquals(await t.array(), nested);
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "tensor of a tensor is that tensor, or a cast of it",
  async () => {
    const x = h.tensor([1.5, 0]);
    assertStrictEquals(h.tensor(x), x);
    const b = h.tensor(x, { dtype: "bool" }),
      i = h.tensor(x, { dtype: "int32" });
    assertEquals([b.dtype, i.dtype], ["bool", "int32"]);
    assertEquals(await readAll([b, i, x]), [[1, 0], [1, 0], [1.5, 0]]);
  },
);

// ------------------------------------------------------------- filled forms

testEachBackend(
  "zeros, ones and full fill any shape with the value and dtype",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3),
        fc.constantFrom<DType>("float32", "int32", "bool"),
        fc.constantFrom(0, 1, -2, 7),
        async (shape, dtype, v) => {
          const n = shape.reduce((a, b) => a * b, 1);
          const ts = [
            h.zeros(shape, { dtype }),
            h.ones(shape, { dtype }),
            h.full(shape, v, { dtype }),
          ];
          for (const t of ts) assertEquals([t.shape, t.dtype], [shape, dtype]);
          const asDtype = (
            x: number,
          ) => (dtype === "bool" ? (x !== 0 ? 1 : 0) : x);
          const got = await readAll(ts);
          assertEquals(got, [0, 1, v].map((x) => Array(n).fill(asDtype(x))));
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "filled constructors default to float32, or bool for a boolean value",
  async () => {
    const ts = [
      h.zeros([2]),
      h.ones([2]),
      h.full([2], 2.5),
      h.full([2], true),
      h.full([], 3),
    ];
    assertEquals(ts.map((t) => t.dtype), [
      "float32",
      "float32",
      "float32",
      "bool",
      "float32",
    ]);
    assertEquals(h.full([], 3).shape, []);
    assertEquals(await readAll(ts), [[0, 0], [1, 1], [2.5, 2.5], [1, 1], [3]]);
  },
);

testEachBackend("zerosLike and onesLike copy the shape and dtype", async () => {
  for (
    const x of [
      h.tensor([[1, 2, 3]]),
      h.tensor([1], { dtype: "int32" }),
      h.tensor([true, false]),
      h.tensor(5),
    ]
  ) {
    const z = h.zerosLike(x), o = h.onesLike(x);
    assertEquals([z.shape, z.dtype, o.shape, o.dtype], [
      x.shape,
      x.dtype,
      x.shape,
      x.dtype,
    ]);
    assertEquals(await readAll([z, o]), [
      Array(x.size).fill(0),
      Array(x.size).fill(1),
    ]);
  }
});

// ------------------------------------------------------------------- arange

testEachBackend(
  "arange matches a JS loop, int32 for integer arguments and float32 otherwise",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -10, max: 10 }),
        fc.integer({ min: -10, max: 10 }),
        fc.constantFrom(1, 2, 3, -1, -2, 0.5, -0.25, 1.5),
        async (start, stop, step) => {
          const t = h.arange(start, stop, step);
          const expected: number[] = [];
          for (let v = start; step > 0 ? v < stop : v > stop; v += step) {
            expected.push(v);
          }
          assertEquals(t.dtype, Number.isInteger(step) ? "int32" : "float32");
          assertEquals(t.shape, [expected.length]);
          await assertAllClose(t, expected, { rtol: 0, atol: 1e-6 });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "arange keeps known values and honours the dtype option",
  async () => {
    const ts = [
      h.arange(5),
      h.arange(1, 7, 2),
      h.arange(5, 0, -2),
      h.arange(0, 1, 0.25),
      h.arange(0, 3, 1, { dtype: "float32" }),
      h.arange(0),
      h.arange(3, 1),
    ];
    assertEquals(ts.map((t) => t.dtype), [
      "int32",
      "int32",
      "int32",
      "float32",
      "float32",
      "int32",
      "int32",
    ]);
    const got = await readAll(ts);
    assertEquals(got, [
      [0, 1, 2, 3, 4],
      [1, 3, 5],
      [5, 3, 1],
      [0, 0.25, 0.5, 0.75],
      [0, 1, 2],
      [],
      [],
    ]);
  },
);

// ----------------------------------------------------------------- linspace

testEachBackend(
  "linspace includes both ends and is evenly spaced",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.integer({ min: 0, max: 20 }),
        async (a, b, n) => {
          const t = h.linspace(a, b, n);
          assertEquals([t.shape, t.dtype], [[n], "float32"]);
          const expected = Array.from(
            { length: n },
            (_, i) => (n === 1 ? a : a + ((b - a) * i) / (n - 1)),
          );
          const got = await values(t);
          await assertAllClose(got, expected, { rtol: 1e-6, atol: 1e-5 });
          if (n > 1) {
            assertEquals([got[0], got[n - 1]], [
              Math.fround(a),
              Math.fround(b),
            ]);
          }
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("linspace keeps known values", async () => {
  const got = await readAll([
    h.linspace(0, 1, 5),
    h.linspace(3, 1, 1),
    h.linspace(0, 1, 0),
    h.linspace(2, -2, 3),
  ]);
  assertEquals(got, [[0, 0.25, 0.5, 0.75, 1], [3], [], [2, 0, -2]]);
});

// ---------------------------------------------------------------------- eye

testEachBackend(
  "eye has ones on the diagonal only, square or rectangular",
  async () => {
    const cases: [Tensor, number, number][] = [
      [h.eye(3), 3, 3],
      [h.eye(2, 4), 2, 4],
      [h.eye(4, 2), 4, 2],
      [h.eye(1), 1, 1],
      [h.eye(0), 0, 0],
    ];
    for (const [t, n, m] of cases) {
      assertEquals([t.shape, t.dtype], [
        [n, m],
        "float32",
      ]);
    }
    const got = await readAll(cases.map(([t]) => t));
    for (const [i, [, n, m]] of cases.entries()) {
      assertEquals(
        got[i],
        Array.from(
          { length: n * m },
          (_, f) => (Math.floor(f / m) === f % m ? 1 : 0),
        ),
      );
    }
    const i = h.eye(2, 2, { dtype: "int32" });
    assertEquals([i.dtype, await i.array()], ["int32", [[1, 0], [0, 1]]]);
  },
);

testEachBackend("created tensors live on the current backend", () => {
  const name = h.getBackend().name;
  for (
    const t of [
      h.tensor([1]),
      h.zeros([2]),
      h.full([1], 3),
      h.arange(3),
      h.linspace(0, 1, 3),
      h.eye(2),
    ]
  ) {
    assertEquals(t.backend.name, name);
  }
});

Deno.test("zerosLike and onesLike stay on the backend of their argument", async () => {
  const before = h.defaultBackend();
  await h.setBackend("cpu");
  const x = h.tensor([1, 2, 3]);
  await h.setBackend("wasm");
  try {
    const z = h.zerosLike(x), o = h.onesLike(x);
    assertEquals([z.backend.name, o.backend.name], ["cpu", "cpu"]);
    assertEquals(await h.add(x, o).array(), [2, 3, 4]);
    assertEquals(await z.array(), [0, 0, 0]);
  } finally {
    await h.setBackend(before);
  }
});
