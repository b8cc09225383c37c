/**
 * Staging: the interpreter level that records every primitive bound while
 * it runs into a {@link Program} instead of computing it. It is a
 * *staging* level of the interpreter stack (`withMain(..., true)`), so ops
 * on concrete tensors inside a traced function are recorded too, and only
 * the constants they start from are captured.
 *
 * @module
 */

import { type Aval, fmtShape, type HostArray } from "../dtype.ts";
import { collectCreated } from "../memory.ts";
import { type MainTrace, scalarValue, type Trace, withMain } from "../core.ts";
import { pin } from "../memory.ts";
import type { Params, Primitive } from "../primitives.ts";
import { type Tensor, Tracer } from "../tensor.ts";
import { type TreeDef, treeFlatten } from "../pytree.ts";
import {
  type Atom,
  type Eqn,
  eqn,
  literal,
  newVar,
  type Program,
  program,
  type Var,
} from "./program.ts";

/** How to make a traced value concrete, for the errors that need one. */
export const STATIC_HINT =
  "use tensor ops instead of JS control flow on values (where(cond, a, b) for a branch), or mark the argument static so that it stays a concrete JS value: jit(f, { staticArgnums: [i] })";

/** A value being staged into a program: a variable, known by shape and dtype. */
export class JitTracer extends Tracer {
  /** The program variable this tracer stands for. */
  readonly variable: Var;

  /** Wraps `variable` at level `main`. */
  constructor(main: MainTrace, variable: Var) {
    super(variable.aval, main);
    this.variable = variable;
  }

  override data(): Promise<HostArray> {
    return Promise.reject(
      new TypeError(
        `jit: cannot read a traced value (${this.dtype}${
          fmtShape(this.shape)
        }): its value is not known while jit traces the function; ${STATIC_HINT}`,
      ),
    );
  }
}

/** The staging interpreter of one level. */
export class JitTrace implements Trace {
  /** This level. */
  readonly main: MainTrace;
  /** Equations recorded so far. */
  readonly eqns: Eqn[] = [];
  /** Captured constants and their variables, in order of first use. */
  readonly consts: Map<Tensor, Var> = new Map();
  /** Whether a constant is a tracer of an outer transform (not cacheable). */
  foreign = false;

  /** Creates the interpreter of `main`. */
  constructor(main: MainTrace) {
    this.main = main;
  }

  /** The atom for an operand: this level's variable, a literal, or a constant. */
  atomOf(x: Tensor): Atom {
    if (x instanceof JitTracer && x.main === this.main) return x.variable;
    if (x instanceof Tracer) {
      if (!(x.main as MainTrace).active) {
        throw new TypeError(
          `jit: a traced value (${x.dtype}${
            fmtShape(x.shape)
          }) escaped from the transform that made it; return it from the transformed function instead of storing it`,
        );
      }
      this.foreign = true; // an outer transform's value, closed over
    } else {
      const v = scalarValue(x);
      if (v !== undefined) return literal(v, x.dtype);
    }
    let c = this.consts.get(x);
    if (!c) {
      c = newVar(x);
      this.consts.set(x, c);
    }
    return c;
  }

  process<P extends Primitive>(
    prim: P,
    inputs: readonly Tensor[],
    params: Params<P>,
    out: Aval,
  ): Tensor {
    const ins = inputs.map((x) => this.atomOf(x));
    const v = newVar(out);
    this.eqns.push(eqn(prim, params as Params<Primitive>, ins, [v]));
    return new JitTracer(this.main, v);
  }
}

/** A traced function: its program and how to rebuild its output. */
export interface Traced {
  /** The recorded program (not optimised). */
  readonly program: Program;
  /** The structure of the output. */
  readonly outTree: TreeDef;
  /** Per output leaf: a JS number the function returned, or `null` for a program output. */
  readonly outNumbers: readonly (number | null)[];
  /** Whether the program may be reused (it closes over no outer tracer). */
  readonly cacheable: boolean;
}

/**
 * Traces `fn` on abstract inputs of `avals` into a program; `op` names
 * the caller in errors. Constants the trace created are pinned, so the
 * caller's scopes cannot free them under a cached program.
 */
export function traceFlat(
  op: string,
  fn: (inputs: Tensor[]) => unknown,
  avals: readonly Aval[],
): Traced {
  const [traced, created] = collectCreated(() =>
    withMain((m) => new JitTrace(m), (main): Traced => {
      const trace = main.trace as JitTrace;
      const ins = avals.map((a) => new JitTracer(main, newVar(a)));
      const out = fn(ins);
      if (out instanceof Promise) {
        out.catch(() => {}); // its rejection is reported here instead
        throw new TypeError(
          `${op}: the function returned a Promise; a traced function must be synchronous and cannot read values (await x.data(), x.item()): ${STATIC_HINT}`,
        );
      }
      const [leaves, outTree] = treeFlatten(out);
      const outputs: Atom[] = [];
      const outNumbers = leaves.map((l) => {
        if (typeof l === "number") return l;
        outputs.push(trace.atomOf(l));
        return null;
      });
      return {
        program: program({
          inputs: ins.map((t) => t.variable),
          consts: [...trace.consts.values()],
          constValues: [...trace.consts.keys()],
          eqns: trace.eqns,
          outputs,
        }),
        outTree,
        outNumbers,
        cacheable: !trace.foreign,
      };
    }, true)
  );
  for (const t of traced.program.constValues) if (created.has(t)) pin(t);
  return traced;
}
