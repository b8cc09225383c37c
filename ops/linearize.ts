/**
 * Partial evaluation of the JVP: under `linearize`, primal work runs at once
 * and tangent work is recorded as a linear program. Evaluating the program
 * is forward mode; transposing it (`transpose.ts`) is reverse mode.
 *
 * @module
 */

import type { Aval } from "./dtype.ts";
import { bind, type MainTrace, type Trace } from "./core.ts";
import type { CustomLinParams, Params, Primitive } from "./primitives.ts";
import { type Tensor, Tracer } from "./tensor.ts";
import { backendOf, zerosOn } from "./_convert.ts";

/** A variable of a linear program: a tangent whose value is not known yet. */
export class LinearVar {
  /** Shape and dtype of the value. */
  readonly aval: Aval;
  /** Makes a variable of `aval`. */
  constructor(aval: Aval) {
    this.aval = { shape: aval.shape, dtype: aval.dtype };
  }
}

/** One recorded primitive application: linear in its `LinearVar` inputs. */
export interface LinearEqn {
  /** The primitive. */
  readonly prim: Primitive;
  /** Linear inputs (variables) and constants (known tensors). */
  readonly inputs: readonly (LinearVar | Tensor)[];
  /** The primitive's params. */
  readonly params: Params<Primitive>;
  /** The variable the application defines. */
  readonly out: LinearVar;
}

/** A linear function from `inputs` to `outputs` (`null` outputs are zero). */
export interface LinearProgram {
  /** Input variables, one per flat input. */
  readonly inputs: readonly LinearVar[];
  /** Equations in execution order. */
  readonly eqns: readonly LinearEqn[];
  /** Output variables; `null` where the output does not depend on inputs. */
  readonly outputs: readonly (LinearVar | null)[];
  /** Shape and dtype of each output. */
  readonly outAvals: readonly Aval[];
}

/** A tangent being recorded into a linear program. */
export class LinearTracer extends Tracer {
  /** The program variable this tracer stands for. */
  readonly variable: LinearVar;
  /** Wraps `variable` at level `main`. */
  constructor(main: MainTrace, variable: LinearVar) {
    super(variable.aval, main);
    this.variable = variable;
  }
}

/** The recording interpreter of `linearize`. */
export class LinearTrace implements Trace {
  /** This level. */
  readonly main: MainTrace;
  /** Equations recorded so far. */
  readonly eqns: LinearEqn[] = [];

  /** Creates the interpreter of `main`. */
  constructor(main: MainTrace) {
    this.main = main;
  }

  /** A fresh input variable, as a tracer. */
  newInput(aval: Aval): LinearTracer {
    return new LinearTracer(this.main, new LinearVar(aval));
  }

  /** The program variable behind `x`, or `null` if `x` is not this level's. */
  variableOf(x: Tensor): LinearVar | null {
    return x instanceof LinearTracer && x.main === this.main
      ? x.variable
      : null;
  }

  process<P extends Primitive>(
    prim: P,
    inputs: readonly Tensor[],
    params: Params<P>,
    out: Aval,
  ): Tensor {
    const ins = inputs.map((x) => this.variableOf(x) ?? x);
    const v = new LinearVar(out);
    this.eqns.push({ prim, inputs: ins, params, out: v });
    return new LinearTracer(this.main, v);
  }

  /** Records a `customVjp` output whose transpose is a user `bwd`. */
  recordCustom(
    inputs: readonly Tensor[],
    params: CustomLinParams,
    out: Aval,
  ): LinearTracer {
    return this.process("custom_lin", inputs, params, out) as LinearTracer;
  }
}

/**
 * Evaluates a linear program on input tangents (forward mode); `op` names
 * the transform in errors.
 */
export function evalLinear(
  program: LinearProgram,
  inputs: readonly Tensor[],
  op = "linearize",
): Tensor[] {
  const env = new Map<LinearVar, Tensor>();
  program.inputs.forEach((v, i) => env.set(v, inputs[i]!));
  for (const eqn of program.eqns) {
    if (eqn.prim === "custom_lin") {
      throw new TypeError(
        `${op}: a customVjp function has no forward-mode rule; use vjp/grad, or customJvp`,
      );
    }
    const args = eqn.inputs.map((
      x,
    ) => (x instanceof LinearVar ? env.get(x)! : x));
    env.set(eqn.out, bind(eqn.prim, args, eqn.params));
  }
  return program.outputs.map((v, i) =>
    v ? env.get(v)! : zerosOn(program.outAvals[i]!.shape, backendOf(inputs))
  );
}
