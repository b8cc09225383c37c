/**
 * Structural equality of programs: the same equations in the same order,
 * up to the renaming of variables.
 *
 * @module
 */

import type { Aval } from "../dtype.ts";
import type { Atom, Program, Var } from "./program.ts";

function sameAval(a: Aval, b: Aval): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length &&
    a.shape.every((d, i) => d === b.shape[i]);
}

/** Deep equality of param values (arrays by element, functions by identity). */
export function sameParam(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => sameParam(x, b[i]));
  }
  if (
    a && b && typeof a === "object" && typeof b === "object" &&
    !Array.isArray(a) && !Array.isArray(b)
  ) {
    const ka = Object.keys(a), kb = Object.keys(b);
    const rb = b as Record<string, unknown>, ra = a as Record<string, unknown>;
    return ka.length === kb.length &&
      ka.every((k) => k in rb && sameParam(ra[k], rb[k]));
  }
  return false;
}

/**
 * Whether two programs are the same up to renaming variables: equal
 * input and constant types, the same constant tensors (by identity), and
 * equation by equation the same primitive, params and operands.
 *
 * @example
 * ```ts
 * import { exp, makeProgram, programsEqual, tensor, type Tensor } from "@heed/heed";
 * import { assert } from "@std/assert";
 *
 * const trace = (f: (x: Tensor) => Tensor) => makeProgram(f)(tensor([1, 2])).program;
 * assert(programsEqual(trace((x) => exp(x)), trace((y) => exp(y))));
 * assert(!programsEqual(trace((x) => exp(x)), trace((x) => exp(exp(x)))));
 * ```
 */
export function programsEqual(a: Program, b: Program): boolean {
  if (a === b) return true;
  const map = new Map<Var, Var>();
  const bind = (x: Var, y: Var): boolean => {
    if (!sameAval(x.aval, y.aval)) return false;
    map.set(x, y);
    return true;
  };
  const same = (x: Atom, y: Atom): boolean => {
    if (x.kind === "literal") {
      return y.kind === "literal" && Object.is(x.value, y.value) &&
        x.aval.dtype === y.aval.dtype;
    }
    return y.kind === "var" && map.get(x) === y;
  };
  const bindAll = (xs: readonly Var[], ys: readonly Var[]): boolean =>
    xs.length === ys.length && xs.every((x, i) => bind(x, ys[i]!));
  if (!bindAll(a.inputs, b.inputs) || !bindAll(a.consts, b.consts)) {
    return false;
  }
  if (!a.constValues.every((t, i) => t === b.constValues[i])) return false;
  if (a.eqns.length !== b.eqns.length) return false;
  for (let i = 0; i < a.eqns.length; i++) {
    const x = a.eqns[i]!, y = b.eqns[i]!;
    if (x.prim !== y.prim || !sameParam(x.params, y.params)) return false;
    if (x.inputs.length !== y.inputs.length) return false;
    if (!x.inputs.every((u, j) => same(u, y.inputs[j]!))) return false;
    if (!bindAll(x.outs, y.outs)) return false;
  }
  return a.outputs.length === b.outputs.length &&
    a.outputs.every((u, j) => same(u, b.outputs[j]!));
}
