/**
 * The classifier's bag-of-n-grams member (`ClassifierConfig.bag`): a
 * linear model over a row's words, its word pairs and its words'
 * character 3- to 5-grams, in the manner of TF-IDF logistic regression
 * and fastText. Each feature has a weight per class; a row's logits are
 * its features' weights summed, divided by the square root of their
 * count (the L2 norm of its binary feature vector) and multiplied by
 * {@link BAG_SCALE}, plus a bias. Word
 * pairs and character n-grams are hashed into `buckets`; everything is a
 * function of the token ids, so the member needs no other input.
 *
 * A linear model over sparse n-grams errs differently from the
 * Transformer, so their mixture beats both (see `applyClassifier`).
 *
 * @module
 */

import {
  add,
  cast,
  div,
  expandDims,
  greaterEqual,
  logSoftmax,
  maximum,
  mul,
  slice,
  sqrt,
  sub,
  sum,
  take,
  type Tensor,
  tensor,
  where,
  zeros,
} from "../../ops/mod.ts";
import { fnv1a, ngramTable, tokenNgrams } from "./subwords.ts";

/**
 * The member's logits are its features' weights times this: Adam moves
 * each weight by about the learning rate per step whatever its gradient's
 * scale, and a linear model started from zero needs its logits to grow
 * faster than that to fit in a Transformer's epochs. Picked on 1,000
 * banking77 training rows held out (never the test split), with this
 * member's training emulated in NumPy (bench/quality/bag_scale.py): 90.1 %
 * at 4 (and at 16) against 88.5 % at 1.
 */
export const BAG_SCALE = 4;

/** Parameters of the bag-of-n-grams member; every table `[rows, numClasses]`. */
export interface BagParams {
  /** A weight per vocabulary word. */
  readonly words: Tensor;
  /** Hashed word pairs `[buckets, numClasses]`. */
  readonly pairs: Tensor;
  /** Hashed character n-grams `[buckets + 1, numClasses]` (row 0 pads). */
  readonly chars: Tensor;
  /** `[numClasses]` */
  readonly bias: Tensor;
}

/** Zero weights: the member starts at the uniform distribution. */
export function initBag(
  vocabSize: number,
  buckets: number,
  numClasses: number,
): BagParams {
  return {
    words: zeros([vocabSize, numClasses]),
    pairs: zeros([buckets, numClasses]),
    chars: zeros([buckets + 1, numClasses]),
    bias: zeros([numClasses]),
  };
}

/** Per word, its hash as the left and as the right word of a pair, in 0..buckets-1. */
const pairHashes = new WeakMap<
  readonly string[],
  Map<number, { left: Int32Array; right: Int32Array }>
>();

function hashesOf(words: readonly string[], buckets: number) {
  let byBuckets = pairHashes.get(words);
  if (!byBuckets) pairHashes.set(words, byBuckets = new Map());
  let h = byBuckets.get(buckets);
  if (!h) {
    h = {
      left: Int32Array.from(words, (w) => fnv1a(`${w}\u0001`) % buckets),
      right: Int32Array.from(words, (w) => fnv1a(`\u0002${w}`) % buckets),
    };
    byBuckets.set(buckets, h);
  }
  return h;
}

/**
 * The member's logits `[B, numClasses]` for token ids `[B, T]` under the
 * padding mask `[B, T]` (bool); `words` are the vocabulary's words in id
 * order.
 */
export function applyBag(
  p: BagParams,
  ids: Tensor,
  mask: Tensor,
  words: readonly string[],
): Tensor {
  const [b, t] = ids.shape as [number, number];
  const buckets = p.pairs.shape[0]!;
  const m = cast(mask, "float32"); // [B, T]
  const fm = expandDims(m, -1);
  // words
  let total = sum(mul(take(p.words, ids, 0), fm), { axis: 1 }); // [B, K]
  let count = sum(m, { axis: 1 }); // [B]
  // word pairs: h_left(a) + h_right(b) mod buckets, exact in int32
  if (t > 1) {
    const h = hashesOf(words, buckets);
    const a = slice(ids, [0, 0], [b, t - 1]),
      c = slice(ids, [0, 1], [b, t - 1]);
    const s = add(
      take(tensor(h.left, { shape: [words.length] }), a, 0),
      take(tensor(h.right, { shape: [words.length] }), c, 0),
    ); // [B, T-1] in 0..2·buckets-2
    const bucket = where(greaterEqual(s, buckets), sub(s, buckets), s);
    const pm = mul(slice(m, [0, 0], [b, t - 1]), slice(m, [0, 1], [b, t - 1]));
    total = add(
      total,
      sum(mul(take(p.pairs, bucket, 0), expandDims(pm, -1)), { axis: 1 }),
    );
    count = add(count, sum(pm, { axis: 1 }));
  }
  // character n-grams of each word (buckets 1..buckets; 0 pads)
  const grams = tokenNgrams(ngramTable(words, buckets), ids); // [B, T, k]
  const { gramIds } = grams, used = mul(grams.used, fm);
  const g = take(p.chars, gramIds, 0); // [B, T, k, K]
  total = add(
    total,
    sum(mul(g, expandDims(used, -1)), { axis: [1, 2] }),
  );
  count = add(count, sum(used, { axis: [1, 2] }));
  // ×BAG_SCALE: the logits move BAG_SCALE times faster under Adam's
  // steps of the shared learning rate, as a linear model from zero needs
  const norm = div(sqrt(maximum(count, 1)), BAG_SCALE); // [B]
  return add(div(total, expandDims(norm, -1)), p.bias);
}

/**
 * The Transformer's and the bag member's predictions mixed evenly as a
 * geometric mean: the mean of their log-probabilities (a softmax of it is
 * the normalised product of their square roots).
 */
export function mixBag(a: Tensor, b: Tensor): Tensor {
  return div(add(logSoftmax(a), logSoftmax(b)), 2);
}
