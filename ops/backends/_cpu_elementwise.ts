/**
 * Elementwise kernels of the CPU backend: unary maths, broadcasting binary
 * ops, comparisons, logic, `select` and dtype conversion. Every broadcasting
 * kernel runs on the one strided loop, `forEachRun`; each op supplies only a
 * tight loop over one run, so V8 compiles a monomorphic loop per op.
 *
 * @module
 */

import {
  type DType,
  type HostArray,
  hostArray,
  sameShape,
  sizeOf,
} from "../dtype.ts";
import type {
  BinaryPrimitive,
  ComparePrimitive,
  LogicalPrimitive,
  UnaryPrimitive,
} from "../primitives.ts";
import {
  broadcastView,
  contiguous,
  type CpuKernel,
  type CpuOperand,
  forEachRun,
} from "./_cpu_common.ts";
import {
  divInt,
  erf,
  floatToInt32,
  logistic,
  powFloat,
  powInt,
} from "./_cpu_math.ts";

/** Maps every element of `x` into `o` (same length). */
type UnaryLoop = (x: HostArray, o: HostArray) => void;

/**
 * One run of a binary op: `o[oo+i] = a[ia+i*sa] ⊕ b[ib+i*sb]` for i < n.
 * Stores into an `Int32Array` wrap modulo 2^32, so int32 add/sub/neg need
 * no extra code; mul, div and pow have int32 variants.
 */
type BinaryRun = (
  o: HostArray,
  oo: number,
  a: HostArray,
  ia: number,
  sa: number,
  b: HostArray,
  ib: number,
  sb: number,
  n: number,
) => void;

function unary(loop: UnaryLoop): CpuKernel<UnaryPrimitive | "not"> {
  return (inputs, _params, out) => {
    const x = (inputs[0] as CpuOperand).handle;
    const res = hostArray(out.dtype, x.length);
    loop(x, res);
    return res;
  };
}

/** The unary kernels. neg/abs/sign serve float32 and int32 alike. */
export const UNARY_KERNELS: { [P in UnaryPrimitive | "not"]: CpuKernel<P> } = {
  neg: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = -x[i]!;
  }),
  exp: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.exp(x[i]!);
  }),
  log: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.log(x[i]!);
  }),
  log1p: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.log1p(x[i]!);
  }),
  sqrt: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.sqrt(x[i]!);
  }),
  rsqrt: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = 1 / Math.sqrt(x[i]!);
  }),
  sin: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.sin(x[i]!);
  }),
  cos: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.cos(x[i]!);
  }),
  tanh: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.tanh(x[i]!);
  }),
  logistic: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = logistic(x[i]!);
  }),
  erf: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = erf(x[i]!);
  }),
  abs: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.abs(x[i]!);
  }),
  // Math.sign keeps sign(0) = 0 and sign(NaN) = NaN.
  sign: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.sign(x[i]!);
  }),
  not: unary((x, o) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i] === 0 ? 1 : 0;
  }),
};

function binary(
  float: BinaryRun,
  int: BinaryRun = float,
): CpuKernel<BinaryPrimitive | ComparePrimitive | LogicalPrimitive> {
  return (inputs, _params, out) => {
    const [x, y] = inputs as [CpuOperand, CpuOperand];
    const res = hostArray(out.dtype, sizeOf(out.shape));
    const run = x.aval.dtype === "int32" ? int : float;
    const a = x.handle, b = y.handle;
    if (sameShape(x.aval.shape, y.aval.shape)) {
      run(res, 0, a, 0, 1, b, 0, 1, res.length);
      return res;
    }
    const views = [
      contiguous(out.shape),
      broadcastView(x.aval.shape, out.shape),
      broadcastView(y.aval.shape, out.shape),
    ];
    forEachRun(out.shape, views, (offs, n, steps) => {
      run(res, offs[0]!, a, offs[1]!, steps[1]!, b, offs[2]!, steps[2]!, n);
    });
    return res;
  };
}

/** The broadcasting binary, comparison and logical kernels. */
export const BINARY_KERNELS: {
  [P in BinaryPrimitive | ComparePrimitive | LogicalPrimitive]: CpuKernel<P>;
} = {
  add: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) o[oo + i] = a[ia + i * sa]! + b[ib + i * sb]!;
  }),
  sub: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) o[oo + i] = a[ia + i * sa]! - b[ib + i * sb]!;
  }),
  mul: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) o[oo + i] = a[ia + i * sa]! * b[ib + i * sb]!;
  }, (o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = Math.imul(a[ia + i * sa]!, b[ib + i * sb]!);
    }
  }),
  div: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) o[oo + i] = a[ia + i * sa]! / b[ib + i * sb]!;
  }, (o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = divInt(a[ia + i * sa]!, b[ib + i * sb]!);
    }
  }),
  pow: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = powFloat(a[ia + i * sa]!, b[ib + i * sb]!);
    }
  }, (o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = powInt(a[ia + i * sa]!, b[ib + i * sb]!);
    }
  }),
  // Math.max/min propagate NaN, as NumPy's maximum/minimum do.
  max: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = Math.max(a[ia + i * sa]!, b[ib + i * sb]!);
    }
  }),
  min: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = Math.min(a[ia + i * sa]!, b[ib + i * sb]!);
    }
  }),
  eq: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = a[ia + i * sa]! === b[ib + i * sb]! ? 1 : 0;
    }
  }),
  ne: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = a[ia + i * sa]! !== b[ib + i * sb]! ? 1 : 0;
    }
  }),
  lt: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = a[ia + i * sa]! < b[ib + i * sb]! ? 1 : 0;
    }
  }),
  le: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = a[ia + i * sa]! <= b[ib + i * sb]! ? 1 : 0;
    }
  }),
  gt: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = a[ia + i * sa]! > b[ib + i * sb]! ? 1 : 0;
    }
  }),
  ge: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = a[ia + i * sa]! >= b[ib + i * sb]! ? 1 : 0;
    }
  }),
  and: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = a[ia + i * sa]! !== 0 && b[ib + i * sb]! !== 0 ? 1 : 0;
    }
  }),
  or: binary((o, oo, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++) {
      o[oo + i] = a[ia + i * sa]! !== 0 || b[ib + i * sb]! !== 0 ? 1 : 0;
    }
  }),
};

/** `select(pred, onTrue, onFalse)`, all three broadcast to `out`. */
export const selectKernel: CpuKernel<"select"> = (inputs, _params, out) => {
  const [c, t, f] = inputs as [CpuOperand, CpuOperand, CpuOperand];
  const res = hostArray(out.dtype, sizeOf(out.shape));
  const pc = c.handle, pt = t.handle, pf = f.handle;
  const views = [
    contiguous(out.shape),
    broadcastView(c.aval.shape, out.shape),
    broadcastView(t.aval.shape, out.shape),
    broadcastView(f.aval.shape, out.shape),
  ];
  forEachRun(out.shape, views, (offs, n, steps) => {
    const oo = offs[0]!, ic = offs[1]!, it = offs[2]!, jf = offs[3]!;
    const sc = steps[1]!, st = steps[2]!, sf = steps[3]!;
    for (let i = 0; i < n; i++) {
      res[oo + i] = pc[ic + i * sc] !== 0 ? pt[it + i * st]! : pf[jf + i * sf]!;
    }
  });
  return res;
};

/**
 * `convert_element_type`. float32 → int32 truncates toward zero (NaN → 0,
 * out-of-range values clamp); → bool is `x != 0` (so NaN → true); bool →
 * number is 0/1. Converting to the same dtype returns the input storage.
 */
export const convertKernel: CpuKernel<"convert_element_type"> = (
  inputs,
  params,
) => {
  const x = inputs[0] as CpuOperand;
  const from: DType = x.aval.dtype, to: DType = params.dtype;
  if (from === to) return x.handle;
  const src = x.handle;
  const res = hostArray(to, src.length);
  if (to === "bool") {
    for (let i = 0; i < src.length; i++) res[i] = src[i] !== 0 ? 1 : 0;
  } else if (to === "int32" && from === "float32") {
    for (let i = 0; i < src.length; i++) res[i] = floatToInt32(src[i]!);
  } else {
    res.set(src); // int32 → float32 rounds; bool → number is exact
  }
  return res;
};
