// The one place where attention/ calls the ops-level flash API
// (ops/flash/): a plan, the fused output, and the weights on request.
// Private to attention/.
//
// TEMPORARY STAND-IN until ops/flash lands: the same meaning, computed
// with plain ops, so that the attention side can be built and tested.

import {
  div,
  equal,
  exp,
  matmul,
  max,
  stopGradient,
  sub,
  sum,
  type Tensor,
  where,
} from "../ops/mod.ts";
import { swapLast } from "./_shape.ts";

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

/** Why `call` cannot run as one flash kernel, or null when it can. */
export function flashReason(_call: FlashCall): string | null {
  return null;
}

function weightsOf(call: FlashCall): Tensor {
  const kT = swapLast(call.k);
  const dots = [matmul(call.q, kT)];
  if (call.q2) dots.push(matmul(call.q2, kT));
  const s = call.score(dots);
  const mask = call.mask ? call.mask() : null;
  if (call.normaliser === "none") return mask ? where(mask, s, 0) : s;
  const z = mask ? where(mask, s, -Infinity) : s;
  const m = stopGradient(max(z, { axis: -1, keepdims: true }));
  const e = exp(sub(z, where(equal(m, -Infinity), 0, m)));
  const total = sum(e, { axis: -1, keepdims: true });
  const w = div(e, where(equal(total, 0), 1, total));
  return mask ? where(mask, w, 0) : w;
}

/** The fused output `[..., Tq, dv]`. */
export function flashOutputOf(call: FlashCall): Tensor {
  return matmul(weightsOf(call), call.v);
}

/** The weights `[..., Tq, Tk]`, computed only when asked. */
export function flashWeightsOf(call: FlashCall): Tensor {
  return weightsOf(call);
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
