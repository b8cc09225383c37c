/**
 * The text form of a program, in the style of a jaxpr: one equation per
 * line, every variable with its dtype and shape.
 *
 * @module
 */

import type { FlashKernel } from "../backends/flash.ts";
import type { DType } from "../dtype.ts";
import { type FusedKernel, reductionsOf } from "../backends/fused.ts";
import type { KernelStep, Plan } from "./plan.ts";
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
  if (v !== null && typeof v === "object") return objectText(v);
  return String(v);
}

/** A flash kernel as its shapes and sizes; other objects as short JSON. */
function objectText(v: object): string {
  const k = v as Partial<FlashKernel>;
  if (k.score && k.normaliser && k.batch && k.captured) {
    const mask = k.mask ? ` mask:${k.mask.nodes.length}` : "";
    return `<flash [${k.batch}] ${k.tq}x${k.tk} d=${k.d} dv=${k.dv} ` +
      `q=${k.queries} ${k.normaliser} score:${k.score.nodes.length}${mask} ` +
      `captured:${k.captured.length}>`;
  }
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
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
  const { define, use } = namer();
  const first = head(p, define, "lambda");
  const lines = p.eqns.map((e: Eqn) => {
    const outs = e.outs.map(define).join(" ");
    return `    ${outs} = ${eqnText(e)} ${e.inputs.map(use).join(" ")}`
      .trimEnd();
  });
  return [first, ...lines, tail(p, use)].join("\n");
}

/** Names variables in order of definition. */
function namer() {
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
  return { define, use };
}

function head(p: Program, define: (v: Var) => string, word: string): string {
  const consts = p.consts.map(define).join(" ");
  const inputs = p.inputs.map(define).join(" ");
  return `{ ${word} ${consts}${consts ? " " : ""}; ${inputs}. let`;
}

function tail(p: Program, use: (a: Atom) => string): string {
  return `  in (${p.outputs.map(use).join(" ")}) }`;
}

/** `prim[k=v ...]`. */
function eqnText(e: Eqn): string {
  const params = Object.entries(e.params).map(([k, v]) =>
    `${k}=${paramText(v)}`
  );
  return params.length ? `${e.prim}[${params.join(" ")}]` : e.prim;
}

/** `fused[...]`, `fused_reduce_sum[...]` or `fused_dot[...]`: the kernel's shape and ops. */
function kernelText(k: FusedKernel): string {
  const ops = k.nodes.flatMap((n) => n.kind === "op" ? [n.prim] : []);
  const body = `${ops.length} ops: ${ops.join(" ")}`.trimEnd();
  if (k.kind === "dot") {
    const d = k.dims;
    return `fused_dot[[${k.lhsShape}]·[${k.rhsShape}] contract=[${d.lhsContract}]/[${d.rhsContract}] batch=[${d.lhsBatch}]/[${d.rhsBatch}] to [${k.shape}] ${body}]`;
  }
  return k.kind === "elementwise"
    ? `fused[[${k.shape.join(",")}] ${body}]`
    : `fused_reduce_${reductionsOf(k).map((r) => r.op).join("_")}[axes=[${
      k.axes.join(",")
    }] of [${k.shape.join(",")}] ${body}]`;
}

/**
 * Prints a plan as a program whose lines are its steps: plain equations as
 * in {@link printProgram}, fused kernels as `fused[...]` (elementwise) or
 * `fused_reduce_<op>[...]` (`<op>_<op>` for several reductions in one
 * kernel) with their iteration shape and ops, or `fused_dot[...]` (a
 * matmul with its operands' shapes, contracted and batch axes, and its
 * epilogue's ops) reading
 * their input variables; the first line counts the steps (the kernels one
 * call dispatches).
 *
 * @example
 * ```ts
 * import { makeProgram, optimizeProgram, softmax, tensor } from "@heed/heed";
 * import { fuseProgram } from "./passes/fuse.ts";
 * import { printPlan } from "./print.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const { program } = makeProgram(softmax)(tensor([[1, 2, 3], [4, 5, 6]]));
 * assertEquals(
 *   printPlan(fuseProgram(optimizeProgram(program))),
 *   [
 *     "{ plan ; a:f32[2,3]. let  # 2 kernels",
 *     "    b:f32[2] c:f32[2] = fused_reduce_max_sum[axes=[1] of [2,3] 4 ops: eq select sub exp] a",
 *     "    d:f32[2,3] = fused[[2,3] 5 ops: eq select sub exp div] a b c",
 *     "  in (d) }",
 *   ].join("\n"),
 * );
 * ```
 */
export function printPlan(plan: Plan): string {
  const { define, use } = namer();
  const n = plan.steps.length;
  const first = `${head(plan.program, define, "plan")}  # ${n} kernel${
    n === 1 ? "" : "s"
  }`;
  const lines = plan.steps.map((s) => {
    const e = s.kind === "eqn" ? s.eqn : null;
    const outs = (e ? e.outs : s.kind === "kernel" ? s.outputs : [])
      .map(define).join(" ");
    const ins = e ? e.inputs : s.kind === "kernel" ? s.inputs : [];
    const what = e ? eqnText(e) : kernelText((s as KernelStep).kernel);
    return `    ${outs} = ${what} ${ins.map(use).join(" ")}`.trimEnd();
  });
  return [
    first,
    ...lines,
    tail(plan.program, use),
  ].join("\n");
}
