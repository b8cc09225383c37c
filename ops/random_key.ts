/**
 * PRNG keys: immutable pairs of 32-bit words, split and folded with
 * Threefry-2x32 on the host. Samplers live in `random.ts`.
 *
 * @module
 */

import { threefry2x32 } from "./threefry.ts";

/** Counter tags, so that splitting, folding and sampling never share counters. */
const SPLIT_TAG = 1, FOLD_TAG = 2, PERM_TAG = 3;

/**
 * A PRNG key. Keys are values: the same key always gives the same numbers,
 * so split a key before each independent use.
 */
export class Key {
  /** The two unsigned 32-bit words of the key. */
  readonly words: readonly [number, number];

  /** Wraps two unsigned 32-bit words. Use {@link key} to make a key. */
  constructor(k0: number, k1: number) {
    this.words = Object.freeze([k0 >>> 0, k1 >>> 0]) as readonly [
      number,
      number,
    ];
  }

  /** A short description: `Key(0x..., 0x...)`. */
  toString(): string {
    const hex = (w: number) => `0x${w.toString(16).padStart(8, "0")}`;
    return `Key(${hex(this.words[0])}, ${hex(this.words[1])})`;
  }
}

function checkKey(op: string, k: Key): void {
  if (!(k instanceof Key)) {
    throw new TypeError(`${op}: expected a Key (made with key(seed))`);
  }
}

/**
 * Makes a key from an integer seed (any safe integer, negative included).
 *
 * @example
 * ```ts
 * import { key } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(key(42).words, key(42).words);
 * ```
 */
export function key(seed: number): Key {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`key: seed must be a safe integer, got ${seed}`);
  }
  const hi = Math.floor(seed / 0x100000000);
  return new Key(hi >>> 0, seed >>> 0);
}

/** `N` keys: a tuple for a literal `N` up to 16, else an array. */
export type Keys<N extends number> = number extends N ? Key[]
  : KeyTuple<N, []>;

/** `N` keys as a tuple, built up in `R` (the helper behind {@link Keys}). */
export type KeyTuple<N extends number, R extends Key[]> = R["length"] extends N
  ? R
  : R["length"] extends 16 ? Key[]
  : KeyTuple<N, [...R, Key]>;

/**
 * Splits a key into `num` new independent keys (default 2), typed as a
 * tuple when `num` is a literal.
 *
 * @example
 * ```ts
 * import { key, split } from "@heed/heed";
 * import { assertNotEquals } from "@std/assert";
 *
 * const [a, b] = split(key(0));
 * assertNotEquals(a.words, b.words);
 * ```
 */
export function split<const N extends number = 2>(k: Key, num?: N): Keys<N> {
  checkKey("split", k);
  const n: number = num ?? 2;
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`split: num must be a positive integer, got ${n}`);
  }
  const out: Key[] = [];
  for (let i = 0; i < n; i++) {
    const [a, b] = threefry2x32(k.words[0], k.words[1], i, SPLIT_TAG);
    out.push(new Key(a, b));
  }
  return out as Keys<N>;
}

/** Derives a new key from `k` and an integer `data` (a step, an epoch...). */
export function foldIn(k: Key, data: number): Key {
  checkKey("foldIn", k);
  if (!Number.isInteger(data)) {
    throw new RangeError(`foldIn: data must be an integer, got ${data}`);
  }
  const [a, b] = threefry2x32(k.words[0], k.words[1], data >>> 0, FOLD_TAG);
  return new Key(a, b);
}

/**
 * A random permutation of `0..n-1` on the host (Fisher-Yates driven by
 * Threefry), for shuffling data before it becomes tensors.
 */
export function permutationIndices(k: Key, n: number): Int32Array {
  checkKey("permutationIndices", k);
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(
      `permutation: n must be a non-negative integer, got ${n}`,
    );
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const [a, b] = threefry2x32(k.words[0], k.words[1], i, PERM_TAG);
    const u = (a * 0x200000 + (b >>> 11)) / 0x20000000000000; // 53 bits in [0,1)
    const j = Math.floor(u * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}
