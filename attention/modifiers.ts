/**
 * Score modifiers: pure maps `s -> s'` applied after the score function,
 * in the order the spec lists them. Modifiers that capture a tensor
 * (a learned temperature, a bias, ALiBi slopes) are differentiable with
 * respect to it.
 *
 * Per-head pieces (`alibi`, `relativePositionBias`) put their head axis at
 * position -3 of the scores, `[..., H, Tq, Tk]`, as `multiHead` lays them out.
 *
 * @module
 */

import {
  abs,
  add,
  div,
  mul,
  sub,
  tanh,
  type Tensor,
  tensor,
} from "../ops/mod.ts";
import { perHead } from "./_shape.ts";
import type { ModFn } from "./types.ts";

function positive(op: string, x: number | Tensor): void {
  if (typeof x === "number" && !(x > 0)) {
    throw new RangeError(`${op}: expected a positive number, got ${x}`);
  }
}

/**
 * Divides the scores by a temperature, s' = s / t. A number is fixed; a
 * tensor (scalar, or per head `[H, 1, 1]`) is learnable. As t → 0 softmax
 * approaches argmax.
 *
 * The temperature must stay positive: t ≤ 0 flips or destroys the order of
 * the scores. A number is checked here; a tensor is not (that would read it
 * back from the device at every call), so to learn a temperature, learn its
 * logarithm and pass `temperature(exp(logT))`, which is positive whatever
 * step the optimiser takes.
 *
 * @example Sharpening with a low temperature
 * ```ts
 * import { attention, dot, temperature } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assert } from "@std/assert";
 *
 * const q = tensor([[1, 0]]), k = tensor([[1, 0], [0, 1]]);
 * const cold = attention({ score: dot(), mods: [temperature(0.01)] });
 * assert((await cold(q, k, k).weights.data())[0]! > 0.999);
 * ```
 *
 * @example Learning the temperature through its logarithm
 * ```ts
 * import { attention, dot, temperature } from "@heed/heed/attention";
 * import { exp, grad, mul, neg, sub, sum, tensor, type Tensor } from "@heed/heed/ops";
 * import { assert } from "@std/assert";
 *
 * const q = tensor([[1, 0]]), k = tensor([[1, 0], [0, 1]]), v = tensor([[1], [0]]);
 * // Reward the weight on key 0; t = exp(logT) > 0 at every step.
 * const loss = (logT: Tensor) => {
 *   const attend = attention({ score: dot(), mods: [temperature(exp(logT))] });
 *   return neg(sum(attend(q, k, v).output)); // −w[0]
 * };
 * let logT = tensor(0); // t = 1
 * for (let step = 0; step < 50; step++) {
 *   logT = sub(logT, mul(grad(loss)(logT), 10));
 * }
 * const t = await exp(logT).item() as number;
 * assert(t > 0 && t < 0.5); // sharper, and still positive
 * ```
 */
export function temperature(t: number | Tensor): ModFn {
  positive("temperature", t);
  return function temperatureMod(s) {
    return div(s, t);
  };
}

/**
 * Adds a bias tensor to the scores, s' = s + b, with `b` broadcastable to
 * `[..., Tq, Tk]` (for instance a learned `[H, Tq, Tk]` bias).
 *
 * @example
 * ```ts
 * import { attention, bias, dot, identityNormaliser } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const b = tensor([[0, -1]]);
 * const f = attention({ score: dot(), mods: [bias(b)], normalise: identityNormaliser() });
 * const q = tensor([[1]]), k = tensor([[2], [3]]);
 * assertEquals(await f(q, k, k).weights.array(), [[2, 2]]);
 * ```
 */
export function bias(b: Tensor): ModFn {
  return function biasMod(s) {
    return add(s, b);
  };
}

/**
 * Soft-capping (Gemma 2), s' = c · tanh(s / c): scores stay in (-c, c) and
 * are nearly unchanged when |s| ≪ c.
 *
 * @example
 * ```ts
 * import { attention, dot, identityNormaliser, softCap } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), mods: [softCap(5)], normalise: identityNormaliser() });
 * const q = tensor([[100]]), k = tensor([[1]]);
 * assertAlmostEquals((await f(q, k, k).weights.data())[0]!, 5, 1e-4);
 * ```
 */
export function softCap(cap: number | Tensor): ModFn {
  positive("softCap", cap);
  return function softCapMod(s) {
    return mul(tanh(div(s, cap)), cap);
  };
}

/**
 * The ALiBi slopes of Press et al. for `heads` heads: a geometric sequence
 * 2^(-8/n), 2^(-16/n), ... for n a power of two, interleaved otherwise.
 *
 * @example
 * ```ts
 * import { alibiSlopes } from "@heed/heed/attention";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(alibiSlopes(2), [1 / 16, 1 / 256]);
 * ```
 */
export function alibiSlopes(heads: number): number[] {
  if (!Number.isInteger(heads) || heads < 1) {
    throw new RangeError(
      `alibiSlopes: heads must be a positive integer, got ${heads}`,
    );
  }
  const pow2 = (n: number) =>
    Array.from({ length: n }, (_, i) => 2 ** (-8 * (i + 1) / n));
  const p = 2 ** Math.floor(Math.log2(heads));
  if (p === heads) return pow2(heads);
  const extra = alibiSlopes(2 * p).filter((_, i) => i % 2 === 0);
  return [...pow2(p), ...extra.slice(0, heads - p)];
}

/**
 * ALiBi (Press et al.): a linear distance penalty per head,
 * s'_hij = s_hij − m_h · |pos_i − pos_j|. Give the number of heads for the
 * standard slopes, or a `[H]` tensor of slopes (then learnable).
 *
 * @example
 * ```ts
 * import { alibi, attention, dot, identityNormaliser } from "@heed/heed/attention";
 * import { zeros } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), mods: [alibi(1)], normalise: identityNormaliser() });
 * const x = zeros([1, 3, 2]); // [H=1, T=3, d=2]: all scores 0
 * const w = await f(x, x, x).weights.array();
 * assertEquals(w, [[[0, -1 / 256, -2 / 256], [-1 / 256, 0, -1 / 256], [-2 / 256, -1 / 256, 0]]]);
 * ```
 */
export function alibi(slopes: number | Tensor): ModFn {
  // Fixed slopes are made per call, on the backend of that call.
  const fixed = typeof slopes === "number" ? alibiSlopes(slopes) : null;
  return function alibiMod(s, ctx) {
    const m = fixed ? tensor(fixed) : slopes as Tensor; // [H]
    const dist = abs(sub(ctx.qPos, ctx.kPos)); // int32 [..., Tq, Tk]
    return sub(s, mul(perHead("alibi", m, ctx), dist)); // [..., H, Tq, Tk]
  };
}
