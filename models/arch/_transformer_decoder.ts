/**
 * The Transformer translator as a {@link StepDecoder}: the encoder and each
 * decoder step (one token against key/value caches, `_translator_step.ts`)
 * under `jit`, over bucketed shapes.
 *
 * @module
 */

import type { KeysValues } from "../../attention/mod.ts";
import {
  dispose,
  jit,
  type Jitted,
  pad,
  scope,
  slice,
  take,
  type Tensor,
  tensor,
} from "../../ops/mod.ts";
import { PAD_ID } from "../../data/vocab.ts";
import {
  cachedStep,
  releaseSelf,
  reorderCache,
  startCache,
  type StepCache,
} from "./_translator_step.ts";
import {
  encode,
  type SourceBatch,
  type TranslatorConfig,
  translatorConfig,
  type TranslatorOptions,
  type TranslatorParams,
} from "./translator.ts";
import type { StepDecoder } from "./decoding.ts";

/**
 * Under jit, source lengths are padded (masked) up to a multiple of this, and sentences per batch up to a power of two below
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

/**
 * The Transformer's decoding state, one row per hypothesis: every decoder
 * block's key/value caches (self-attention over the tokens so far,
 * cross-attention over the source) and the masks.
 */
export type TransformerEncoded = StepCache;

/** Encodes `[B, S]` sources, picks row `rows[r]` for each hypothesis `r` and starts its cache. */
type EncodeFn = (
  p: TranslatorParams,
  src: Tensor,
  srcMask: Tensor,
  rows: Tensor,
) => StepCache;

/** Next-token log-probabilities `[R, V]` of tokens `ids [R]` at position `pos` (`int32[1]`), and the new caches. */
type StepFn = (
  p: TranslatorParams,
  s: StepCache,
  ids: Tensor,
  pos: Tensor,
) => { readonly logp: Tensor; readonly self: readonly KeysValues[] };

function encodeRows(config: TranslatorConfig): EncodeFn {
  return (p, src, srcMask, rows) => {
    const memory = take(encode(p, { src, srcMask }, { config }), rows, 0); // [R, S, D]
    return startCache(p, memory, take(srcMask, rows, 0), { config });
  };
}

function nextLogp(config: TranslatorConfig): StepFn {
  return (p, s, ids, pos) => cachedStep(p, s, ids, pos, { config });
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
 * state is every decoder block's key/value caches, one row per beam (the
 * source's, projected once, and the self-attention's of the tokens so
 * far, which beam search reorders), so a step runs one token per row.
 * Under jit (the default) sentences and source length are padded to
 * {@link DECODE_BUCKET} buckets and the self-attention cache has the
 * model's `maxLen` slots, so one program serves many batches and every
 * step; the programs are kept per configuration object
 * ({@link decoderPrograms}). Padding is masked, so the log-probabilities
 * are eager's up to float rounding.
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
    // Row r of the new state continues row from[r] of the old: its
    // self-attention caches move (a sentence's rows share the rest).
    reorder: (st, from) => {
      const r = st.srcMask.shape[0]!;
      using rows = tensor(
        Int32Array.from(
          { length: r },
          (_, i) => i < from.length ? from[i]! : i,
        ),
      );
      return scope(() => reorderCache(st, rows));
    },
    step: (st, prefixes) => {
      const rows = prefixes.length, t = prefixes[0]!.length - 1;
      const r = st.srcMask.shape[0]!;
      // The last token of each row's prefix (padded rows repeat row 0's).
      using ids = tensor(
        Int32Array.from(
          { length: r },
          (_, i) => (prefixes[i] ?? prefixes[0]!)[t]!,
        ),
      );
      using pos = tensor(Int32Array.of(t));
      const args = [params, st, ids, pos] as const;
      const out = c
        ? traced(c, c.step, stepFn, ...args)
        : scope(() => stepFn(...args));
      const state = { ...st, self: out.self };
      if (r === rows) return { logp: out.logp, state };
      const logp = slice(out.logp, [0, 0], [rows, out.logp.shape[1]!]); // [rows, V]
      dispose(out.logp);
      return { logp, state };
    },
    release: (st) => releaseSelf(st),
    close: (st) => dispose(st),
  };
}
