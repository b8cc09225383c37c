/**
 * PRNG keys: immutable pairs of 32-bit words, split and folded with
 * Threefry-2x32 on the host. Samplers live in `random.ts`.
 *
 * Under `jit`, a key argument is traced: it becomes an int32 `[2]` program
 * input, and keys split or folded from it inside the trace stay symbolic,
 * as that input plus the host-known counters folded into it since (its
 * path). `random_uniform` folds the path in its kernel, so one program
 * serves every key and gives the numbers the host key would.
 *
 * @module
 */

import type { Backend } from "./backends/contract.ts";
import { fromHost } from "./core.ts";
import type { Tensor } from "./tensor.ts";
import { threefry2x32 } from "./threefry.ts";

/** Counter tags, so that splitting, folding and sampling never share counters. */
const SPLIT_TAG = 1, FOLD_TAG = 2, PERM_TAG = 3;

/** One derivation step: the key becomes `threefry2x32(key, counter)`. */
export type KeyStep = readonly [number, number];

/** The most steps a traced key may take (the WebGPU kernel's metadata holds them). */
export const MAX_KEY_PATH = 24;

/** A traced key's parts: an int32 `[2]` tensor and the steps folded in since. */
interface Symbolic {
  readonly data: Tensor;
  readonly path: readonly KeyStep[];
}

let symbolicKey: (s: Symbolic) => Key;
let symbolicOf: (k: Key) => Symbolic | null;

/**
 * A PRNG key. Keys are values: the same key always gives the same numbers,
 * so split a key before each independent use.
 */
export class Key {
  #words: readonly [number, number] | null;
  #symbolic: Symbolic | null = null;

  static {
    symbolicKey = (s) => {
      const k = new Key(0, 0);
      k.#words = null;
      k.#symbolic = s;
      return k;
    };
    symbolicOf = (k) => k.#symbolic;
  }

  /** Wraps two unsigned 32-bit words. Use {@link key} to make a key. */
  constructor(k0: number, k1: number) {
    this.#words = Object.freeze([k0 >>> 0, k1 >>> 0]) as readonly [
      number,
      number,
    ];
  }

  /**
   * The two unsigned 32-bit words of the key. A key held as a tensor (a
   * `jit` argument, or made with {@link keyFromData}) has no host words (a
   * TypeError).
   */
  get words(): readonly [number, number] {
    if (this.#words) return this.#words;
    throw new TypeError(
      "Key.words: this key is a tensor (traced by jit, or made with keyFromData), so its words are not on the host; sample from it with uniform, normal, bernoulli or dropout, or split and fold it (host uses such as permutation need a key that is not a jit argument)",
    );
  }

  /** Whether the key is held as an int32 `[2]` tensor and a path (a `jit` argument, or {@link keyFromData}). */
  get traced(): boolean {
    return this.#symbolic !== null;
  }

  /** A short description: `Key(0x..., 0x...)`, or `Key(traced, path ...)`. */
  toString(): string {
    const s = this.#symbolic;
    if (s) return `Key(traced, path [${s.path.map((p) => p.join(":"))}])`;
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
  const sym = symbolicOf(k);
  for (let i = 0; i < n; i++) {
    if (sym) {
      out.push(derived("split", sym, [i, SPLIT_TAG]));
      continue;
    }
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
  const sym = symbolicOf(k);
  if (sym) return derived("foldIn", sym, [data >>> 0, FOLD_TAG]);
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

/** A traced key one step further along its path. */
function derived(op: string, s: Symbolic, step: KeyStep): Key {
  if (s.path.length >= MAX_KEY_PATH) {
    throw new RangeError(
      `${op}: a key traced by jit can be split or folded at most ${MAX_KEY_PATH} times in a row; pass a key made outside jit for deeper derivations`,
    );
  }
  return symbolicKey({ data: s.data, path: [...s.path, step] });
}

/**
 * A key whose words are the int32 tensor `[2]` `data` (the bits of the two
 * uint32 words) with the counters `path` folded in (default none): how
 * `jit` passes a key into a traced function. Samplers, `split` and `foldIn`
 * accept it; reading its `words` is a TypeError.
 *
 * @example
 * ```ts
 * import { key, keyFromData, keyOperand, uniform } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const k = keyFromData(keyOperand(key(7)).data);
 * assertEquals(await uniform(k, [2]).array(), await uniform(key(7), [2]).array());
 * ```
 */
export function keyFromData(
  data: Tensor,
  path: readonly KeyStep[] = [],
): Key {
  if (
    data.dtype !== "int32" || data.shape.length !== 1 || data.shape[0] !== 2
  ) {
    throw new TypeError(
      `keyFromData: expected an int32 tensor of shape [2], got ${data.dtype}[${data.shape}]`,
    );
  }
  const isWord = (w: unknown) =>
    Number.isInteger(w) && (w as number) >= 0 && (w as number) <= 0xffffffff;
  if (
    !Array.isArray(path) || path.length > MAX_KEY_PATH ||
    !path.every((s) => Array.isArray(s) && s.length === 2 && s.every(isWord))
  ) {
    throw new RangeError(
      `keyFromData: path must be at most ${MAX_KEY_PATH} pairs of uint32 counters, got ${
        JSON.stringify(path)
      }`,
    );
  }
  return symbolicKey({ data, path: path.map(([a, b]) => [a, b] as const) });
}

/** What a sampler passes to `random_uniform`: the key words as a tensor, and the steps to fold in. */
export interface KeyOperand {
  /** int32 `[2]`: the bits of the key's two uint32 words (before `path`). */
  readonly data: Tensor;
  /** Counters folded into `data` in order, each `key ← threefry2x32(key, step)`. */
  readonly path: readonly KeyStep[];
}

/**
 * A key as a tensor operand: a host key's words uploaded to `backend`
 * (default: the default backend) with an empty path, or a traced key's
 * tensor and path.
 *
 * @example
 * ```ts
 * import { key, keyOperand, split } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const { data, path } = keyOperand(key(-1));
 * assertEquals(path, []);
 * assertEquals(await data.array(), [-1, -1]);
 * ```
 */
export function keyOperand(k: Key, backend?: Backend): KeyOperand {
  checkKey("keyOperand", k);
  const sym = symbolicOf(k);
  if (sym) return sym;
  const words = Int32Array.from(k.words, (w) => w | 0);
  return { data: fromHost(words, [2], "int32", backend), path: [] };
}
