/**
 * Checkers for your own Deno tests: `checkGrads` compares forward and
 * reverse derivatives with finite differences and with each other;
 * `checkAttentionLaws` runs the laws every attention spec must obey as
 * fast-check properties on random shapes; `assertAllClose` compares values
 * within tolerances. Each throws a `CheckFailure` that names the smallest
 * counterexample it found.
 *
 * @example Checking a spec with a custom modifier
 * ```ts
 * import { attention, causal, type ModFn, scaledDot } from "@heed/heed/attention";
 * import { checkAttentionLaws, checkGrads } from "@heed/heed/testing";
 * import { mul, normal, key, type Tensor } from "@heed/heed/ops";
 *
 * const halve: ModFn = (s) => mul(s, 0.5);
 * await checkAttentionLaws({ score: scaledDot(), mods: [halve], masks: [causal()] }, { runs: 5 });
 *
 * const attend = attention({ score: scaledDot(), mods: [halve] });
 * const [q, k] = [normal(key(0), [3, 4]), normal(key(1), [3, 4])];
 * await checkGrads((q: Tensor, k: Tensor) => attend(q, k, k).output, [q, k]);
 * ```
 *
 * @module
 */

export { type AllCloseOptions, assertAllClose } from "./assert_all_close.ts";
export { CheckFailure } from "./check_failure.ts";
export {
  checkGrads,
  type CheckGradsOptions,
  type GradFn,
  type GradMode,
} from "./check_grads.ts";
export {
  type AttentionLawOptions,
  checkAttentionLaws,
  type LawDims,
  type LawName,
  type SpecFactory,
} from "./attention_laws.ts";
