/**
 * Reading any tokeniser back from its JSON form.
 *
 * @module
 */

import { BpeTokenizer } from "./bpe.ts";
import {
  CharTokenizer,
  type Tokenizer,
  type TokenizerJSON,
  WordTokenizer,
} from "./tokenize.ts";
import { Vocab } from "./vocab.ts";

function fail(problem: string): never {
  throw new TypeError(`tokenizerFromJSON: ${problem}`);
}

/**
 * Rebuilds a word, character or BPE tokeniser from the JSON that its
 * `toJSON()` wrote (an object or the JSON text), checking the format.
 *
 * @example Save and load round trip
 * ```ts
 * import { tokenizerFromJSON, trainBpe } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const bpe = trainBpe(["low lower lowest", "new newer newest"], { vocabSize: 40 });
 * const saved = JSON.stringify(bpe);
 * const loaded = tokenizerFromJSON(saved);
 * assertEquals(loaded.encode("lowest newer"), bpe.encode("lowest newer"));
 * assertEquals(JSON.stringify(loaded), saved);
 * ```
 */
export function tokenizerFromJSON(json: string | TokenizerJSON): Tokenizer {
  let obj: unknown = json;
  if (typeof json === "string") {
    try {
      obj = JSON.parse(json);
    } catch (e) {
      fail(`invalid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (typeof obj !== "object" || obj === null) fail("expected an object");
  const o = obj as Record<string, unknown>;
  if (o.format !== "heed-tokenizer") fail('"format" must be "heed-tokenizer"');
  if (o.version !== 1) fail(`unsupported version ${JSON.stringify(o.version)}`);
  if (typeof o.lower !== "boolean") fail('"lower" must be a boolean');
  if (o.form !== "NFC" && o.form !== "NFKC") {
    fail('"form" must be "NFC" or "NFKC"');
  }
  if (!Array.isArray(o.vocab) || !o.vocab.every((t) => typeof t === "string")) {
    fail('"vocab" must be an array of strings');
  }
  const vocab = new Vocab(o.vocab as string[]);
  const norm = Object.freeze({ lower: o.lower, form: o.form });
  switch (o.kind) {
    case "word":
      return new WordTokenizer(vocab, norm);
    case "char":
      return new CharTokenizer(vocab, norm);
    case "bpe": {
      const merges = o.merges;
      if (
        !Array.isArray(merges) ||
        !merges.every((m) =>
          Array.isArray(m) && m.length === 2 && typeof m[0] === "string" &&
          typeof m[1] === "string"
        )
      ) fail('"merges" must be an array of [string, string] pairs');
      return new BpeTokenizer(vocab, merges as [string, string][], norm);
    }
    default:
      return fail(`unknown kind ${JSON.stringify(o.kind)}`);
  }
}
