/**
 * The text form of a program, in the style of a jaxpr: one equation per
 * line, every variable with its dtype and shape.
 *
 * @module
 */

import type { DType } from "../dtype.ts";
import type { Atom, Eqn, Program, Var } from "./program.ts";

const SHORT: { [D in DType]: string } = {
  float32: "f32",
  int32: "i32",
  bool: "bool",
};

/** `f32[2,3]` for an aval. */
function typeOf(a: Atom): string {
  return `${SHORT[a.aval.dtype]}[${a.aval.shape.join(",")}]`;
}

/** `a`, ..., `z`, `ba`, `bb`, ...: the name of the n-th variable, as JAX numbers them. */
function nameOf(n: number): string {
  let s = "";
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26);
  } while (n > 0);
  return s;
}

/** A literal's value: `2.0` for floats, `2` for ints, `true` for bools. */
function literalText(value: number, dtype: DType): string {
  if (dtype === "bool") return value ? "true" : "false";
  if (!Number.isFinite(value)) {
    return Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf";
  }
  if (dtype === "float32" && Number.isInteger(value)) {
    return Object.is(value, -0) ? "-0.0" : `${value}.0`;
  }
  return String(value);
}

/** A param value: arrays as `[1,2]`, functions as `<fn>`. */
function paramText(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(paramText).join(",")}]`;
  if (typeof v === "function") return "<fn>";
  return String(v);
}

/**
 * Prints a program readably, one equation per line:
 * `{ lambda consts ; inputs. let ... in (outputs) }`. Variables are named
 * `a`, `b`, ... in order of definition, so the text does not depend on
 * the numbers heed gave them.
 *
 * @example
 * ```ts
 * import { makeProgram, mul, printProgram, sum, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const { program } = makeProgram((x: Tensor) => sum(mul(x, 2)))(tensor([1, 2, 3]));
 * assertEquals(
 *   printProgram(program),
 *   [
 *     "{ lambda ; a:f32[3]. let",
 *     "    b:f32[3] = mul a 2.0:f32[]",
 *     "    c:f32[] = reduce_sum[axes=[0]] b",
 *     "  in (c) }",
 *   ].join("\n"),
 * );
 * ```
 */
export function printProgram(p: Program): string {
  const names = new Map<Var, string>();
  const define = (v: Var): string => {
    const name = nameOf(names.size);
    names.set(v, name);
    return `${name}:${typeOf(v)}`;
  };
  const use = (a: Atom): string =>
    a.kind === "literal"
      ? `${literalText(a.value, a.aval.dtype)}:${typeOf(a)}`
      : names.get(a) ?? `?${a.id}`;
  const consts = p.consts.map(define).join(" ");
  const inputs = p.inputs.map(define).join(" ");
  const head = `{ lambda ${consts}${consts ? " " : ""}; ${inputs}. let`;
  const lines = p.eqns.map((e: Eqn) => {
    const params = Object.entries(e.params).map(([k, v]) =>
      `${k}=${paramText(v)}`
    );
    const prim = params.length ? `${e.prim}[${params.join(" ")}]` : e.prim;
    const outs = e.outs.map(define).join(" ");
    return `    ${outs} = ${prim} ${e.inputs.map(use).join(" ")}`.trimEnd();
  });
  const outs = p.outputs.map(use).join(" ");
  return [head, ...lines, `  in (${outs}) }`].join("\n");
}
