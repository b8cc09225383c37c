// Builds the Context every piece sees: it checks the call's per-example data
// against the batch, and records which data the pieces read, so that data
// no piece reads is an error instead of being silently ignored. Private to
// attention/.
//
// Convention: per-example tensors share the *leading* axes of the scores.
// For scores [B, H, Tq, Tk]:
//   per example   lengths [B]       -> [B, 1, 1, 1]
//   per query     segments [B, Tq]  -> [B, 1, Tq, 1]
//   per key       keyMask [B, Tk]   -> [B, 1, 1, Tk]
// so that they broadcast over the heads (and any other inner batch axis).

import {
  add,
  arange,
  broadcastShapes,
  Key,
  reshape,
  Tensor,
  tensor,
} from "../ops/mod.ts";
import type { AttentionOptions, Context } from "./types.ts";
export { broadcastShapes };

/** Every option of a call: a key added to `AttentionOptions` must be listed. */
const OPTIONS: Record<keyof AttentionOptions, true> = {
  lengths: true,
  keyMask: true,
  segments: true,
  kvSegments: true,
  qPositions: true,
  kPositions: true,
  queryOffset: true,
  training: true,
  key: true,
};

/** The option keys of an attention call. */
export const CALL_OPTIONS: readonly string[] = Object.keys(OPTIONS);

const POSITIONS =
  "only pieces that look at positions read them: causal(), slidingWindow(), alibi(), relativePositionBias(), ctx.qPos, ctx.kPos";

/** Per-call data that some piece must read when given, and who reads it. */
const READERS: Readonly<Record<string, string>> = {
  lengths: "padding() reads it",
  keyMask: "padding() reads it",
  segments: "segments() reads it",
  kvSegments: "segments() reads it",
  qPositions: POSITIONS,
  kPositions: POSITIONS,
  queryOffset: POSITIONS,
  key: "it is the dropout key, and the spec has no dropout",
};

/** What the pieces of one or more attention calls read of the options. */
export interface Reads {
  /** Option keys read. */
  readonly keys: Set<string>;
  /** Calls that reported. */
  calls: number;
}

/**
 * `opts[SHARED_READS]`, set by `modules()`: each part adds what it read
 * here instead of checking on its own, so that data that any part reads
 * counts as read.
 */
export const SHARED_READS: unique symbol = Symbol("heed.attention.reads");

/** The shared record in `opts`, if a combinator put one there. */
export function sharedReads(opts: AttentionOptions): Reads | undefined {
  return (opts as { [SHARED_READS]?: Reads })[SHARED_READS];
}

/** Throws if a datum in `opts` was given but nothing read it. */
export function checkAllRead(
  op: string,
  opts: AttentionOptions,
  read: ReadonlySet<string>,
): void {
  for (const [name, readers] of Object.entries(READERS)) {
    const given = (opts as Record<string, unknown>)[name] !== undefined;
    if (given && !read.has(name)) {
      throw new TypeError(
        `${op}: opts.${name} is given, but no piece of the spec reads it (${readers})`,
      );
    }
  }
}

/** Which trailing axis of the scores a per-token tensor runs along. */
export type Along = "example" | "query" | "key";

/**
 * Reshapes per-example data `x` (`[...P]`, or `[...P, T]` per query/key) to
 * broadcast against scores of rank `rank`, `P` aligned with the leading axes.
 */
export function align(
  op: string,
  x: Tensor,
  rank: number,
  along: Along,
): Tensor {
  const token = along === "example" ? 0 : 1;
  const prefix = x.shape.slice(0, x.ndim - token);
  if (prefix.length > rank - 2) {
    throw new TypeError(
      `${op}: per-example data [${x.shape}] has more leading axes than the scores' batch axes (rank ${rank})`,
    );
  }
  const t = x.shape[x.ndim - 1] ?? 1;
  const tail = along === "example" ? [1, 1] : along === "query" ? [t, 1] : [
    1,
    t,
  ];
  const ones = new Array<number>(rank - 2 - prefix.length).fill(1);
  return reshape(x, [...prefix, ...ones, ...tail]);
}

/** Int32 `lengths` from a tensor or a list of numbers. */
export function asLengths(x: Tensor | readonly number[]): Tensor {
  return Array.isArray(x)
    ? tensor(x as number[], { dtype: "int32" })
    : x as Tensor;
}

function describe(x: unknown): string {
  if (x instanceof Tensor) return `${x.dtype}[${x.shape}]`;
  return Array.isArray(x) ? "an array" : x === null ? "null" : typeof x;
}

/** Checks that leading axes `prefix` of `opts.<what>` fit the batch. */
function fitBatch(
  what: string,
  prefix: readonly number[],
  batch: readonly number[],
  shape: readonly number[],
): void {
  if (prefix.every((n, i) => i < batch.length && (n === 1 || n === batch[i]))) {
    return;
  }
  const scores = `the scores [${shape}]`;
  if (prefix.length === 1) {
    throw new TypeError(
      batch.length === 0
        ? `attention: opts.${what} is for a batch of ${
          prefix[0]
        }, but ${scores} have no batch axis`
        : `attention: opts.${what} is for a batch of ${
          prefix[0]
        }, but the batch has ${batch[0]} (${scores})`,
    );
  }
  throw new TypeError(
    `attention: opts.${what} has leading axes [${prefix}], which do not fit the batch axes [${batch}] of ${scores}`,
  );
}

/** Checks `opts.<what>`: a `dtype` tensor `[...P, t]` (or `[...P]`) that fits the batch. */
function checkDatum(
  what: string,
  x: unknown,
  dtype: string,
  t: number | null,
  batch: readonly number[],
  shape: readonly number[],
): void {
  const want = t === null ? `${dtype} [B]` : `${dtype} [B, ${t}]`;
  if (
    !(x instanceof Tensor) || x.dtype !== dtype ||
    (t !== null && (x.ndim < 1 || x.shape[x.ndim - 1] !== t))
  ) {
    throw new TypeError(
      `attention: opts.${what} must be ${want}, got ${describe(x)}`,
    );
  }
  fitBatch(what, t === null ? x.shape : x.shape.slice(0, -1), batch, shape);
}

/** Checks every per-call datum against the batch and the sizes of the call. */
function checkCallData(
  opts: AttentionOptions,
  batch: readonly number[],
  tq: number,
  tk: number,
): void {
  const shape = [...batch, tq, tk];
  const { lengths } = opts;
  if (Array.isArray(lengths)) {
    const bad = lengths.findIndex((n) => !(Number.isInteger(n) && n >= 0));
    if (bad >= 0) {
      throw new RangeError(
        `attention: opts.lengths must be non-negative integers, got ${
          lengths[bad]
        } at index ${bad}`,
      );
    }
    const long = lengths.findIndex((n) => n > tk);
    if (long >= 0) {
      throw new RangeError(
        `attention: opts.lengths[${long}] is ${
          lengths[long]
        }, more than the ${tk} keys`,
      );
    }
    fitBatch("lengths", [lengths.length], batch, shape);
  } else if (lengths !== undefined) {
    checkDatum("lengths", lengths, "int32", null, batch, shape);
  }
  const data = [
    ["keyMask", "bool", tk],
    ["segments", "int32", tq],
    ["kvSegments", "int32", tk],
    ["qPositions", "int32", tq],
    ["kPositions", "int32", tk],
  ] as const;
  for (const [what, dtype, t] of data) {
    const x = opts[what];
    if (x !== undefined) checkDatum(what, x, dtype, t, batch, shape);
  }
  if (opts.kvSegments !== undefined && opts.segments === undefined) {
    throw new TypeError(
      "attention: opts.kvSegments needs opts.segments (the queries' ids)",
    );
  }
  const off = opts.queryOffset;
  if (off !== undefined) {
    if (!Number.isInteger(off)) {
      throw new RangeError(
        `attention: opts.queryOffset must be an integer, got ${off}`,
      );
    }
    if (opts.qPositions !== undefined) {
      throw new TypeError(
        "attention: give opts.qPositions or opts.queryOffset, not both",
      );
    }
  }
  if (opts.training !== undefined && typeof opts.training !== "boolean") {
    throw new TypeError(
      `attention: opts.training must be a boolean, got ${
        describe(opts.training)
      }`,
    );
  }
  if (opts.key !== undefined && !(opts.key instanceof Key)) {
    throw new TypeError(
      `attention: opts.key must be a PRNG Key (key(seed)), got ${
        describe(opts.key)
      }`,
    );
  }
}

/**
 * The context of a call whose scores have shape `[...batch, tq, tk]`, after
 * checking the call's data. Every option a piece reads (through `ctx.opts`,
 * `ctx.qPos` or `ctx.kPos`) is added to `read`; positions are built on
 * first use, or at once when `eager` (the fused path traces the pieces,
 * and the positions must exist outside that trace to be kernel inputs).
 */
export function makeContext(
  batch: readonly number[],
  tq: number,
  tk: number,
  opts: AttentionOptions,
  read: Set<string>,
  eager = false,
): Context {
  checkCallData(opts, batch, tq, tk);
  const shape = [...batch, tq, tk];
  const rank = shape.length;
  let qPos: Tensor | undefined, kPos: Tensor | undefined;
  // [Tq, 1] by default: broadcasts against [..., Tq, Tk] without adding axes.
  const queries = () =>
    qPos ??= opts.qPositions
      ? align("attention", opts.qPositions, rank, "query")
      : reshape(add(arange(tq), opts.queryOffset ?? 0), [tq, 1]);
  const keys = () =>
    kPos ??= opts.kPositions
      ? align("attention", opts.kPositions, rank, "key")
      : reshape(arange(tk), [1, tk]);
  if (eager) {
    queries();
    keys();
  }
  const watched = new Proxy(opts, {
    get(target, name, receiver) {
      if (typeof name === "string") read.add(name);
      return Reflect.get(target, name, receiver);
    },
  });
  return {
    shape,
    get qPos(): Tensor {
      read.add("qPositions").add("queryOffset");
      return queries();
    },
    get kPos(): Tensor {
      read.add("kPositions");
      return keys();
    },
    opts: watched,
  };
}
