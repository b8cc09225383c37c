// The one place where attention/ calls the ops-level flash API
// (ops/flash/): a plan, the fused output, and the weights on request.
// Private to attention/.

import {
  flashAttention,
  type FlashOptions,
  flashPlan,
  flashWeights,
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

/** The weights `[..., Tq, Tk]` (for inspection: not differentiable). */
export function flashWeightsOf(call: FlashCall): Tensor {
  return flashWeights(call.q, call.k, call.v, optionsOf(call));
}

/** Whether a tensor of the call is a transform's traced value. */
export function tracedCall(call: FlashCall): boolean {
  return [call.q, call.q2, call.k, call.v].some((x) => {
    if (!x) return false;
    try {
      x.backend;
      return false;
    } catch {
      return true;
    }
  });
}
