/**
 * Dead-code elimination: drops the equations and constants that no output
 * depends on. Every primitive is pure, so nothing else needs to run.
 *
 * @module
 */

import { type Eqn, type Program, program, type Var } from "../program.ts";

/**
 * Removes the equations whose results no output uses, and the constants
 * no kept equation uses. Inputs stay (they are the program's signature).
 *
 * @example
 * ```ts
 * import { eliminateDeadCode, exp, log, makeProgram, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const { program } = makeProgram((x: Tensor) => {
 *   log(x); // unused
 *   return exp(x);
 * })(tensor([1]));
 * assertEquals(program.eqns.length, 2);
 * assertEquals(eliminateDeadCode(program).eqns.map((e) => e.prim), ["exp"]);
 * ```
 */
export function eliminateDeadCode(p: Program): Program {
  const live = new Set<Var>();
  for (const a of p.outputs) if (a.kind === "var") live.add(a);
  const kept: Eqn[] = [];
  for (let i = p.eqns.length - 1; i >= 0; i--) {
    const e = p.eqns[i]!;
    if (!e.outs.some((v) => live.has(v))) continue;
    kept.push(e);
    for (const a of e.inputs) if (a.kind === "var") live.add(a);
  }
  kept.reverse();
  const keep = p.consts.map((v) => live.has(v));
  return program({
    inputs: p.inputs,
    consts: p.consts.filter((_, i) => keep[i]),
    constValues: p.constValues.filter((_, i) => keep[i]),
    eqns: kept,
    outputs: p.outputs,
  });
}
