/**
 * Batching: length-bucketed, padded, shuffled with a heed PRNG key, as
 * `int32` tensors ready for the models.
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
import { int32Tensor } from "./_to_tensor.ts";
import { BOS_ID, EOS_ID, PAD_ID } from "./vocab.ts";

export type { Padded, PlanOptions } from "./_batch_plan.ts";

/** Options for {@link batches} and {@link hostBatches}. */
export interface BatchOptions extends PlanOptions {
  /** The id used for padding (default `<pad>` = 0). */
  padId?: number;
}

/** One batch of a single id column. `B` rows, padded to length `T`. */
export interface Batch {
  /** `[B, T]` int32 token ids, padded with `padId`. */
  readonly ids: Tensor;
  /** `[B, T]` int32, 1 for a real token and 0 for padding. */
  readonly mask: Tensor;
  /** `[B]` int32, the real length of each row. */
  readonly lengths: Tensor;
  /** `[B]` the table rows in this batch, in batch order. */
  readonly rows: Int32Array;
}

/** A {@link Batch} as host arrays, before it becomes tensors. */
export interface HostBatch extends Padded {
  /** `[B]` the table rows in this batch, in batch order. */
  readonly rows: Int32Array;
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
  opts: BatchOptions = {},
): HostBatch[] {
  const seqs = sequences("hostBatches", table, column);
  const plan = planBatches("hostBatches", seqs.map((s) => s.length), opts);
  const padId = opts.padId ?? PAD_ID;
  return plan.map((rows) => ({ ...pad(seqs, rows, padId), rows }));
}

/**
 * Batches an id column (from the {@link tokenize} step) into padded `int32`
 * tensors with masks and lengths. Rows are bucketed by length, so padding
 * stays small; with a `key` the rows and batches are shuffled, and the same
 * key gives the same batches. Every row lands in exactly one batch. Use
 * `foldIn(key, epoch)` for a new order each epoch.
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
 * assertEquals(await long.mask.array(), long.rows[0] === 0 ? [[1, 1, 1], [1, 1, 0]] : [[1, 1, 0], [1, 1, 1]]);
 * assertEquals(long.lengths.dtype, "int32");
 * ```
 */
export function batches(
  table: aq.ColumnTable,
  column: string,
  opts: BatchOptions = {},
): Batch[] {
  return hostBatches(table, column, opts).map((b) => ({
    ids: int32Tensor(b.ids, b.shape), // [B, T]
    mask: int32Tensor(b.mask, b.shape), // [B, T]
    lengths: int32Tensor(b.lengths, [b.shape[0]]), // [B]
    rows: b.rows,
  }));
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

/** A {@link HostTranslationBatch} as `int32` tensors. */
export interface TranslationBatch {
  /** `[B, S]` source ids. */
  readonly src: Tensor;
  /** `[B, S]` 1 for a source token, 0 for padding. */
  readonly srcMask: Tensor;
  /** `[B]` source lengths. */
  readonly srcLengths: Tensor;
  /** `[B, T]` decoder input: `<bos> y`. */
  readonly tgtIn: Tensor;
  /** `[B, T]` decoder labels: `y <eos>`, `<pad>` where the mask is 0. */
  readonly tgtOut: Tensor;
  /** `[B, T]` 1 where a label counts in the loss, 0 for padding. */
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
 * predict `tgtOut` = `y <eos>`; `tgtMask` is 0 exactly where `tgtOut` is
 * padding, so padding never reaches the loss.
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
 * assertEquals(await b!.tgtMask.array(), [[1, 1, 0, 0], [1, 1, 1, 1]]);
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
      srcMask: int32Tensor(b.source.mask, b.source.shape), // [B, S]
      srcLengths: int32Tensor(b.source.lengths, [bs]), // [B]
      tgtIn: int32Tensor(b.targetIn.ids, b.targetIn.shape), // [B, T]
      tgtOut: int32Tensor(b.targetOut.ids, b.targetOut.shape), // [B, T]
      tgtMask: int32Tensor(b.targetOut.mask, b.targetOut.shape), // [B, T]
      tgtLengths: int32Tensor(b.targetOut.lengths, [bs]), // [B]
      rows: b.rows,
    };
  });
}
