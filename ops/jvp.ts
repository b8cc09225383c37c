/**
 * Forward mode: the JVP interpreter and the JVP rule of every primitive.
 * A rule maps primals and tangents (`null` is a symbolic zero) to the
 * primal output and its tangent, with the maths beside it.
 *
 * @module
 */

import { sameShape } from "./dtype.ts";
import { bind, type MainTrace, type Trace } from "./core.ts";
import type { Params, Primitive } from "./primitives.ts";
import { type Tensor, Tracer } from "./tensor.ts";
import {
  add,
  cos,
  div,
  equal,
  exp,
  greater,
  less,
  log,
  mul,
  neg,
  sign,
  sin,
  sub,
  where,
} from "./elementwise.ts";
import { broadcastTo, reshape } from "./shape_ops.ts";
import { zerosFor } from "./_convert.ts";
import type { LinearTrace } from "./linearize.ts";
import { flashJvp } from "./flash/_ad.ts";

/** A value with its tangent, owned by one JVP level. */
export class JvpTracer extends Tracer {
  /** The value. */
  readonly primal: Tensor;
  /** Its tangent (never a symbolic zero: such values are not wrapped). */
  readonly tangent: Tensor;

  /** Wraps `primal` with `tangent` at level `main`. */
  constructor(main: MainTrace, primal: Tensor, tangent: Tensor) {
    super(primal, main);
    this.primal = primal;
    this.tangent = tangent;
  }

  override dropPerturbation(): Tensor {
    return this.primal;
  }
}

/** A JVP rule: primals and tangents (`null` = zero) to output and tangent. */
export type JvpRule<P extends Primitive> = (
  primals: readonly Tensor[],
  tangents: readonly (Tensor | null)[],
  params: Params<P>,
) => [Tensor, Tensor | null];

/** The JVP interpreter of one level. */
export class JvpTrace implements Trace {
  /** This level. */
  readonly main: MainTrace;
  /** The linear trace recording tangents, when this level runs under `linearize`. */
  readonly linear: LinearTrace | null;

  /** Creates the interpreter of `main`, recording into `linear` if given. */
  constructor(main: MainTrace, linear: LinearTrace | null = null) {
    this.main = main;
    this.linear = linear;
  }

  /** Splits an operand into primal and tangent at this level. */
  unpack(x: Tensor): [Tensor, Tensor | null] {
    if (x instanceof JvpTracer && x.main === this.main) {
      return [x.primal, x.tangent];
    }
    return [x, null];
  }

  /** Wraps a primal output with its tangent (dropping zero and non-float tangents). */
  pack(y: Tensor, yDot: Tensor | null): Tensor {
    if (yDot === null || y.dtype !== "float32") return y;
    const t = sameShape(yDot.shape, y.shape)
      ? yDot
      : broadcastTo(yDot, y.shape);
    return new JvpTracer(this.main, y, t);
  }

  process<P extends Primitive>(
    prim: P,
    inputs: readonly Tensor[],
    params: Params<P>,
  ): Tensor {
    const primals: Tensor[] = [];
    const tangents: (Tensor | null)[] = [];
    for (const x of inputs) {
      const [p, t] = this.unpack(x);
      primals.push(p);
      tangents.push(t);
    }
    if (tangents.every((t) => t === null)) return bind(prim, primals, params);
    const [y, yDot] = (JVP_RULES[prim] as JvpRule<P>)(
      primals,
      tangents,
      params,
    );
    return this.pack(y, yDot);
  }
}

/** A zero tangent for `x`, instantiated. */
function inst(t: Tensor | null, x: Tensor): Tensor {
  return t ?? zerosFor(x);
}

/** `a + b` where either may be a symbolic zero. */
function addT(a: Tensor | null, b: Tensor | null): Tensor | null {
  if (a === null) return b;
  if (b === null) return a;
  return add(a, b);
}

/** `t * c` where `t` may be a symbolic zero. */
function scale(t: Tensor | null, c: Tensor): Tensor | null {
  return t === null ? null : mul(t, c);
}

/** A rule for a unary primitive `y = f(x)` with `ẏ = f'(x, y) · ẋ`. */
function unary<P extends Primitive>(
  prim: P,
  deriv: (x: Tensor, y: Tensor) => Tensor,
): JvpRule<P> {
  return ([x], [xDot], params) => {
    const y = bind(prim, [x!], params);
    return [y, scale(xDot!, deriv(x!, y))];
  };
}

/** A rule for a primitive linear in every operand: apply it to the tangents. */
function linear<P extends Primitive>(prim: P): JvpRule<P> {
  return (xs, ts, params) => [
    bind(prim, xs, params),
    bind(prim, ts.map((t, i) => inst(t, xs[i]!)), params),
  ];
}

/** A rule for outputs that are piecewise constant (comparisons, argmax...). */
function zeroTangent<P extends Primitive>(prim: P): JvpRule<P> {
  return (xs, _ts, params) => [bind(prim, xs, params), null];
}

/** The `max`/`min` rule: the tangent of the winner; ties share it equally. */
function extremum(prim: "max" | "min"): JvpRule<"max" | "min"> {
  return ([x, y], [xDot, yDot]) => {
    const z = bind(prim, [x!, y!], {});
    const xt = inst(xDot!, x!), yt = inst(yDot!, y!);
    const xWins = prim === "max" ? greater(x!, y!) : less(x!, y!);
    const yWins = prim === "max" ? less(x!, y!) : greater(x!, y!);
    return [z, where(xWins, xt, where(yWins, yt, mul(add(xt, yt), 0.5)))];
  };
}

/** The `reduce_max`/`reduce_min` rule: mean tangent over the arg-extremes. */
function reduceExtremum(
  prim: "reduce_max" | "reduce_min",
): JvpRule<"reduce_max" | "reduce_min"> {
  return ([x], [xDot], params) => {
    const y = bind(prim, [x!], params);
    const kept = reshape(
      y,
      x!.shape.map((d, i) => (params.axes.includes(i) ? 1 : d)),
    );
    const hit = bind("convert_element_type", [equal(x!, kept)], {
      dtype: "float32",
    });
    const count = bind("reduce_sum", [hit], params);
    const picked = bind("reduce_sum", [mul(xDot!, hit)], params);
    return [y, div(picked, count)];
  };
}

/** The JVP rule of every primitive. */
export const JVP_RULES: { [P in Primitive]: JvpRule<P> } = {
  neg: linear("neg"),
  exp: unary("exp", (_x, y) => y), // d eˣ = eˣ dx
  log: unary("log", (x) => div(1, x)), // d log x = dx / x
  log1p: unary("log1p", (x) => div(1, add(x, 1))), // dx / (1 + x)
  sqrt: unary("sqrt", (_x, y) => div(0.5, y)), // dx / (2√x)
  rsqrt: unary("rsqrt", (x, y) => mul(div(y, x), -0.5)), // -½ x^(-3/2) dx
  sin: unary("sin", (x) => cos(x)),
  cos: unary("cos", (x) => neg(sin(x))),
  tanh: unary("tanh", (_x, y) => sub(1, mul(y, y))), // (1 - tanh²) dx
  logistic: unary("logistic", (_x, y) => mul(y, sub(1, y))), // σ(1-σ) dx
  erf: unary("erf", (x) => mul(2 / Math.sqrt(Math.PI), exp(neg(mul(x, x))))),
  abs: unary("abs", (x) => sign(x)),
  sign: zeroTangent("sign"),
  add: (
    [x, y],
    [xDot, yDot],
  ) => [bind("add", [x!, y!], {}), addT(xDot!, yDot!)],
  sub: ([x, y], [xDot, yDot]) => [
    bind("sub", [x!, y!], {}),
    addT(xDot!, yDot == null ? null : neg(yDot!)),
  ],
  // d(xy) = dx·y + x·dy
  mul: ([x, y], [xDot, yDot]) => [
    bind("mul", [x!, y!], {}),
    addT(scale(xDot!, y!), scale(yDot!, x!)),
  ],
  // d(x/y) = dx/y - (x/y)·dy/y
  div: ([x, y], [xDot, yDot]) => {
    const z = bind("div", [x!, y!], {});
    const dx = xDot == null ? null : div(xDot, y!);
    const dy = yDot == null ? null : neg(mul(yDot, div(z, y!)));
    return [z, addT(dx, dy)];
  },
  // d(xʸ) = y·x^(y-1)·dx + xʸ·log(x)·dy, with 0 where y = 0 or x = 0.
  pow: ([x, y], [xDot, yDot]) => {
    const z = bind("pow", [x!, y!], {});
    const dx = xDot == null ? null : mul(
      xDot,
      where(equal(y!, 0), 0, mul(y!, bind("pow", [x!, sub(y!, 1)], {}))),
    );
    const dy = yDot == null
      ? null
      : mul(yDot, where(equal(x!, 0), 0, mul(z, log(x!))));
    return [z, addT(dx, dy)];
  },
  max: extremum("max") as JvpRule<"max">,
  min: extremum("min") as JvpRule<"min">,
  eq: zeroTangent("eq"),
  ne: zeroTangent("ne"),
  lt: zeroTangent("lt"),
  le: zeroTangent("le"),
  gt: zeroTangent("gt"),
  ge: zeroTangent("ge"),
  and: zeroTangent("and"),
  or: zeroTangent("or"),
  not: zeroTangent("not"),
  select: ([c, t, f], [, tDot, fDot]) => [
    bind("select", [c!, t!, f!], {}),
    bind("select", [c!, inst(tDot!, t!), inst(fDot!, f!)], {}),
  ],
  convert_element_type: ([x], [xDot], params) => [
    bind("convert_element_type", [x!], params),
    params.dtype === "float32" ? xDot! : null,
  ],
  reduce_sum: linear("reduce_sum"),
  reduce_max: reduceExtremum("reduce_max") as JvpRule<"reduce_max">,
  reduce_min: reduceExtremum("reduce_min") as JvpRule<"reduce_min">,
  argmax: zeroTangent("argmax"),
  argmin: zeroTangent("argmin"),
  // Bilinear: d(x·y) = dx·y + x·dy.
  dot_general: ([x, y], [xDot, yDot], params) => [
    bind("dot_general", [x!, y!], params),
    addT(
      xDot == null ? null : bind("dot_general", [xDot, y!], params),
      yDot == null ? null : bind("dot_general", [x!, yDot], params),
    ),
  ],
  reshape: linear("reshape"),
  transpose: linear("transpose"),
  broadcast_in_dim: linear("broadcast_in_dim"),
  slice: linear("slice"),
  // Padding with a constant: the tangent is padded with zeros.
  pad: ([x], [xDot], params) => [
    bind("pad", [x!], params),
    bind("pad", [xDot!], { ...params, value: 0 }),
  ],
  concatenate: linear("concatenate"),
  gather: ([x, idx], [xDot], params) => [
    bind("gather", [x!, idx!], params),
    xDot == null ? null : bind("gather", [xDot, idx!], params),
  ],
  scatter_add: ([u, idx], [uDot], params) => [
    bind("scatter_add", [u!, idx!], params),
    uDot == null ? null : bind("scatter_add", [uDot, idx!], params),
  ],
  iota: zeroTangent("iota"),
  random_uniform: zeroTangent("random_uniform"),
  custom_lin: () => {
    throw new TypeError("custom_lin: cannot be differentiated in forward mode");
  },
  flash_attention: flashJvp,
};
