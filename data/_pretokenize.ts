/**
 * Text normalisation shared by all tokenisers, and the Unicode-aware
 * word/punctuation split that the word and BPE tokenisers start from.
 *
 * @module
 */

/** How a tokeniser normalises text before it splits it. */
export interface TextNormalization {
  /** Lower-case before splitting. */
  readonly lower: boolean;
  /** The Unicode normal form. */
  readonly form: "NFC" | "NFKC";
}

const SPACES = /\s+/gu;

/**
 * Lower-cases if asked, applies the normal form, collapses whitespace runs
 * to one space and trims: the text that decode(encode(x)) gives back.
 */
export function normalizeForTokens(
  text: string,
  norm: TextNormalization,
): string {
  const s = norm.lower ? text.toLowerCase() : text;
  return s.normalize(norm.form).replace(SPACES, " ").trim();
}

/**
 * Words (runs of letters, marks and digits) and single other characters.
 * A token that follows a space carries that space as its first character,
 * and the start of the text counts as a space (SentencePiece's "dummy
 * prefix"), so joining the tokens and dropping the first character gives
 * the text back exactly.
 */
const PIECE = / ?(?:[\p{L}\p{M}\p{N}]+|[^ \p{L}\p{M}\p{N}])/gu;

/** Splits normalised text into space-marked words and punctuation. */
export function splitWords(normalized: string): string[] {
  return normalized === "" ? [] : (" " + normalized).match(PIECE) ?? [];
}

/** Joins space-marked pieces back into text. */
export function joinPieces(pieces: readonly string[]): string {
  const s = pieces.join("");
  return s.startsWith(" ") ? s.slice(1) : s;
}
