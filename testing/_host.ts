// Host-side helpers for the checkers: a seeded PRNG, random tensors, reading
// back, and naming leaves of pytrees. Private to testing/.

import { Tensor, tensor } from "../ops/mod.ts";

export { CheckFailure } from "./check_failure.ts";

/** A small seeded PRNG (mulberry32) returning floats in [0, 1). */
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

/** Uniform floats in [-scale, scale). */
export function uniformValues(
  n: number,
  r: () => number,
  scale = 1,
): Float32Array {
  return Float32Array.from({ length: n }, () => (2 * r() - 1) * scale);
}

/** A float32 tensor of `shape` with values uniform in [-scale, scale). */
export function randomTensor(
  shape: readonly number[],
  r: () => number,
  scale = 1,
): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(uniformValues(n, r, scale), { shape });
}

/** A random permutation of 0..n-1 (Fisher-Yates). */
export function permutationOf(n: number, r: () => number): number[] {
  const p = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** Reads a tensor back as a list of numbers. */
export async function host(x: Tensor): Promise<number[]> {
  return Array.from(await x.data(), Number);
}

/** The multi-index of flat index `i` in `shape`, as `[a,b,c]`. */
export function indexOf(i: number, shape: readonly number[]): string {
  const idx: number[] = [];
  for (let a = shape.length - 1; a >= 0; a--) {
    const d = shape[a]!;
    idx.unshift(i % d);
    i = Math.floor(i / d);
  }
  return `[${idx.join(",")}]`;
}

/**
 * The path of every leaf of a pytree, in `treeFlatten` order
 * (depth-first, object keys in insertion order): `args[1].w1`.
 */
export function leafPaths(tree: unknown, root: string): string[] {
  const out: string[] = [];
  const walk = (x: unknown, path: string): void => {
    if (Array.isArray(x)) {
      x.forEach((c, i) => walk(c, `${path}[${i}]`));
    } else if (
      x !== null && typeof x === "object" &&
      [Object.prototype, null].includes(Object.getPrototypeOf(x))
    ) {
      for (const k of Object.keys(x)) {
        walk((x as Record<string, unknown>)[k], `${path}.${k}`);
      }
    } else if (typeof x === "number" || x instanceof Tensor) {
      out.push(path);
    }
  };
  walk(tree, root);
  return out;
}

/** Formats a number for messages, short but exact enough. */
export function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(6);
}
