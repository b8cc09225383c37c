/**
 * Host-side batching: which rows go together (length buckets, a token
 * budget, shuffling with a key) and padding them into flat int32 arrays.
 *
 * @module
 */

import { type Key, permutationIndices, split } from "../ops/random_key.ts";

/** How rows are grouped into batches. */
export interface PlanOptions {
  /** The most rows in one batch (default 32). */
  batchSize?: number;
  /**
   * The most tokens in one batch, counted as rows × padded length; a batch
   * closes when the next row would go over it. A row longer than this
   * gets a batch of its own.
   */
  maxTokens?: number;
  /**
   * Shuffles the rows before bucketing (so equal lengths mix) and the
   * order of the batches. The same key gives the same batches; without a
   * key the order is by length, then by row.
   */
  key?: Key;
  /** Sort by length so each batch holds similar lengths (default `true`). */
  bucket?: boolean;
}

function positiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`${op}: ${name} must be a positive integer, got ${v}`);
  }
}

/** Groups row indices into batches; every row lands in exactly one. */
export function planBatches(
  op: string,
  lengths: ArrayLike<number>,
  opts: PlanOptions,
): Int32Array[] {
  const batchSize = opts.batchSize ?? (opts.maxTokens ? Infinity : 32);
  if (batchSize !== Infinity) positiveInt(op, "batchSize", batchSize);
  const maxTokens = opts.maxTokens ?? Infinity;
  if (maxTokens !== Infinity) positiveInt(op, "maxTokens", maxTokens);
  const n = lengths.length;
  const [rowKey, batchKey] = opts.key ? split(opts.key) : [null, null];
  const order = rowKey
    ? permutationIndices(rowKey, n)
    : Int32Array.from({ length: n }, (_, i) => i);
  if (opts.bucket ?? true) {
    const sorted = Array.from(order).sort((a, b) => lengths[a]! - lengths[b]!); // stable
    order.set(sorted);
  }
  const out: Int32Array[] = [];
  let start = 0, longest = 0;
  for (let i = 0; i < n; i++) {
    const len = Math.max(1, lengths[order[i]!]!);
    const rows = i - start;
    if (
      rows > 0 &&
      (rows + 1 > batchSize || (rows + 1) * Math.max(longest, len) > maxTokens)
    ) {
      out.push(order.slice(start, i));
      start = i;
      longest = 0;
    }
    longest = Math.max(longest, len);
  }
  if (start < n) out.push(order.slice(start, n));
  if (!batchKey) return out;
  return Array.from(permutationIndices(batchKey, out.length), (j) => out[j]!);
}

/** A padded block of sequences as flat host arrays. */
export interface Padded {
  /** `[B, T]` row-major ids, padded with the pad id. */
  readonly ids: Int32Array;
  /** `[B, T]` 1 where there is a token, 0 where there is padding (a bool mask). */
  readonly mask: Uint8Array;
  /** `[B]` the number of real tokens in each row. */
  readonly lengths: Int32Array;
  /** `[B, T]`. */
  readonly shape: readonly [number, number];
}

/**
 * Pads `seqs[rows[b]]` (sliced by `from`/`drop` for teacher forcing) into
 * one `[B, T]` block with `T` the longest (at least 1).
 */
export function pad(
  seqs: readonly ArrayLike<number>[],
  rows: ArrayLike<number>,
  padId: number,
  from = 0,
  drop = 0,
): Padded {
  const b = rows.length;
  const lengths = new Int32Array(b);
  let t = 1;
  for (let i = 0; i < b; i++) {
    lengths[i] = Math.max(0, seqs[rows[i]!]!.length - from - drop);
    t = Math.max(t, lengths[i]!);
  }
  const ids = new Int32Array(b * t).fill(padId);
  const mask = new Uint8Array(b * t);
  for (let i = 0; i < b; i++) {
    const s = seqs[rows[i]!]!;
    for (let j = 0; j < lengths[i]!; j++) {
      ids[i * t + j] = s[from + j]!;
      mask[i * t + j] = 1;
    }
  }
  return { ids, mask, lengths, shape: [b, t] };
}
