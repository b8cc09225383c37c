/**
 * The Transformer translator as a {@link StepDecoder}: the encoder and each
 * decoder step under `jit`, over bucketed shapes.
 *
 * @module
 */

import {
  dispose,
  jit,
  type Jitted,
  logSoftmax,
  pad,
  reshape,
  scope,
  slice,
  take,
  type Tensor,
  tensor,
} from "../../ops/mod.ts";
import { PAD_ID } from "../../data/vocab.ts";
import {
  decode,
  encode,
  type SourceBatch,
  type TranslatorConfig,
  translatorConfig,
  type TranslatorOptions,
  type TranslatorParams,
} from "./translator.ts";
import type { StepDecoder } from "./decoding.ts";

/**
 * Under jit, source lengths and decoder prefixes are padded (masked) up to
 * a multiple of this, and sentences per batch up to a power of two below
 * it or a multiple of it above: few shapes, few compiled programs.
 */
export const DECODE_BUCKET = 8;

/** A length padded up to a multiple of {@link DECODE_BUCKET}, at most `cap` (never below `n`). */
function lengthBucket(n: number, cap: number): number {
  return Math.max(
    n,
    Math.min(cap, Math.ceil(n / DECODE_BUCKET) * DECODE_BUCKET),
  );
}

/** A sentence count padded up to a power of two up to 8, else a multiple of 8. */
function rowBucket(n: number): number {
  return n <= DECODE_BUCKET
    ? 2 ** Math.ceil(Math.log2(n))
    : Math.ceil(n / DECODE_BUCKET) * DECODE_BUCKET;
}

/** The Transformer's decoding state: encoder memory and source mask, one row per hypothesis. */
export type TransformerEncoded = {
  readonly memory: Tensor;
  readonly srcMask: Tensor;
};

/** Encodes `[B, S]` sources and picks row `rows[r]` for each hypothesis `r`. */
type EncodeFn = (
  p: TranslatorParams,
  src: Tensor,
  srcMask: Tensor,
  rows: Tensor,
) => TransformerEncoded;

/** Next-token log-probabilities `[R, V]` read at prefix position `last` (`int32[1]`). */
type StepFn = (
  p: TranslatorParams,
  s: TransformerEncoded,
  tgtIn: Tensor,
  tgtMask: Tensor,
  last: Tensor,
) => Tensor;

function encodeRows(config: TranslatorConfig): EncodeFn {
  return (p, src, srcMask, rows) => ({
    memory: take(encode(p, { src, srcMask }, { config }), rows, 0), // [R, S, D]
    srcMask: take(srcMask, rows, 0), // [R, S]
  });
}

function nextLogp(config: TranslatorConfig): StepFn {
  return (p, s, tgtIn, tgtMask, last) => {
    // The whole prefix is decoded (no key/value cache); causal attention
    // makes the row at `last` independent of the padding after it, and
    // only that row goes through the output layer.
    const d = decode(p, { ...s, tgtIn, tgtMask, last }, { config }); // [R, 1, V]
    const [r, , v] = d.logits.shape as [number, number, number];
    return logSoftmax(reshape(d.logits, [r, v])); // [R, V]
  };
}

interface Compiled {
  readonly encode: Jitted<EncodeFn>;
  readonly step: Jitted<StepFn>;
  /** False once tracing failed (a module that reads values back): eager from then on. */
  traceable: boolean;
}

const compiled = new WeakMap<TranslatorConfig, Compiled>();

function compiledFor(config: TranslatorConfig): Compiled {
  let c = compiled.get(config);
  if (!c) {
    c = {
      encode: jit(encodeRows(config)),
      step: jit(nextLogp(config)),
      traceable: true,
    };
    compiled.set(config, c);
  }
  return c;
}

/**
 * Programs compiled so far for decoding with `config` (the same object
 * the decoder was given): encoder plus decoder-step signatures.
 *
 * @example None before decoding
 * ```ts
 * import { decoderPrograms, translatorConfig } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(decoderPrograms(translatorConfig({ srcVocab: 9, tgtVocab: 9 })), 0);
 * ```
 */
export function decoderPrograms(config: TranslatorConfig): number {
  const c = compiled.get(config);
  return c ? c.encode.cacheSize + c.step.cacheSize : 0;
}

/** Runs `jitted` unless the model cannot be traced; then `eager` on the same inputs. */
function traced<A extends unknown[], R>(
  c: Compiled,
  jitted: (...a: A) => R,
  eager: (...a: A) => R,
  ...args: A
): R {
  if (c.traceable) {
    try {
      return jitted(...args);
    } catch (e) {
      if (!(e instanceof TypeError) || !/\bjit\b/.test(e.message)) throw e;
      c.traceable = false;
    }
  }
  return scope(() => eager(...args));
}

/** Options of {@link transformerDecoder}. */
export interface TransformerDecoderOptions extends TranslatorOptions {
  /**
   * Run the encoder and each decoder step under `jit`, with the batch
   * padded to bucketed shapes (default true; `false` runs them eagerly
   * at the batch's own shapes).
   */
  readonly jit?: boolean;
}

/**
 * The Transformer translator as a {@link StepDecoder} for `batch`: its
 * state is the encoder memory, repeated once per beam. Under jit (the
 * default) sentences, source length and prefix length are padded to
 * {@link DECODE_BUCKET} buckets, so one program serves many batches; the
 * programs are kept per configuration object ({@link decoderPrograms}).
 * Padding is masked, so the log-probabilities are eager's up to float
 * rounding.
 */
export function transformerDecoder(
  params: TranslatorParams,
  batch: SourceBatch,
  opts: TransformerDecoderOptions,
): StepDecoder<TransformerEncoded> {
  if (opts.jit !== undefined && typeof opts.jit !== "boolean") {
    throw new TypeError(
      `transformerDecoder: jit must be a boolean, got ${typeof opts.jit}`,
    );
  }
  const { config } = opts;
  const maxLen = translatorConfig(config).maxLen;
  const [b, s] = batch.src.shape as [number, number];
  const c = opts.jit === false ? null : compiledFor(config);
  // Sentences padded to `bp` rows (copies of the last), sources to `sp`.
  const bp = c ? rowBucket(b) : b, sp = c ? lengthBucket(s, maxLen) : s;
  const encodeFn = encodeRows(config), stepFn = nextLogp(config);
  let k = 1;
  return {
    batch: b,
    maxLen: maxLen - 1,
    start: (kk) => {
      k = kk;
      // Hypothesis r reads sentence min(⌊r / k⌋, b - 1).
      using rows = tensor(
        Int32Array.from(
          { length: bp * k },
          (_, r) => Math.min(Math.floor(r / k), b - 1),
        ),
      );
      if (!c) {
        return scope(() => encodeFn(params, batch.src, batch.srcMask, rows));
      }
      const widths = [[0, 0], [0, sp - s]] as const;
      using src = pad(batch.src, widths, PAD_ID); // [B, S']
      using srcMask = pad(batch.srcMask, widths, 0); // [B, S']
      return traced(c, c.encode, encodeFn, params, src, srcMask, rows);
    },
    // A row's prefix is all the Transformer needs; its memory is the same
    // for every row of a sentence.
    reorder: (st) => st,
    step: (st, prefixes) => {
      const rows = prefixes.length, t = prefixes[0]!.length;
      const r = st.memory.shape[0]!, tp = c ? lengthBucket(t, maxLen) : t;
      // [R, T'] ids and mask; padded rows read <bos> alone.
      const ids = new Int32Array(r * tp).fill(PAD_ID);
      const mask = new Uint8Array(r * tp);
      for (let i = 0; i < r; i++) {
        const p = prefixes[i] ?? prefixes[0]!.slice(0, 1);
        ids.set(p, i * tp);
        mask.fill(1, i * tp, i * tp + p.length);
      }
      using tgtIn = tensor(ids, { shape: [r, tp] });
      using tgtMask = tensor(mask, { shape: [r, tp], dtype: "bool" });
      using last = tensor(Int32Array.of(t - 1));
      const args = [params, st, tgtIn, tgtMask, last] as const;
      const logp = c
        ? traced(c, c.step, stepFn, ...args)
        : scope(() => stepFn(...args));
      if (r === rows) return { logp, state: st };
      const out = slice(logp, [0, 0], [rows, logp.shape[1]!]); // [rows, V]
      dispose(logp);
      return { logp: out, state: st };
    },
    release: () => {},
    close: (st) => dispose(st),
  };
}
