/**
 * Byte-pair encoding trained on the data with a chosen vocabulary size
 * (Sennrich et al. 2016), over the word tokeniser's space-marked pieces,
 * with characters as the base alphabet.
 *
 * @module
 */

import { PairHeap } from "./_heap.ts";
import {
  joinPieces,
  normalizeForTokens,
  splitWords,
  type TextNormalization,
} from "./_pretokenize.ts";
import { frame, normalization } from "./_token_util.ts";
import {
  type EncodeOptions,
  type NormalizationOptions,
  type TokenizerJSON,
  VocabTokenizer,
} from "./tokenize.ts";
import {
  countTokens,
  SPECIALS,
  UNK_ID,
  Vocab,
  vocabFromCounts,
} from "./vocab.ts";

/** Options for {@link trainBpe}. */
export interface BpeOptions extends NormalizationOptions {
  /** The target vocabulary size, specials and characters included. */
  vocabSize: number;
  /** Keep base characters seen at least this often (default 1). */
  minFreq?: number;
  /** Stop merging when the best pair is rarer than this (default 2). */
  minPairFreq?: number;
}

const KEY = 1 << 21; // pair key = a * KEY + b; ids stay below 2^21
const CACHE_LIMIT = 1 << 17;

/**
 * A byte-pair-encoding tokeniser: each space-marked word is split into
 * characters, then the learned merges are applied in the order they were
 * learned. Unknown characters become `<unk>` (decoded as U+FFFD). Build one
 * with {@link trainBpe}.
 *
 * @example
 * ```ts
 * import { BpeTokenizer, Vocab } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const vocab = new Vocab(["<pad>", "<unk>", "<bos>", "<eos>", " ", "a", "b", " a", " ab"]);
 * const bpe = new BpeTokenizer(vocab, [[" ", "a"], [" a", "b"]], { lower: false, form: "NFC" });
 * assertEquals(bpe.tokenize("ab ba"), [" ab", " ", "b", "a"]);
 * ```
 */
export class BpeTokenizer extends VocabTokenizer {
  /** Always `"bpe"`. */
  readonly kind = "bpe" as const;
  /** The merges, in the order they were learned. */
  readonly merges: readonly (readonly [string, string])[];
  #ranks = new Map<string, Map<string, number>>();
  #cache = new Map<string, readonly (string | null)[]>();
  #idCache = new Map<string, Int32Array>();

  /**
   * Wraps a vocabulary and merges; every merge's parts and result must be
   * in the vocabulary (`TypeError` otherwise).
   */
  constructor(
    vocab: Vocab,
    merges: readonly (readonly [string, string])[],
    norm: TextNormalization,
  ) {
    super(vocab, norm);
    this.merges = Object.freeze(
      merges.map((m) => Object.freeze([m[0], m[1]] as const)),
    );
    merges.forEach(([a, b], rank) => {
      for (const piece of [a, b, a + b]) {
        if (!vocab.has(piece)) {
          throw new TypeError(
            `BpeTokenizer: merge ${rank} (${JSON.stringify(a)} + ${
              JSON.stringify(b)
            }) uses ${JSON.stringify(piece)}, which is not in the vocabulary`,
          );
        }
      }
      let row = this.#ranks.get(a);
      if (!row) this.#ranks.set(a, row = new Map());
      if (!row.has(b)) row.set(b, rank);
    });
  }

  /** The pieces of one space-marked word (`null` for unknown chars). */
  #word(word: string): readonly (string | null)[] {
    const hit = this.#cache.get(word);
    if (hit) return hit;
    const syms: (string | null)[] = [...word].map((c) =>
      this.vocab.has(c) ? c : null
    );
    for (;;) {
      let best = Infinity, at = -1;
      for (let i = 0; i + 1 < syms.length; i++) {
        const a = syms[i], b = syms[i + 1];
        if (a === null || b === null || a === undefined || b === undefined) {
          continue;
        }
        const r = this.#ranks.get(a)?.get(b);
        if (r !== undefined && r < best) [best, at] = [r, i];
      }
      if (at < 0) break;
      const [a, b] = [syms[at]!, syms[at + 1]!];
      const next: (string | null)[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(syms[i]!);
      }
      syms.splice(0, syms.length, ...next);
    }
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(word, syms);
    return syms;
  }

  /** See {@link Tokenizer.tokenize}; unknown characters read as `<unk>`. */
  tokenize(text: string): string[] {
    return splitWords(this.normalize(text)).flatMap((w) =>
      this.#word(w).map((p) => p ?? SPECIALS[UNK_ID]!)
    );
  }

  /** See {@link Tokenizer.encode}; each word's ids are cached. */
  override encode(text: string, opts: EncodeOptions = {}): Int32Array {
    const ids: number[] = [];
    for (const w of splitWords(this.normalize(text))) {
      let wordIds = this.#idCache.get(w);
      if (!wordIds) {
        wordIds = Int32Array.from(
          this.#word(w),
          (p) => p === null ? UNK_ID : this.vocab.id(p),
        );
        if (this.#idCache.size >= CACHE_LIMIT) this.#idCache.clear();
        this.#idCache.set(w, wordIds);
      }
      for (const id of wordIds) ids.push(id);
    }
    return frame(ids, opts);
  }

  /** See {@link Tokenizer.decode}; `<unk>` reads as U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return joinPieces(this.pieces(ids, "\ufffd"));
  }

  /** See {@link Tokenizer.toJSON}; the merges come with the vocabulary. */
  override toJSON(): TokenizerJSON {
    return {
      ...super.toJSON(),
      merges: this.merges.map(([a, b]) => [a, b] as const),
    };
  }
}

/**
 * Trains BPE on `texts` until the vocabulary reaches `vocabSize` (or no
 * pair occurs `minPairFreq` times). Training is deterministic: ties go to
 * the pair of earlier ids.
 *
 * @example
 * ```ts
 * import { trainBpe } from "@heed/heed/data";
 * import { assert, assertEquals } from "@std/assert";
 *
 * const texts = ["the cat sat", "the cat ate", "a cat sat on the mat"];
 * const bpe = trainBpe(texts, { vocabSize: 30 });
 * assert(bpe.vocab.size <= 30);
 * assertEquals(bpe.tokenize("the cat")[0], " the");
 * assertEquals(bpe.decode(bpe.encode("the  mat sat")), "the mat sat");
 * ```
 */
export function trainBpe(
  texts: Iterable<string>,
  opts: BpeOptions,
): BpeTokenizer {
  const { vocabSize, minPairFreq = 2 } = opts;
  if (
    !Number.isInteger(vocabSize) || vocabSize < SPECIALS.length ||
    vocabSize >= KEY
  ) {
    throw new RangeError(
      `trainBpe: vocabSize must be an integer in [${SPECIALS.length}, ${KEY}), got ${vocabSize}`,
    );
  }
  if (!(minPairFreq >= 1)) {
    throw new RangeError(
      `trainBpe: minPairFreq must be >= 1, got ${minPairFreq}`,
    );
  }
  const norm = normalization(opts);
  const wordCounts = countTokens((function* () {
    for (const t of texts) yield splitWords(normalizeForTokens(t, norm));
  })());
  const charCounts = new Map<string, number>();
  for (const [w, c] of wordCounts) {
    for (const ch of w) charCounts.set(ch, (charCounts.get(ch) ?? 0) + c);
  }
  const base = vocabFromCounts(charCounts, {
    minFreq: opts.minFreq ?? 1,
    maxSize: vocabSize,
  });
  const tokens = [...base.tokens];
  const idOf = new Map(tokens.map((t, i) => [t, i]));

  const words: Int32Array[] = [];
  const freqs: number[] = [];
  for (const [w, c] of wordCounts) {
    words.push(Int32Array.from([...w], (ch) => idOf.get(ch) ?? UNK_ID));
    freqs.push(c);
  }
  const pairCount = new Map<number, number>();
  const pairWhere = new Map<number, number[]>();
  const note = (key: number, w: number) => {
    const list = pairWhere.get(key);
    if (!list) pairWhere.set(key, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  words.forEach((sym, w) => {
    for (let i = 0; i + 1 < sym.length; i++) {
      const a = sym[i]!, b = sym[i + 1]!;
      if (a === UNK_ID || b === UNK_ID) continue;
      const key = a * KEY + b;
      pairCount.set(key, (pairCount.get(key) ?? 0) + freqs[w]!);
      note(key, w);
    }
  });
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  const merges: [string, string][] = [];
  while (tokens.length < vocabSize) {
    const top = heap.pop();
    if (top === null) break;
    const [count, key] = top;
    if (pairCount.get(key) !== count) continue; // stale entry
    if (count < minPairFreq) break;
    const a = Math.floor(key / KEY), b = key % KEY;
    const merged = tokens[a]! + tokens[b]!;
    let id = idOf.get(merged);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(merged);
      idOf.set(merged, id);
    }
    merges.push([tokens[a]!, tokens[b]!]);
    const delta = new Map<number, number>();
    const bump = (x: number, y: number, d: number) => {
      if (x === UNK_ID || y === UNK_ID) return;
      const k = x * KEY + y;
      delta.set(k, (delta.get(k) ?? 0) + d);
    };
    for (const w of pairWhere.get(key) ?? []) {
      const sym = words[w]!, f = freqs[w]!;
      const next: number[] = [];
      for (let i = 0; i < sym.length; i++) {
        if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) {
          next.push(id);
          i++;
        } else next.push(sym[i]!);
      }
      if (next.length === sym.length) continue; // list entry is stale
      for (let i = 0; i + 1 < sym.length; i++) bump(sym[i]!, sym[i + 1]!, -f);
      for (let i = 0; i + 1 < next.length; i++) {
        bump(next[i]!, next[i + 1]!, f);
        if (next[i] === id || next[i + 1] === id) {
          note(next[i]! * KEY + next[i + 1]!, w);
        }
      }
      words[w] = Int32Array.from(next);
    }
    pairWhere.delete(key);
    for (const [k, d] of delta) {
      if (d === 0) continue;
      const c = (pairCount.get(k) ?? 0) + d;
      if (c > 0) {
        pairCount.set(k, c);
        heap.push(c, k);
      } else pairCount.delete(k);
    }
  }
  return new BpeTokenizer(new Vocab(tokens), merges, norm);
}
