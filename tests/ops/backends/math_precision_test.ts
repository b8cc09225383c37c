// log1p, tanh and erf on every backend against the CPU reference (double
// precision rounded once to float32): within 2 ulp everywhere, exact at the
// special values. WebGPU once lost all relative precision near 0 (log1p and
// tanh of 1e-8 gave 0), because the shader compiler folded `(1 + x) - 1`
// to `x` and WGSL's builtin exp and log are loose. And `pow` on the special
// pairs of C's pow (IEEE 754 / NumPy), which WebGPU got wrong for (-0)^-1,
// (-1)^±∞ and (-∞)^0.5.

import { assertEquals, AssertionError } from "@std/assert";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../ops/tensor.ts";
import { rng } from "../../_helpers.ts";

await h.init(); // probes the WebGPU adapter, so that backends() lists it
const OTHERS = h.backends().filter((b) => b !== "cpu");

/** Distance from `a` to the float32 `e`, in units in the last place of `e`. */
function ulps(a: number, e: number): number {
  if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(e)) return Infinity;
  const exp = Math.max(Math.floor(Math.log2(Math.abs(e) || 2 ** -149)), -126);
  return Math.abs(a - e) / 2 ** (exp - 23);
}

function logspace(lo: number, hi: number, perDecade: number): number[] {
  const out: number[] = [];
  for (let k = lo * perDecade; k <= hi * perDecade; k++) {
    out.push(10 ** (k / perDecade));
  }
  return out;
}

function signed(xs: number[]): number[] {
  return xs.flatMap((x) => [x, -x]);
}

/** The float32 neighbours of `x` (and x itself). */
function around(x: number): number[] {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  const out: number[] = [];
  for (let d = -2; d <= 2; d++) {
    const g = new Uint32Array([u[0]! + d]);
    out.push(new Float32Array(g.buffer)[0]!);
  }
  return out;
}

const NEAR_ZERO = signed(logspace(-30, -3, 40));
const LARGE = signed(logspace(0, 38.5, 20));
const MIDDLE = signed(Array.from({ length: 4001 }, (_, i) => (i * 12) / 4000));
const EDGES = signed(
  [1e-4, 0.292893219, 0.414213562, 0.625, 1, 1.5, 2.5, 3.5, 4, 9, 44, 88.7]
    .flatMap(around),
);
const SPECIAL = [
  NaN,
  Infinity,
  -Infinity,
  0,
  -0,
  3.4028234663852886e38,
  -3.4028234663852886e38,
  Math.exp(-30),
  -1,
  -0.9999999403953552,
  -1.5,
];
/** Subnormal inputs (see {@link flushed}). */
const SUBNORMAL = signed([1e-40, 1.401298464324817e-45, 1.1e-38]);

const MIN_NORMAL = 2 ** -126;

/**
 * Whether `a` is what a GPU that flushes subnormals to zero gives, as WGSL
 * allows (the H200 does; llvmpipe keeps them): a subnormal result as a
 * zero of either sign, or a subnormal input read as ±0.
 */
function flushed(
  x: number,
  a: number,
  e: number,
  atZero: Float32Array,
): boolean {
  if (e !== 0 && Math.abs(e) < MIN_NORMAL && a === 0) return true;
  if (x === 0 || Math.abs(x) >= MIN_NORMAL) return false;
  return [...atZero].some((z) => ulps(a, z) === 0) || a === 0;
}

const FUNCS: [string, (x: Tensor) => Tensor][] = [
  ["log1p", h.log1p],
  ["tanh", h.tanh],
  ["erf", h.erf],
  ["exp", h.exp],
  ["log", h.log],
  ["logistic", h.sigmoid],
];

async function evaluate(
  backend: h.BackendName,
  f: (x: Tensor) => Tensor,
  xs: Float32Array,
): Promise<Float32Array> {
  return await h.withBackend(backend, async () => {
    using x = h.tensor(xs);
    using y = f(x);
    return (await y.data()) as Float32Array;
  });
}

for (const backend of OTHERS) {
  for (const [name, f] of FUNCS) {
    Deno.test(`${name} on ${backend} is within 2 ulp of the CPU reference, exact at special values`, async () => {
      const xs = new Float32Array([
        ...NEAR_ZERO,
        ...MIDDLE,
        ...LARGE,
        ...EDGES,
        ...SPECIAL,
        ...SUBNORMAL,
      ]);
      const got = await evaluate(backend, f, xs);
      const ref = await evaluate("cpu", f, xs);
      const atZero = await evaluate("cpu", f, new Float32Array([0, -0]));
      const bad: string[] = [];
      let worst = 0;
      for (let i = 0; i < xs.length; i++) {
        const x = xs[i]!, a = got[i]!, e = ref[i]!;
        // Zeros, infinities and NaN in or out are exact, signs included.
        const exact = !Number.isFinite(x) || x === 0 || !Number.isFinite(e) ||
          e === 0;
        const err = ulps(a, e);
        if (exact ? err === 0 : err <= 2) {
          worst = Math.max(worst, err);
        } else if (!flushed(x, a, e, atZero)) {
          bad.push(`${name}(${x}) = ${a}, reference ${e} (${err} ulp)`);
        }
      }
      if (bad.length) {
        throw new AssertionError(
          `${bad.length} of ${xs.length} values off:\n${
            bad.slice(0, 12).join("\n")
          }`,
        );
      }
      console.log(`${name} on ${backend}: at most ${worst} ulp`);
    });
  }
}

/** No subnormal inputs in the pow tests: only flushed results matter. */
const ZEROS = new Float32Array([NaN]);

const POW_VALUES = [
  0,
  -0,
  1,
  -1,
  0.5,
  -0.5,
  2,
  -2,
  3,
  -3,
  Infinity,
  -Infinity,
  NaN,
  1e-30,
  1e30,
];

for (const backend of OTHERS) {
  Deno.test(`pow on ${backend} agrees with the CPU reference on every special pair`, async () => {
    const xs: number[] = [], ys: number[] = [];
    for (const x of POW_VALUES) {
      for (const y of POW_VALUES) {
        xs.push(x);
        ys.push(y);
      }
    }
    const run = (b: h.BackendName) =>
      h.withBackend(b, async () => {
        using z = h.pow(h.tensor(xs), h.tensor(ys));
        return Array.from(await z.data());
      });
    const got = await run(backend);
    const ref = await run("cpu");
    const bad: string[] = [];
    for (let i = 0; i < xs.length; i++) {
      const a = got[i]!, e = ref[i]!;
      // Zeros, infinities and NaN (with their signs) exactly, finite values
      // within 2 ulp.
      const exact = !Number.isFinite(e) || e === 0 || Number.isNaN(e);
      const err = ulps(a, e);
      if ((exact ? err !== 0 : err > 2) && !flushed(xs[i]!, a, e, ZEROS)) {
        bad.push(`pow(${xs[i]}, ${ys[i]}) = ${a}, reference ${e}`);
      }
    }
    assertEquals(bad, []);
  });
}

for (const backend of OTHERS) {
  Deno.test(`pow on ${backend} is within 2 ulp of the CPU reference on random pairs`, async () => {
    // Bases from 1e-35 to 1e35, near 1 and negative integers; exponents
    // small, integer and up to ±1e5, so that results reach the subnormals
    // and overflow.
    const n = 1 << 14, xs = new Float32Array(n), ys = new Float32Array(n);
    const r = rng(5);
    for (let i = 0; i < n; i++) {
      const k = i % 4, j = (i >> 2) % 3;
      xs[i] = k === 0
        ? Math.exp((r() - 0.5) * 160)
        : k === 1
        ? r() * 4
        : k === 2
        ? 1 + (r() - 0.5) * 1e-5
        : -Math.floor(r() * 10);
      ys[i] = j === 0
        ? (r() - 0.5) * 8
        : j === 1
        ? Math.round((r() - 0.5) * 40)
        : (r() - 0.5) * 2e5;
    }
    const run = (b: h.BackendName) =>
      h.withBackend(b, async () => {
        using z = h.pow(h.tensor(xs), h.tensor(ys));
        return Array.from(await z.data());
      });
    const got = await run(backend);
    const ref = await run("cpu");
    const bad: string[] = [];
    for (let i = 0; i < n; i++) {
      const err = ulps(got[i]!, ref[i]!);
      if (err > 2 && !flushed(xs[i]!, got[i]!, ref[i]!, ZEROS)) {
        bad.push(`pow(${xs[i]}, ${ys[i]}) = ${got[i]}, reference ${ref[i]}`);
      }
    }
    assertEquals(bad.slice(0, 10), []);
  });
}

Deno.test("pow's special values on the CPU follow C's pow (the reference itself)", async () => {
  const cases: [number, number, number][] = [
    [-0, -1, -Infinity],
    [-0, -2, Infinity],
    [-0, 3, -0],
    [0, -3, Infinity],
    [-1, Infinity, 1],
    [-1, -Infinity, 1],
    [1, NaN, 1],
    [NaN, 0, 1],
    [-Infinity, 0.5, Infinity],
    [-Infinity, 3, -Infinity],
    [-Infinity, -3, -0],
    [-Infinity, -2, 0],
    [0.5, Infinity, 0],
    [2, -Infinity, 0],
    [0.5, -Infinity, Infinity],
    [-2, 0.5, NaN],
    [-2, 3, -8],
  ];
  const got = await h.withBackend("cpu", async () => {
    using z = h.pow(
      h.tensor(cases.map((c) => c[0])),
      h.tensor(cases.map((c) => c[1])),
    );
    return Array.from(await z.data());
  });
  assertEquals(got, cases.map((c) => c[2]));
});
