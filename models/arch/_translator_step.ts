/**
 * The Transformer translator's incremental decoder: one new token per row
 * and step, against a key/value cache of the earlier positions (the
 * self-attention's) and of the source (the cross-attention's, projected
 * once). Each step costs one row's work instead of the whole prefix's; the
 * log-probabilities equal `decode`'s at the prefix's last position up to
 * float rounding.
 *
 * The self-attention cache has a fixed capacity (the model's `maxLen`), so
 * one program serves every step under `jit`: position `t` is written by a
 * select, and the causal mask, read at the query position `t` (a tensor,
 * not a number, so nothing retraces), hides the slots not yet written.
 *
 * @module
 */

import type { KeysValues } from "../../attention/mod.ts";
import {
  add,
  arange,
  dispose,
  equal,
  layerNorm,
  logSoftmax,
  matmul,
  mul,
  ones,
  reshape,
  take,
  type Tensor,
  transpose,
  where,
  zeros,
} from "../../ops/mod.ts";
import { boolMask, embed, feedForward } from "./layers.ts";
import {
  translatorConfig,
  translatorLayers,
  type TranslatorOptions,
  type TranslatorParams,
} from "./translator.ts";

/** A decoding state: the caches of every decoder block, one row per hypothesis. */
export interface StepCache {
  /** Per block, the self-attention's keys and values `[R, H, maxLen, dHead]`. */
  readonly self: readonly KeysValues[];
  /** Per block, the cross-attention's keys and values of the source `[R, H, S, dHead]`. */
  readonly cross: readonly KeysValues[];
  /** `[R, S]` bool: real source tokens. */
  readonly srcMask: Tensor;
  /** `[R, maxLen]` bool, all true (the decoder's padding mask; causality hides the rest). */
  readonly tgtMask: Tensor;
}

/**
 * The cache before the first token: every block's cross-attention keys
 * and values of `memory [R, S, D]`, and empty self-attention caches.
 */
export function startCache(
  params: TranslatorParams,
  memory: Tensor,
  srcMask: Tensor,
  opts: TranslatorOptions,
): StepCache {
  const c = translatorConfig(opts.config);
  const l = translatorLayers(c);
  const r = memory.shape[0]!, dHead = c.dModel / c.heads;
  return {
    self: params.dec.map(() => ({
      keys: zeros([r, c.heads, c.maxLen, dHead]),
      values: zeros([r, c.heads, c.maxLen, dHead]),
    })),
    cross: params.dec.map((blk) => l.cross.project(blk.cross, memory)),
    srcMask: boolMask(srcMask),
    tgtMask: ones([r, c.maxLen], { dtype: "bool" }),
  };
}

/**
 * One decoding step: token `ids [R]` at position `pos` (`int32[1]`) gives
 * next-token log-probabilities `[R, V]` and the self-attention caches with
 * position `pos` written (the rest of the cache is shared).
 */
export function cachedStep(
  params: TranslatorParams,
  cache: StepCache,
  ids: Tensor,
  pos: Tensor,
  opts: TranslatorOptions,
): { readonly logp: Tensor; readonly self: readonly KeysValues[] } {
  const c = translatorConfig(opts.config);
  const l = translatorLayers(c);
  const r = ids.shape[0]!;
  // [R, 1, D]: the scaled embedding plus the learned position `pos`
  let x = add(
    mul(embed(params.tgtEmbed, reshape(ids, [r, 1])), Math.sqrt(c.dModel)),
    take(params.tgtPos.table, pos, 0),
  );
  // [maxLen, 1]: the cache slot of this position
  const slot = reshape(equal(arange(c.maxLen), pos), [c.maxLen, 1]);
  const write = (old: Tensor, row: Tensor) => where(slot, row, old);
  const self: KeysValues[] = [];
  params.dec.forEach((blk, i) => {
    const h = layerNorm(x, blk.ln1);
    const fresh = l.decSelf.project(blk.self, h); // [R, H, 1, dHead]
    const kv = {
      keys: write(cache.self[i]!.keys, fresh.keys),
      values: write(cache.self[i]!.values, fresh.values),
    };
    self.push(kv);
    const sa = l.decSelf.apply(blk.self, h, {
      keysValues: kv,
      keyMask: cache.tgtMask,
      qPositions: pos,
    });
    x = add(x, sa.output);
    const ca = l.cross.apply(blk.cross, layerNorm(x, blk.ln2), {
      keysValues: cache.cross[i]!,
      keyMask: cache.srcMask,
    });
    x = add(x, ca.output);
    x = add(x, feedForward(blk.ffn, layerNorm(x, blk.ln3)));
  });
  x = reshape(layerNorm(x, params.decNorm), [r, c.dModel]);
  // Tied output layer: logits = x Eᵀ.
  const logits = matmul(x, transpose(params.tgtEmbed.table));
  return { logp: logSoftmax(logits), self };
}

/** The cache with row `r` taken from row `from[r]` (self-attention caches only: a sentence's rows share the rest). */
export function reorderCache(cache: StepCache, from: Tensor): StepCache {
  return {
    ...cache,
    self: cache.self.map((kv) => ({
      keys: take(kv.keys, from, 0),
      values: take(kv.values, from, 0),
    })),
  };
}

/** Frees the self-attention caches of a replaced state (the rest is shared with its successor). */
export function releaseSelf(cache: StepCache): void {
  dispose(cache.self);
}
