/**
 * The output shape and dtype of each primitive. These rules run on every
 * bind, under every interpreter, so a bad shape fails where the op is called.
 *
 * @module
 */

import {
  type Aval,
  broadcastShapes,
  type DType,
  fmtShape,
  sizeOf,
} from "./dtype.ts";
import type { Params, Primitive } from "./primitives.ts";
import { flashShape } from "./flash/_shape.ts";

/** A shape rule: input avals and params to the output aval. */
export type ShapeRule<P extends Primitive> = (
  inputs: readonly Aval[],
  params: Params<P>,
) => Aval;

function arity(p: string, inputs: readonly Aval[], n: number): void {
  if (inputs.length !== n) {
    throw new TypeError(`${p}: expected ${n} operands, got ${inputs.length}`);
  }
}

function unaryFloat(p: string) {
  return (inputs: readonly Aval[]): Aval => {
    arity(p, inputs, 1);
    const x = inputs[0]!;
    if (x.dtype !== "float32") {
      throw new TypeError(`${p}: expected a float32 operand, got ${x.dtype}`);
    }
    return x;
  };
}

function unaryNumeric(p: string) {
  return (inputs: readonly Aval[]): Aval => {
    arity(p, inputs, 1);
    const x = inputs[0]!;
    if (x.dtype === "bool") {
      throw new TypeError(`${p}: expected a numeric operand, got bool`);
    }
    return x;
  };
}

function binary(p: string, out?: DType) {
  return (inputs: readonly Aval[]): Aval => {
    arity(p, inputs, 2);
    const [x, y] = inputs as [Aval, Aval];
    if (x.dtype !== y.dtype) {
      throw new TypeError(
        `${p}: operand dtypes differ: ${x.dtype} and ${y.dtype}`,
      );
    }
    if (out === undefined && x.dtype === "bool") {
      throw new TypeError(`${p}: expected numeric operands, got bool`);
    }
    return {
      shape: broadcastShapes(p, x.shape, y.shape),
      dtype: out ?? x.dtype,
    };
  };
}

function logical(p: string) {
  return (inputs: readonly Aval[]): Aval => {
    for (const x of inputs) {
      if (x.dtype !== "bool") {
        throw new TypeError(`${p}: expected bool operands, got ${x.dtype}`);
      }
    }
    return {
      shape: broadcastShapes(p, ...inputs.map((x) => x.shape)),
      dtype: "bool",
    };
  };
}

function reduce(p: string) {
  return (
    inputs: readonly Aval[],
    params: { axes: readonly number[] },
  ): Aval => {
    arity(p, inputs, 1);
    const x = inputs[0]!;
    for (const a of params.axes) {
      if (!Number.isInteger(a) || a < 0 || a >= x.shape.length) {
        throw new RangeError(
          `${p}: axis ${a} is out of range for shape ${fmtShape(x.shape)}`,
        );
      }
    }
    return {
      shape: x.shape.filter((_, i) => !params.axes.includes(i)),
      dtype: x.dtype,
    };
  };
}

function argReduce(p: string) {
  return (inputs: readonly Aval[], params: { axis: number }): Aval => {
    arity(p, inputs, 1);
    const x = inputs[0]!;
    if (params.axis < 0 || params.axis >= x.shape.length) {
      throw new RangeError(
        `${p}: axis ${params.axis} is out of range for shape ${
          fmtShape(x.shape)
        }`,
      );
    }
    if (x.shape[params.axis] === 0) {
      throw new RangeError(`${p}: cannot reduce an empty axis`);
    }
    return {
      shape: x.shape.filter((_, i) => i !== params.axis),
      dtype: "int32",
    };
  };
}

function checkPerm(p: string, perm: readonly number[], rank: number): void {
  const seen = new Set(perm);
  if (
    perm.length !== rank || seen.size !== rank ||
    perm.some((a) => !Number.isInteger(a) || a < 0 || a >= rank)
  ) {
    throw new RangeError(
      `${p}: [${perm.join(",")}] is not a permutation of ${rank} axes`,
    );
  }
}

/** The shape rule of every primitive. */
export const SHAPE_RULES: { [P in Primitive]: ShapeRule<P> } = {
  neg: unaryNumeric("neg"),
  exp: unaryFloat("exp"),
  log: unaryFloat("log"),
  log1p: unaryFloat("log1p"),
  sqrt: unaryFloat("sqrt"),
  rsqrt: unaryFloat("rsqrt"),
  sin: unaryFloat("sin"),
  cos: unaryFloat("cos"),
  tanh: unaryFloat("tanh"),
  logistic: unaryFloat("logistic"),
  erf: unaryFloat("erf"),
  abs: unaryNumeric("abs"),
  sign: unaryNumeric("sign"),
  add: binary("add"),
  sub: binary("sub"),
  mul: binary("mul"),
  div: binary("div"),
  pow: binary("pow"),
  max: binary("max"),
  min: binary("min"),
  eq: binary("eq", "bool"),
  ne: binary("ne", "bool"),
  lt: binary("lt", "bool"),
  le: binary("le", "bool"),
  gt: binary("gt", "bool"),
  ge: binary("ge", "bool"),
  and: logical("and"),
  or: logical("or"),
  not: logical("not"),
  select: (inputs) => {
    arity("select", inputs, 3);
    const [c, t, f] = inputs as [Aval, Aval, Aval];
    if (c.dtype !== "bool") {
      throw new TypeError(`select: condition must be bool, got ${c.dtype}`);
    }
    if (t.dtype !== f.dtype) {
      throw new TypeError(
        `select: branch dtypes differ: ${t.dtype} and ${f.dtype}`,
      );
    }
    return {
      shape: broadcastShapes("select", c.shape, t.shape, f.shape),
      dtype: t.dtype,
    };
  },
  convert_element_type: (inputs, params) => {
    arity("convert_element_type", inputs, 1);
    return { shape: inputs[0]!.shape, dtype: params.dtype };
  },
  reduce_sum: reduce("reduce_sum"),
  reduce_max: reduce("reduce_max"),
  reduce_min: reduce("reduce_min"),
  argmax: argReduce("argmax"),
  argmin: argReduce("argmin"),
  dot_general: (inputs, p) => {
    arity("dot_general", inputs, 2);
    const [x, y] = inputs as [Aval, Aval];
    if (x.dtype !== y.dtype || x.dtype === "bool") {
      throw new TypeError(
        `dot_general: operands must share a numeric dtype, got ${x.dtype} and ${y.dtype}`,
      );
    }
    const pairs: [readonly number[], readonly number[], string][] = [
      [p.lhsContract, p.rhsContract, "contracting"],
      [p.lhsBatch, p.rhsBatch, "batch"],
    ];
    for (const [l, r, what] of pairs) {
      if (l.length !== r.length) {
        throw new TypeError(`dot_general: ${what} axis lists differ in length`);
      }
      for (let i = 0; i < l.length; i++) {
        const a = x.shape[l[i]!], b = y.shape[r[i]!];
        if (a === undefined || b === undefined) {
          throw new RangeError(`dot_general: ${what} axis out of range`);
        }
        if (a !== b) {
          throw new TypeError(
            `dot_general: ${what} dimensions differ: ${fmtShape(x.shape)} and ${
              fmtShape(y.shape)
            }`,
          );
        }
      }
    }
    const lFree = x.shape.filter((_, i) =>
      !p.lhsContract.includes(i) && !p.lhsBatch.includes(i)
    );
    const rFree = y.shape.filter((_, i) =>
      !p.rhsContract.includes(i) && !p.rhsBatch.includes(i)
    );
    const batch = p.lhsBatch.map((a) => x.shape[a]!);
    return { shape: [...batch, ...lFree, ...rFree], dtype: x.dtype };
  },
  reshape: (inputs, p) => {
    arity("reshape", inputs, 1);
    const x = inputs[0]!;
    if (sizeOf(x.shape) !== sizeOf(p.shape)) {
      throw new TypeError(
        `reshape: cannot reshape ${fmtShape(x.shape)} (${
          sizeOf(x.shape)
        } elements) to ${fmtShape(p.shape)}`,
      );
    }
    return { shape: p.shape, dtype: x.dtype };
  },
  transpose: (inputs, p) => {
    arity("transpose", inputs, 1);
    const x = inputs[0]!;
    checkPerm("transpose", p.perm, x.shape.length);
    return { shape: p.perm.map((a) => x.shape[a]!), dtype: x.dtype };
  },
  broadcast_in_dim: (inputs, p) => {
    arity("broadcast_in_dim", inputs, 1);
    const x = inputs[0]!;
    const ok = p.dims.length === x.shape.length &&
      p.dims.every((d, i) =>
        d >= 0 && d < p.shape.length && (i === 0 || d > p.dims[i - 1]!) &&
        (x.shape[i] === 1 || x.shape[i] === p.shape[d])
      );
    if (!ok) {
      throw new TypeError(
        `broadcast_in_dim: cannot broadcast ${fmtShape(x.shape)} to ${
          fmtShape(p.shape)
        }`,
      );
    }
    return { shape: p.shape, dtype: x.dtype };
  },
  slice: (inputs, p) => {
    arity("slice", inputs, 1);
    const x = inputs[0]!;
    const ok = p.start.length === x.shape.length &&
      p.limit.length === x.shape.length &&
      x.shape.every((d, i) =>
        Number.isInteger(p.start[i]) && Number.isInteger(p.limit[i]) &&
        0 <= p.start[i]! && p.start[i]! <= p.limit[i]! && p.limit[i]! <= d
      );
    if (!ok) {
      throw new RangeError(
        `slice: bounds [${p.start.join(",")}]..[${
          p.limit.join(",")
        }] do not fit shape ${fmtShape(x.shape)}`,
      );
    }
    return { shape: p.start.map((s, i) => p.limit[i]! - s), dtype: x.dtype };
  },
  pad: (inputs, p) => {
    arity("pad", inputs, 1);
    const x = inputs[0]!;
    const r = x.shape.length;
    if (
      p.lo.length !== r || p.hi.length !== r ||
      [...p.lo, ...p.hi].some((v) => !Number.isInteger(v) || v < 0)
    ) {
      throw new RangeError(
        `pad: widths must be one non-negative integer pair per axis of ${
          fmtShape(x.shape)
        }`,
      );
    }
    return {
      shape: x.shape.map((d, i) => d + p.lo[i]! + p.hi[i]!),
      dtype: x.dtype,
    };
  },
  concatenate: (inputs, p) => {
    if (inputs.length === 0) {
      throw new TypeError("concatenate: needs at least one operand");
    }
    const first = inputs[0]!;
    const r = first.shape.length;
    if (p.axis < 0 || p.axis >= r) {
      throw new RangeError(
        `concatenate: axis ${p.axis} is out of range for rank ${r}`,
      );
    }
    let total = 0;
    for (const x of inputs) {
      const bad = x.shape.length !== r || x.dtype !== first.dtype ||
        x.shape.some((d, i) => i !== p.axis && d !== first.shape[i]);
      if (bad) {
        throw new TypeError(
          `concatenate: operands ${
            inputs.map((a) => `${fmtShape(a.shape)} ${a.dtype}`).join(", ")
          } do not match outside axis ${p.axis}`,
        );
      }
      total += x.shape[p.axis]!;
    }
    const shape = [...first.shape];
    shape[p.axis] = total;
    return { shape, dtype: first.dtype };
  },
  gather: (inputs, p) => {
    arity("gather", inputs, 2);
    const [x, idx] = inputs as [Aval, Aval];
    if (idx.dtype !== "int32") {
      throw new TypeError(`gather: indices must be int32, got ${idx.dtype}`);
    }
    if (p.axis < 0 || p.axis >= x.shape.length) {
      throw new RangeError(
        `gather: axis ${p.axis} is out of range for shape ${fmtShape(x.shape)}`,
      );
    }
    return {
      shape: [
        ...x.shape.slice(0, p.axis),
        ...idx.shape,
        ...x.shape.slice(p.axis + 1),
      ],
      dtype: x.dtype,
    };
  },
  scatter_add: (inputs, p) => {
    arity("scatter_add", inputs, 2);
    const [u, idx] = inputs as [Aval, Aval];
    if (idx.dtype !== "int32") {
      throw new TypeError(
        `scatter_add: indices must be int32, got ${idx.dtype}`,
      );
    }
    const expect = [
      ...p.shape.slice(0, p.axis),
      ...idx.shape,
      ...p.shape.slice(p.axis + 1),
    ];
    if (
      expect.length !== u.shape.length ||
      expect.some((d, i) => d !== u.shape[i])
    ) {
      throw new TypeError(
        `scatter_add: updates ${fmtShape(u.shape)} do not match ${
          fmtShape(expect)
        }`,
      );
    }
    return { shape: p.shape, dtype: u.dtype };
  },
  iota: (_inputs, p) => ({ shape: p.shape, dtype: p.dtype }),
  random_uniform: ([k], p) => {
    if (k?.dtype !== "int32" || k.shape.length !== 1 || k.shape[0] !== 2) {
      throw new TypeError(
        `random_uniform: the key must be int32 [2], got ${
          k ? `${k.dtype}${fmtShape(k.shape)}` : "no operand"
        }`,
      );
    }
    return { shape: p.shape, dtype: "float32" };
  },
  custom_lin: () => {
    throw new TypeError("custom_lin: has no eager shape rule");
  },
  flash_attention: flashShape,
};

/** Applies the shape rule of `prim`. */
export function shapeRule<P extends Primitive>(
  prim: P,
  inputs: readonly Aval[],
  params: Params<P>,
): Aval {
  return (SHAPE_RULES[prim] as ShapeRule<P>)(inputs, params);
}
