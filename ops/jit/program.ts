/**
 * Programs: the typed, immutable IR that jit traces functions into (a
 * jaxpr). A program is a list of equations `outs = prim[params](inputs)`
 * over numbered variables, each with its shape and dtype, plus constants
 * (concrete tensors the function closed over or created) and literals
 * (scalar constants, written inline).
 *
 * @module
 */

import type { Aval, DType } from "../dtype.ts";
import type { Params, Primitive } from "../primitives.ts";
import type { Tensor } from "../tensor.ts";

/** A variable of a program: a value known by its shape and dtype only. */
export interface Var {
  /** Tells variables from literals. */
  readonly kind: "var";
  /** A number unique among all variables heed has made (printing renames). */
  readonly id: number;
  /** Shape and dtype of the value. */
  readonly aval: Aval;
}

/** A scalar constant written inline in an equation (`2.0:f32[]`). */
export interface Literal {
  /** Tells literals from variables. */
  readonly kind: "literal";
  /** The value (booleans as 1 and 0). */
  readonly value: number;
  /** Shape `[]` and the dtype. */
  readonly aval: Aval;
}

/** An equation's operand: a variable or a literal. */
export type Atom = Var | Literal;

/** One primitive application: `outs = prim[params](inputs)`. */
export interface Eqn {
  /** The primitive. */
  readonly prim: Primitive;
  /** Its params (frozen). */
  readonly params: Params<Primitive>;
  /** Operands, in the primitive's order. */
  readonly inputs: readonly Atom[];
  /** The variables it defines (one per primitive output; all have one today). */
  readonly outs: readonly Var[];
}

/**
 * A traced function: inputs, constants, equations in execution order, and
 * outputs. Programs are frozen data; passes return new programs.
 */
export interface Program {
  /** One variable per flat tensor input. */
  readonly inputs: readonly Var[];
  /** Variables standing for the constants in {@link Program.constValues}. */
  readonly consts: readonly Var[];
  /** The concrete tensors behind {@link Program.consts}, in the same order. */
  readonly constValues: readonly Tensor[];
  /** Equations, each using only inputs, constants and earlier outputs. */
  readonly eqns: readonly Eqn[];
  /** One atom per flat output. */
  readonly outputs: readonly Atom[];
}

let nextId = 0;

/** A frozen copy of `aval`. */
export function frozenAval(aval: Aval): Aval {
  return Object.freeze({
    shape: Object.freeze([...aval.shape]),
    dtype: aval.dtype,
  });
}

/** A fresh variable of `aval`. */
export function newVar(aval: Aval): Var {
  return Object.freeze({ kind: "var", id: nextId++, aval: frozenAval(aval) });
}

/** A literal of `value` and `dtype` (a scalar). */
export function literal(value: number, dtype: DType): Literal {
  return Object.freeze({
    kind: "literal",
    value,
    aval: Object.freeze({ shape: Object.freeze([]), dtype }),
  });
}

/** Params frozen one level down (arrays copied); functions are kept as they are. */
function freezeParams(params: Params<Primitive>): Params<Primitive> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    out[k] = Array.isArray(v) ? Object.freeze([...v]) : v;
  }
  return Object.freeze(out) as Params<Primitive>;
}

/** A frozen equation. */
export function eqn(
  prim: Primitive,
  params: Params<Primitive>,
  inputs: readonly Atom[],
  outs: readonly Var[],
): Eqn {
  return Object.freeze({
    prim,
    params: freezeParams(params),
    inputs: Object.freeze([...inputs]),
    outs: Object.freeze([...outs]),
  });
}

/** A frozen program from its parts (equations are frozen already). */
export function program(parts: Program): Program {
  if (parts.consts.length !== parts.constValues.length) {
    throw new TypeError(
      `program: ${parts.consts.length} constant variables for ${parts.constValues.length} values`,
    );
  }
  return Object.freeze({
    inputs: Object.freeze([...parts.inputs]),
    consts: Object.freeze([...parts.consts]),
    constValues: Object.freeze([...parts.constValues]),
    eqns: Object.freeze([...parts.eqns]),
    outputs: Object.freeze([...parts.outputs]),
  });
}

/** Substitutes atoms through `env` (variables not in it stay). */
export function substitute(a: Atom, env: ReadonlyMap<Var, Atom>): Atom {
  return a.kind === "var" ? env.get(a) ?? a : a;
}
