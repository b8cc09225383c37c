// Text helpers shared by BLEU and chrF. They reproduce Python's string
// semantics that sacreBLEU relies on: `str.split()` / `str.rstrip()` split on
// Python's whitespace set (which differs from JavaScript's `\s`), and
// `len`/slicing count code points, not UTF-16 units.

/** Python's `str.isspace()` set: `\s` minus U+FEFF, plus U+001C-U+001F and U+0085. */
const PY_WS = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a" +
  "\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_WS_RUN = new RegExp(`[${PY_WS}]+`, "u");
const PY_WS_TRAILING = new RegExp(`[${PY_WS}]+$`, "u");

/** Python's `s.split()`: split on whitespace runs, dropping empty pieces. */
export function pySplit(s: string): string[] {
  return s.split(PY_WS_RUN).filter((t) => t !== "");
}

/** Python's `s.rstrip()`. */
export function pyRstrip(s: string): string {
  return s.replace(PY_WS_TRAILING, "");
}

/** Counts of n-grams, keyed by the n-gram's text. */
export type Counts = Map<string, number>;

/** Adds one occurrence of `k` to `m`. */
export function bump(m: Counts, k: string, by = 1): void {
  m.set(k, (m.get(k) ?? 0) + by);
}

/** Sum of the counts in `m`. */
export function total(m: Counts): number {
  let s = 0;
  for (const c of m.values()) s += c;
  return s;
}

/**
 * Counts of the `n`-grams of `items`, each keyed by its items joined with
 * `sep` (a separator that cannot occur inside an item keeps keys unique).
 */
export function ngramCounts(
  items: readonly string[],
  n: number,
  sep: string,
): Counts {
  const m: Counts = new Map();
  for (let i = 0; i + n <= items.length; i++) {
    bump(m, items.slice(i, i + n).join(sep), 1);
  }
  return m;
}

/** Σ min(hyp count, ref count) over the n-grams of `hyp` (clipped matches). */
export function clippedMatches(hyp: Counts, ref: Counts): number {
  let m = 0;
  for (const [g, c] of hyp) {
    const r = ref.get(g);
    if (r !== undefined) m += Math.min(c, r);
  }
  return m;
}

/**
 * The references of each hypothesis as lists with sacreBLEU's empty-string
 * rule: empty references are dropped, and a hypothesis left without any is
 * an error.
 */
export function normaliseReferences(
  op: string,
  hypotheses: readonly string[],
  references: readonly (string | readonly string[])[],
): string[][] {
  if (!Array.isArray(hypotheses) || !Array.isArray(references)) {
    throw new TypeError(`${op}: hypotheses and references must be arrays`);
  }
  if (hypotheses.length !== references.length) {
    throw new RangeError(
      `${op}: ${hypotheses.length} hypotheses but ${references.length} reference entries`,
    );
  }
  return references.map((r, i) => {
    if (typeof hypotheses[i] !== "string") {
      throw new TypeError(`${op}: hypothesis ${i} is not a string`);
    }
    const list = typeof r === "string" ? [r] : r;
    if (!Array.isArray(list) || list.some((x) => typeof x !== "string")) {
      throw new TypeError(
        `${op}: references[${i}] must be a string or an array of strings`,
      );
    }
    const kept = list.filter((x) => x !== "");
    if (kept.length === 0) {
      throw new RangeError(`${op}: hypothesis ${i} has no non-empty reference`);
    }
    return kept;
  });
}
