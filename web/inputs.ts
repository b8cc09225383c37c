// The playground's q, k, v: a typed sentence (tokens, each with a fixed
// random embedding drawn from a hash of the word, so the same word always
// gets the same vector) or random q, k, v drawn from a seed.

import { key, normal, reshape, stack, type Tensor } from "../ops/mod.ts";

/** Where q, k and v come from. */
export type InputMode = "sentence" | "random";

/** The inputs as the form holds them. */
export interface InputState {
  readonly mode: InputMode;
  readonly sentence: string;
  /** Tokens of random inputs. */
  readonly t: number;
  /** Features of q, k and v. */
  readonly d: number;
  /** Seed of random inputs: q, k, v from key(seed), key(seed + 1), key(seed + 2). */
  readonly seed: number;
}

/** The form's starting inputs. */
export const DEFAULT_INPUTS: InputState = {
  mode: "sentence",
  sentence: "the cat sat on the mat",
  t: 6,
  d: 8,
  seed: 1,
};

/** Most tokens shown: the heatmap stays readable. */
export const MAX_TOKENS = 16;

/** Words and punctuation, lower-cased, at most {@link MAX_TOKENS}. */
export function tokens(sentence: string): string[] {
  const words = sentence.toLowerCase().match(
    /[\p{L}\p{N}']+|[^\s\p{L}\p{N}]/gu,
  );
  return (words ?? []).slice(0, MAX_TOKENS);
}

/** FNV-1a: a word's seed. */
function hash(word: string): number {
  let h = 0x811c9dc5;
  for (const ch of word) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}

/** q, k, v `[1, T, d]` and the token labels. */
export interface Inputs {
  readonly q: Tensor;
  readonly k: Tensor;
  readonly v: Tensor;
  readonly labels: readonly string[];
}

/**
 * The inputs of a state. A sentence is self-attention: q = k = v = the
 * token embeddings, [1, T, d]. Creates tensors: call it inside `scope`.
 */
export function makeInputs(s: InputState): Inputs {
  if (s.mode === "sentence") {
    const toks = tokens(s.sentence);
    if (toks.length === 0) throw new RangeError("type at least one word");
    const e = stack(toks.map((w) => normal(key(hash(w)), [s.d])), 0); // [T, d]
    const x = reshape(e, [1, toks.length, s.d]); // [1, T, d]
    return { q: x, k: x, v: x, labels: toks };
  }
  const shape = [1, s.t, s.d];
  const labels = Array.from({ length: s.t }, (_, i) => `t${i}`);
  return {
    q: normal(key(s.seed), shape),
    k: normal(key(s.seed + 1), shape),
    v: normal(key(s.seed + 2), shape),
    labels,
  };
}
