/**
 * Evaluation metrics on the host: accuracy, macro-F1 and the confusion
 * matrix for classification; corpus BLEU and chrF (sacreBLEU-compatible)
 * for translation.
 *
 * @module
 */

export {
  type BleuOptions,
  type BleuScore,
  type BleuSmoothing,
  corpusBleu,
  tokenize13a,
} from "./_metrics_bleu.ts";
export {
  type ChrfOptions,
  type ChrfScore,
  corpusChrf,
} from "./_metrics_chrf.ts";

function checkLabels(
  op: string,
  pred: ArrayLike<number>,
  gold: ArrayLike<number>,
  numClasses?: number,
): number {
  if (pred.length !== gold.length) {
    throw new RangeError(
      `${op}: ${pred.length} predictions but ${gold.length} gold labels`,
    );
  }
  if (pred.length === 0) throw new RangeError(`${op}: no labels given`);
  if (
    numClasses !== undefined &&
    (!Number.isSafeInteger(numClasses) || numClasses < 1)
  ) {
    throw new RangeError(
      `${op}: numClasses must be a positive integer, got ${numClasses}`,
    );
  }
  let max = 0;
  for (const [name, xs] of [["pred", pred], ["gold", gold]] as const) {
    for (let i = 0; i < xs.length; i++) {
      const v = xs[i]!;
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new RangeError(
          `${op}: ${name}[${i}] = ${v} is not a non-negative integer label`,
        );
      }
      if (numClasses !== undefined && v >= numClasses) {
        throw new RangeError(
          `${op}: ${name}[${i}] = ${v} is out of range for ${numClasses} classes`,
        );
      }
      max = Math.max(max, v);
    }
  }
  return numClasses ?? max + 1;
}

/**
 * The fraction of predictions equal to the gold labels, in [0, 1].
 *
 * @example Three of four right
 * ```ts
 * import { accuracy } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(accuracy([0, 1, 2, 2], [0, 1, 2, 1]), 0.75);
 * ```
 */
export function accuracy(
  pred: ArrayLike<number>,
  gold: ArrayLike<number>,
): number {
  checkLabels("accuracy", pred, gold);
  let right = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === gold[i]) right++;
  return right / pred.length;
}

/**
 * The confusion matrix `m[gold][pred]` (rows are gold labels, as in
 * scikit-learn), of size `numClasses` (default: largest label + 1).
 *
 * @example Rows are gold labels
 * ```ts
 * import { confusionMatrix } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(confusionMatrix([0, 1, 1], [0, 0, 1]), [[1, 1], [0, 1]]);
 * ```
 */
export function confusionMatrix(
  pred: ArrayLike<number>,
  gold: ArrayLike<number>,
  numClasses?: number,
): number[][] {
  const k = checkLabels("confusionMatrix", pred, gold, numClasses);
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < pred.length; i++) m[gold[i]!]![pred[i]!]! += 1;
  return m;
}

/**
 * Macro-averaged F1 in [0, 1]: the unweighted mean of the per-class F1 over
 * the classes present in gold ∪ pred, F1_c = 2·TP / (2·TP + FP + FN).
 * A class that is present but never correctly predicted has F1 = 0, as with
 * scikit-learn's `f1_score(average="macro", zero_division=0)`. `numClasses`
 * only checks the label range; classes absent from both arrays never count.
 *
 * @example Per-class F1 averaged
 * ```ts
 * import { macroF1 } from "@heed/heed/models";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * // class 0: TP 1, FP 0, FN 1 → 2/3; class 1: TP 1, FP 1, FN 0 → 2/3
 * assertAlmostEquals(macroF1([0, 1, 1], [0, 0, 1]), 2 / 3);
 * ```
 */
export function macroF1(
  pred: ArrayLike<number>,
  gold: ArrayLike<number>,
  numClasses?: number,
): number {
  const m = confusionMatrix(pred, gold, numClasses);
  const k = m.length;
  let sum = 0, present = 0;
  for (let c = 0; c < k; c++) {
    const tp = m[c]![c]!;
    let fn = 0, fp = 0;
    for (let j = 0; j < k; j++) {
      if (j === c) continue;
      fn += m[c]![j]!;
      fp += m[j]![c]!;
    }
    if (tp + fn + fp === 0) continue;
    present++;
    sum += (2 * tp) / (2 * tp + fp + fn);
  }
  return sum / present;
}
