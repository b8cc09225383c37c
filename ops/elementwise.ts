/**
 * Elementwise ops with NumPy broadcasting: arithmetic, transcendental
 * functions, activations, comparisons, `where` and `cast`.
 *
 * @module
 */

import { broadcastShapes, type DType } from "./dtype.ts";
import { bind } from "./core.ts";
import type {
  BinaryPrimitive,
  ComparePrimitive,
  UnaryPrimitive,
} from "./primitives.ts";
import { Tensor } from "./tensor.ts";
import type { Backend } from "./backend.ts";
import {
  asTensor,
  asTensors,
  backendOf,
  castTo,
  type TensorLike,
} from "./_convert.ts";
import { checkOptions } from "./_options.ts";

export type { TensorLike } from "./_convert.ts";

// Errors name the public op (`maximum`, `equal`), not the primitive.
function binary(
  op: string,
  p: BinaryPrimitive,
  x: TensorLike,
  y: TensorLike,
  min?: DType,
): Tensor {
  const [a, b] = asTensors(op, [x, y], min ?? "int32");
  broadcastShapes(op, a!.shape, b!.shape);
  return bind(p, [a!, b!], {});
}

function unaryFloat(p: UnaryPrimitive, x: TensorLike): Tensor {
  return bind(p, [asTensor(p, x, "float32")], {});
}

function compare(
  op: string,
  p: ComparePrimitive,
  x: TensorLike,
  y: TensorLike,
): Tensor {
  const [a, b] = asTensors(op, [x, y]);
  broadcastShapes(op, a!.shape, b!.shape);
  return bind(p, [a!, b!], {});
}

/**
 * `x + y`, broadcasting.
 *
 * @example
 * ```ts
 * import { add, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(await add(tensor([1, 2]), 10).array(), [11, 12]);
 * ```
 */
export function add(x: TensorLike, y: TensorLike): Tensor {
  return binary("add", "add", x, y);
}

/** `x - y`, broadcasting. */
export function sub(x: TensorLike, y: TensorLike): Tensor {
  return binary("sub", "sub", x, y);
}

/** `x * y`, broadcasting. */
export function mul(x: TensorLike, y: TensorLike): Tensor {
  return binary("mul", "mul", x, y);
}

/** True division `x / y`, broadcasting; always float32 (as NumPy's `/`). */
export function div(x: TensorLike, y: TensorLike): Tensor {
  return binary("div", "div", x, y, "float32");
}

/** `x ** y`, broadcasting; float32 unless both are int32. */
export function pow(x: TensorLike, y: TensorLike): Tensor {
  return binary("pow", "pow", x, y);
}

/** Elementwise maximum; NaN propagates. */
export function maximum(x: TensorLike, y: TensorLike): Tensor {
  return binary("maximum", "max", x, y);
}

/** Elementwise minimum; NaN propagates. */
export function minimum(x: TensorLike, y: TensorLike): Tensor {
  return binary("minimum", "min", x, y);
}

/** `-x`. */
export function neg(x: TensorLike): Tensor {
  return bind("neg", [asTensors("neg", [x], "int32")[0]!], {});
}

/** `|x|`. */
export function abs(x: TensorLike): Tensor {
  return bind("abs", [asTensors("abs", [x], "int32")[0]!], {});
}

/** Sign of `x`: -1, 0 or 1. */
export function sign(x: TensorLike): Tensor {
  return bind("sign", [asTensors("sign", [x], "int32")[0]!], {});
}

/** `e^x`. */
export function exp(x: TensorLike): Tensor {
  return unaryFloat("exp", x);
}

/** Natural logarithm. */
export function log(x: TensorLike): Tensor {
  return unaryFloat("log", x);
}

/** `log(1 + x)`, accurate for small `x`. */
export function log1p(x: TensorLike): Tensor {
  return unaryFloat("log1p", x);
}

/** Square root. */
export function sqrt(x: TensorLike): Tensor {
  return unaryFloat("sqrt", x);
}

/** `1 / sqrt(x)`. */
export function rsqrt(x: TensorLike): Tensor {
  return unaryFloat("rsqrt", x);
}

/** Sine. */
export function sin(x: TensorLike): Tensor {
  return unaryFloat("sin", x);
}

/** Cosine. */
export function cos(x: TensorLike): Tensor {
  return unaryFloat("cos", x);
}

/** Hyperbolic tangent. */
export function tanh(x: TensorLike): Tensor {
  return unaryFloat("tanh", x);
}

/** The error function. */
export function erf(x: TensorLike): Tensor {
  return unaryFloat("erf", x);
}

/** The logistic sigmoid `1 / (1 + e^-x)`, stable for large `|x|`. */
export function sigmoid(x: TensorLike): Tensor {
  return unaryFloat("logistic", x);
}

/** `max(x, 0)`. Its derivative at 0 is 0, as in JAX and PyTorch. */
export function relu(x: TensorLike): Tensor {
  const t = asTensor("relu", x, "float32");
  return where(greater(t, 0), t, 0);
}

/** Options of {@link gelu}. */
export interface GeluOptions {
  /** Use the tanh approximation (default `true`, as JAX; PyTorch's default is exact). */
  approximate?: boolean;
}

/**
 * The GELU activation `x · Φ(x)`; by default the tanh approximation
 * `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
 */
export function gelu(x: TensorLike, opts?: GeluOptions): Tensor {
  checkOptions("gelu", opts, ["approximate"]);
  const t = asTensor("gelu", x, "float32");
  if (opts?.approximate === false) {
    return mul(mul(t, 0.5), add(erf(mul(t, Math.SQRT1_2)), 1));
  }
  const inner = mul(
    Math.sqrt(2 / Math.PI),
    add(t, mul(0.044715, mul(t, mul(t, t)))),
  );
  return mul(mul(t, 0.5), add(tanh(inner), 1));
}

/** `x * x`. */
export function square(x: TensorLike): Tensor {
  const t = asTensors("square", [x], "int32")[0]!;
  return mul(t, t);
}

/** Clamps `x` into `[lo, hi]`. */
export function clip(x: TensorLike, lo: TensorLike, hi: TensorLike): Tensor {
  const shapeOf = (v: TensorLike) => (v instanceof Tensor ? v.shape : []);
  broadcastShapes("clip", shapeOf(x), shapeOf(lo), shapeOf(hi));
  return minimum(maximum(x, lo), hi);
}

/** `x == y` elementwise, as bool. */
export function equal(x: TensorLike, y: TensorLike): Tensor {
  return compare("equal", "eq", x, y);
}

/** `x != y` elementwise, as bool. */
export function notEqual(x: TensorLike, y: TensorLike): Tensor {
  return compare("notEqual", "ne", x, y);
}

/** `x < y` elementwise, as bool. */
export function less(x: TensorLike, y: TensorLike): Tensor {
  return compare("less", "lt", x, y);
}

/** `x <= y` elementwise, as bool. */
export function lessEqual(x: TensorLike, y: TensorLike): Tensor {
  return compare("lessEqual", "le", x, y);
}

/** `x > y` elementwise, as bool. */
export function greater(x: TensorLike, y: TensorLike): Tensor {
  return compare("greater", "gt", x, y);
}

/** `x >= y` elementwise, as bool. */
export function greaterEqual(x: TensorLike, y: TensorLike): Tensor {
  return compare("greaterEqual", "ge", x, y);
}

function asBool(op: string, x: TensorLike, backend?: Backend): Tensor {
  const t = asTensor(op, x, undefined, backend);
  if (t.dtype !== "bool") {
    throw new TypeError(`${op}: expected a bool tensor, got ${t.dtype}`);
  }
  return t;
}

/** Two bool operands; a JS boolean lives on the other operand's backend. */
function asBools(op: string, x: TensorLike, y: TensorLike): [Tensor, Tensor] {
  const home = backendOf([x, y]);
  return [asBool(op, x, home), asBool(op, y, home)];
}

/** Logical and of bool tensors, broadcasting. */
export function logicalAnd(x: TensorLike, y: TensorLike): Tensor {
  const [a, b] = asBools("logicalAnd", x, y);
  broadcastShapes("logicalAnd", a.shape, b.shape);
  return bind("and", [a, b], {});
}

/** Logical or of bool tensors, broadcasting. */
export function logicalOr(x: TensorLike, y: TensorLike): Tensor {
  const [a, b] = asBools("logicalOr", x, y);
  broadcastShapes("logicalOr", a.shape, b.shape);
  return bind("or", [a, b], {});
}

/** Logical not of a bool tensor. */
export function logicalNot(x: TensorLike): Tensor {
  return bind("not", [asBool("logicalNot", x)], {});
}

/**
 * Picks `onTrue` where `cond` holds and `onFalse` elsewhere, broadcasting all
 * three. Gradients flow only into the branch that was picked.
 *
 * @example
 * ```ts
 * import { greater, tensor, where } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const x = tensor([-1, 2]);
 * assertEquals(await where(greater(x, 0), x, 0).array(), [0, 2]);
 * ```
 */
export function where(
  cond: TensorLike,
  onTrue: TensorLike,
  onFalse: TensorLike,
): Tensor {
  const c = asBool("where", cond);
  const [t, f] = asTensors(
    "where",
    [onTrue, onFalse],
    undefined,
    backendOf([c]),
  );
  broadcastShapes("where", c.shape, t!.shape, f!.shape);
  return bind("select", [c, t!, f!], {});
}

/** Converts `x` to `dtype` (float→int truncates toward zero; →bool is `x != 0`). */
export function cast(x: TensorLike, dtype: DType): Tensor {
  if (dtype !== "float32" && dtype !== "int32" && dtype !== "bool") {
    throw new TypeError(`cast: unknown dtype "${String(dtype)}"`);
  }
  return castTo(asTensor("cast", x), dtype);
}
