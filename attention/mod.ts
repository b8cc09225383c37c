/**
 * Programmable attention. An attention function is a composition of small
 * pure functions, and the user programs it by choosing (or writing) them:
 *
 * ```
 * score     (q, k)        -> s [..., Tq, Tk]   dot, scaledDot, additive, bilinear, cosine, seedRatio
 * mods      (s, ctx)      -> s'                temperature, bias, alibi, relativePositionBias, softCap
 * masks     (ctx)         -> bool              causal, padding, slidingWindow, segments, and/or/not
 * normalise (s, mask)     -> w                 softmaxNormaliser, sparsemaxNormaliser,
 *                                              sigmoidNormaliser, identityNormaliser
 * combine   (w, v)        -> w @ v
 * ```
 *
 * `attention(spec)` wires a spec into `(q, k, v, opts) -> { output, weights }`;
 * `modules` runs several such functions side by side and `multiHead` wraps
 * one in learned projections. Any function of the right shape plugs in; there
 * is nothing to register. Every tensor a piece captures is differentiable in
 * forward and reverse mode.
 *
 * @example A custom modifier next to built-in pieces
 * ```ts
 * import { attention, causal, type ModFn, scaledDot } from "@heed/heed/attention";
 * import { equal, ones, sub, where } from "@heed/heed/ops";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * // Keep queries off the first token (an "attention sink"): −3 on key 0.
 * const noSink: ModFn = (s, ctx) => where(equal(ctx.kPos, 0), sub(s, 3), s);
 * const attend = attention({ score: scaledDot(), mods: [noSink], masks: [causal()] });
 * const x = ones([3, 4]);
 * const w = await attend(x, x, x).weights.data();
 * assertAlmostEquals(w[3]! / w[4]!, Math.exp(-3), 1e-5); // row 1: key 0 vs key 1
 * ```
 *
 * @module
 */

export type {
  AttentionFn,
  AttentionOptions,
  AttentionResult,
  Context,
  FusedScore,
  FusedScoreForm,
  MaskFn,
  ModFn,
  Normaliser,
  NormaliserLaws,
  ScoreFn,
  Spec,
} from "./types.ts";
export { attention } from "./attention.ts";
export { fusableScore } from "./fusable_score.ts";
export {
  type AttentionExplanation,
  explainAttention,
  type ExplainInputs,
} from "./explain.ts";
export {
  additive,
  type AdditiveOptions,
  type AdditiveParams,
  bilinear,
  cosine,
  type CosineOptions,
  dot,
  scaledDot,
} from "./scores.ts";
export { seedRatio, type SeedRatioOptions } from "./seed_ratio.ts";
export {
  seedGated,
  signedSumNormaliser,
  type SignedSumOptions,
} from "./seed_variants.ts";
export {
  ATTENTION_NAMES,
  type AttentionName,
  checkAttentionName,
  isAttentionName,
  type NamedSpec,
  namedSpec,
  type SpecParams,
} from "./named_modules.ts";
export {
  type AttentionModule,
  attentionModule,
  isAttentionModule,
  type ModuleContext,
} from "./attention_module.ts";
export { alibi, alibiSlopes, bias, softCap, temperature } from "./modifiers.ts";
export {
  relativeBuckets,
  relativePositionBias,
  type RelativePositionOptions,
} from "./relative_position.ts";
export {
  and,
  causal,
  not,
  or,
  padding,
  segments,
  slidingWindow,
} from "./masks.ts";
export {
  identityNormaliser,
  normaliser,
  sigmoidNormaliser,
  type SigmoidNormaliserOptions,
  softmaxNormaliser,
} from "./normalisers.ts";
export { sparsemaxNormaliser } from "./sparsemax.ts";
export {
  type Combine,
  concatenate,
  gate,
  type GatedResult,
  type GateParams,
  mixture,
  modules,
} from "./modules.ts";
export {
  type HeadDims,
  type KeysValues,
  type MultiHead,
  multiHead,
  type MultiHeadCallOptions,
  type MultiHeadOptions,
  type MultiHeadParams,
  type MultiHeadResult,
} from "./multi_head.ts";
