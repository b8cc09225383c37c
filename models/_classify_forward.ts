/**
 * The classifier's prediction forward pass, under `jit` by default: one
 * program per padded batch shape, cached per model configuration so that
 * every epoch's validation pass reuses the first epoch's programs. Under
 * jit each intermediate is freed after its last use, so a 256-row batch
 * never holds every layer's `[B, H, T, T]` scores at once.
 *
 * @module
 */

import {
  argmax,
  dispose,
  jit,
  type Jitted,
  scope,
  type Tensor,
  tensor,
} from "../ops/mod.ts";
import type { HostBatch } from "../data/mod.ts";
import { PAD_ID } from "../data/vocab.ts";
import {
  applyClassifier,
  type ClassifierParams,
  type FullClassifierConfig,
} from "./arch/classifier.ts";

/** Batch lengths are padded up to a multiple of this (at most maxLen): few shapes, few programs. */
export const PAD_MULTIPLE = 8;

type Forward = (p: ClassifierParams, ids: Tensor, mask: Tensor) => Tensor;

const forwards = new WeakMap<FullClassifierConfig, Jitted<Forward>>();

/** The predicted class of every row of a batch: `[B, T]` ids and mask → `[B]` int32. */
function forward(config: FullClassifierConfig): Forward {
  return (p, ids, mask) =>
    argmax(applyClassifier(p, { ids, mask }, { config }).logits, { axis: -1 });
}

/** The jitted forward of `config` (made once per configuration object). */
export function jittedForward(config: FullClassifierConfig): Jitted<Forward> {
  let f = forwards.get(config);
  if (!f) forwards.set(config, f = jit(forward(config)));
  return f;
}

/**
 * A batch's ids and mask, its length padded with masked `PAD_ID` columns
 * up to a multiple of {@link PAD_MULTIPLE} (never past `maxLen`).
 */
export function paddedInputs(
  b: HostBatch,
  maxLen: number,
  multiple: number,
): { ids: Tensor; mask: Tensor } {
  const [rows, t] = b.shape as [number, number];
  const tp = Math.max(t, Math.min(maxLen, Math.ceil(t / multiple) * multiple));
  if (tp === t) {
    return {
      ids: tensor(b.ids, { shape: [rows, t], dtype: "int32" }),
      mask: tensor(b.mask, { shape: [rows, t], dtype: "bool" }),
    };
  }
  const ids = new Int32Array(rows * tp).fill(PAD_ID);
  const mask = new Uint8Array(rows * tp);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < t; j++) {
      ids[r * tp + j] = b.ids[r * t + j]!;
      mask[r * tp + j] = b.mask[r * t + j] ? 1 : 0;
    }
  }
  return {
    ids: tensor(ids, { shape: [rows, tp], dtype: "int32" }), // [B, T']
    mask: tensor(mask, { shape: [rows, tp], dtype: "bool" }), // [B, T']
  };
}

/**
 * Predicted classes of one host batch: under jit (padded), or eagerly
 * with `jit: false` (unpadded). A model whose forward cannot be traced
 * (a user's module that reads values back) runs eagerly.
 */
export function predictBatch(
  params: ClassifierParams,
  config: FullClassifierConfig,
  b: HostBatch,
  useJit: boolean,
): Tensor {
  if (useJit) {
    const { ids, mask } = paddedInputs(b, config.maxLen, PAD_MULTIPLE);
    try {
      return jittedForward(config)(params, ids, mask);
    } catch (e) {
      if (!(e instanceof TypeError) || !/\bjit\b/.test(e.message)) throw e;
    } finally {
      dispose([ids, mask]);
    }
  }
  return scope(() => {
    const { ids, mask } = paddedInputs(b, config.maxLen, 1);
    return forward(config)(params, ids, mask);
  });
}
