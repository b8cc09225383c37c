/**
 * Common-subexpression elimination: an equation that applies the same
 * primitive with the same params to the same operands as an earlier one
 * is dropped, and its uses read the earlier result. Primitives are pure
 * (even `random_uniform`, whose key is a param), so this never changes a
 * value.
 *
 * @module
 */

import {
  type Atom,
  type Eqn,
  eqn,
  type Program,
  program,
  substitute,
  type Var,
} from "../program.ts";
import type { Tensor } from "../../tensor.ts";

const fnIds = new WeakMap<object, number>();
let nextFnId = 0;

/** A string that identifies a param value (functions by identity). */
function paramKey(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(paramKey).join(",")}]`;
  if (typeof v === "function") {
    let id = fnIds.get(v);
    if (id === undefined) fnIds.set(v, id = nextFnId++);
    return `fn#${id}`;
  }
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${k}:${paramKey(o[k])}`)}}`;
  }
  return Object.is(v, -0) ? "-0" : `${typeof v}:${String(v)}`;
}

/** A string that identifies an operand. */
export function atomKey(a: Atom): string {
  return a.kind === "var"
    ? `v${a.id}`
    : `${a.aval.dtype}:${Object.is(a.value, -0) ? "-0" : a.value}`;
}

/**
 * Merges equations that compute the same thing: same primitive, same
 * params, same operands (after earlier merges). Constants that hold the
 * same tensor are merged too.
 *
 * @example
 * ```ts
 * import { add, eliminateCommonSubexpressions, exp, makeProgram, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const { program } = makeProgram((x: Tensor) => add(exp(x), exp(x)))(tensor([1]));
 * assertEquals(program.eqns.map((e) => e.prim), ["exp", "exp", "add"]);
 * const cse = eliminateCommonSubexpressions(program);
 * assertEquals(cse.eqns.map((e) => e.prim), ["exp", "add"]);
 * ```
 */
export function eliminateCommonSubexpressions(p: Program): Program {
  const env = new Map<Var, Atom>();
  const consts: Var[] = [];
  const byTensor = new Map<Tensor, Var>();
  const values: Tensor[] = [];
  p.consts.forEach((v, i) => {
    const t = p.constValues[i]!;
    const first = byTensor.get(t);
    if (first) return void env.set(v, first);
    byTensor.set(t, v);
    consts.push(v);
    values.push(t);
  });
  const seen = new Map<string, readonly Var[]>();
  const eqns: Eqn[] = [];
  for (const e of p.eqns) {
    const inputs = e.inputs.map((a) => substitute(a, env));
    const key = `${e.prim}${paramKey(e.params)}(${inputs.map(atomKey)})`;
    const hit = seen.get(key);
    if (hit) {
      e.outs.forEach((v, i) => env.set(v, hit[i]!));
      continue;
    }
    seen.set(key, e.outs);
    const changed = inputs.some((a, i) => a !== e.inputs[i]);
    eqns.push(changed ? eqn(e.prim, e.params, inputs, e.outs) : e);
  }
  return program({
    inputs: p.inputs,
    consts,
    constValues: values,
    eqns,
    outputs: p.outputs.map((a) => substitute(a, env)),
  });
}
