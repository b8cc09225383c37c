// What the laws share: their names and statements, and small helpers to
// run a spec on a problem and compare results. Private to testing/.

import {
  attention,
  type AttentionOptions,
  type AttentionResult,
  type Context,
  identityNormaliser,
  normaliser,
  softmaxNormaliser,
  type Spec,
} from "../attention/mod.ts";
import { ones, type Tensor } from "../ops/mod.ts";
import { build, type Data, type Problem } from "./_cases.ts";
import { fmt, host, indexOf } from "./_host.ts";

/** The name of a law of attention. */
export type LawName =
  | "shapes"
  | "masking"
  | "permutation"
  | "shift"
  | "simplex"
  | "temperature"
  | "modules"
  | "multiHead"
  | "backends"
  | "grads";

/** The laws, by name, with what each one says. */
export const LAWS: Record<LawName, string> = {
  shapes: "weights are [..., Tq, Tk] and finite, and output = weights @ v",
  masking:
    "masked positions get exactly 0 weight, and a fully masked row gives zeros, not NaN",
  permutation:
    "permuting keys and values (with their positions and data) leaves outputs unchanged, and permuting queries permutes outputs",
  shift:
    "adding a constant to a row of scores changes nothing, for constants from ±3 up to ±1e30",
  simplex: "weights are non-negative and each row with a visible key sums to 1",
  temperature:
    "as the temperature goes to 0 (down to 1e-8) the weights approach argmax",
  modules: "modules([A]) equals A",
  multiHead: "multiHead with one head equals attention plus the projections",
  backends: "every backend agrees with the first one",
  grads:
    "forward and reverse derivatives with respect to q, k, v agree with finite differences",
};

/** What a law gets: the spec builder and one problem's data. */
export interface LawInput {
  readonly spec: (x: Data) => Spec;
  readonly data: Data;
  readonly scale: number;
}

/** A law: resolves if it holds on this problem, throws otherwise. */
export type Law = (input: LawInput) => Promise<void>;

/** Throws unless |a − e| ≤ atol·max(1, |e|max) + rtol·|e| elementwise. */
export function assertClose(
  what: string,
  actual: readonly number[],
  expected: readonly number[],
  shape: readonly number[],
  tol = { rtol: 1e-4, atol: 1e-5 },
): void {
  if (actual.length !== expected.length) {
    throw new Error(
      `${what}: ${actual.length} values, expected ${expected.length}`,
    );
  }
  const big = Math.max(1, ...expected.map(Math.abs).filter(Number.isFinite));
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= tol.atol * big + tol.rtol * Math.abs(e))) {
      throw new Error(
        `${what} at ${indexOf(i, shape)}: ${fmt(a)}, expected ${fmt(e)}`,
      );
    }
  }
}

/** Which option keys the pieces of `spec` read on the problem `p`. */
function readsOf(spec: Spec, p: Problem): Set<string> {
  const seen = new Set<string>();
  const watch = (ctx: Context): Context =>
    new Proxy(ctx, {
      get(target, name) {
        if (name === "qPos") seen.add("qPositions").add("queryOffset");
        if (name === "kPos") seen.add("kPositions");
        const value = Reflect.get(target, name);
        if (name !== "opts") return value;
        return new Proxy(value as AttentionOptions, {
          get(opts, key) {
            if (typeof key === "string") seen.add(key);
            return Reflect.get(opts, key);
          },
        });
      },
    });
  const n = spec.normalise ?? softmaxNormaliser();
  const watched: Spec = {
    ...spec,
    fused: false, // the watching score has no fused form; both paths read alike
    score: (q, k, ctx) => spec.score(q, k, watch(ctx)),
    mods: (spec.mods ?? []).map((m) => (s, ctx) => m(s, watch(ctx))),
    masks: (spec.masks ?? []).map((m) => (ctx) => m(watch(ctx))),
    normalise: normaliser((s, m, ctx) => n(s, m, watch(ctx)), n.laws),
  };
  try {
    attention(watched)(p.q, p.k, p.v, p.opts);
  } catch {
    // Data the spec does not read is refused after the pieces ran; any
    // other error shows again when the law runs the spec.
  }
  return seen;
}

/**
 * The tensors of problem `x`, with only the per-call data that `spec`
 * reads: attention refuses data that no piece of the spec reads.
 */
export function problem(spec: Spec, x: Data): Problem {
  const p = build(x);
  const seen = readsOf(spec, p);
  const opts = Object.fromEntries(
    Object.entries(p.opts).filter(([name]) => seen.has(name)),
  );
  return { ...p, opts };
}

/** Runs `spec` on the problem `x`. */
export function run(spec: Spec, x: Data): AttentionResult {
  const p = problem(spec, x);
  return attention(spec)(p.q, p.k, p.v, p.opts);
}

/** The spec's combined mask as 0/1 weights, [B, H, Tq, Tk]. */
export function visibility(spec: Spec, x: Data): Tensor {
  const probe: Spec = {
    ...spec,
    fused: false, // a score of ones has no fused form
    score: (_q, _k, ctx) => ones(ctx.shape),
    mods: [],
    normalise: identityNormaliser(),
  };
  return run(probe, x).weights;
}

/** The spec's scores after its modifiers, unmasked, [B, H, Tq, Tk]. */
export function scores(spec: Spec, x: Data): Tensor {
  return run({ ...spec, masks: [], normalise: identityNormaliser() }, x)
    .weights;
}

/** Per row of `w` ([rows, tk] flat): the indices that are visible. */
export function rows(tk: number, n: number): number[][] {
  return Array.from(
    { length: n / tk },
    (_, r) => [...Array(tk).keys()].map((j) => r * tk + j),
  );
}

/** Reads tensors back in parallel (one round trip on a GPU). */
export function read(...ts: Tensor[]): Promise<number[][]> {
  return Promise.all(ts.map(host));
}
