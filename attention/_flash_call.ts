// The one place where attention/ calls the ops-level flash API
// (ops/flash/): a plan and the fused output.
// Private to attention/.

import {
  flashAttention,
  type FlashOptions,
  flashPlan,
  type Tensor,
} from "../ops/mod.ts";

/** One fused attention call, as the flash API takes it. */
export interface FlashCall {
  /** `q_0 [..., Tq, d]`. */
  readonly q: Tensor;
  /** `q_1 [..., Tq, d]`, for scores of two dots. */
  readonly q2?: Tensor;
  /** `[..., Tk, d]`. */
  readonly k: Tensor;
  /** `[..., Tk, dv]`. */
  readonly v: Tensor;
  /** The score from the dots, elementwise. */
  readonly score: (dots: readonly Tensor[]) => Tensor;
  /** The mask, when the spec has masks. */
  readonly mask?: () => Tensor;
  /** Softmax, or the scores themselves. */
  readonly normaliser: "softmax" | "none";
}

function optionsOf(call: FlashCall): FlashOptions {
  return {
    ...(call.q2 && { q2: call.q2 }),
    score: call.score,
    ...(call.mask && { mask: call.mask }),
    normaliser: call.normaliser,
  };
}

/** Why `call` cannot run as one flash kernel, or null when it can. */
export function flashReason(call: FlashCall): string | null {
  const plan = flashPlan(call.q, call.k, call.v, optionsOf(call));
  return "reason" in plan ? `the flash planner says: ${plan.reason}` : null;
}

/** The fused output `[..., Tq, dv]`. */
export function flashOutputOf(call: FlashCall): Tensor {
  return flashAttention(call.q, call.k, call.v, optionsOf(call));
}
