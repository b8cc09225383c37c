// The composed meaning of a flash attention (matmul, score, where(mask),
// softmax or not, matmul), with zeros for rows whose keys are all hidden,
// and random cases for the property tests.

import fc from "fast-check";
import * as h from "../../../mod.ts";
import type { FlashOptions, Tensor } from "../../../mod.ts";
import { randomTensor } from "../../_helpers.ts";

/** `x [..., a, b]` → `[..., b, a]`. */
export function swapLast(x: Tensor): Tensor {
  const perm = [...Array(x.ndim).keys()];
  perm.splice(-2, 2, x.ndim - 1, x.ndim - 2);
  return h.transpose(x, perm);
}

/** The weights of attention, computed with plain ops. */
export function composedWeights(
  q: Tensor,
  k: Tensor,
  opts: FlashOptions = {},
): Tensor {
  const kT = swapLast(k);
  const dots = [h.matmul(q, kT)];
  if (opts.q2) dots.push(h.matmul(opts.q2, kT));
  const s = opts.score ? opts.score(dots) : dots.reduce((a, b) => h.add(a, b));
  const mask = opts.mask?.();
  if (opts.normaliser === "none") return mask ? h.where(mask, s, 0) : s;
  const z = mask ? h.where(mask, s, -Infinity) : s;
  const m = h.stopGradient(h.max(z, { axis: -1, keepdims: true }));
  const e = h.exp(h.sub(z, h.where(h.equal(m, -Infinity), 0, m)));
  const total = h.sum(e, { axis: -1, keepdims: true });
  const w = h.div(e, h.where(h.equal(total, 0), 1, total));
  return mask ? h.where(mask, w, 0) : w;
}

/** Attention with plain ops: `[..., Tq, dv]`. */
export function composed(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: FlashOptions = {},
): Tensor {
  return h.matmul(composedWeights(q, k, opts), v);
}

/** One random attention problem: inputs, a captured bias and the options. */
export interface Case {
  readonly q: Tensor;
  readonly k: Tensor;
  readonly v: Tensor;
  readonly q2?: Tensor;
  /** A float tensor the score closes over, `[Tq, Tk]` or `[Tk]`. */
  readonly bias: Tensor;
  /** Options for a given bias (so gradients can flow into it). */
  readonly opts: (bias: Tensor) => FlashOptions;
  /** How the case was drawn, for failure messages. */
  readonly label: string;
}

/** The score expressions the properties draw from. */
const SCORES = ["plain", "scaled+bias", "softcap", "two queries"] as const;
/** The masks the properties draw from. */
const MASKS = ["none", "causal", "padding", "hide rows"] as const;

/** fast-check: a small attention problem. */
export const arbCase: fc.Arbitrary<Case> = fc.record({
  batch: fc.constantFrom([], [2], [1, 2]),
  tq: fc.integer({ min: 1, max: 4 }),
  tk: fc.integer({ min: 1, max: 5 }),
  d: fc.integer({ min: 1, max: 3 }),
  dv: fc.integer({ min: 1, max: 3 }),
  score: fc.constantFrom(...SCORES),
  mask: fc.constantFrom(...MASKS),
  normaliser: fc.constantFrom("softmax" as const, "none" as const),
  biasRows: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1 << 20 }),
}).map((c): Case => {
  const { batch, tq, tk, d, dv, seed } = c;
  const q = randomTensor([...batch, tq, d], seed);
  const k = randomTensor([...batch, tk, d], seed + 1);
  const v = randomTensor([...batch, tk, dv], seed + 2);
  const q2 = c.score === "two queries"
    ? randomTensor([...batch, tq, d], seed + 3)
    : undefined;
  const bias = randomTensor(c.biasRows ? [tq, tk] : [tk], seed + 4);
  const rows = h.reshape(h.arange(tq), [tq, 1]), cols = h.arange(tk);
  const pad = h.less(cols, Math.max(1, tk - 1));
  const masks: Record<(typeof MASKS)[number], (() => Tensor) | undefined> = {
    none: undefined,
    causal: () => h.greaterEqual(rows, cols),
    padding: () => pad,
    // Row 0 sees nothing: a fully masked row.
    "hide rows": () =>
      h.logicalAnd(h.greater(rows, 0), h.lessEqual(cols, rows)),
  };
  const opts = (b: Tensor): FlashOptions => {
    const score: Record<(typeof SCORES)[number], FlashOptions["score"]> = {
      plain: undefined,
      "scaled+bias": ([r]) => h.add(h.mul(r!, 0.5), b),
      softcap: ([r]) => h.mul(h.tanh(h.div(h.add(r!, b), 2)), 2),
      "two queries": ([r0, r1]) => h.sub(h.mul(r0!, b), h.mul(r1!, 0.5)),
    };
    return {
      ...(q2 ? { q2 } : {}),
      score: score[c.score],
      mask: masks[c.mask],
      normaliser: c.normaliser,
    };
  };
  const label = JSON.stringify({ ...c });
  return { q, k, v, ...(q2 ? { q2 } : {}), bias, opts, label };
});
