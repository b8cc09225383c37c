/**
 * Data pipelines on Arquero: load CSV/TSV/JSON/JSON Lines/Arrow/parallel
 * text with a schema check (or a labelled text file of your own with
 * {@link loadLabelledText}), clean, tokenise (word, character, BPE), build
 * vocabularies, split deterministically and batch into padded `int32` ids
 * with `bool` masks. Every step is a function from table to table, so a
 * pipeline is a composition ({@link pipe}) that reads top to bottom.
 *
 * @example From a TSV file to translation batches
 * ```ts
 * import { key } from "@heed/heed";
 * import * as d from "@heed/heed/data";
 * import { assert } from "@std/assert";
 *
 * const file = new URL("./datasets/tatoeba_deu_eng/deu.txt", import.meta.resolve("@heed/heed/data"));
 * const table = (await d.loadTsv(file, { header: ["en", "de"] })).slice(1); // line 1 is "1\t2"
 * const clean = d.pipe(d.normalizeText(["en", "de"]), d.cleanText(["en", "de"]), d.dedupe(), d.filterLength(["en", "de"], { min: 1, max: 40 }));
 * const { train } = d.splitTable(clean(table), { fractions: { train: 0.9, test: 0.1 }, key: key(0), groupBy: "en" });
 * const bpe = (col: string) => d.trainBpe(train.array(col) as string[], { vocabSize: 2000 });
 * const ids = d.pipe(d.tokenize("en", bpe("en")), d.tokenize("de", bpe("de")))(train);
 * const batches = d.translationBatches(ids, { source: "en_ids", target: "de_ids", maxTokens: 2048, key: key(1) });
 * assert(batches.every((b) => b.tgtIn.dtype === "int32" && b.src.shape[0] === b.tgtOut.shape[0]));
 * ```
 *
 * @module
 */

export type { Key } from "../ops/random_key.ts";
export type { FileSource, TextInput } from "./_text.ts";
export type { TextNormalization } from "./_pretokenize.ts";
export {
  type BadRow,
  type BadRowPolicy,
  DataError,
  type DataErrorLocation,
} from "./errors.ts";
export type { ColumnType, Schema, SchemaValue } from "./schema.ts";
export { type CsvOptions, loadCsv, loadTsv, readCsv, readTsv } from "./csv.ts";
export {
  type JsonOptions,
  loadArrow,
  loadJson,
  loadJsonl,
  readArrow,
  readJson,
  readJsonl,
} from "./load.ts";
export {
  type LabelledFormat,
  type LabelledText,
  type LabelledTextOptions,
  loadLabelledText,
  readLabelledText,
} from "./labelled.ts";
export { loadParallel, readParallel } from "./parallel.ts";
export {
  type CleanOptions,
  cleanString,
  cleanText,
  type Columns,
  dedupe,
  filterLength,
  type LengthOptions,
  type NormalizeOptions,
  normalizeText,
  pipe,
  shuffleRows,
  type Step,
} from "./clean.ts";
export { encodeLabels, LabelEncoder, type LabelEncoderJSON } from "./labels.ts";
export { type SplitOptions, splitSizes, splitTable } from "./split.ts";
export {
  BOS,
  BOS_ID,
  buildVocab,
  countTokens,
  EOS,
  EOS_ID,
  PAD,
  PAD_ID,
  SPECIALS,
  UNK,
  UNK_ID,
  Vocab,
  vocabFromCounts,
  type VocabJSON,
  type VocabOptions,
} from "./vocab.ts";
export {
  CharTokenizer,
  type EncodeOptions,
  type NormalizationOptions,
  tokenize,
  type Tokenizer,
  type TokenizerJSON,
  type TokenizerOptions,
  type TokenizeStepOptions,
  trainCharTokenizer,
  trainWordTokenizer,
  VocabTokenizer,
  WordTokenizer,
} from "./tokenize.ts";
export { type BpeOptions, BpeTokenizer, trainBpe } from "./bpe.ts";
export { tokenizerFromJSON } from "./tokenizer_json.ts";
export {
  type Batch,
  batches,
  type BatchOptions,
  type HostBatch,
  hostBatches,
  type HostTranslationBatch,
  hostTranslationBatches,
  type LabelledBatch,
  type LabelledHostBatch,
  type Padded,
  type PlanOptions,
  type TranslationBatch,
  translationBatches,
  type TranslationBatchOptions,
} from "./batch.ts";
export {
  type ClassificationData,
  type DatasetInfo,
  type DatasetName,
  type DatasetOptions,
  DATASETS,
  loadDataset,
  type TranslationData,
} from "./datasets.ts";
