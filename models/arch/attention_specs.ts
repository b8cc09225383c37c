/**
 * The masks of each use of attention in the models. The built-in modules
 * themselves live in `attention/named_modules.ts` (re-exported here).
 *
 * @module
 */

import { causal, type MaskFn, padding } from "../../attention/mod.ts";

export {
  ATTENTION_NAMES,
  type AttentionName,
  checkAttentionName,
  isAttentionName,
  type NamedSpec,
  namedSpec,
  type SpecParams,
} from "../../attention/named_modules.ts";

/** The masks of encoder self-attention (padding) and decoder self-attention (+ causal). */
export const MASKS: {
  readonly encoder: readonly MaskFn[];
  readonly decoder: readonly MaskFn[];
} = {
  encoder: [padding()],
  decoder: [padding(), causal()],
};
