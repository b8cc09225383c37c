/**
 * Running a program: each equation is applied through `bind`, so the
 * current interpreters handle it. With no transform running, the backend
 * computes it (the CPU backend so interprets programs, as the
 * specification); under `grad`, `jvp` or an outer `jit`, the equations are
 * differentiated or staged like any other op, which is how jit composes
 * with every transform.
 *
 * @module
 */

import { fmtShape, sameShape } from "../dtype.ts";
import type { Backend } from "../backend.ts";
import { bind, scalar, transformsActive } from "../core.ts";
import { scope } from "../memory.ts";
import { backendOf } from "../_convert.ts";
import type { Tensor } from "../tensor.ts";
import type { Atom, Program, Var } from "./program.ts";

/**
 * Evaluates `p` on one tensor per program input; literals are made on
 * `backend` (default: the inputs' backend, else the default one). With no
 * transform running, the intermediates are freed when it returns; the
 * outputs are kept.
 *
 * @example
 * ```ts
 * import { evalProgram, exp, makeProgram, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const { program } = makeProgram((x: Tensor) => exp(x))(tensor([0, 0]));
 * const [y] = evalProgram(program, [tensor([0, 1])]);
 * assertEquals(await y!.array(), [1, Math.fround(Math.E)]);
 * ```
 */
export function evalProgram(
  p: Program,
  inputs: readonly Tensor[],
  backend?: Backend,
): Tensor[] {
  if (inputs.length !== p.inputs.length) {
    throw new TypeError(
      `evalProgram: the program takes ${p.inputs.length} input(s), got ${inputs.length}`,
    );
  }
  p.inputs.forEach((v, i) => {
    const x = inputs[i]!;
    if (x.dtype !== v.aval.dtype || !sameShape(x.shape, v.aval.shape)) {
      throw new TypeError(
        `evalProgram: input ${i} is ${x.dtype}${
          fmtShape(x.shape)
        }, but the program takes ${v.aval.dtype}${fmtShape(v.aval.shape)}`,
      );
    }
  });
  const home = backend ?? backendOf(inputs);
  const run = (): Tensor[] => {
    const env = new Map<Var, Tensor>();
    p.inputs.forEach((v, i) => env.set(v, inputs[i]!));
    p.consts.forEach((v, i) => env.set(v, p.constValues[i]!));
    const read = (a: Atom): Tensor =>
      a.kind === "literal" ? scalar(a.value, a.aval.dtype, home) : env.get(a)!;
    for (const e of p.eqns) {
      if (e.outs.length !== 1) {
        throw new TypeError(
          `evalProgram: ${e.prim} defines ${e.outs.length} variables; primitives define one`,
        );
      }
      env.set(e.outs[0]!, bind(e.prim, e.inputs.map(read), e.params));
    }
    return p.outputs.map(read);
  };
  // Under a transform any value may be a residual it keeps: free nothing.
  return transformsActive() ? run() : scope(run);
}
