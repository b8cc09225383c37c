/**
 * Batching: length-bucketed, padded, shuffled with a heed PRNG key, as
 * `int32` id tensors with `bool` masks (as attention takes them) and, for
 * classification, `int32` labels, ready for the models.
 *
 * @module
 */

import type * as aq from "arquero";
import type { Tensor } from "../ops/tensor.ts";
import {
  pad,
  type Padded,
  planBatches,
  type PlanOptions,
} from "./_batch_plan.ts";
import { columnList, values } from "./_columns.ts";
import { boolTensor, int32Tensor } from "./_to_tensor.ts";
import { BOS_ID, EOS_ID, PAD_ID } from "./vocab.ts";

export type { Padded, PlanOptions } from "./_batch_plan.ts";

/** Options for {@link batches} and {@link hostBatches}. */
export interface BatchOptions extends PlanOptions {
  /** The id used for padding (default `<pad>` = 0). */
  padId?: number;
  /**
   * A column of integer class ids (such as `encodeLabels` adds): each
   * batch then carries its rows' labels.
   */
  labels?: string;
}

/** One batch of a single id column. `B` rows, padded to length `T`. */
export interface Batch {
  /** `[B, T]` int32 token ids, padded with `padId`. */
  readonly ids: Tensor;
  /** `[B, T]` bool, true for a real token and false for padding. */
  readonly mask: Tensor;
  /** `[B]` int32, the real length of each row. */
  readonly lengths: Tensor;
  /** `[B]` the table rows in this batch, in batch order. */
  readonly rows: Int32Array;
}

/** A {@link Batch} with its rows' class ids (`labels` option). */
export interface LabelledBatch extends Batch {
  /** `[B]` int32 class ids, in batch order. */
  readonly labels: Tensor;
}

/** A {@link Batch} as host arrays, before it becomes tensors. */
export interface HostBatch extends Padded {
  /** `[B]` the table rows in this batch, in batch order. */
  readonly rows: Int32Array;
}

/** A {@link LabelledBatch} as host arrays. */
export interface LabelledHostBatch extends HostBatch {
  /** `[B]` class ids, in batch order. */
  readonly labels: Int32Array;
}

/** The id sequences of a column, each checked. */
function sequences(
  op: string,
  table: aq.ColumnTable,
  column: string,
): ArrayLike<number>[] {
  columnList(op, table, column);
  return values(table, column).map((v, row) => {
    if (ArrayBuffer.isView(v) || Array.isArray(v)) {
      const s = v as unknown as ArrayLike<unknown>;
      for (let i = 0; i < s.length; i++) {
        const x = s[i];
        if (
          typeof x !== "number" || !Number.isInteger(x) || x < 0 ||
          x > 0x7fffffff
        ) {
          throw new RangeError(
            `${op}: column ${JSON.stringify(column)} row ${row} holds ${
              String(x)
            } at ${i}, expected a non-negative int32 id`,
          );
        }
      }
      return s as ArrayLike<number>;
    }
    throw new TypeError(
      `${op}: column ${JSON.stringify(column)} row ${row} is ${
        v === null ? "null" : typeof v
      }, expected token ids (run the tokenize step first)`,
    );
  });
}

/** A column of class ids, each checked to be a non-negative int32. */
function classIds(
  op: string,
  table: aq.ColumnTable,
  column: string,
): Int32Array {
  columnList(op, table, column);
  const vals = values(table, column);
  const out = new Int32Array(vals.length);
  vals.forEach((v, row) => {
    if (typeof v !== "number") {
      throw new TypeError(
        `${op}: label column ${JSON.stringify(column)} row ${row} is ${
          v === null ? "null" : typeof v
        }, expected an integer class id (encode class names with encodeLabels)`,
      );
    }
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
      throw new RangeError(
        `${op}: label column ${
          JSON.stringify(column)
        } row ${row} holds ${v}, expected a non-negative int32 class id`,
      );
    }
    out[row] = v;
  });
  return out;
}

/**
 * Batches an id column as host arrays (see {@link batches}).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { hostBatches } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ ids: [[5, 6, 7], [8], [9, 10]] });
 * const [a, b] = hostBatches(t, "ids", { batchSize: 2 });
 * assertEquals([...a!.rows], [1, 2]); // the two shortest rows
 * assertEquals([...a!.ids], [8, 0, 9, 10]);
 * assertEquals([...a!.mask], [1, 0, 1, 1]);
 * assertEquals([...b!.lengths], [3]);
 * ```
 */
export function hostBatches(
  table: aq.ColumnTable,
  column: string,
  opts: BatchOptions & { labels: string },
): LabelledHostBatch[];
/** Batches an id column as host arrays, without labels. */
export function hostBatches(
  table: aq.ColumnTable,
  column: string,
  opts?: BatchOptions,
): HostBatch[];
export function hostBatches(
  table: aq.ColumnTable,
  column: string,
  opts: BatchOptions = {},
): HostBatch[] {
  const op = "hostBatches";
  const seqs = sequences(op, table, column);
  const ids = opts.labels === undefined
    ? null
    : classIds(op, table, opts.labels);
  const plan = planBatches(op, seqs.map((s) => s.length), opts);
  const padId = opts.padId ?? PAD_ID;
  return plan.map((rows) => ({
    ...pad(seqs, rows, padId),
    rows,
    ...(ids ? { labels: Int32Array.from(rows, (r) => ids[r]!) } : {}),
  }));
}

/**
 * Batches an id column (from the {@link tokenize} step) into padded `int32`
 * id tensors with `bool` masks (true = token, the form attention's
 * `keyMask` takes) and lengths; with `labels: column`, each batch also
 * carries its rows' `int32` class ids. Rows are bucketed by length, so
 * padding stays small; with a `key` the rows and batches are shuffled, and
 * the same key gives the same batches. Every row lands in exactly one
 * batch. Use `foldIn(key, epoch)` for a new order each epoch.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { key } from "@heed/heed";
 * import { batches } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ ids: [[5, 6, 7], [8], [9, 10], [11]] });
 * const bs = batches(t, "ids", { batchSize: 2, key: key(0) });
 * // Buckets: the two length-1 rows together, then the rows of length 2 and 3.
 * const short = bs.find((b) => b.ids.shape[1] === 1)!;
 * assertEquals([...short.rows].sort(), [1, 3]);
 * assertEquals(await short.ids.array(), short.rows[0] === 1 ? [[8], [11]] : [[11], [8]]);
 * const long = bs.find((b) => b.ids.shape[1] === 3)!;
 * assertEquals(await long.mask.array(), long.rows[0] === 0 ? [[true, true, true], [true, true, false]] : [[true, true, false], [true, true, true]]);
 * assertEquals([long.mask.dtype, long.lengths.dtype], ["bool", "int32"]);
 * ```
 *
 * @example Labels travel with their rows
 * ```ts
 * import * as aq from "arquero";
 * import { batches } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ ids: [[5, 6, 7], [8]], label: [2, 0] });
 * const [b] = batches(t, "ids", { labels: "label" });
 * assertEquals([...b!.rows], [1, 0]); // shortest first
 * assertEquals(await b!.labels.array(), [0, 2]);
 * ```
 */
export function batches(
  table: aq.ColumnTable,
  column: string,
  opts: BatchOptions & { labels: string },
): LabelledBatch[];
/** Batches an id column into tensors, without labels. */
export function batches(
  table: aq.ColumnTable,
  column: string,
  opts?: BatchOptions,
): Batch[];
export function batches(
  table: aq.ColumnTable,
  column: string,
  opts: BatchOptions = {},
): Batch[] {
  return hostBatches(table, column, opts).map((b) => {
    const labels = (b as Partial<LabelledHostBatch>).labels;
    return {
      ids: int32Tensor(b.ids, b.shape), // [B, T]
      mask: boolTensor(b.mask, b.shape), // [B, T]
      lengths: int32Tensor(b.lengths, [b.shape[0]]), // [B]
      rows: b.rows,
      ...(labels ? { labels: int32Tensor(labels, [b.shape[0]]) } : {}), // [B]
    };
  });
}

/** Options for {@link translationBatches}. */
export interface TranslationBatchOptions extends BatchOptions {
  /** The source id column. */
  source: string;
  /** The target id column. */
  target: string;
  /** Put `<bos>` before each source (default `false`). */
  sourceBos?: boolean;
  /** Put `<eos>` after each source (default `true`). */
  sourceEos?: boolean;
  /**
   * Frame each target as `<bos> y <eos>` before shifting (default `true`);
   * `false` when the target ids already carry them.
   */
  targetSpecials?: boolean;
}

/** One aligned source/target batch with the target shifted for teacher forcing. */
export interface HostTranslationBatch {
  /** Source ids, mask and lengths (`[B, S]`). */
  readonly source: Padded;
  /** Decoder input: the framed target without its last token (`[B, T]`). */
  readonly targetIn: Padded;
  /** Decoder labels: the framed target without its first token (`[B, T]`). */
  readonly targetOut: Padded;
  /** `[B]` the table rows, in batch order (the same for all parts). */
  readonly rows: Int32Array;
}

/** A {@link HostTranslationBatch} as tensors: `int32` ids, `bool` masks. */
export interface TranslationBatch {
  /** `[B, S]` source ids. */
  readonly src: Tensor;
  /** `[B, S]` bool, true for a source token, false for padding. */
  readonly srcMask: Tensor;
  /** `[B]` source lengths. */
  readonly srcLengths: Tensor;
  /** `[B, T]` decoder input: `<bos> y`. */
  readonly tgtIn: Tensor;
  /** `[B, T]` decoder labels: `y <eos>`, `<pad>` where the mask is 0. */
  readonly tgtOut: Tensor;
  /** `[B, T]` bool, true where a label counts in the loss, false for padding. */
  readonly tgtMask: Tensor;
  /** `[B]` target lengths (of `tgtIn`, equal to those of `tgtOut`). */
  readonly tgtLengths: Tensor;
  /** `[B]` the table rows, in batch order. */
  readonly rows: Int32Array;
}

function framed(s: ArrayLike<number>, bos: boolean, eos: boolean): Int32Array {
  const out = new Int32Array(s.length + (bos ? 1 : 0) + (eos ? 1 : 0));
  if (bos) out[0] = BOS_ID;
  for (let i = 0; i < s.length; i++) out[i + (bos ? 1 : 0)] = s[i]!;
  if (eos) out[out.length - 1] = EOS_ID;
  return out;
}

/**
 * Translation batches as host arrays (see {@link translationBatches}).
 *
 * @example Teacher forcing
 * ```ts
 * import * as aq from "arquero";
 * import { BOS_ID, EOS_ID, hostTranslationBatches } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ de: [[7, 8]], en: [[5, 6]] });
 * const [b] = hostTranslationBatches(t, { source: "de", target: "en" });
 * assertEquals([...b!.source.ids], [7, 8, EOS_ID]);
 * assertEquals([...b!.targetIn.ids], [BOS_ID, 5, 6]);
 * assertEquals([...b!.targetOut.ids], [5, 6, EOS_ID]);
 * ```
 */
export function hostTranslationBatches(
  table: aq.ColumnTable,
  opts: TranslationBatchOptions,
): HostTranslationBatch[] {
  const op = "translationBatches";
  const bosS = opts.sourceBos ?? false, eosS = opts.sourceEos ?? true;
  const specials = opts.targetSpecials ?? true;
  const src = sequences(op, table, opts.source).map((s) =>
    framed(s, bosS, eosS)
  );
  const tgt = sequences(op, table, opts.target).map((s, row) => {
    const full = specials ? framed(s, true, true) : s;
    if (full.length < 2) {
      throw new RangeError(
        `${op}: target row ${row} has ${full.length} ids; teacher forcing needs at least 2 (set targetSpecials: true)`,
      );
    }
    return full;
  });
  const lengths = src.map((s, i) => Math.max(s.length, tgt[i]!.length - 1));
  const padId = opts.padId ?? PAD_ID;
  return planBatches(op, lengths, opts).map((rows) => ({
    source: pad(src, rows, padId),
    targetIn: pad(tgt, rows, padId, 0, 1),
    targetOut: pad(tgt, rows, padId, 1, 0),
    rows,
  }));
}

/**
 * Aligned source/target batches for translation: each batch holds the
 * same rows on both sides, bucketed by the longer side and shuffled with
 * `key`. The target `y` is framed as `<bos> y <eos>` and shifted for
 * teacher forcing: the decoder reads `tgtIn` = `<bos> y` and is trained to
 * predict `tgtOut` = `y <eos>`; the `bool` `tgtMask` is false exactly
 * where `tgtOut` is padding, so padding never reaches the loss.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { translationBatches } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ de: [[7, 8], [9]], en: [[5], [6, 4, 4]] });
 * const [b] = translationBatches(t, { source: "de", target: "en", batchSize: 2 });
 * assertEquals(b!.src.shape, [2, 3]);
 * assertEquals(b!.tgtIn.shape, [2, 4]);
 * assertEquals(await b!.tgtMask.array(), [[true, true, false, false], [true, true, true, true]]);
 * ```
 */
export function translationBatches(
  table: aq.ColumnTable,
  opts: TranslationBatchOptions,
): TranslationBatch[] {
  return hostTranslationBatches(table, opts).map((b) => {
    const [bs] = b.source.shape;
    return {
      src: int32Tensor(b.source.ids, b.source.shape), // [B, S]
      srcMask: boolTensor(b.source.mask, b.source.shape), // [B, S]
      srcLengths: int32Tensor(b.source.lengths, [bs]), // [B]
      tgtIn: int32Tensor(b.targetIn.ids, b.targetIn.shape), // [B, T]
      tgtOut: int32Tensor(b.targetOut.ids, b.targetOut.shape), // [B, T]
      tgtMask: boolTensor(b.targetOut.mask, b.targetOut.shape), // [B, T]
      tgtLengths: int32Tensor(b.targetOut.lengths, [bs]), // [B]
      rows: b.rows,
    };
  });
}
