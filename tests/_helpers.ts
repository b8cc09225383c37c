// Shared test helpers: closeness checks, seeded random tensors, finite
// differences, and the list of backends every op test runs on.

import { AssertionError } from "@std/assert";
import fc from "fast-check";
import {
  add,
  type BackendName,
  backends,
  getBackend,
  init,
  jvp,
  mul,
  setBackend,
  type Tensor,
  tensor,
  treeFlatten,
  vjp,
} from "../mod.ts";
import { assertAllClose as publicAssertAllClose } from "../testing/mod.ts";

// Probe the WebGPU adapter once, so that `backends()` lists WebGPU where an
// adapter exists and every op test also runs there.
await init();

/** Tolerances for {@link assertAllClose}. */
export interface Tolerance {
  rtol?: number;
  atol?: number;
}

/** Flattens a tensor, number or nested array to a list of numbers. */
export async function values(x: unknown): Promise<number[]> {
  if (
    x && typeof x === "object" && "data" in x &&
    typeof (x as Tensor).data === "function"
  ) {
    return Array.from(await (x as Tensor).data(), Number);
  }
  if (typeof x === "number" || typeof x === "boolean") return [Number(x)];
  if (ArrayBuffer.isView(x)) return Array.from(x as Float32Array, Number);
  if (Array.isArray(x)) return (x as unknown[]).flat(Infinity).map(Number);
  throw new TypeError(`values: cannot read ${String(x)}`);
}

/** Reads several tensors (or values) back at once: one readback round on a GPU. */
export function readAll(xs: readonly unknown[]): Promise<number[][]> {
  return Promise.all(xs.map(values));
}

/**
 * Asserts |a - e| <= atol + rtol·|e| elementwise (NaN equals NaN, infinities
 * must match), with shapes compared when both are tensors: the public
 * `assertAllClose` of `@heed/heed/testing`, with the message as a fourth
 * argument as the tests have always written it.
 */
export function assertAllClose(
  actual: unknown,
  expected: unknown,
  tol: Tolerance = {},
  msg = "",
): Promise<void> {
  return publicAssertAllClose(actual, expected, { ...tol, msg });
}

/** A small deterministic PRNG for test data (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where an input's values may lie, so that derivatives exist there. */
export type Domain = "any" | "positive" | "unit" | "nonzero" | "distinct";

/** Seeded float32 values in `domain`. */
export function randomValues(
  n: number,
  seed: number,
  domain: Domain = "any",
): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r();
    switch (domain) {
      case "any":
        out[i] = 4 * u - 2;
        break;
      case "positive":
        out[i] = 0.5 + 2 * u;
        break;
      case "unit":
        out[i] = 0.8 * u - 0.4;
        break;
      case "nonzero":
        out[i] = (r() < 0.5 ? -1 : 1) * (0.3 + 1.7 * u);
        break;
      case "distinct":
        out[i] = 0;
        break;
    }
  }
  if (domain === "distinct") {
    // Values at least 0.1 apart, shuffled: no ties, no kinks within reach of FD.
    const order = [...Array(n).keys()].sort(() => r() - 0.5);
    order.forEach((k, i) => (out[i] = -1 + 0.13 * k + 0.02 * r()));
  }
  return out;
}

/** A seeded random float32 tensor of `shape`. */
export function randomTensor(
  shape: readonly number[],
  seed: number,
  domain: Domain = "any",
): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(randomValues(n, seed, domain), { shape });
}

/** fast-check: a shape of rank `minRank..maxRank` with small odd-ish sizes. */
export function arbShape(
  minRank = 0,
  maxRank = 3,
  sizes: number[] = [1, 2, 3, 4],
): fc.Arbitrary<number[]> {
  return fc.array(fc.constantFrom(...sizes), {
    minLength: minRank,
    maxLength: maxRank,
  });
}

/** fast-check: two shapes that broadcast together (some axes set to 1 or dropped). */
export function arbBroadcastPair(
  maxRank = 3,
): fc.Arbitrary<[number[], number[]]> {
  return fc.tuple(
    arbShape(0, maxRank),
    fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 8 }),
    fc.integer({ min: 0, max: 3 }),
  )
    .map(([s, masks, drop]) => {
      const t = s.map((d, i) => ((masks[i] ?? 0) === 0 ? 1 : d));
      return [s, t.slice(Math.min(drop, t.length))] as [number[], number[]];
    })
    .chain(([a, b]) =>
      fc.boolean().map((swap) =>
        (swap ? [b, a] : [a, b]) as [number[], number[]]
      )
    );
}

/** fast-check: a seed for {@link randomTensor}. */
export const arbSeed: fc.Arbitrary<number> = fc.integer({
  min: 0,
  max: 2 ** 31 - 1,
});

/** Number of fast-check runs per property (more in CI if time allows). */
export const RUNS: number = 40;

/** Inner product of two flat lists. */
export function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Options of {@link checkJvpFiniteDiff}. */
export interface FdOptions extends Tolerance {
  eps?: number;
  seed?: number;
}

// deno-lint-ignore no-explicit-any
type TensorFn = (...xs: any[]) => Tensor;

/**
 * Checks `jvp(f)` against central finite differences along a random
 * direction: (f(x + εv) - f(x - εv)) / 2ε ≈ J v. Float inputs only. All
 * device work is issued first and read back in one round.
 */
export async function checkJvpFiniteDiff(
  f: TensorFn,
  xs: Tensor[],
  opts: FdOptions = {},
): Promise<void> {
  const eps = opts.eps ?? 1e-3;
  const seed = opts.seed ?? 1;
  const dirs = xs.map((x, i) => randomTensor(x.shape, seed + 7919 * i));
  const at = (s: number) => xs.map((x, i) => add(x, mul(dirs[i]!, s)));
  const [, yDot] = jvp(f, xs, dirs);
  const [plus, minus, tangent] = await Promise.all([
    values(f(...at(eps))),
    values(f(...at(-eps))),
    values(yDot),
  ]);
  const fd = plus.map((p, i) => (p - minus[i]!) / (2 * eps));
  await assertAllClose(tangent, fd, {
    rtol: opts.rtol ?? 5e-3,
    atol: opts.atol ?? 5e-3,
  }, "jvp vs finite differences:");
}

/**
 * Checks ⟨u, J v⟩ = ⟨Jᵀ u, v⟩ for random u and v: forward and reverse mode
 * agree.
 */
export async function checkJvpVjpDuality(
  f: TensorFn,
  xs: Tensor[],
  opts: FdOptions = {},
): Promise<void> {
  const seed = opts.seed ?? 3;
  const vs = xs.map((x, i) => randomTensor(x.shape, seed + 31 * i));
  const [y, yDot] = jvp(f, xs, vs);
  const u = randomTensor(y.shape, seed + 1000);
  const [, back] = vjp(f, ...xs);
  const xBar = treeFlatten(back(u))[0] as Tensor[];
  const [uv, yv, ...rest] = await Promise.all([
    values(u),
    values(yDot),
    ...xBar.map(values),
    ...vs.map(values),
  ]);
  const lhs = dot(uv!, yv!);
  let rhs = 0;
  for (let i = 0; i < xs.length; i++) {
    rhs += dot(rest[i]!, rest[xs.length + i]!);
  }
  const tol = (opts.atol ?? 1e-3) +
    (opts.rtol ?? 1e-3) * Math.max(Math.abs(lhs), Math.abs(rhs));
  if (!(Math.abs(lhs - rhs) <= tol)) {
    throw new AssertionError(`⟨u, Jv⟩ = ${lhs} but ⟨Jᵀu, v⟩ = ${rhs}`);
  }
}

/** Both gradient checks, their device work overlapped in one readback round. */
export async function checkGradients(
  f: TensorFn,
  xs: Tensor[],
  opts: FdOptions = {},
): Promise<void> {
  await Promise.all([
    checkJvpFiniteDiff(f, xs, opts),
    checkJvpVjpDuality(f, xs, { seed: opts.seed ?? 3 }),
  ]);
}

/** The backends present on this machine, for parametrised tests. */
export function testBackends(): BackendName[] {
  return backends();
}

/**
 * Registers `fn` once per backend, as `"<name> [<backend>]"`, running it with
 * that backend as the default.
 */
export function testEachBackend(
  name: string,
  fn: () => Promise<void> | void,
): void {
  for (const b of testBackends()) {
    Deno.test(`${name} [${b}]`, async () => {
      const prev = getBackend().name;
      await setBackend(b);
      try {
        await fn();
      } finally {
        await setBackend(prev);
      }
    });
  }
}
