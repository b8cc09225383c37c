/**
 * Corpus BLEU with sacreBLEU's defaults: the `13a` tokenizer, `exp`
 * smoothing, n-grams up to 4 and the closest reference length for the
 * brevity penalty.
 *
 * @module
 */

import {
  clippedMatches,
  type Counts,
  ngramCounts,
  normaliseReferences,
  pyRstrip,
  pySplit,
} from "./_metrics_text.ts";

// mteval-v13a's language-dependent rules, in order (written from the rules:
// ASCII punctuation and symbols except `'`, `,`, `-`, `.` become tokens;
// `.`/`,` split unless between digits; `-` splits after a digit).
// Symbol class: { | } ~  [ \ ] ^ _ `  space ! " # $ % &  ( ) * +  : ; < = > ? @  /
const SYMBOL = /([\x7b-\x7e\x5b-\x60\x20-\x26\x28-\x2b\x3a-\x40\x2f])/gu;
const PERIOD_COMMA_AFTER_NON_DIGIT = /([^0-9])([.,])/gu;
const PERIOD_COMMA_BEFORE_NON_DIGIT = /([.,])([^0-9])/gu;
const DASH_AFTER_DIGIT = /([0-9])(-)/gu;

/**
 * The `13a` tokenizer of sacreBLEU (mteval-v13a's): unescapes `&quot;`,
 * `&amp;`, `&lt;`, `&gt;`, drops `<skipped>`, joins lines, splits off
 * punctuation, and splits `.` and `,` unless they sit next to digits.
 * Returns the tokens joined by single spaces.
 *
 * @example Tokenizing a sentence
 * ```ts
 * import { tokenize13a } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(tokenize13a("Hello, world! It costs $3.50."), "Hello , world ! It costs $ 3.50 .");
 * assertEquals(tokenize13a("&quot;1990-2000&quot;"), '" 1990 - 2000 "');
 * ```
 */
export function tokenize13a(line: string): string {
  let s = line
    .replaceAll("<skipped>", "")
    .replaceAll("-\n", "")
    .replaceAll("\n", " ")
    .replaceAll("&quot;", '"')
    .replaceAll("&amp;", "&")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">");
  s = ` ${s} `;
  s = s.replace(SYMBOL, " $1 ");
  s = s.replace(PERIOD_COMMA_AFTER_NON_DIGIT, "$1 $2 ");
  s = s.replace(PERIOD_COMMA_BEFORE_NON_DIGIT, " $1 $2");
  s = s.replace(DASH_AFTER_DIGIT, "$1 $2 ");
  return pySplit(s).join(" ");
}

/** BLEU smoothing methods, as in sacreBLEU (Chen and Cherry, 2014). */
export type BleuSmoothing = "exp" | "none" | "floor" | "add-k";

/** Options of {@link corpusBleu}. */
export interface BleuOptions {
  /** `"13a"` (default, sacreBLEU's) or `"none"` (split on whitespace only). */
  readonly tokenize?: "13a" | "none";
  /** Lower-case hypotheses and references first. Default `false`. */
  readonly lowercase?: boolean;
  /** Smoothing method. Default `"exp"` (sacreBLEU's default). */
  readonly smoothMethod?: BleuSmoothing;
  /** Value for `"floor"` (default 0.1) and `"add-k"` (default 1). */
  readonly smoothValue?: number;
  /** Largest n-gram order. Default 4. */
  readonly maxNgramOrder?: number;
  /** Average only over the orders with hypothesis n-grams. Default `false`. */
  readonly effectiveOrder?: boolean;
}

/** A BLEU score and its sufficient statistics, like sacreBLEU's `BLEUScore`. */
export interface BleuScore {
  /** BLEU in [0, 100]. */
  readonly score: number;
  /** Clipped n-gram matches per order (1..maxNgramOrder). */
  readonly counts: number[];
  /** Hypothesis n-grams per order. */
  readonly totals: number[];
  /** Smoothed precisions per order, in percent. */
  readonly precisions: number[];
  /** Brevity penalty. */
  readonly bp: number;
  /** Hypothesis tokens in the corpus. */
  readonly sysLen: number;
  /** Closest-reference tokens in the corpus. */
  readonly refLen: number;
}

const SMOOTH_DEFAULT: Record<BleuSmoothing, number> = {
  exp: 0,
  none: 0,
  floor: 0.1,
  "add-k": 1,
};

/** sacreBLEU's floored log: log 0 is a very negative number, not -Infinity. */
function flooredLog(x: number): number {
  return x === 0 ? -9999999999 : Math.log(x);
}

/**
 * BLEU from corpus statistics, step for step as sacreBLEU's
 * `BLEU.compute_bleu`:
 *
 *   BP = 1 if c ≥ r, else exp(1 − r/c) (0 when c = 0)
 *   p_n = 100·m_n/t_n; with `exp` smoothing the k-th order with m_n = 0 gets
 *         p_n = 100/(2^k·t_n); orders after the first with t_n = 0 stay 0
 *   BLEU = BP · exp((1/N) Σ_n log p_n), with log 0 floored, and 0 when no
 *          n-gram of any order matches.
 */
export function bleuFromStats(
  counts: readonly number[],
  totals: readonly number[],
  sysLen: number,
  refLen: number,
  opts: BleuOptions = {},
): BleuScore {
  const method = opts.smoothMethod ?? "exp";
  const k = opts.smoothValue ?? SMOOTH_DEFAULT[method];
  const order = counts.length;
  const correct = [...counts], tot = [...totals];
  const bp = sysLen < refLen
    ? (sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0)
    : 1;
  const precisions = new Array<number>(order).fill(0);
  const result = (score: number): BleuScore => ({
    score,
    counts: correct,
    totals: tot,
    precisions,
    bp,
    sysLen,
    refLen,
  });
  if (!correct.some((c) => c !== 0)) return result(0);
  let smooth = 1;
  let effOrder = order;
  for (let n = 1; n <= order; n++) {
    if (method === "add-k" && n > 1) {
      correct[n - 1]! += k;
      tot[n - 1]! += k;
    }
    const m = correct[n - 1]!, t = tot[n - 1]!;
    if (t === 0) break;
    if (opts.effectiveOrder) effOrder = n;
    if (m === 0) {
      if (method === "exp") {
        smooth *= 2;
        precisions[n - 1] = 100 / (smooth * t);
      } else if (method === "floor") {
        precisions[n - 1] = 100 * k / t;
      }
    } else {
      precisions[n - 1] = 100 * m / t;
    }
  }
  let logSum = 0;
  for (const p of precisions.slice(0, effOrder)) logSum += flooredLog(p);
  return result(bp * Math.exp(logSum / effOrder));
}

function tokens(s: string, opts: BleuOptions): string[] {
  const text = pyRstrip(opts.lowercase ? s.toLowerCase() : s);
  return pySplit(opts.tokenize === "none" ? text : tokenize13a(text));
}

function allNgrams(toks: readonly string[], maxOrder: number): Counts[] {
  const out: Counts[] = [];
  // tokens hold no whitespace, so " " keeps n-gram keys unique
  for (let n = 1; n <= maxOrder; n++) out.push(ngramCounts(toks, n, " "));
  return out;
}

/** The reference length closest to `hypLen`; ties go to the shorter one. */
function closestRefLen(hypLen: number, refLens: readonly number[]): number {
  let bestDiff = -1, best = -1;
  for (const r of refLens) {
    const d = Math.abs(hypLen - r);
    if (bestDiff === -1 || d < bestDiff) [bestDiff, best] = [d, r];
    else if (d === bestDiff && r < best) best = r;
  }
  return best;
}

/**
 * Corpus BLEU, compatible with sacreBLEU 2.x `corpus_bleu` (default `13a`
 * tokenizer, `exp` smoothing, 4-grams). `references[i]` is the reference
 * (or the list of references) of `hypotheses[i]`; note that sacreBLEU takes
 * the transpose, a list of reference *streams*. Empty references are
 * skipped as in sacreBLEU. Supported tokenizers: `13a` and `none` (not
 * `intl`, `zh`, `ja-mecab`, `char` or `spm`).
 *
 * @example Perfect and partial matches
 * ```ts
 * import { corpusBleu } from "@heed/heed/models";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * assertAlmostEquals(corpusBleu(["the cat sat on the mat"], ["the cat sat on the mat"]).score, 100, 1e-9);
 * const r = corpusBleu(
 *   ["hello there general kenobi", "on our way to ankh morpork"],
 *   [["hello there general kenobi", "hello there !"], ["goodbye ankh morpork", "ankh morpork"]],
 * );
 * assertEquals([r.counts, r.totals, r.sysLen, r.refLen], [[6, 4, 2, 1], [10, 8, 6, 4], 10, 7]);
 * assertAlmostEquals(r.score, 39.76353643835252, 1e-9);
 * ```
 */
export function corpusBleu(
  hypotheses: readonly string[],
  references: readonly string[] | readonly (readonly string[])[],
  opts: BleuOptions = {},
): BleuScore {
  const order = opts.maxNgramOrder ?? 4;
  if (!Number.isInteger(order) || order < 1) {
    throw new RangeError(
      `corpusBleu: maxNgramOrder must be a positive integer, got ${order}`,
    );
  }
  const method = opts.smoothMethod ?? "exp";
  if (!(method in SMOOTH_DEFAULT)) {
    throw new RangeError(`corpusBleu: unknown smoothing method "${method}"`);
  }
  const tok = opts.tokenize ?? "13a";
  if (tok !== "13a" && tok !== "none") {
    throw new RangeError(
      `corpusBleu: unsupported tokenizer "${tok}" (use "13a" or "none")`,
    );
  }
  const refs = normaliseReferences("corpusBleu", hypotheses, references);
  const counts = new Array<number>(order).fill(0);
  const totals = new Array<number>(order).fill(0);
  let sysLen = 0, refLen = 0;
  hypotheses.forEach((hyp, i) => {
    // reference n-gram counts are the maximum over the references
    const refMax: Counts[] = Array.from({ length: order }, () => new Map());
    const refLens: number[] = [];
    for (const ref of refs[i]!) {
      const rt = tokens(ref, opts);
      refLens.push(rt.length);
      allNgrams(rt, order).forEach((m, n) => {
        const acc = refMax[n]!;
        for (const [g, c] of m) acc.set(g, Math.max(acc.get(g) ?? 0, c));
      });
    }
    const ht = tokens(hyp, opts);
    sysLen += ht.length;
    refLen += closestRefLen(ht.length, refLens);
    allNgrams(ht, order).forEach((m, n) => {
      for (const c of m.values()) totals[n]! += c;
      counts[n]! += clippedMatches(m, refMax[n]!);
    });
  });
  return bleuFromStats(counts, totals, sysLen, refLen, opts);
}
