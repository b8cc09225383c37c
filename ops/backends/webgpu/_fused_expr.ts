// The WGSL of a fused expression: one `let` per node, in SSA order. Each
// primitive is the eager kernel's own expression (`expr` in
// `_elementwise.ts`), so fused and eager results agree; the table below
// says so per primitive and fails `deno check` when one is missing.

import type { DType } from "../../dtype.ts";
import type { ElementwisePrimitive } from "../../primitives.ts";
import type { FusedLiteral, FusedNode, FusedOp } from "../fused.ts";
import { expr } from "./_elementwise.ts";
import { wgslType } from "./_wgsl.ts";
import { ZERO_WORD } from "./_wgsl_math.ts";

/** How a primitive's WGSL is made from its argument expressions. */
type OpRule = (op: FusedOp, argTypes: readonly DType[], a: string[]) => string;

/** The eager kernel's expression; `select` reads the branches' dtype. */
const eager: OpRule = (op, argTypes, a) =>
  expr(
    op.prim,
    op.prim === "select" ? argTypes[1]! : argTypes[0]!,
    (op.params as { dtype?: DType }).dtype ?? op.dtype,
    a,
  );

/**
 * Integer pow without a loop: MATH's `pow_i32` loops once per exponent
 * bit, and inside a reduction those back-edges add up towards llvmpipe's
 * 65,535 per invocation (see `_reduce.ts`). Same steps, same wrapping.
 */
const powRule: OpRule = (op, argTypes, a) =>
  argTypes[0] === "int32" ? `pow_i32_flat(${a[0]}, ${a[1]})` : eager(
    op,
    argTypes,
    a,
  );

/** Every elementwise primitive's rule (a missing one fails `deno check`). */
export const FUSED_OPS: { readonly [P in ElementwisePrimitive]: OpRule } = {
  neg: eager,
  exp: eager,
  log: eager,
  log1p: eager,
  sqrt: eager,
  rsqrt: eager,
  sin: eager,
  cos: eager,
  tanh: eager,
  logistic: eager,
  erf: eager,
  abs: eager,
  sign: eager,
  add: eager,
  sub: eager,
  mul: eager,
  div: eager,
  pow: powRule,
  max: eager,
  min: eager,
  eq: eager,
  ne: eager,
  lt: eager,
  le: eager,
  gt: eager,
  ge: eager,
  and: eager,
  or: eager,
  not: eager,
  select: eager,
  convert_element_type: eager,
};

/** WGSL helpers the fused kernels add to MATH. */
export const FUSED_MATH: string = `
// v, hidden from the optimiser: metadata word ZERO_WORD is 0 at run time;
// a different k per use keeps two uses of one value apart (see letStatements).
fn hide(v: f32, k: u32) -> f32 { return bitcast<f32>(bitcast<u32>(v) | (m(${ZERO_WORD}u) * k)); }
fn pow_i32_flat(x: i32, y: i32) -> i32 {
  if (y < 0) {
    if (x == 1) { return 1; }
    if (x == -1) { return select(1, -1, (y & 1) == 1); }
    return 0;
  }
  var r = 1;
  var b = x;
  var e = y;
${
  Array.from({ length: 31 }, () =>
    "  if ((e & 1) == 1) { r = r * b; } b = b * b; e = e >> 1u;").join("\n")
}
  return r;
}`;

/** A literal as WGSL, exactly (NaN and infinities through MATH's helpers). */
export function literal(node: FusedLiteral): string {
  const v = node.value;
  if (node.dtype === "bool") return v !== 0 ? "1u" : "0u";
  if (node.dtype === "int32") {
    const i = v | 0;
    return i === -2147483648 ? "(-2147483647 - 1)" : `${i}`;
  }
  if (Number.isNaN(v)) return "f32_nan()";
  if (v === Infinity) return "f32_inf()";
  if (v === -Infinity) return "(-f32_inf())";
  const bits = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  return `bitcast<f32>(0x${bits.toString(16)}u)`;
}

/** A 32-bit word of storage as a value of `dtype`. */
export function fromWord(dtype: DType, word: string): string {
  const t = wgslType(dtype);
  return t === "u32" ? word : `bitcast<${t}>(${word})`;
}

/** A value of `dtype` as a 32-bit word of storage. */
export function toWord(dtype: DType, v: string): string {
  return wgslType(dtype) === "u32" ? v : `bitcast<u32>(${v})`;
}

/**
 * The `let` statements of `which` nodes. `load(n)` gives the WGSL of load
 * node `n`; a node outside `which` is named by `name`, which it must
 * already be in scope under.
 *
 * Every use of a float32 value by another node goes through `hide(v, k)`
 * with a different `k` per use. WGSL lets the compiler assume finite
 * maths, and Mesa folds `x - x` and `x * 0.0` to 0 (NaN for infinite or
 * NaN x) once both operands are in one shader; the eager kernels read
 * each operand from its own buffer, which the compiler cannot see
 * through. So no relation between operands is visible here either.
 */
export function letStatements(
  nodes: readonly FusedNode[],
  which: readonly number[],
  load: (n: number) => string,
  indent = "  ",
  opts: {
    /** Use counts shared by several calls over one scope. */
    readonly uses?: Map<number, number>;
    /** The WGSL of a reduced node (`_fused_staged.ts`). */
    readonly reduced?: (n: number) => string;
  } = {},
): string {
  const uses = opts.uses ?? new Map<number, number>();
  const use = (a: number) => {
    if (nodes[a]!.dtype !== "float32") return name(a);
    const k = (uses.get(a) ?? 0) + 1;
    uses.set(a, k);
    return `hide(${name(a)}, ${k}u)`;
  };
  return which.map((n) => {
    const node = nodes[n]!;
    const t = wgslType(node.dtype);
    let v: string;
    if (node.kind === "load") v = load(n);
    else if (node.kind === "literal") v = literal(node);
    else if (node.kind === "reduced") {
      if (!opts.reduced) {
        throw new TypeError(
          `webgpu: fused kernel node ${n} reads a reduction outside a reduce kernel`,
        );
      }
      v = opts.reduced(n);
    } else {
      const rule = FUSED_OPS[node.prim];
      v = rule(
        node,
        node.args.map((a) => nodes[a]!.dtype),
        node.args.map(use),
      );
    }
    return `${indent}let ${name(n)}: ${t} = ${v};`;
  }).join("\n");
}

/** The WGSL name of node `n`'s value. */
export function name(n: number): string {
  return `v${n}`;
}

/**
 * Merges neighbouring axes that every load steps through with one stride
 * and drops size-1 axes (no rank limit: shapes are in the shader text).
 * `strides[j][d]` is load j's stride on axis d.
 */
export function collapseAxes(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const out: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  shape.forEach((d, a) => {
    if (d === 1) return;
    const last = out.length - 1;
    if (
      last >= 0 && strides.every((s, j) => outStrides[j]![last] === s[a]! * d)
    ) {
      out[last] = out[last]! * d;
      strides.forEach((s, j) => (outStrides[j]![last] = s[a]!));
    } else {
      out.push(d);
      strides.forEach((s, j) => outStrides[j]!.push(s[a]!));
    }
  });
  return { shape: out, strides: outStrides };
}

/**
 * WGSL `let`s splitting flat index `flat` (u32) over `shape` into one i32
 * index per axis, named `${prefix}0`, `${prefix}1`, ...
 */
export function splitIndex(
  flat: string,
  shape: readonly number[],
  prefix: string,
): string {
  let inner = 1;
  const lines: string[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    const q = inner === 1 ? flat : `(${flat} / ${inner}u)`;
    const v = d === 0 ? q : `(${q} % ${shape[d]}u)`;
    lines.unshift(`  let ${prefix}${d} = i32(${v});`);
    inner *= shape[d]!;
  }
  return lines.join("\n");
}

/** `base + Σ_d idx_d · strides[d]` as WGSL (i32), skipping zero strides. */
export function offsetExpr(
  base: string,
  strides: readonly number[],
  prefix: string,
): string {
  const terms = base === "0" ? [] : [base];
  strides.forEach((s, d) => {
    if (s === 0) return;
    terms.push(s === 1 ? `${prefix}${d}` : `${prefix}${d} * ${s}`);
  });
  return terms.length ? terms.join(" + ") : "0";
}
