/**
 * The pass pipeline jit runs on a traced program before running it.
 *
 * @module
 */

import { checkOptions } from "../../_options.ts";
import type { Program } from "../program.ts";
import { eliminateCommonSubexpressions } from "./cse.ts";
import { eliminateDeadCode } from "./dce.ts";
import { foldConstants, type FoldOptions } from "./fold.ts";

/**
 * Dead-code elimination, CSE, constant folding, then CSE and dead-code
 * elimination again (folding makes equal constants and dead equations).
 *
 * @example
 * ```ts
 * import { add, exp, makeProgram, mul, optimizeProgram, printProgram, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const { program } = makeProgram((x: Tensor) => {
 *   exp(x); // dead
 *   const two = add(tensor(1), 1); // folded
 *   return add(mul(x, two), mul(x, two)); // one mul
 * })(tensor([1, 2]));
 * assertEquals(
 *   printProgram(optimizeProgram(program)),
 *   [
 *     "{ lambda ; a:f32[2]. let",
 *     "    b:f32[2] = mul a 2.0:f32[]",
 *     "    c:f32[2] = add b b",
 *     "  in (c) }",
 *   ].join("\n"),
 * );
 * ```
 */
export function optimizeProgram(p: Program, opts?: FoldOptions): Program {
  checkOptions("optimizeProgram", opts, ["backend", "maxSize"]);
  const cse = eliminateCommonSubexpressions;
  return eliminateDeadCode(
    cse(foldConstants(cse(eliminateDeadCode(p)), opts)),
  );
}
