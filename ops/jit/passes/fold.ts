/**
 * Constant folding: equations whose operands are all literals or
 * constants are evaluated once, when the program is compiled, and their
 * results become constants (scalars read back at once become literals).
 *
 * @module
 */

import { sizeOf } from "../../dtype.ts";
import type { Backend } from "../../backend.ts";
import { bind, scalar, transformsActive } from "../../core.ts";
import { dispose, pin } from "../../memory.ts";
import { checkOptions } from "../../_options.ts";
import type { Primitive } from "../../primitives.ts";
import { type Tensor, Tracer } from "../../tensor.ts";
import {
  type Atom,
  type Eqn,
  eqn,
  literal,
  newVar,
  type Program,
  program,
  substitute,
  type Var,
} from "../program.ts";

/** Options of {@link foldConstants}. */
export interface FoldOptions {
  /** Where literals are made when an equation has no constant operand (default: the default backend). */
  readonly backend?: Backend;
  /** The largest result folded, in elements (default 4096): bigger ones stay equations. */
  readonly maxSize?: number;
}

/**
 * Never folded: a broadcast or iota only spreads what it is given, so
 * folding would store a bigger constant for nothing (a fused kernel later
 * makes them free); `custom_lin` carries a user rule, not a value.
 */
const KEEP: ReadonlySet<Primitive> = new Set<Primitive>([
  "broadcast_in_dim",
  "iota",
  "custom_lin",
]);

/** The default {@link FoldOptions.maxSize}. */
export const FOLD_MAX_SIZE = 4096;

/**
 * Evaluates, at compile time, every equation whose operands are all
 * literals or constants and whose result has at most `maxSize` elements.
 * Nothing is folded while a transform is running (its ops would be
 * staged or differentiated, not computed). The new constants are pinned:
 * they live as long as the program.
 *
 * @example
 * ```ts
 * import { add, foldConstants, makeProgram, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * // 2·3 is known before the program runs; only the add remains.
 * const { program } = makeProgram((x: Tensor) => add(x, mul(tensor(2), 3)))(tensor([1]));
 * assertEquals(program.eqns.map((e) => e.prim), ["mul", "add"]);
 * assertEquals(foldConstants(program).eqns.map((e) => e.prim), ["add"]);
 * ```
 */
export function foldConstants(p: Program, opts?: FoldOptions): Program {
  checkOptions("foldConstants", opts, ["backend", "maxSize"]);
  const maxSize = opts?.maxSize ?? FOLD_MAX_SIZE;
  if (transformsActive()) return p;
  const known = new Map<Var, Tensor>();
  p.consts.forEach((v, i) => {
    const t = p.constValues[i]!;
    if (!(t instanceof Tracer)) known.set(v, t);
  });
  const env = new Map<Var, Atom>();
  const consts = [...p.consts];
  const constValues = [...p.constValues];
  const eqns: Eqn[] = [];
  for (const e of p.eqns) {
    const inputs = e.inputs.map((a) => substitute(a, env));
    const foldable = !KEEP.has(e.prim) && e.outs.length === 1 &&
      sizeOf(e.outs[0]!.aval.shape) <= maxSize &&
      inputs.every((a) => a.kind === "literal" || known.has(a));
    if (!foldable) {
      const changed = inputs.some((a, i) => a !== e.inputs[i]);
      eqns.push(changed ? eqn(e.prim, e.params, inputs, e.outs) : e);
      continue;
    }
    // Literals join the constants' backend, as an eager op's numbers do.
    const home = inputs.map((a) =>
      a.kind === "var" ? known.get(a)!.backend : undefined
    ).find((b) => b) ?? opts?.backend;
    const args = inputs.map((a) =>
      a.kind === "literal" ? scalar(a.value, a.aval.dtype, home) : known.get(a)!
    );
    const y = bind(e.prim, args, e.params);
    const out = e.outs[0]!;
    const flat = y.size === 1 && y.shape.length === 0
      ? y.backend.readSync?.(y.handle, y)
      : undefined;
    if (flat) {
      env.set(out, literal(flat[0]!, y.dtype));
      dispose(y);
      continue;
    }
    const v = newVar(y);
    pin(y);
    known.set(v, y);
    env.set(out, v);
    consts.push(v);
    constValues.push(y);
  }
  return program({
    inputs: p.inputs,
    consts,
    constValues,
    eqns,
    outputs: p.outputs.map((a) => substitute(a, env)),
  });
}
