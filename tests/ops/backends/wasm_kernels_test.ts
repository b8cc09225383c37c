// The wasm backend's SIMD kernels against the CPU reference, primitive by
// primitive: transcendental functions to within 3 float32 ulps and exactly
// at special values; arithmetic, comparisons, select, casts, logic and
// every copy exactly (float32 +, -, ×, ÷ and √ round correctly on both
// backends); reductions within float64-summation tolerance. Shapes mix
// sizes 1, 3, 17 and 129 with broadcasting, up to ~300k elements, so that
// large kernels are also split over threads; a threaded backend must give
// bit-identical results to one thread.

import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import type { Backend } from "../../../ops/backend.ts";
import { CpuBackend } from "../../../ops/backends/cpu.ts";
import { WasmBackend } from "../../../ops/backends/wasm/backend.ts";
import { THREAD_MIN_ELEMS } from "../../../ops/backends/wasm/_grid.ts";
import { ThreadPool } from "../../../ops/backends/wasm/_threads.ts";
import type { Aval, DType, HostArray } from "../../../ops/dtype.ts";
import type { Primitive } from "../../../ops/primitives.ts";
import { rng } from "../../_helpers.ts";

const cpu = new CpuBackend();
const one = await WasmBackend.create({ threads: 1 });
const many = await WasmBackend.create({ threads: 3 });
const WASM: [string, WasmBackend][] = [["1 thread", one], ["3 threads", many]];

interface Host {
  data: HostArray;
  shape: readonly number[];
  dtype: DType;
}

const SPECIAL = [
  0,
  -0,
  Infinity,
  -Infinity,
  NaN,
  1,
  -1,
  0.5,
  -0.5,
  2,
  1e-45,
  -1e-45,
  1e-40,
  1.17549435e-38,
  -1e-30,
  1e-8,
  3.4e38,
  -3.4e38,
  88.72,
  88.73,
  89,
  100,
  -87.3,
  -103.9,
  -104,
  -110,
  0.625,
  -0.625,
  0.6249,
  9.1,
  -9.1,
  44.4,
  45,
  -0.9999999,
  2 ** 31,
  -(2 ** 31),
  2 ** 31 + 4096,
  16777217,
];

/** Seeded float32 values: mostly in [-4, 4), a fifth special or extreme. */
function floats(n: number, seed: number, lo = -4, hi = 4): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => {
    const u = r();
    if (u < 0.1) return SPECIAL[Math.floor(r() * SPECIAL.length)]!;
    if (u < 0.2) return (r() < 0.5 ? -1 : 1) * 10 ** (r() * 76 - 38);
    return lo + (hi - lo) * r();
  });
}

function host(dtype: DType, shape: readonly number[], seed: number): Host {
  const n = shape.reduce((a, b) => a * b, 1);
  const f = floats(n, seed);
  const r = rng(seed + 7);
  const data = dtype === "float32"
    ? f
    : dtype === "int32"
    ? Int32Array.from(f, (v) => (r() < 0.3 ? v * 1e9 : v * 3) | 0)
    : Uint8Array.from(f, (v) => (v > 0 ? 1 : 0));
  return { data, shape, dtype };
}

function run(
  b: Backend,
  prim: Primitive,
  xs: readonly Host[],
  params: unknown,
  out: Aval,
): Promise<HostArray> {
  const ins = xs.map((x) => {
    const aval = { shape: x.shape, dtype: x.dtype };
    return { handle: b.upload(x.data, aval), aval };
  });
  const h = b.run(prim, ins, params as never, out);
  const res = b.read(h, out);
  for (const x of ins) b.free(x.handle);
  b.free(h);
  return res;
}

/** float32 ulps between a and b (0 for two NaNs; ∞ for a NaN, ∞ or zero mismatch). */
function ulps(a: number, b: number): number {
  if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(b) || a === 0 || b === 0) {
    return a === b ? 0 : Infinity; // +0 vs -0 is a mismatch too
  }
  const i = new Int32Array(new Float32Array([a, b]).buffer);
  const ord = (x: number) => (x < 0 ? -(x & 0x7fffffff) : x);
  return Math.abs(ord(i[0]!) - ord(i[1]!));
}

function assertWithin(
  got: HostArray,
  want: HostArray,
  maxUlps: number,
  what: string,
  inputs?: HostArray,
): void {
  assertEquals(got.length, want.length, `${what}: length`);
  const isFloat = want instanceof Float32Array;
  for (let i = 0; i < got.length; i++) {
    const u = isFloat
      ? ulps(got[i]!, want[i]!)
      : got[i] === want[i]
      ? 0
      : Infinity;
    if (u > maxUlps) {
      throw new Error(
        `${what}: element ${i}${inputs ? ` (input ${inputs[i]})` : ""}: ${
          got[i]
        } vs ${want[i]} (${u} ulps)`,
      );
    }
  }
}

/** Shapes of rank 0-4 from sizes 1, 3, 17, 129, at most 300k elements. */
const arbShape = fc.array(fc.constantFrom<number>(1, 3, 17, 129), {
  maxLength: 4,
})
  .filter((s) => s.reduce((a, b) => a * b, 1) <= 300_000);

/** A shape and a second one that broadcasts against it. */
const arbPair = arbShape.chain((s) =>
  fc.tuple(
    fc.constant(s),
    fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }),
    fc.nat(s.length),
  ).map(([a, ones, drop]): [number[], number[]] => [
    a,
    a.map((d, i) => (ones[i] ? 1 : d)).slice(drop),
  ])
);

function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    return x === 1 ? y : x;
  });
}

const UNARY: [Primitive, number, [number, number]][] = [
  ["exp", 1, [-110, 90]],
  ["log", 1, [0, 100]],
  ["log1p", 2, [-1, 10]],
  ["tanh", 1, [-12, 12]],
  ["logistic", 2, [-110, 110]],
  ["rsqrt", 1, [0, 100]],
  ["sqrt", 0, [0, 100]],
  ["sign", 0, [-2, 2]],
  ["neg", 0, [-2, 2]],
  ["abs", 0, [-2, 2]],
];

for (const [prim, maxUlps, [lo, hi]] of UNARY) {
  Deno.test(`wasm ${prim} is within ${maxUlps} ulps of the cpu reference, exactly at ±0, ±∞, NaN and the overflow edges`, async () => {
    const data = new Float32Array([
      ...SPECIAL,
      ...SPECIAL.map((v) => -v),
      ...floats(70_000, 1, lo, hi),
      ...floats(3_001, 2, -1, 1),
    ]);
    const x: Host = { data, shape: [data.length], dtype: "float32" };
    const out: Aval = { shape: x.shape, dtype: "float32" };
    const want = await run(cpu, prim, [x], {}, out);
    for (const [name, w] of WASM) {
      const got = await run(w, prim, [x], {}, out);
      assertWithin(got, want, maxUlps, `${prim} on ${name}`, data);
    }
  });
}

Deno.test("int32 neg wraps like the cpu reference", async () => {
  const x: Host = {
    data: new Int32Array([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 5, -7]),
    shape: [7],
    dtype: "int32",
  };
  const out: Aval = { shape: [7], dtype: "int32" };
  assertEquals(
    await run(one, "neg", [x], {}, out),
    await run(cpu, "neg", [x], {}, out),
  );
});

const BINARY: [Primitive, DType, DType][] = [
  ["add", "float32", "float32"],
  ["sub", "float32", "float32"],
  ["mul", "float32", "float32"],
  ["div", "float32", "float32"],
  ["max", "float32", "float32"],
  ["min", "float32", "float32"],
  ["add", "int32", "int32"],
  ["sub", "int32", "int32"],
  ["mul", "int32", "int32"],
  ...(["eq", "ne", "lt", "le", "gt", "ge"] as const).flatMap((
    p,
  ): [Primitive, DType, DType][] => [[p, "float32", "bool"], [
    p,
    "int32",
    "bool",
  ]]),
  ["and", "bool", "bool"],
  ["or", "bool", "bool"],
];

Deno.test("wasm binary ops, comparisons and logic match the cpu reference exactly under broadcasting", async () => {
  await fc.assert(
    fc.asyncProperty(
      arbPair,
      fc.constantFrom(...BINARY),
      fc.boolean(),
      fc.nat(),
      async ([sa, sb], [prim, dt, odt], swap, seed) => {
        const [xa, xb] = swap ? [sb, sa] : [sa, sb];
        const xs = [host(dt, xa, seed), host(dt, xb, seed + 1)];
        const out: Aval = { shape: broadcast(xa, xb), dtype: odt };
        const want = await run(cpu, prim, xs, {}, out);
        for (const [name, w] of WASM) {
          const got = await run(w, prim, xs, {}, out);
          assertWithin(
            got,
            want,
            0,
            `${prim} ${dt} [${xa}]·[${xb}] on ${name}`,
          );
        }
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("wasm select and not match the cpu reference exactly under broadcasting", async () => {
  await fc.assert(
    fc.asyncProperty(
      arbPair,
      fc.constantFrom<DType>("float32", "int32"),
      fc.nat(3),
      fc.nat(),
      async ([sa, sb], dt, order, seed) => {
        const shapes = [[sa, sb, sa], [sb, sa, sa], [sa, sa, sb], [
          sb,
          sb,
          sa,
        ]][order]!;
        const xs = [
          host("bool", shapes[0]!, seed),
          host(dt, shapes[1]!, seed + 1),
          host(dt, shapes[2]!, seed + 2),
        ];
        const out: Aval = { shape: broadcast(sa, sb), dtype: dt };
        const want = await run(cpu, "select", xs, {}, out);
        const notOut: Aval = { shape: shapes[0]!, dtype: "bool" };
        const notWant = await run(cpu, "not", [xs[0]!], {}, notOut);
        for (const [name, w] of WASM) {
          assertWithin(
            await run(w, "select", xs, {}, out),
            want,
            0,
            `select on ${name}`,
          );
          assertWithin(
            await run(w, "not", [xs[0]!], {}, notOut),
            notWant,
            0,
            `not on ${name}`,
          );
        }
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("wasm casts between float32, int32 and bool match the cpu reference exactly", async () => {
  const dts: DType[] = ["float32", "int32", "bool"];
  await fc.assert(
    fc.asyncProperty(arbShape, fc.nat(), async (shape, seed) => {
      for (const from of dts) {
        for (const to of dts) {
          if (from === to) continue;
          const x = host(from, shape, seed);
          const out: Aval = { shape, dtype: to };
          const p = { dtype: to };
          const want = await run(cpu, "convert_element_type", [x], p, out);
          for (const [name, w] of WASM) {
            const got = await run(w, "convert_element_type", [x], p, out);
            assertWithin(got, want, 0, `${from}→${to} on ${name}`);
          }
        }
      }
    }),
    { numRuns: 25 },
  );
});

/** A random permutation of 0..n-1. */
function permutation(n: number, seed: number): number[] {
  const r = rng(seed);
  return [...Array(n).keys()].map((i) => [r(), i]).sort((a, b) => a[0]! - b[0]!)
    .map(([, i]) => i!);
}

Deno.test("wasm transpose, broadcast_in_dim, slice, pad and concatenate copy exactly", async () => {
  await fc.assert(
    fc.asyncProperty(
      arbShape,
      fc.constantFrom<DType>("float32", "int32", "bool"),
      fc.nat(),
      async (shape, dt, seed) => {
        const x = host(dt, shape, seed);
        const r = rng(seed);
        const cases: [Primitive, unknown, Aval, Host[]][] = [];
        const perm = permutation(shape.length, seed);
        cases.push(["transpose", { perm }, {
          shape: perm.map((a) => shape[a]!),
          dtype: dt,
        }, [x]]);
        const lead = r() < 0.5 ? [3] : [];
        const bshape = [
          ...lead,
          ...shape.map((d) => (d === 1 && r() < 0.5 ? 5 : d)),
        ];
        const dims = shape.map((_, i) => i + lead.length);
        cases.push(["broadcast_in_dim", { shape: bshape, dims }, {
          shape: bshape,
          dtype: dt,
        }, [x]]);
        const start = shape.map((d) => Math.floor(r() * d));
        const limit = shape.map((d, i) =>
          start[i]! + Math.floor(r() * (d - start[i]!)) + 1
        );
        cases.push(["slice", { start, limit }, {
          shape: limit.map((l, i) => l - start[i]!),
          dtype: dt,
        }, [x]]);
        const lo = shape.map(() => Math.floor(r() * 3)),
          hi = shape.map(() => Math.floor(r() * 3));
        const padded = shape.map((d, i) => d + lo[i]! + hi[i]!);
        cases.push(["pad", { lo, hi, value: dt === "bool" ? 1 : -2.5 }, {
          shape: padded,
          dtype: dt,
        }, [x]]);
        if (shape.length > 0) {
          const axis = Math.floor(r() * shape.length);
          const y = host(
            dt,
            shape.map((d, i) => (i === axis ? 2 : d)),
            seed + 3,
          );
          const cshape = shape.map((d, i) => (i === axis ? 2 * d + 2 : d));
          cases.push(["concatenate", { axis }, { shape: cshape, dtype: dt }, [
            x,
            y,
            x,
          ]]);
        }
        for (const [prim, params, out, ins] of cases) {
          const want = await run(cpu, prim, ins, params, out);
          for (const [name, w] of WASM) {
            const got = await run(w, prim, ins, params, out);
            assertWithin(
              got,
              want,
              0,
              `${prim} ${dt} [${shape}] ${JSON.stringify(params)} on ${name}`,
            );
          }
        }
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("wasm gather takes rows exactly, with negative and out-of-range indices clamped", async () => {
  await fc.assert(
    fc.asyncProperty(
      arbShape.filter((s) => s.length > 0),
      fc.constantFrom<DType>("float32", "int32"),
      fc.array(fc.integer({ min: -200, max: 200 }), {
        minLength: 1,
        maxLength: 9,
      }),
      fc.nat(),
      async (shape, dt, ids, seed) => {
        const axis = seed % shape.length;
        const x = host(dt, shape, seed);
        const idx: Host = {
          data: Int32Array.from(ids),
          shape: [ids.length],
          dtype: "int32",
        };
        const oshape = [
          ...shape.slice(0, axis),
          ids.length,
          ...shape.slice(axis + 1),
        ];
        const out: Aval = { shape: oshape, dtype: dt };
        const want = await run(cpu, "gather", [x, idx], { axis }, out);
        for (const [name, w] of WASM) {
          assertWithin(
            await run(w, "gather", [x, idx], { axis }, out),
            want,
            0,
            `gather on ${name}`,
          );
        }
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("wasm reductions over trailing, leading and middle axes match the cpu reference", async () => {
  await fc.assert(
    fc.asyncProperty(
      arbShape.filter((s) => s.length > 0),
      fc.constantFrom<Primitive>("reduce_sum", "reduce_max", "reduce_min"),
      fc.nat(),
      async (shape, prim, seed) => {
        const r = rng(seed);
        const axes = shape.map((_, i) => i).filter(() => r() < 0.5);
        if (axes.length === 0) axes.push(shape.length - 1);
        const x = host("float32", shape, seed);
        // Finite values only, so that sums compare by magnitude.
        const d = x.data as Float32Array;
        for (let i = 0; i < d.length; i++) {
          if (!Number.isFinite(d[i]!) || Math.abs(d[i]!) > 1e6) d[i] = 1.5;
        }
        const out: Aval = {
          shape: shape.filter((_, i) => !axes.includes(i)),
          dtype: "float32",
        };
        const want = await run(cpu, prim, [x], { axes }, out);
        const len = axes.reduce((a, i) => a * shape[i]!, 1);
        for (const [name, w] of WASM) {
          const got = await run(w, prim, [x], { axes }, out);
          if (prim !== "reduce_sum") {
            assertWithin(
              got,
              want,
              0,
              `${prim} [${shape}] over [${axes}] on ${name}`,
            );
            continue;
          }
          for (let i = 0; i < got.length; i++) {
            // float64 sums in another order: a few float32 roundings of the terms' scale.
            assert(
              Math.abs(got[i]! - want[i]!) <=
                1e-6 * 4 * len + 1e-6 * Math.abs(want[i]!),
              `${prim} [${shape}] over [${axes}] on ${name}: ${got[i]} vs ${
                want[i]
              }`,
            );
          }
        }
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("large wasm kernels split over threads give bit-identical results to one thread", async () => {
  const shape = [129, 129, 17];
  assert(
    shape.reduce((a, b) => a * b) >= 4 * THREAD_MIN_ELEMS,
    "the test must reach the threads",
  );
  const x = host("float32", shape, 1), y = host("float32", [129, 1, 17], 2);
  const cases: [Primitive, Host[], unknown, Aval][] = [
    ["exp", [x], {}, { shape, dtype: "float32" }],
    ["div", [x, y], {}, { shape, dtype: "float32" }],
    ["lt", [x, y], {}, { shape, dtype: "bool" }],
    ["transpose", [x], { perm: [2, 0, 1] }, {
      shape: [17, 129, 129],
      dtype: "float32",
    }],
    ["reduce_sum", [x], { axes: [2] }, { shape: [129, 129], dtype: "float32" }],
    ["reduce_max", [x], { axes: [0] }, { shape: [129, 17], dtype: "float32" }],
  ];
  for (const [prim, ins, params, out] of cases) {
    assertWithin(
      await run(many, prim, ins, params, out),
      await run(one, prim, ins, params, out),
      0,
      prim,
    );
  }
});

Deno.test("threaded kernels reach memory grown after the workers attached", async () => {
  const w = await WasmBackend.create({ threads: 3 });
  try {
    const n = 24 * 1024 * 1024; // 96 MiB: more than the initial memory
    const data = floats(n, 9, -80, 80);
    const x: Host = { data, shape: [n], dtype: "float32" };
    const before = ThreadPool.workerClaims();
    // Until a worker has taken part (it may be descheduled for a while).
    for (let tries = 0; tries < 20; tries++) {
      const got = await run(w, "exp", [x], {}, {
        shape: [n],
        dtype: "float32",
      });
      for (let i = n - 1; i >= 0; i -= 9973) {
        const want = Math.fround(Math.exp(data[i]!));
        assert(ulps(got[i]!, want) <= 1, `element ${i}`);
      }
      if (ThreadPool.workerClaims() > before) return;
    }
    throw new Error("no worker took part");
  } finally {
    w.close();
  }
});

Deno.test("copies over more than five unmerged axes fall back to the cpu reference", async () => {
  const shape = [2, 3, 2, 3, 2, 3];
  const x = host("float32", shape, 4), y = host("float32", shape, 5);
  const perm = [5, 4, 3, 2, 1, 0];
  const cases: [Primitive, Host[], unknown, Aval][] = [
    ["transpose", [x], { perm }, {
      shape: perm.map((a) => shape[a]!),
      dtype: "float32",
    }],
    ["concatenate", [x, y], { axis: 4 }, {
      shape: [2, 3, 2, 3, 4, 3],
      dtype: "float32",
    }],
    ["reduce_sum", [x], { axes: [0, 2, 4] }, {
      shape: [3, 3, 3],
      dtype: "float32",
    }],
  ];
  for (const [prim, ins, params, out] of cases) {
    const want = await run(cpu, prim, ins, params, out);
    for (const [name, w] of WASM) {
      const got = await run(w, prim, ins, params, out);
      assertWithin(
        got,
        want,
        prim === "reduce_sum" ? 1 : 0,
        `${prim} on ${name}`,
      );
    }
  }
});
