/**
 * The error every checker in `@heed/heed/testing` throws when a check
 * fails, so that a test can tell a failed check from a crash.
 *
 * @module
 */

/**
 * A failed check (`checkGrads`, `checkAttentionLaws`, `assertAllClose`).
 * Its message names what failed and the smallest counterexample found.
 *
 * @example Telling a failed check from other errors
 * ```ts
 * import { assertAllClose, CheckFailure } from "@heed/heed/testing";
 * import { assertRejects } from "@std/assert";
 *
 * await assertRejects(() => assertAllClose([1, 2], [1, 2.5]), CheckFailure);
 * ```
 */
export class CheckFailure extends Error {
  /** Always `"CheckFailure"`. */
  override name = "CheckFailure";
}
