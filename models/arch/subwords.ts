/**
 * fastText-style subword inputs: each vocabulary word's character n-grams
 * (of `<word>`, n = 3..5) hashed into buckets, whose embeddings are
 * averaged and added to the word's own embedding. Rare words then share
 * what their pieces learned elsewhere ("transfer", "transfers",
 * "transferred").
 *
 * @module
 */

import {
  add,
  div,
  expandDims,
  type Key,
  mul,
  normal,
  sum,
  take,
  type Tensor,
  tensor,
} from "../../ops/mod.ts";

/** Shortest and longest n-gram, and the most n-grams a word keeps. */
const MIN_N = 3, MAX_N = 5, MAX_PER_WORD = 24;

/** Each word's n-gram buckets, `[V, K]` row-major, with K the most any word has. */
export interface NgramTable {
  /** Bucket ids in 1..buckets; 0 pads a short row. */
  readonly ids: Int32Array;
  /** 1 where `ids` holds an n-gram, 0 for padding. */
  readonly used: Float32Array;
  /** n-grams per word, at least 1 (a word with none counts 1). */
  readonly count: Float32Array;
  /** The row length K. */
  readonly k: number;
}

/** FNV-1a over UTF-16 code units: a stable hash of an n-gram. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The character n-grams of `<word>`, shortest first, at most {@link MAX_PER_WORD}. */
export function charNgrams(word: string): string[] {
  // specials such as <pad> and <unk> have no pieces
  if (/^<[a-z]+>$/.test(word)) return [];
  const chars = [..."<" + word + ">"];
  const out: string[] = [];
  for (let n = MIN_N; n <= MAX_N; n++) {
    for (let i = 0; i + n <= chars.length; i++) {
      out.push(chars.slice(i, i + n).join(""));
    }
  }
  return out.slice(0, MAX_PER_WORD);
}

const tables = new WeakMap<readonly string[], Map<number, NgramTable>>();

/**
 * The n-gram table of a vocabulary (cached per word list and bucket count).
 *
 * @example
 * ```ts
 * import { ngramTable } from "./subwords.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const t = ngramTable(["<pad>", "ab"], 100);
 * assertEquals(t.k, 3); // "<ab", "ab>", "<ab>"
 * assertEquals([...t.count], [1, 3]);
 * ```
 */
export function ngramTable(
  words: readonly string[],
  buckets: number,
): NgramTable {
  const cached = tables.get(words)?.get(buckets);
  if (cached) return cached;
  const grams = words.map(charNgrams);
  const k = Math.max(1, ...grams.map((g) => g.length));
  const ids = new Int32Array(words.length * k);
  const used = new Float32Array(words.length * k);
  const count = new Float32Array(words.length);
  grams.forEach((g, w) => {
    g.forEach((s, j) => {
      ids[w * k + j] = 1 + (fnv1a(s) % buckets);
      used[w * k + j] = 1;
    });
    count[w] = Math.max(1, g.length);
  });
  const table = { ids, used, count, k };
  if (!tables.has(words)) tables.set(words, new Map());
  tables.get(words)!.set(buckets, table);
  return table;
}

/** Fresh n-gram embeddings `[buckets + 1, dim]` (row 0 is padding, never read with weight). */
export function initSubwords(key: Key, buckets: number, dim: number): Tensor {
  return mul(normal(key, [buckets + 1, dim]), 1 / Math.sqrt(dim));
}

/**
 * Each token's n-gram bucket ids and their use (1, or 0 for padding):
 * ids `[B, T]` → two `[B, T, K]` tensors.
 */
export function tokenNgrams(
  ngrams: NgramTable,
  ids: Tensor,
): { readonly gramIds: Tensor; readonly used: Tensor } {
  const v = ngrams.count.length, k = ngrams.k;
  return {
    gramIds: take(
      tensor(ngrams.ids, { shape: [v, k], dtype: "int32" }),
      ids,
      0,
    ),
    used: take(tensor(ngrams.used, { shape: [v, k] }), ids, 0),
  };
}

/** The mean n-gram embedding of each token: ids `[B, T]` → `[B, T, dim]`. */
export function embedSubwords(
  table: Tensor,
  ngrams: NgramTable,
  ids: Tensor,
): Tensor {
  const { gramIds, used } = tokenNgrams(ngrams, ids); // [B, T, K]
  const v = ngrams.count.length;
  const count = take(tensor(ngrams.count, { shape: [v] }), ids, 0); // [B, T]
  const e = take(table, gramIds, 0); // [B, T, K, D]
  const total = sum(mul(e, expandDims(used, -1)), { axis: 2 }); // [B, T, D]
  return div(total, expandDims(count, -1));
}

/** A word embedding plus its n-grams' mean. */
export function withSubwords(
  x: Tensor,
  table: Tensor,
  ngrams: NgramTable,
  ids: Tensor,
): Tensor {
  return add(x, embedSubwords(table, ngrams, ids));
}
