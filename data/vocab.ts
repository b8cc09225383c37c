/**
 * Vocabularies: tokens to ids with the specials `<pad>` = 0, `<unk>` = 1,
 * `<bos>` = 2 and `<eos>` = 3, built with a minimum frequency and a
 * maximum size.
 *
 * @module
 */

/** The padding token; its id is always 0. */
export const PAD = "<pad>" as const;
/** The unknown token. */
export const UNK = "<unk>" as const;
/** The begin-of-sequence token. */
export const BOS = "<bos>" as const;
/** The end-of-sequence token. */
export const EOS = "<eos>" as const;
/** The id of `<pad>`. */
export const PAD_ID = 0;
/** The id of `<unk>`. */
export const UNK_ID = 1;
/** The id of `<bos>`. */
export const BOS_ID = 2;
/** The id of `<eos>`. */
export const EOS_ID = 3;
/**
 * The specials, in id order; every vocabulary starts with them.
 *
 * @example
 * ```ts
 * import { BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIALS, UNK, UNK_ID } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(SPECIALS, [PAD, UNK, BOS, EOS]);
 * assertEquals([PAD_ID, UNK_ID, BOS_ID, EOS_ID], [0, 1, 2, 3]);
 * ```
 */
export const SPECIALS: readonly string[] = Object.freeze([PAD, UNK, BOS, EOS]);

/** Options for {@link buildVocab}. */
export interface VocabOptions {
  /** Keep tokens seen at least this often (default 1). */
  minFreq?: number;
  /** The largest vocabulary size, specials included (default no limit). */
  maxSize?: number;
}

/** The JSON form of a {@link Vocab}: its tokens in id order. */
export interface VocabJSON {
  /** The tokens in id order. */
  readonly tokens: readonly string[];
}

/**
 * An immutable vocabulary: token `i` has id `i`. The first four tokens are
 * always {@link SPECIALS}; an unknown token maps to `<unk>`.
 *
 * @example
 * ```ts
 * import { buildVocab, UNK_ID, Vocab } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const v = buildVocab([["a", "b", "a"], ["a", "c"]], { minFreq: 1 });
 * assertEquals(v.tokens, ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c"]);
 * assertEquals([...v.encode(["a", "z"])], [4, UNK_ID]);
 * assertEquals(Vocab.fromJSON(v.toJSON()).tokens, v.tokens);
 * ```
 */
export class Vocab {
  /** The tokens in id order. */
  readonly tokens: readonly string[];
  #ids: Map<string, number>;

  /**
   * Wraps a token list; it must start with {@link SPECIALS} and hold no
   * duplicates (`TypeError` otherwise).
   */
  constructor(tokens: readonly string[]) {
    SPECIALS.forEach((s, i) => {
      if (tokens[i] !== s) {
        throw new TypeError(
          `Vocab: token ${i} must be ${s}, got ${JSON.stringify(tokens[i])}`,
        );
      }
    });
    this.tokens = Object.freeze([...tokens]);
    this.#ids = new Map();
    tokens.forEach((t, i) => {
      if (typeof t !== "string") {
        throw new TypeError(`Vocab: token ${i} is not a string`);
      }
      if (this.#ids.has(t)) {
        throw new TypeError(`Vocab: duplicate token ${JSON.stringify(t)}`);
      }
      this.#ids.set(t, i);
    });
  }

  /** Rebuilds a vocabulary from its JSON form. */
  static fromJSON(json: VocabJSON): Vocab {
    if (!json || !Array.isArray(json.tokens)) {
      throw new TypeError("Vocab.fromJSON: expected { tokens: string[] }");
    }
    return new Vocab(json.tokens);
  }

  /** The number of tokens, specials included. */
  get size(): number {
    return this.tokens.length;
  }

  /** Whether `token` has its own id. */
  has(token: string): boolean {
    return this.#ids.has(token);
  }

  /** The id of `token`, or {@link UNK_ID}. */
  id(token: string): number {
    return this.#ids.get(token) ?? UNK_ID;
  }

  /** The token of `id`; an id out of range is a `RangeError`. */
  token(id: number): string {
    const t = this.tokens[id];
    if (t === undefined) {
      throw new RangeError(
        `Vocab.token: id ${id} is out of range [0, ${this.size})`,
      );
    }
    return t;
  }

  /** The ids of `tokens`, unknown ones as {@link UNK_ID}. */
  encode(tokens: readonly string[]): Int32Array {
    const out = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) out[i] = this.id(tokens[i]!);
    return out;
  }

  /** The tokens of `ids`. */
  decode(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => this.token(id));
  }

  /** The JSON form, `{ tokens }`. */
  toJSON(): VocabJSON {
    return { tokens: [...this.tokens] };
  }
}

function checkVocabOptions(op: string, opts: VocabOptions): void {
  const { minFreq = 1, maxSize = Infinity } = opts;
  if (!(minFreq >= 1) || !Number.isInteger(minFreq)) {
    throw new RangeError(
      `${op}: minFreq must be an integer >= 1, got ${minFreq}`,
    );
  }
  if (!(maxSize >= SPECIALS.length)) {
    throw new RangeError(
      `${op}: maxSize must be at least ${SPECIALS.length} (the specials), got ${maxSize}`,
    );
  }
}

/**
 * A vocabulary from token counts: the specials, then tokens seen at least
 * `minFreq` times, most frequent first (ties in code-unit order), cut at
 * `maxSize`.
 *
 * @example
 * ```ts
 * import { vocabFromCounts } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const v = vocabFromCounts(new Map([["x", 1], ["y", 5], ["z", 2]]), { minFreq: 2 });
 * assertEquals(v.tokens.slice(4), ["y", "z"]);
 * ```
 */
export function vocabFromCounts(
  counts: ReadonlyMap<string, number>,
  opts: VocabOptions = {},
): Vocab {
  checkVocabOptions("vocabFromCounts", opts);
  const { minFreq = 1, maxSize = Infinity } = opts;
  const specials = new Set(SPECIALS);
  const kept = [...counts].filter(([t, c]) => c >= minFreq && !specials.has(t));
  kept.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const room = maxSize - SPECIALS.length;
  return new Vocab([...SPECIALS, ...kept.slice(0, room).map(([t]) => t)]);
}

/**
 * Counts the tokens of token sequences.
 *
 * @example
 * ```ts
 * import { countTokens } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(countTokens([["a", "b"], ["a"]]), new Map([["a", 2], ["b", 1]]));
 * ```
 */
export function countTokens(
  sequences: Iterable<Iterable<string>>,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const seq of sequences) {
    for (const t of seq) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  return counts;
}

/**
 * A vocabulary from token sequences (see {@link vocabFromCounts}).
 *
 * @example
 * ```ts
 * import { buildVocab } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const v = buildVocab([["b", "a", "b"]], { maxSize: 5 });
 * assertEquals(v.tokens, ["<pad>", "<unk>", "<bos>", "<eos>", "b"]);
 * ```
 */
export function buildVocab(
  sequences: Iterable<Iterable<string>>,
  opts: VocabOptions = {},
): Vocab {
  checkVocabOptions("buildVocab", opts);
  return vocabFromCounts(countTokens(sequences), opts);
}
