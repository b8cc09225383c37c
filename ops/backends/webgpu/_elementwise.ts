// Elementwise kernels (unary, binary, comparisons, logical, select, casts)
// with NumPy broadcasting through runtime shapes and strides.

import { type Aval, type DType, sameShape, sizeOf } from "../../dtype.ts";
import type { Params, Primitive } from "../../primitives.ts";
import {
  broadcastStrides,
  collapse,
  type Dispatch,
  type GpuBuffer,
  groups1d,
  stridedOffset,
} from "./_kernel.ts";
import { entry1d, header, MATH, WG, wgslType } from "./_wgsl.ts";
import { ZERO_WORD } from "./_wgsl_math.ts";

/** The WGSL expression computing one element of `prim` from argument expressions (the fused kernels inline it too). */
export function expr(
  prim: Primitive,
  inType: DType,
  outType: DType,
  a: string[],
): string {
  const [x, y, z] = a as [string, string, string];
  const f = inType === "float32";
  switch (prim) {
    case "neg":
      return `-${x}`;
    case "exp":
      return `exp_(${x})`;
    case "log":
      return `log_all(${x})`;
    case "log1p":
      return `log1p_(${x})`;
    case "sqrt":
      return `sqrt(${x})`;
    case "rsqrt":
      return `inverseSqrt(${x})`;
    case "sin":
      return `sin_(${x})`;
    case "cos":
      return `cos_(${x})`;
    case "tanh":
      return `tanh_(${x})`;
    case "logistic":
      return `logistic(${x})`;
    case "erf":
      return `erf_(${x})`;
    case "abs":
      return `abs(${x})`;
    case "sign":
      return f ? `select(sign(${x}), ${x}, is_nan(${x}))` : `sign(${x})`;
    case "add":
      return `${x} + ${y}`;
    case "sub":
      return `${x} - ${y}`;
    case "mul":
      return `${x} * ${y}`;
    case "div":
      return f ? `${x} / ${y}` : `div_i32(${x}, ${y})`;
    case "pow":
      return f ? `pow_f32(${x}, ${y})` : `pow_i32(${x}, ${y})`;
    case "max":
      return f ? `max_f32(${x}, ${y})` : `max(${x}, ${y})`;
    case "min":
      return f ? `min_f32(${x}, ${y})` : `min(${x}, ${y})`;
    case "eq":
      return compare(f, x, "==", y);
    case "ne":
      return compare(f, x, "!=", y);
    case "lt":
      return compare(f, x, "<", y);
    case "le":
      return compare(f, x, "<=", y);
    case "gt":
      return compare(f, x, ">", y);
    case "ge":
      return compare(f, x, ">=", y);
    case "and":
      return `${x} & ${y}`;
    case "or":
      return `${x} | ${y}`;
    case "not":
      return `1u - ${x}`;
    case "select":
      return `select(${z}, ${y}, ${x} != 0u)`;
    case "convert_element_type":
      return convert(inType, outType, x);
    default:
      throw new TypeError(`webgpu: ${prim} is not elementwise`);
  }
}

/**
 * A comparison as 0u/1u. WGSL lets an implementation assume that floats
 * are never NaN (Chrome's Tint on SwiftShader made `NaN != x` false), so
 * float comparisons test NaN explicitly, by bits: any comparison with NaN
 * is false, except `!=`, which is true (IEEE 754, the CPU reference).
 */
function compare(float: boolean, x: string, op: string, y: string): string {
  if (!float) return `select(0u, 1u, ${x} ${op} ${y})`;
  return op === "!="
    ? `select(0u, 1u, ${x} != ${y} || is_nan(${x}) || is_nan(${y}))`
    : `select(0u, 1u, ${x} ${op} ${y} && !is_nan(${x}) && !is_nan(${y}))`;
}

function convert(from: DType, to: DType, x: string): string {
  if (from === to) return x;
  if (to === "bool") {
    // NaN is nonzero, so true (see compare for why NaN is tested by bits).
    return from === "float32"
      ? `select(0u, 1u, ${x} != 0.0 || is_nan(${x}))`
      : `select(0u, 1u, ${x} != 0)`;
  }
  if (to === "float32") return `f32(${x})`;
  return from === "float32" ? `f32_to_i32(${x})` : `i32(${x})`;
}

type Mode = "same" | "scalar" | "strided";

/** Plans the dispatch of an elementwise primitive. */
export function elementwiseDispatch<P extends Primitive>(
  prim: P,
  inputs: readonly { buf: GpuBuffer; aval: Aval }[],
  params: Params<P>,
  out: Aval,
  outBuf: GpuBuffer,
  maxPerDim: number,
): Dispatch {
  const size = sizeOf(out.shape);
  const modes: Mode[] = inputs.map(({ aval }) =>
    sameShape(aval.shape, out.shape)
      ? "same"
      : sizeOf(aval.shape) === 1
      ? "scalar"
      : "strided"
  );
  const strided = inputs.flatMap((
    _x,
    k,
  ) => (modes[k] === "strided" ? [k] : []));
  const meta: number[] = [size, 0];
  if (strided.length) {
    const c = collapse(
      out.shape,
      strided.map((k) => broadcastStrides(inputs[k]!.aval.shape, out.shape)),
    );
    meta[1] = c.shape.length;
    for (let j = 0; j < 8; j++) meta[2 + j] = c.shape[j] ?? 1;
    c.strides.forEach((s, n) => {
      for (let j = 0; j < 8; j++) meta[10 + 8 * n + j] = s[j] ?? 0;
    });
  }
  // Elementwise ops read operands of one dtype (select: branches), except casts.
  const argType = prim === "select"
    ? inputs[1]!.aval.dtype
    : inputs[0]!.aval.dtype;
  const types = inputs.map((x) => wgslType(x.aval.dtype));
  const outType = wgslType(out.dtype);
  const key = `ew:${prim}:${
    inputs.map((x) => x.aval.dtype).join(",")
  }>${out.dtype}:${modes.join(",")}`;
  const toType = (params as { dtype?: DType }).dtype ?? out.dtype;
  const source = () => {
    const loads = inputs.map((_, k) => {
      const mode = modes[k]!;
      if (mode === "same") return { pre: "", arg: `in${k}[i]` };
      if (mode === "scalar") return { pre: "", arg: `in${k}[0]` };
      const n = strided.indexOf(k);
      return {
        pre: stridedOffset(`o${k}`, 1, 2, 10 + 8 * n),
        arg: `in${k}[o${k}]`,
      };
    });
    const body = loads.map((l) => l.pre).join("\n") +
      `\n  out[i] = ${expr(prim, argType, toType, loads.map((l) => l.arg))};`;
    return [header(types, outType), MATH, entry1d(body)].join("\n");
  };
  // `opaque()` in the maths reads this word and needs it to be zero.
  for (let w = meta.length; w <= ZERO_WORD; w++) meta.push(0);
  return {
    key,
    source,
    inputs: inputs.map((x) => x.buf),
    output: outBuf,
    meta,
    groups: groups1d(size, WG, maxPerDim),
  };
}
