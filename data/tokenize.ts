/**
 * Word and character tokenisers, the {@link Tokenizer} interface that BPE
 * shares, and the table step that encodes text columns.
 *
 * @module
 */

import type * as aq from "arquero";
import {
  joinPieces,
  normalizeForTokens,
  splitWords,
  type TextNormalization,
} from "./_pretokenize.ts";
import { mapColumns } from "./_columns.ts";
import { frame, pieces, trainVocab } from "./_token_util.ts";
import type { Columns, Step } from "./clean.ts";
import { UNK, type Vocab, type VocabOptions } from "./vocab.ts";

/** Options for {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Put `<bos>` first (default `false`). */
  bos?: boolean;
  /** Put `<eos>` last (default `false`). */
  eos?: boolean;
}

/** The JSON form of every tokeniser. */
export interface TokenizerJSON {
  /** Always `"heed-tokenizer"`. */
  readonly format: "heed-tokenizer";
  /** The format version, 1. */
  readonly version: 1;
  /** Which tokeniser. */
  readonly kind: "word" | "char" | "bpe";
  /** Whether text is lower-cased before splitting. */
  readonly lower: boolean;
  /** The Unicode normal form. */
  readonly form: "NFC" | "NFKC";
  /** The vocabulary's tokens in id order. */
  readonly vocab: readonly string[];
  /** BPE only: the merges in the order they were learned. */
  readonly merges?: readonly (readonly [string, string])[];
}

/**
 * A tokeniser: text to ids and back. For any text whose characters (word
 * tokeniser: words) are in the vocabulary,
 * `decode(encode(x)) === normalize(x)`.
 */
export interface Tokenizer {
  /** Which kind of tokeniser this is. */
  readonly kind: "word" | "char" | "bpe";
  /** The vocabulary; ids index into it. */
  readonly vocab: Vocab;
  /** Lower-casing and normal form, applied before splitting. */
  readonly normalization: TextNormalization;
  /** The normalised text: what decode(encode(text)) returns. */
  normalize(text: string): string;
  /** The token strings of `text`. */
  tokenize(text: string): string[];
  /** The ids of `text`, optionally framed by `<bos>`/`<eos>`. */
  encode(text: string, opts?: EncodeOptions): Int32Array;
  /** The text of `ids`; `<pad>`, `<bos>` and `<eos>` are left out. */
  decode(ids: ArrayLike<number>): string;
  /** The JSON form; {@link tokenizerFromJSON} reads it back. */
  toJSON(): TokenizerJSON;
}

/** Lower-casing and normal form, as the tokeniser trainers take them. */
export interface NormalizationOptions {
  /** Lower-case text before splitting (default `false`). */
  lower?: boolean;
  /** The Unicode normal form (default `"NFC"`). */
  form?: "NFC" | "NFKC";
}

/** Options shared by the word and character tokeniser trainers. */
export interface TokenizerOptions extends VocabOptions, NormalizationOptions {}

/**
 * What every heed tokeniser shares: a vocabulary, a normalisation, and
 * encoding as "normalise, cut into pieces, look the pieces up". A subclass
 * says how text is cut ({@link VocabTokenizer.tokenize}) and how pieces
 * join back ({@link VocabTokenizer.decode}); `<unk>`, `<bos>` and `<eos>`
 * are handled here.
 *
 * @example A tokeniser that cuts text at spaces
 * ```ts
 * import { buildVocab, VocabTokenizer } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * class SpaceTokenizer extends VocabTokenizer {
 *   readonly kind = "word" as const;
 *   tokenize(text: string): string[] {
 *     return this.normalize(text).split(" ").filter((w) => w !== "");
 *   }
 *   decode(ids: ArrayLike<number>): string {
 *     return this.pieces(ids, "?").join(" ");
 *   }
 * }
 * const tok = new SpaceTokenizer(buildVocab([["hi", "there"]]), { lower: true, form: "NFC" });
 * assertEquals(tok.decode(tok.encode("Hi  you there", { eos: true })), "hi ? there");
 * ```
 */
export abstract class VocabTokenizer implements Tokenizer {
  /** Which kind of tokeniser this is (the JSON form records it). */
  abstract readonly kind: "word" | "char" | "bpe";
  /** The vocabulary; ids index into it. */
  readonly vocab: Vocab;
  /** Lower-casing and normal form. */
  readonly normalization: TextNormalization;

  /** Wraps a vocabulary and a normalisation. */
  constructor(vocab: Vocab, norm: TextNormalization) {
    this.vocab = vocab;
    this.normalization = norm;
  }
  /** See {@link Tokenizer.normalize}. */
  normalize(text: string): string {
    return normalizeForTokens(text, this.normalization);
  }
  /** See {@link Tokenizer.tokenize}. */
  abstract tokenize(text: string): string[];
  /** See {@link Tokenizer.encode}: the pieces' ids (`<unk>` if unknown). */
  encode(text: string, opts: EncodeOptions = {}): Int32Array {
    return frame(this.vocab.encode(this.tokenize(text)), opts);
  }
  /** See {@link Tokenizer.decode}. */
  abstract decode(ids: ArrayLike<number>): string;
  /** The pieces of `ids`, without `<pad>`/`<bos>`/`<eos>`; `<unk>` as `unk`. */
  protected pieces(ids: ArrayLike<number>, unk: string): string[] {
    return pieces(this.vocab, ids, unk);
  }
  /** See {@link Tokenizer.toJSON}. */
  toJSON(): TokenizerJSON {
    return {
      format: "heed-tokenizer",
      version: 1,
      kind: this.kind,
      ...this.normalization,
      vocab: [...this.vocab.tokens],
    };
  }
}

/**
 * Splits text into words and punctuation (Unicode-aware). A token that
 * follows a space keeps it as its first character (`" world"`), which is
 * what makes decoding exact; build one with {@link trainWordTokenizer}.
 *
 * @example
 * ```ts
 * import { buildVocab, WordTokenizer } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const tok = new WordTokenizer(buildVocab([[" hi", "!"]]), { lower: true, form: "NFC" });
 * assertEquals(tok.decode(tok.encode("HI!")), "hi!");
 * ```
 */
export class WordTokenizer extends VocabTokenizer {
  /** Always `"word"`. */
  readonly kind = "word" as const;
  /** See {@link Tokenizer.tokenize}. */
  tokenize(text: string): string[] {
    return splitWords(this.normalize(text));
  }
  /** See {@link Tokenizer.decode}; `<unk>` reads as `" <unk>"`. */
  decode(ids: ArrayLike<number>): string {
    return joinPieces(this.pieces(ids, ` ${UNK}`));
  }
}

/**
 * Splits text into Unicode code points (after normalisation, so `"ü"` is
 * one token); build one with {@link trainCharTokenizer}.
 *
 * @example
 * ```ts
 * import { buildVocab, CharTokenizer } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const tok = new CharTokenizer(buildVocab([["a", "ü"]]), { lower: false, form: "NFC" });
 * assertEquals(tok.encode("au\u0308").length, 2); // NFC makes "u" + U+0308 one "ü"
 * assertEquals(tok.decode(tok.encode("ax")), "a\ufffd");
 * ```
 */
export class CharTokenizer extends VocabTokenizer {
  /** Always `"char"`. */
  readonly kind = "char" as const;
  /** See {@link Tokenizer.tokenize}. */
  tokenize(text: string): string[] {
    return [...this.normalize(text)];
  }
  /** See {@link Tokenizer.decode}; `<unk>` reads as U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return this.pieces(ids, "\ufffd").join("");
  }
}

/**
 * Trains a word tokeniser: its vocabulary holds the words and punctuation
 * of `texts` seen at least `minFreq` times, at most `maxSize` in all.
 *
 * @example
 * ```ts
 * import { trainWordTokenizer } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const tok = trainWordTokenizer(["Hello, world!", "Hello  again."]);
 * assertEquals(tok.tokenize("Hello, world!"), [" Hello", ",", " world", "!"]);
 * assertEquals(tok.decode(tok.encode("Hello,   world!")), "Hello, world!");
 * ```
 */
export function trainWordTokenizer(
  texts: Iterable<string>,
  opts: TokenizerOptions = {},
): WordTokenizer {
  const { vocab, norm } = trainVocab(texts, opts, splitWords);
  return new WordTokenizer(vocab, norm);
}

/**
 * Trains a character tokeniser on `texts` (see {@link CharTokenizer}).
 *
 * @example
 * ```ts
 * import { trainCharTokenizer } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const tok = trainCharTokenizer(["Grüße"], { lower: true });
 * assertEquals(tok.tokenize("Grüße"), ["g", "r", "ü", "ß", "e"]);
 * assertEquals(tok.decode(tok.encode("GRÜßE", { bos: true, eos: true })), "grüße");
 * ```
 */
export function trainCharTokenizer(
  texts: Iterable<string>,
  opts: TokenizerOptions = {},
): CharTokenizer {
  const { vocab, norm } = trainVocab(texts, opts, (s) => [...s]);
  return new CharTokenizer(vocab, norm);
}

/** Options for the {@link tokenize} step. */
export interface TokenizeStepOptions extends EncodeOptions {
  /** The name of the id column for a text column (default `${column}_ids`). */
  as?: (column: string) => string;
}

/**
 * A step that encodes text columns into `Int32Array` id columns (named
 * `${column}_ids` unless `as` says otherwise), ready for batching.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { tokenize, trainWordTokenizer } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ en: ["Go.", "Hi."] });
 * const tok = trainWordTokenizer(t.array("en") as string[]);
 * const ids = tokenize("en", tok, { eos: true })(t).array("en_ids") as Int32Array[];
 * assertEquals(tok.decode(ids[1]!), "Hi.");
 * assertEquals(ids[0]!.length, 3);
 * ```
 */
export function tokenize(
  columns: Columns,
  tokenizer: Tokenizer,
  opts: TokenizeStepOptions = {},
): Step {
  const as = opts.as ?? ((c: string) => `${c}_ids`);
  return (t: aq.ColumnTable) =>
    mapColumns("tokenize", t, columns, (s) => tokenizer.encode(s, opts), as);
}
