/**
 * `checkAttentionLaws`: the laws that hold for any attention spec, run as
 * fast-check properties on random shapes (batch, heads, Tq, Tk, d, dv) and
 * random data, including per-call positions, segments, lengths and key
 * masks. A failing law is shrunk to its smallest shape and reported.
 *
 * Which laws apply depends on the spec's normaliser (`normalise.laws`):
 * `shift` needs shift invariance, `simplex` and `temperature` need weights
 * on the simplex, `grads` needs smoothness. Any law can be switched off.
 *
 * @module
 */

import fc from "fast-check";
import { softmaxNormaliser, type Spec } from "../attention/mod.ts";
import { type Key, key } from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import { arbCase, type Case, drawData } from "./_cases.ts";
import { CheckFailure } from "./_host.ts";
import { type Law, type LawName, LAWS } from "./_law_kit.ts";
import { cold, masking, permutation, shapes, shift, simplex } from "./_laws.ts";
import { agree, grads, oneHead, single } from "./_laws_composed.ts";

export type { LawName } from "./_law_kit.ts";

/** Every law, by name. */
const LAW_FNS: Record<LawName, Law> = {
  shapes,
  masking,
  permutation,
  shift,
  simplex,
  temperature: cold,
  modules: single,
  multiHead: oneHead,
  backends: agree,
  grads,
};

/** Sizes a spec factory is asked to build for. */
export interface LawDims {
  /** Features of q and k. */
  readonly d: number;
  /** Features of v. */
  readonly dv: number;
  /** Heads: scores are `[B, heads, Tq, Tk]`. */
  readonly heads: number;
  /** A key for random parameters (the same for every call on one case). */
  readonly key: Key;
}

/** Builds a spec for given sizes, for specs whose pieces hold parameters. */
export type SpecFactory = (dims: LawDims) => Spec;

/** Options of {@link checkAttentionLaws}. */
export interface AttentionLawOptions {
  /** Random problems per law (default 20). */
  readonly runs?: number;
  /** fast-check seed (default 42, so runs are reproducible). */
  readonly seed?: number;
  /** Switch laws on or off (default: every law that applies to the normaliser). */
  readonly laws?: Partial<Record<LawName, boolean>>;
  /** Fix the number of heads (for per-head pieces such as `alibi(4)`). */
  readonly heads?: number;
  /** Fix the features of q and k. */
  readonly d?: number;
  /** Fix the features of v. */
  readonly dv?: number;
  /** Largest Tq and Tk (default 5). */
  readonly maxT?: number;
  /**
   * q and k are uniform in [-scale, scale) (default 1). Shrink it to keep
   * away from a piece's poles, e.g. 0.5 for `seedRatio`, whose denominator
   * √d + k·q vanishes when k·q = −√d.
   */
  readonly inputScale?: number;
  /** Sets `spec.fused` on every spec checked (`true`: every law on the fused path). */
  readonly fused?: "auto" | boolean;
}

/** Which laws apply to `spec` by default. */
function defaultLaws(spec: Spec): Record<LawName, boolean> {
  const laws = (spec.normalise ?? softmaxNormaliser()).laws;
  return {
    shapes: true,
    masking: true,
    permutation: true,
    shift: laws.shiftInvariant,
    simplex: laws.simplex,
    temperature: laws.simplex,
    modules: true,
    multiHead: true,
    backends: true,
    grads: laws.smooth,
  };
}

/**
 * Checks the laws of attention for `spec` (or for the specs a factory
 * builds) and resolves to the names of the laws that were checked. Throws
 * a `CheckFailure` naming the law and the smallest counterexample.
 *
 * @example
 * ```ts
 * import { alibi, causal, scaledDot, sparsemaxNormaliser } from "@heed/heed/attention";
 * import { checkAttentionLaws } from "@heed/heed/testing";
 * import { assert } from "@std/assert";
 *
 * const checked = await checkAttentionLaws(
 *   ({ heads }) => ({ score: scaledDot(), mods: [alibi(heads)], masks: [causal()], normalise: sparsemaxNormaliser() }),
 *   { runs: 5 },
 * );
 * assert(checked.includes("simplex") && !checked.includes("grads"));
 * ```
 */
export async function checkAttentionLaws(
  spec: Spec | SpecFactory,
  opts: AttentionLawOptions = {},
): Promise<LawName[]> {
  checkOptions("checkAttentionLaws", opts, [
    "runs",
    "seed",
    "laws",
    "heads",
    "d",
    "dv",
    "maxT",
    "inputScale",
    "fused",
  ]);
  checkOptions("checkAttentionLaws: laws", opts.laws, Object.keys(LAWS));
  const given: SpecFactory = typeof spec === "function" ? spec : () => spec;
  const { fused } = opts;
  const factory: SpecFactory = fused === undefined
    ? given
    : (dims) => ({ ...given(dims), fused });
  const scale = opts.inputScale ?? 1;
  const dimsOf = (c: Case): LawDims => ({
    d: c.d,
    dv: c.dv,
    heads: c.heads,
    key: key(c.seed),
  });
  const probe = factory({
    d: opts.d ?? 2,
    dv: opts.dv ?? 2,
    heads: opts.heads ?? 1,
    key: key(0),
  });
  const enabled = { ...defaultLaws(probe), ...opts.laws };
  const names = (Object.keys(LAWS) as LawName[]).filter((n) => enabled[n]);
  const fixed = {
    ...(opts.heads !== undefined && { heads: opts.heads }),
    ...(opts.d !== undefined && { d: opts.d }),
    ...(opts.dv !== undefined && { dv: opts.dv }),
    ...(opts.maxT !== undefined && { maxT: opts.maxT }),
  };
  for (const name of names) {
    const law = LAW_FNS[name];
    const property = fc.asyncProperty(arbCase(fixed), async (c) => {
      await law({
        spec: (x) => factory(dimsOf(x.c)),
        data: drawData(c, scale),
        scale,
      });
    });
    const seed = opts.seed ?? 42;
    const details = await fc.check(property, {
      numRuns: opts.runs ?? 20,
      seed,
    });
    if (details.failed) {
      const [c] = details.counterexample ?? [];
      const cause = details.errorInstance instanceof Error
        ? details.errorInstance.message
        : String(details.errorInstance);
      throw new CheckFailure(
        `checkAttentionLaws: law "${name}" does not hold: ${LAWS[name]}.\n` +
          `Smallest counterexample (after ${details.numShrinks} shrinks): ${
            JSON.stringify(c)
          }\n` +
          `${cause}\n` +
          "(q is [batch, heads, tq, d], k [batch, heads, tk, d], v [batch, heads, tk, dv])",
      );
    }
  }
  return names;
}
