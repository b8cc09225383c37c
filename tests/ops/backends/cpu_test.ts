import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import { CpuBackend } from "../../../ops/backends/cpu.ts";
import { erf } from "../../../ops/backends/_cpu_math.ts";
import {
  type Aval,
  broadcastShapes,
  type DType,
  type HostArray,
  sizeOf,
} from "../../../ops/dtype.ts";
import type {
  DotGeneralParams,
  Params,
  Primitive,
} from "../../../ops/primitives.ts";
import { shapeRule } from "../../../ops/shape_rules.ts";
import { bitsToUniform, randomBits } from "../../../ops/threefry.ts";

const cpu = new CpuBackend();
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

// ---------------------------------------------------------------- helpers

function dtypeOf(a: HostArray): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Int32Array) return "int32";
  return "bool";
}

/** Runs `prim` on `[data, shape]` operands; the output aval comes from the shape rule. */
function run<P extends Primitive>(
  prim: P,
  inputs: readonly (readonly [HostArray, readonly number[]])[],
  params: Params<P>,
): { data: HostArray; shape: readonly number[] } {
  const avals: Aval[] = inputs.map(([a, shape]) => ({
    shape,
    dtype: dtypeOf(a),
  }));
  const out = shapeRule(prim, avals, params);
  const operands = inputs.map(([a], i) => ({
    handle: cpu.upload(a, avals[i]!),
    aval: avals[i]!,
  }));
  const data = cpu.run(prim, operands, params, out);
  assertEquals(data.length, sizeOf(out.shape), `${prim}: output length`);
  assertEquals(dtypeOf(data), out.dtype, `${prim}: output dtype`);
  return { data, shape: out.shape };
}

/** Elementwise comparison; NaN equals NaN, and |a - e| <= atol + rtol |e|. */
function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { atol = 0, rtol = 0, msg = "" } = {},
): void {
  assertEquals(actual.length, expected.length, `${msg} length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${msg} element ${i}: got ${a}, expected ${e}`);
    }
  }
}

/** A deterministic stream of floats in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomFloats(n: number, seed: number, scale = 2): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** Small integers stored as float32: products and sums stay exact. */
function randomSmallInts(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => Math.floor(r() * 9) - 4);
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    idx[a] = i % shape[a]!;
    i = Math.floor(i / shape[a]!);
  }
  return idx;
}

function ravel(idx: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let a = 0; a < shape.length; a++) f = f * shape[a]! + idx[a]!;
  return f;
}

/** The flat index in an operand of `shape` broadcast to the output index `idx`. */
function broadcastIndex(
  idx: readonly number[],
  shape: readonly number[],
): number {
  const lead = idx.length - shape.length;
  return ravel(shape.map((d, a) => (d === 1 ? 0 : idx[lead + a]!)), shape);
}

/** Arbitrary shapes of rank 0..maxRank. */
function shapeArb(
  maxRank = 4,
  dims: number[] = [1, 2, 3, 4],
): fc.Arbitrary<number[]> {
  return fc.array(fc.constantFrom(...dims), { maxLength: maxRank });
}

/** `k` shapes that broadcast together: an output shape with leading axes dropped and dims set to 1. */
function broadcastArb(k: number): fc.Arbitrary<number[][]> {
  return shapeArb().chain((out) => {
    const operand = fc.tuple(
      fc.nat({ max: out.length }),
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
    ).map(([drop, ones]) => out.map((d, i) => (ones[i] ? 1 : d)).slice(drop));
    return fc.array(operand, { minLength: k, maxLength: k });
  });
}

// ---------------------------------------------------------------- unary

Deno.test("unary float kernels match Math rounded to float32", () => {
  const x = randomFloats(200, 1, 5);
  const pos = x.map(Math.abs);
  const cases: [Primitive, Float32Array, (v: number) => number][] = [
    ["neg", x, (v) => -v],
    ["exp", x, Math.exp],
    ["log", pos, Math.log],
    ["log1p", pos, Math.log1p],
    ["sqrt", pos, Math.sqrt],
    ["rsqrt", pos, (v) => 1 / Math.sqrt(v)],
    ["sin", x, Math.sin],
    ["cos", x, Math.cos],
    ["tanh", x, Math.tanh],
    ["logistic", x, (v) => 1 / (1 + Math.exp(-v))],
    ["abs", x, Math.abs],
    ["sign", x, Math.sign],
  ];
  for (const [prim, input, f] of cases) {
    const { data } = run(prim, [[input, [200]]], {} as Params<typeof prim>);
    assertClose(data, input.map(f), { rtol: 1e-6, atol: 1e-7, msg: prim });
  }
});

Deno.test("erf matches reference values to 1e-12", () => {
  // Reference values from CPython's math.erf.
  const table: [number, number][] = [
    [0, 0],
    [1e-10, 1.1283791670955126e-10],
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [1.9999, 0.9953201979070294],
    [2, 0.9953222650189527],
    [2.5, 0.999593047982555],
    [3, 0.9999779095030014],
    [4, 0.9999999845827421],
    [7, 1],
  ];
  for (const [x, e] of table) {
    assertAlmostEquals(erf(x), e, 1e-12, `erf(${x})`);
    assertAlmostEquals(erf(-x), -e, 1e-12, `erf(${-x})`);
  }
  assertEquals(erf(Infinity), 1);
  assertEquals(erf(-Infinity), -1);
  assertEquals(erf(NaN), NaN);
  const { data } = run("erf", [[new Float32Array([0.5, -2, 3]), [3]]], {});
  assertClose(data, [
    0.5204998778130465,
    -0.9953222650189527,
    0.9999779095030014,
  ], {
    atol: 1e-7,
  });
});

Deno.test("logistic stays finite and exact at large |x|", () => {
  const { data } = run("logistic", [[
    new Float32Array([-1000, -100, 0, 100, 1000]),
    [5],
  ]], {});
  assertClose(data, [0, Math.fround(Math.exp(-100)), 0.5, 1, 1], {
    rtol: 1e-6,
  });
});

Deno.test("neg, abs and sign work on int32 and wrap at the int32 minimum", () => {
  const x = new Int32Array([INT32_MIN, -7, 0, 5, INT32_MAX]);
  assertEquals(
    run("neg", [[x, [5]]], {}).data,
    new Int32Array([INT32_MIN, 7, 0, -5, -INT32_MAX]),
  );
  assertEquals(
    run("abs", [[x, [5]]], {}).data,
    new Int32Array([INT32_MIN, 7, 0, 5, INT32_MAX]),
  );
  assertEquals(
    run("sign", [[x, [5]]], {}).data,
    new Int32Array([-1, -1, 0, 1, 1]),
  );
  const f = run("sign", [[new Float32Array([-2, 0, NaN, 3]), [4]]], {}).data;
  assertClose(f, [-1, 0, NaN, 1]);
});

// ---------------------------------------------------------------- binary

/** The naive reference for a broadcasting elementwise op. */
function refBroadcast(
  f: (...v: number[]) => number,
  operands: readonly (readonly [ArrayLike<number>, readonly number[]])[],
): number[] {
  const out = broadcastShapes("ref", ...operands.map(([, s]) => s));
  return Array.from({ length: sizeOf(out) }, (_, i) => {
    const idx = unravel(i, out);
    return f(...operands.map(([a, s]) => a[broadcastIndex(idx, s)]!));
  });
}

Deno.test("binary float kernels broadcast like NumPy on random shapes", () => {
  const ops: [Primitive, (a: number, b: number) => number][] = [
    ["add", (a, b) => a + b],
    ["sub", (a, b) => a - b],
    ["mul", (a, b) => a * b],
    ["div", (a, b) => a / b],
    ["max", Math.max],
    ["min", Math.min],
    ["pow", (a, b) => Math.abs(a) ** b],
  ];
  fc.assert(
    fc.property(broadcastArb(2), fc.nat(), ([sa = [], sb = []], seed) => {
      const a = randomFloats(sizeOf(sa), seed),
        b = randomFloats(sizeOf(sb), seed + 1);
      for (const [prim, f] of ops) {
        const x = prim === "pow" ? a.map(Math.abs) : a;
        const got = run(prim, [[x, sa], [b, sb]], {} as Params<typeof prim>);
        assertEquals(got.shape, broadcastShapes(prim, sa, sb));
        const want = Float32Array.from(refBroadcast(f, [[a, sa], [b, sb]]));
        assertClose(got.data, want, { msg: prim });
      }
    }),
    { numRuns: 60 },
  );
});

Deno.test("max and min propagate NaN", () => {
  const a = new Float32Array([NaN, 1, NaN, 2]),
    b = new Float32Array([1, NaN, NaN, 3]);
  assertClose(run("max", [[a, [4]], [b, [4]]], {}).data, [NaN, NaN, NaN, 3]);
  assertClose(run("min", [[a, [4]], [b, [4]]], {}).data, [NaN, NaN, NaN, 2]);
});

Deno.test("float pow follows C: 1^y = 1 and x^0 = 1 even with NaN", () => {
  const a = new Float32Array([1, NaN, 2, -8, 0]),
    b = new Float32Array([NaN, 0, -1, 1 / 3, -1]);
  assertClose(run("pow", [[a, [5]], [b, [5]]], {}).data, [
    1,
    1,
    0.5,
    NaN,
    Infinity,
  ]);
});

Deno.test("int32 arithmetic wraps, truncates division and gives 0 on division by zero", () => {
  const a = new Int32Array([
    INT32_MAX,
    INT32_MIN,
    7,
    -7,
    7,
    65536,
    3,
    2,
    -1,
    5,
    INT32_MIN,
  ]);
  const b = new Int32Array([1, -1, 2, 2, 0, 65536, 4, -1, -3, -2, -1]);
  const sh = [a.length];
  const wrap = (v: number) => v | 0;
  assertEquals(
    run("add", [[a, sh], [b, sh]], {}).data,
    a.map((x, i) => wrap(x + b[i]!)),
  );
  assertEquals(
    run("sub", [[a, sh], [b, sh]], {}).data,
    a.map((x, i) => wrap(x - b[i]!)),
  );
  assertEquals(
    run("mul", [[a, sh], [b, sh]], {}).data,
    a.map((x, i) => Math.imul(x, b[i]!)),
  );
  assertEquals(
    run("div", [[a, sh], [b, sh]], {}).data,
    new Int32Array([
      INT32_MAX,
      INT32_MIN,
      3,
      -3,
      0,
      1,
      0,
      -2,
      0,
      -2,
      INT32_MIN,
    ]),
  );
  assertEquals(
    run("pow", [[a, sh], [b, sh]], {}).data,
    // 65536^65536 wraps to 0; base -1 with a negative exponent keeps its parity; other negatives give 0.
    new Int32Array([INT32_MAX, 0, 49, 49, 1, 0, 81, 0, -1, 0, 0]),
  );
  const big = new Int32Array([3, -2, 7]), e = new Int32Array([20, 31, 40]);
  const pow = (x: number, n: number) => {
    let r = 1;
    for (let i = 0; i < n; i++) r = Math.imul(r, x);
    return r;
  };
  assertEquals(
    run("pow", [[big, [3]], [e, [3]]], {}).data,
    big.map((x, i) => pow(x, e[i]!)),
  );
});

Deno.test("comparisons give bool and treat NaN as unordered", () => {
  const a = new Float32Array([1, 2, NaN, 3]), b = new Float32Array([2]);
  const cases: [Primitive, number[]][] = [
    ["eq", [0, 1, 0, 0]],
    ["ne", [1, 0, 1, 1]],
    ["lt", [1, 0, 0, 0]],
    ["le", [1, 1, 0, 0]],
    ["gt", [0, 0, 0, 1]],
    ["ge", [0, 1, 0, 1]],
  ];
  for (const [prim, want] of cases) {
    const got = run(prim, [[a, [4]], [b, [1]]], {} as Params<typeof prim>);
    assertEquals(got.data, Uint8Array.from(want), prim);
  }
  const i = run("lt", [[new Int32Array([1, 5]), [2]], [
    new Int32Array([3]),
    [],
  ]], {});
  assertEquals(i.data, new Uint8Array([1, 0]));
});

Deno.test("and, or, not and select broadcast over bool masks", () => {
  const p = new Uint8Array([1, 0, 1, 0]), q = new Uint8Array([1, 1, 0, 0]);
  assertEquals(
    run("and", [[p, [2, 2]], [q, [2, 2]]], {}).data,
    new Uint8Array([1, 0, 0, 0]),
  );
  assertEquals(
    run("or", [[p, [2, 2]], [q, [2, 2]]], {}).data,
    new Uint8Array([1, 1, 1, 0]),
  );
  assertEquals(run("not", [[p, [4]]], {}).data, new Uint8Array([0, 1, 0, 1]));
  fc.assert(
    fc.property(
      broadcastArb(3),
      fc.nat(),
      ([sc = [], st = [], sf = []], seed) => {
        const r = rng(seed);
        const c = Uint8Array.from(
          { length: sizeOf(sc) },
          () => (r() < 0.5 ? 1 : 0),
        );
        const t = randomFloats(sizeOf(st), seed + 1),
          f = randomFloats(sizeOf(sf), seed + 2);
        const got = run("select", [[c, sc], [t, st], [f, sf]], {});
        const want = refBroadcast((x, y, z) => (x ? y! : z!), [
          [c, sc],
          [t, st],
          [f, sf],
        ]);
        assertClose(got.data, Float32Array.from(want));
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("convert_element_type truncates, clamps and maps NaN to 0", () => {
  const x = new Float32Array([1.9, -1.9, NaN, 3e9, -3e9, 0, -0.5]);
  const sh = [x.length];
  assertEquals(
    run("convert_element_type", [[x, sh]], { dtype: "int32" }).data,
    new Int32Array([1, -1, 0, INT32_MAX, INT32_MIN, 0, 0]),
  );
  assertEquals(
    run("convert_element_type", [[x, sh]], { dtype: "bool" }).data,
    new Uint8Array([1, 1, 1, 1, 1, 0, 1]),
  );
  const b = new Uint8Array([0, 1]);
  assertEquals(
    run("convert_element_type", [[b, [2]]], { dtype: "float32" }).data,
    new Float32Array([0, 1]),
  );
  assertEquals(
    run("convert_element_type", [[b, [2]]], { dtype: "int32" }).data,
    new Int32Array([0, 1]),
  );
  const i = new Int32Array([16777217, -3]);
  assertEquals(
    run("convert_element_type", [[i, [2]]], { dtype: "float32" }).data,
    new Float32Array([16777216, -3]),
  );
});

// ---------------------------------------------------------------- reductions

/** Naive reduction: visit every element and fold it into its output slot. */
function refReduce(
  kind: "sum" | "max" | "min",
  x: ArrayLike<number>,
  shape: readonly number[],
  axes: readonly number[],
): number[] {
  const outShape = shape.filter((_, a) => !axes.includes(a));
  const init = kind === "sum" ? 0 : kind === "max" ? -Infinity : Infinity;
  const acc = new Array<number>(sizeOf(outShape)).fill(init);
  for (let i = 0; i < x.length; i++) {
    const idx = unravel(i, shape).filter((_, a) => !axes.includes(a));
    const o = ravel(idx, outShape), v = x[i]!, cur = acc[o]!;
    if (kind === "sum") acc[o] = cur + v;
    else if (Number.isNaN(v) || Number.isNaN(cur)) acc[o] = NaN;
    else acc[o] = kind === "max" ? Math.max(cur, v) : Math.min(cur, v);
  }
  return acc;
}

const reduceCaseArb = shapeArb(4, [0, 1, 2, 3, 5]).chain((shape) =>
  fc.tuple(fc.constant(shape), fc.subarray([...shape.keys()]), fc.nat())
);

Deno.test("reduce_sum, reduce_max and reduce_min match a naive fold over any axes", () => {
  fc.assert(
    fc.property(reduceCaseArb, ([shape, axes, seed]) => {
      const x = randomFloats(sizeOf(shape), seed);
      if (x.length > 0 && seed % 3 === 0) x[seed % x.length] = NaN;
      for (const kind of ["sum", "max", "min"] as const) {
        const got = run(`reduce_${kind}`, [[x, shape]], { axes });
        const want = Float32Array.from(refReduce(kind, x, shape, axes));
        assertClose(got.data, want, {
          rtol: 1e-6,
          atol: 1e-6,
          msg: `${kind} ${shape} ${axes}`,
        });
      }
    }),
    { numRuns: 150 },
  );
});

Deno.test("int32 reductions wrap sums and use the int32 range for empty max/min", () => {
  const x = new Int32Array([INT32_MAX, 1, -5, 2]);
  assertEquals(
    run("reduce_sum", [[x, [2, 2]]], { axes: [1] }).data,
    new Int32Array([INT32_MIN, -3]),
  );
  assertEquals(
    run("reduce_max", [[x, [2, 2]]], { axes: [0] }).data,
    new Int32Array([INT32_MAX, 2]),
  );
  const empty = new Int32Array(0);
  assertEquals(
    run("reduce_max", [[empty, [2, 0]]], { axes: [1] }).data,
    new Int32Array([INT32_MIN, INT32_MIN]),
  );
  assertEquals(
    run("reduce_min", [[empty, [2, 0]]], { axes: [1] }).data,
    new Int32Array([INT32_MAX, INT32_MAX]),
  );
  const f =
    run("reduce_max", [[new Float32Array(0), [0, 3]]], { axes: [0] }).data;
  assertEquals(f, new Float32Array([-Infinity, -Infinity, -Infinity]));
});

Deno.test("reduce_sum accumulates in float64 before rounding", () => {
  // 2^24 + 1 + 1 + ... is lost one at a time in float32 but not in float64.
  const x = new Float32Array(17).fill(1);
  x[0] = 16777216;
  assertEquals(
    run("reduce_sum", [[x, [17]]], { axes: [0] }).data,
    new Float32Array([16777232]),
  );
});

Deno.test("argmax and argmin return the first extreme, and a NaN counts as the extreme", () => {
  const x = new Float32Array([1, 3, 3, 0, 0, -2, NaN, 2, NaN, -1, -1, 4]); // [2, 6]
  assertEquals(
    run("argmax", [[x, [2, 6]]], { axis: 1 }).data,
    new Int32Array([1, 0]),
  );
  assertEquals(
    run("argmin", [[x, [2, 6]]], { axis: 1 }).data,
    new Int32Array([5, 0]),
  );
  assertEquals(
    run("argmax", [[x, [2, 6]]], { axis: 0 }).data,
    new Int32Array([1, 0, 1, 0, 0, 1]),
  );
  assertEquals(
    run("argmin", [[x, [2, 6]]], { axis: 0 }).data,
    new Int32Array([1, 1, 1, 1, 1, 0]),
  );
  fc.assert(
    fc.property(
      shapeArb(3, [1, 2, 3, 4]).filter((s) => s.length > 0),
      fc.nat(),
      (shape, seed) => {
        const x = randomSmallInts(sizeOf(shape), seed); // small ints: many ties
        const axis = seed % shape.length;
        for (const isMax of [true, false]) {
          const got =
            run(isMax ? "argmax" : "argmin", [[x, shape]], { axis }).data;
          const outShape = shape.filter((_, a) => a !== axis);
          const want = Array.from({ length: sizeOf(outShape) }, (_, o) => {
            const idx = unravel(o, outShape);
            let best = 0, bestV = NaN;
            for (let k = 0; k < shape[axis]!; k++) {
              const v = x[
                ravel([...idx.slice(0, axis), k, ...idx.slice(axis)], shape)
              ]!;
              if (k === 0 || (isMax ? v > bestV : v < bestV)) {
                [best, bestV] = [k, v];
              }
            }
            return best;
          });
          assertEquals(got, Int32Array.from(want));
        }
      },
    ),
    { numRuns: 60 },
  );
});

// ---------------------------------------------------------------- dot_general

/** Naive dot_general: one loop over output elements, one over contracted indices. */
function refDotGeneral(
  x: ArrayLike<number>,
  xs: readonly number[],
  y: ArrayLike<number>,
  ys: readonly number[],
  p: DotGeneralParams,
  mulAdd: (acc: number, a: number, b: number) => number = (s, a, b) =>
    s + a * b,
): number[] {
  const lFree = [...xs.keys()].filter((a) =>
    !p.lhsContract.includes(a) && !p.lhsBatch.includes(a)
  );
  const rFree = [...ys.keys()].filter((a) =>
    !p.rhsContract.includes(a) && !p.rhsBatch.includes(a)
  );
  const outShape = [
    ...p.lhsBatch.map((a) => xs[a]!),
    ...lFree.map((a) => xs[a]!),
    ...rFree.map((a) => ys[a]!),
  ];
  const cShape = p.lhsContract.map((a) => xs[a]!);
  const out: number[] = [];
  for (let o = 0; o < sizeOf(outShape); o++) {
    const idx = unravel(o, outShape);
    const xi = new Array<number>(xs.length), yi = new Array<number>(ys.length);
    p.lhsBatch.forEach((a, i) => (xi[a] = idx[i]!));
    p.rhsBatch.forEach((a, i) => (yi[a] = idx[i]!));
    lFree.forEach((a, i) => (xi[a] = idx[p.lhsBatch.length + i]!));
    rFree.forEach((
      a,
      i,
    ) => (yi[a] = idx[p.lhsBatch.length + lFree.length + i]!));
    let acc = 0;
    for (let c = 0; c < sizeOf(cShape); c++) {
      const ci = unravel(c, cShape);
      p.lhsContract.forEach((a, i) => (xi[a] = ci[i]!));
      p.rhsContract.forEach((a, i) => (yi[a] = ci[i]!));
      acc = mulAdd(acc, x[ravel(xi, xs)]!, y[ravel(yi, ys)]!);
    }
    out.push(acc);
  }
  return out;
}

type Role = readonly ["b" | "c" | "l" | "r", number, number]; // role, index, extent

/** A random dot_general problem: batch/contract/free extents and shuffled operand layouts. */
const dotCaseArb = fc.record({
  b: fc.array(fc.constantFrom(1, 2, 3), { maxLength: 2 }),
  c: fc.array(fc.constantFrom(1, 3, 17), { maxLength: 2 }),
  l: fc.array(fc.constantFrom(1, 3, 17), { maxLength: 2 }),
  r: fc.array(fc.constantFrom(1, 3, 17), { maxLength: 2 }),
}).filter(({ b, c, l, r }) => sizeOf([...b, ...c, ...l, ...r]) <= 20000).chain(
  ({ b, c, l, r }) => {
    const tag = (k: Role[0], ds: number[]) => ds.map((d, i): Role => [k, i, d]);
    const lhs = [...tag("b", b), ...tag("c", c), ...tag("l", l)];
    const rhs = [...tag("b", b), ...tag("c", c), ...tag("r", r)];
    const perm = (xs: Role[]) =>
      fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length });
    return fc.tuple(perm(lhs), perm(rhs), fc.nat());
  },
);

function dotParams(
  lhs: readonly Role[],
  rhs: readonly Role[],
): DotGeneralParams {
  const axes = (layout: readonly Role[], k: Role[0]) =>
    layout.map((role, ax) => [role, ax] as const).filter(([role]) =>
      role[0] === k
    )
      .sort(([p], [q]) => p[1] - q[1]).map(([, ax]) => ax);
  return {
    lhsBatch: axes(lhs, "b"),
    rhsBatch: axes(rhs, "b"),
    lhsContract: axes(lhs, "c"),
    rhsContract: axes(rhs, "c"),
  };
}

Deno.test("dot_general matches a naive loop on random shapes and layouts", () => {
  fc.assert(
    fc.property(dotCaseArb, ([lhs, rhs, seed]) => {
      const p = dotParams(lhs, rhs);
      const xs = lhs.map((role) => role[2]), ys = rhs.map((role) => role[2]);
      const x = randomSmallInts(sizeOf(xs), seed),
        y = randomSmallInts(sizeOf(ys), seed + 7);
      const got = run("dot_general", [[x, xs], [y, ys]], p);
      // Small integers keep every partial sum exact, so equality is exact.
      assertEquals(got.data, Float32Array.from(refDotGeneral(x, xs, y, ys, p)));
      const xi = Int32Array.from(x), yi = Int32Array.from(y);
      assertEquals(
        run("dot_general", [[xi, xs], [yi, ys]], p).data,
        Int32Array.from(refDotGeneral(x, xs, y, ys, p)),
      );
    }),
    { numRuns: 120 },
  );
});

Deno.test("dot_general matmul crosses panel edges and matches float64 within float32 error", () => {
  const p: DotGeneralParams = {
    lhsContract: [1],
    rhsContract: [0],
    lhsBatch: [],
    rhsBatch: [],
  };
  // K > 128 and N > 512 cross the panel edges; M = 7 and M = 3 hit the row remainders.
  for (const [m, k, n] of [[7, 261, 515], [3, 130, 9], [13, 1, 1]] as const) {
    const x = randomFloats(m * k, m), y = randomFloats(k * n, n);
    const got = run("dot_general", [[x, [m, k]], [y, [k, n]]], p).data;
    const want = refDotGeneral(x, [m, k], y, [k, n], p);
    assertClose(got, want, {
      atol: 1e-4 * Math.sqrt(k),
      rtol: 1e-5,
      msg: `${m}x${k}x${n}`,
    });
  }
});

Deno.test("int32 dot_general wraps like int32 arithmetic", () => {
  const p: DotGeneralParams = {
    lhsContract: [0],
    rhsContract: [0],
    lhsBatch: [],
    rhsBatch: [],
  };
  const x = new Int32Array([65536, INT32_MAX]), y = new Int32Array([65536, 3]);
  const want = refDotGeneral(
    x,
    [2],
    y,
    [2],
    p,
    (s, a, b) => (s + Math.imul(a, b)) | 0,
  );
  assertEquals(
    run("dot_general", [[x, [2]], [y, [2]]], p).data,
    Int32Array.from(want),
  );
});

// ---------------------------------------------------------------- layout

const permCaseArb = shapeArb(4).chain((shape) =>
  fc.tuple(
    fc.constant(shape),
    fc.shuffledSubarray([...shape.keys()], {
      minLength: shape.length,
      maxLength: shape.length,
    }),
  )
);

Deno.test("transpose moves input axis perm[i] to output axis i, and the inverse undoes it", () => {
  fc.assert(
    fc.property(permCaseArb, ([shape, perm]) => {
      const x = Float32Array.from({ length: sizeOf(shape) }, (_, i) => i);
      const t = run("transpose", [[x, shape]], { perm });
      assertEquals(t.shape, perm.map((a) => shape[a]!));
      for (let o = 0; o < t.data.length; o++) {
        const idx = unravel(o, t.shape), src = new Array<number>(shape.length);
        perm.forEach((a, i) => (src[a] = idx[i]!));
        assertEquals(t.data[o], x[ravel(src, shape)]);
      }
      const inverse = perm.map((_, a) => perm.indexOf(a));
      assertEquals(
        run("transpose", [[t.data, t.shape]], { perm: inverse }).data,
        x,
      );
    }),
    { numRuns: 100 },
  );
});

Deno.test("broadcast_in_dim places input axes at dims and repeats dims of 1", () => {
  fc.assert(
    fc.property(
      broadcastArb(1),
      fc.array(fc.constantFrom(1, 2, 3), { maxLength: 2 }),
      ([s = []], extra) => {
        // Insert `extra` new axes at the front; input axis i maps to output axis i + extra.length.
        const shape = [...extra, ...s.map((d) => d === 1 ? 2 : d)];
        const dims = s.map((_, i) => i + extra.length);
        const x = Float32Array.from({ length: sizeOf(s) }, (_, i) => i + 1);
        const got = run("broadcast_in_dim", [[x, s]], { shape, dims });
        const want = Array.from(
          { length: sizeOf(shape) },
          (_, o) => x[broadcastIndex(unravel(o, shape), s)]!,
        );
        assertEquals(got.data, Float32Array.from(want));
      },
    ),
    { numRuns: 60 },
  );
  // A middle axis: [3] -> [2, 3, 4] with dims [1].
  const got = run("broadcast_in_dim", [[new Int32Array([7, 8, 9]), [3]]], {
    shape: [2, 3, 4],
    dims: [1],
  });
  assertEquals(
    got.data,
    Int32Array.from({ length: 24 }, (_, i) => 7 + (Math.floor(i / 4) % 3)),
  );
});

Deno.test("pad then slice gives the input back, and the border holds the pad value", () => {
  fc.assert(
    fc.property(shapeArb(3, [0, 1, 2, 3]), fc.nat(), (shape, seed) => {
      const r = rng(seed);
      const lo = shape.map(() => Math.floor(r() * 3)),
        hi = shape.map(() => Math.floor(r() * 3));
      const x = randomFloats(sizeOf(shape), seed);
      const padded = run("pad", [[x, shape]], { lo, hi, value: 9 });
      const limit = shape.map((d, i) => lo[i]! + d);
      assertEquals(
        run("slice", [[padded.data, padded.shape]], { start: lo, limit }).data,
        x,
      );
      for (let o = 0; o < padded.data.length; o++) {
        const idx = unravel(o, padded.shape);
        const inside = idx.every((v, a) => v >= lo[a]! && v < limit[a]!);
        if (!inside) assertEquals(padded.data[o], 9);
      }
    }),
    { numRuns: 80 },
  );
});

Deno.test("slice matches naive indexing", () => {
  const x = Float32Array.from({ length: 60 }, (_, i) => i); // [3, 4, 5]
  const got = run("slice", [[x, [3, 4, 5]]], {
    start: [1, 0, 2],
    limit: [3, 3, 4],
  });
  assertEquals(got.shape, [2, 3, 2]);
  const want = [];
  for (let i = 1; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      for (let k = 2; k < 4; k++) want.push(i * 20 + j * 5 + k);
    }
  }
  assertEquals(got.data, Float32Array.from(want));
});

Deno.test("concatenate then slice gives every operand back", () => {
  fc.assert(
    fc.property(
      shapeArb(3, [0, 1, 2, 3]).filter((s) => s.length > 0),
      fc.nat(),
      (base, seed) => {
        const axis = seed % base.length;
        const parts = [1, 0, 3, 2].slice(0, 1 + (seed % 4)).map((d, k) => {
          const shape = base.map((b, a) => (a === axis ? d : b));
          return [randomFloats(sizeOf(shape), seed + k), shape] as const;
        });
        const cat = run("concatenate", parts, { axis });
        let at = 0;
        for (const [x, shape] of parts) {
          const start = base.map((_, a) => (a === axis ? at : 0));
          const limit = shape.map((d, a) => (a === axis ? at + d : d));
          assertEquals(
            run("slice", [[cat.data, cat.shape]], { start, limit }).data,
            x,
          );
          at += shape[axis]!;
        }
      },
    ),
    { numRuns: 80 },
  );
});

// ---------------------------------------------------------------- gather / scatter_add

const gatherCaseArb = shapeArb(3, [1, 2, 3]).filter((s) => s.length > 0).chain((
  shape,
) =>
  fc.tuple(
    fc.constant(shape),
    fc.nat({ max: shape.length - 1 }),
    shapeArb(2, [1, 2, 3]),
    fc.nat(),
  )
);

function randomIndices(n: number, extent: number, seed: number): Int32Array {
  // Includes negative and out-of-range indices, which normalise then clamp.
  const r = rng(seed);
  return Int32Array.from(
    { length: n },
    () => Math.floor(r() * (2 * extent + 4)) - extent - 2,
  );
}

function normIndex(i: number, n: number): number {
  const j = i < 0 ? i + n : i;
  return Math.min(Math.max(j, 0), n - 1);
}

Deno.test("gather matches naive indexing with negative and clamped indices", () => {
  fc.assert(
    fc.property(gatherCaseArb, ([shape, axis, idxShape, seed]) => {
      const x = randomFloats(sizeOf(shape), seed);
      const idx = randomIndices(sizeOf(idxShape), shape[axis]!, seed + 1);
      const got = run("gather", [[x, shape], [idx, idxShape]], { axis });
      for (let o = 0; o < got.data.length; o++) {
        const oi = unravel(o, got.shape);
        const j = ravel(oi.slice(axis, axis + idxShape.length), idxShape);
        const xi = [
          ...oi.slice(0, axis),
          normIndex(idx[j]!, shape[axis]!),
          ...oi.slice(axis + idxShape.length),
        ];
        assertEquals(got.data[o], x[ravel(xi, shape)]);
      }
    }),
    { numRuns: 100 },
  );
});

Deno.test("scatter_add is the adjoint of gather: <gather(x), u> = <x, scatter_add(u)>", () => {
  fc.assert(
    fc.property(gatherCaseArb, ([shape, axis, idxShape, seed]) => {
      const x = randomSmallInts(sizeOf(shape), seed);
      const idx = randomIndices(sizeOf(idxShape), shape[axis]!, seed + 1);
      const g = run("gather", [[x, shape], [idx, idxShape]], { axis });
      const u = randomSmallInts(g.data.length, seed + 2);
      const s = run("scatter_add", [[u, g.shape], [idx, idxShape]], {
        axis,
        shape,
      });
      assertEquals(s.shape, shape);
      let lhs = 0, rhs = 0;
      for (let i = 0; i < u.length; i++) lhs += g.data[i]! * u[i]!;
      for (let i = 0; i < x.length; i++) rhs += x[i]! * s.data[i]!;
      assertEquals(lhs, rhs);
    }),
    { numRuns: 100 },
  );
});

Deno.test("scatter_add accumulates duplicate indices", () => {
  const u = new Float32Array([1, 2, 3, 4]), idx = new Int32Array([0, 2, 0, -1]);
  const got = run("scatter_add", [[u, [4]], [idx, [4]]], {
    axis: 0,
    shape: [3],
  });
  assertEquals(got.data, new Float32Array([4, 0, 6]));
  const ints = run("scatter_add", [[Int32Array.from(u), [4]], [idx, [4]]], {
    axis: 0,
    shape: [3],
  });
  assertEquals(ints.data, new Int32Array([4, 0, 6]));
});

// ---------------------------------------------------------------- generators and the backend contract

Deno.test("iota holds each element's coordinate along dim", () => {
  const got = run("iota", [], { shape: [2, 3], dim: 1, dtype: "int32" });
  assertEquals(got.data, new Int32Array([0, 1, 2, 0, 1, 2]));
  const rows = run("iota", [], { shape: [3, 2], dim: 0, dtype: "float32" });
  assertEquals(rows.data, new Float32Array([0, 0, 1, 1, 2, 2]));
});

Deno.test("random_uniform is Threefry counter mode in row-major order", () => {
  const key = [Int32Array.of(42, 7), [2]] as const;
  const got = run("random_uniform", [key], { shape: [3, 5], path: [] }).data;
  assertEquals(
    got,
    Float32Array.from(
      { length: 15 },
      (_, i) => bitsToUniform(randomBits(42, 7, i)),
    ),
  );
  assertEquals(got.every((v) => v >= 0 && v < 1), true);
  const other = run("random_uniform", [[Int32Array.of(42, 8), [2]]], {
    shape: [15],
    path: [],
  }).data;
  assertEquals(got.some((v, i) => v !== other[i]), true);
});

Deno.test("reshape returns the same storage, and upload and read copy", async () => {
  const aval: Aval = { shape: [2, 3], dtype: "float32" };
  const data = new Float32Array([1, 2, 3, 4, 5, 6]);
  const h = cpu.upload(data, aval);
  data[0] = 100;
  const back = await cpu.read(h, aval);
  assertEquals(back, new Float32Array([1, 2, 3, 4, 5, 6]));
  back[1] = 100;
  assertEquals((await cpu.read(h, aval))[1], 2);
  const r = cpu.run("reshape", [{ handle: h, aval }], { shape: [3, 2] }, {
    shape: [3, 2],
    dtype: "float32",
  });
  assertEquals(r === h, true);
  cpu.free(h);
});

Deno.test("the backend rejects unknown primitives, custom_lin and mismatched storage", () => {
  const aval: Aval = { shape: [1], dtype: "float32" };
  const h = cpu.upload(new Float32Array([1]), aval);
  assertThrows(
    () => cpu.run("nope" as Primitive, [], {} as never, aval),
    TypeError,
    "unknown primitive",
  );
  assertThrows(
    () => cpu.run("toString" as Primitive, [], {} as never, aval),
    TypeError,
    "unknown primitive",
  );
  assertThrows(
    () =>
      cpu.run(
        "custom_lin",
        [{ handle: h, aval }],
        {} as Params<"custom_lin">,
        aval,
      ),
    TypeError,
    "custom_lin has no kernel",
  );
  assertThrows(
    () => cpu.upload(new Int32Array([1]), aval),
    TypeError,
    "Float32Array",
  );
  assertThrows(
    () => cpu.upload(new Float32Array([1, 2]), aval),
    TypeError,
    "1 elements",
  );
});
