/**
 * chrF and chrF++ with sacreBLEU 2.x's definitions and defaults.
 *
 * @module
 */

import {
  clippedMatches,
  type Counts,
  ngramCounts,
  normaliseReferences,
  pySplit,
  total,
} from "./_metrics_text.ts";

/** Options of {@link corpusChrf}. */
export interface ChrfOptions {
  /** Character n-gram order. Default 6. */
  readonly charOrder?: number;
  /** Word n-gram order: 0 for chrF (default), 2 for chrF++. */
  readonly wordOrder?: number;
  /** Weight of recall over precision. Default 2. */
  readonly beta?: number;
  /** Lower-case hypotheses and references first. Default `false`. */
  readonly lowercase?: boolean;
  /** Keep whitespace inside character n-grams. Default `false` (removed). */
  readonly whitespace?: boolean;
  /**
   * Average per-order F-scores with ε = 1e-16 for empty orders (chrF++.py,
   * Moses, NLTK) instead of sacreBLEU's default effective-order averaging.
   * Default `false`.
   */
  readonly epsSmoothing?: boolean;
}

/** A chrF score, like sacreBLEU's `CHRFScore`. */
export interface ChrfScore {
  /** chrF in [0, 100]. */
  readonly score: number;
  /** Character n-gram order used. */
  readonly charOrder: number;
  /** Word n-gram order used. */
  readonly wordOrder: number;
  /** β used. */
  readonly beta: number;
  /** Corpus statistics: `[hyp, ref, match]` n-gram counts per order, chars first. */
  readonly stats: number[];
}

// Python's string.punctuation, used by chrF++'s word splitter.
const PUNCTS = new Set(Array.from("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"));

/**
 * chrF++'s word splitter: a punctuation mark at the end (else at the start)
 * of a word longer than one character becomes its own word. Lengths count
 * code points, as Python does.
 */
function chrfWords(sent: string): string[] {
  const out: string[] = [];
  for (const w of pySplit(sent)) {
    const cps = Array.from(w);
    if (cps.length === 1) out.push(w);
    else if (PUNCTS.has(cps.at(-1)!)) {
      out.push(cps.slice(0, -1).join(""), cps.at(-1)!);
    } else if (PUNCTS.has(cps[0]!)) out.push(cps[0]!, cps.slice(1).join(""));
    else out.push(w);
  }
  return out;
}

function segmentNgrams(s: string, o: Required<ChrfOptions>): Counts[] {
  const text = o.lowercase ? s.toLowerCase() : s;
  const chars = Array.from(o.whitespace ? text : pySplit(text).join(""));
  const out: Counts[] = [];
  for (let n = 1; n <= o.charOrder; n++) out.push(ngramCounts(chars, n, ""));
  if (o.wordOrder > 0) {
    // words hold no whitespace, so " " keeps word n-gram keys unique
    const words = chrfWords(text);
    for (let n = 1; n <= o.wordOrder; n++) out.push(ngramCounts(words, n, " "));
  }
  return out;
}

/**
 * chrF from `[hyp, ref, match]` statistics per order, as sacreBLEU 2.x's
 * `CHRF._compute_f_score`, with F_β(P, R) = (1 + β²)·P·R / (β²·P + R):
 *
 * - default (effective order): over the orders where both hypothesis and
 *   reference have n-grams, average P_n = match/hyp and R_n = match/ref,
 *   then score = 100 · F_β(avg P, avg R) (0 when both averages are 0);
 * - `epsSmoothing`: score = 100 · (1/N) Σ_n F_β(P_n, R_n), where an order with
 *   no hypothesis (reference) n-grams has P_n (R_n) = ε = 1e-16, and an
 *   order whose F_β denominator is 0 contributes ε.
 */
export function chrfFromStats(
  stats: readonly number[],
  beta: number,
  epsSmoothing: boolean,
): number {
  const eps = 1e-16;
  const factor = beta ** 2;
  const order = stats.length / 3;
  let fSum = 0, avgP = 0, avgR = 0, effective = 0;
  for (let i = 0; i < order; i++) {
    const nHyp = stats[3 * i]!,
      nRef = stats[3 * i + 1]!,
      nMatch = stats[3 * i + 2]!;
    const p = nHyp > 0 ? nMatch / nHyp : eps;
    const r = nRef > 0 ? nMatch / nRef : eps;
    const denom = factor * p + r;
    fSum += denom > 0 ? (1 + factor) * p * r / denom : eps;
    if (nHyp > 0 && nRef > 0) {
      avgP += p;
      avgR += r;
      effective++;
    }
  }
  if (epsSmoothing) return 100 * fSum / order;
  if (effective === 0) return 0;
  avgP /= effective;
  avgR /= effective;
  if (avgP + avgR === 0) return 0;
  let score = (1 + factor) * avgP * avgR;
  score /= factor * avgP + avgR;
  return 100 * score;
}

/**
 * Corpus chrF (chrF++ with `wordOrder: 2`), compatible with sacreBLEU 2.x
 * `corpus_chrf` / `CHRF`: character 6-grams, β = 2, whitespace removed,
 * effective-order averaging. Statistics are summed over the corpus, then
 * scored once; with several references, each segment keeps the statistics
 * of its best-scoring reference. `references[i]` belongs to
 * `hypotheses[i]` (sacreBLEU takes the transpose).
 *
 * @example Scoring a translation
 * ```ts
 * import { corpusChrf } from "@heed/heed/models";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * assertEquals(corpusChrf(["a b c"], ["abc"]).score, 100);
 * const r = corpusChrf(
 *   ["The relationship between Obama and Netanyahu is not exactly friendly."],
 *   ["The ties between Obama and Netanyahu are not particularly friendly."],
 * );
 * assertAlmostEquals(r.score, 61.576379378113785, 1e-9);
 * ```
 */
export function corpusChrf(
  hypotheses: readonly string[],
  references: readonly string[] | readonly (readonly string[])[],
  opts: ChrfOptions = {},
): ChrfScore {
  const o: Required<ChrfOptions> = {
    charOrder: opts.charOrder ?? 6,
    wordOrder: opts.wordOrder ?? 0,
    beta: opts.beta ?? 2,
    lowercase: opts.lowercase ?? false,
    whitespace: opts.whitespace ?? false,
    epsSmoothing: opts.epsSmoothing ?? false,
  };
  for (const k of ["charOrder", "wordOrder"] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0) {
      throw new RangeError(
        `corpusChrf: ${k} must be a non-negative integer, got ${o[k]}`,
      );
    }
  }
  if (o.charOrder + o.wordOrder === 0) {
    throw new RangeError("corpusChrf: charOrder + wordOrder must be positive");
  }
  if (!(o.beta >= 0) || !Number.isFinite(o.beta)) {
    throw new RangeError(
      `corpusChrf: beta must be finite and non-negative, got ${o.beta}`,
    );
  }
  const refs = normaliseReferences("corpusChrf", hypotheses, references);
  const corpus = new Array<number>(3 * (o.charOrder + o.wordOrder)).fill(0);
  hypotheses.forEach((hyp, i) => {
    const h = segmentNgrams(hyp, o);
    let best: number[] = [];
    let bestF = -1;
    for (const ref of refs[i]!) {
      const r = segmentNgrams(ref, o);
      const stats = h.flatMap((hm, n) => {
        const rm = r[n]!;
        // sacreBLEU counts no hypothesis n-grams where the reference has none
        return [rm.size > 0 ? total(hm) : 0, total(rm), clippedMatches(hm, rm)];
      });
      const f = chrfFromStats(stats, o.beta, o.epsSmoothing);
      if (f > bestF) [bestF, best] = [f, stats];
    }
    best.forEach((v, j) => (corpus[j]! += v));
  });
  return {
    score: chrfFromStats(corpus, o.beta, o.epsSmoothing),
    charOrder: o.charOrder,
    wordOrder: o.wordOrder,
    beta: o.beta,
    stats: corpus,
  };
}
