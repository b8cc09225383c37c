// Random programs for the jit properties: fast-check picks 2-12 ops from the
// elementwise, reduction, normalisation, shape and matmul families over
// broadcasting shapes, and `build` turns them into a function of the input
// tensors. The function chooses each op's variant from its operands'
// shapes, so it does the same work eagerly and under jit (shapes are known
// while tracing). A twin program runs its ops twice side by side, on the
// inputs and on their tanh (an ensemble of two): reductions of one shape in
// both copies, some reading others through a matmul, are what the fusion
// pass's reduction families must keep acyclic.

import fc from "fast-check";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import { arbBroadcastPair, arbSeed, randomTensor } from "../../_helpers.ts";

/** One op of a random program: a family, a variant and operand picks. */
export interface OpSpec {
  family: "unary" | "binary" | "reduce" | "norm" | "shape" | "matmul" | "mix";
  variant: number;
  a: number;
  b: number;
  axis: number;
  keepdims: boolean;
}

/** A random program: input shapes and seeds, its ops, and whether they run twice side by side. */
export interface ProgramSpec {
  shapes: [number[], number[]];
  seeds: [number, number];
  ops: OpSpec[];
  twin: boolean;
}

const arbOp: fc.Arbitrary<OpSpec> = fc.record({
  family: fc.constantFrom(
    "unary",
    "binary",
    "reduce",
    "norm",
    "shape",
    "matmul",
    "mix",
  ),
  variant: fc.nat(99),
  a: fc.nat(99),
  b: fc.nat(99),
  axis: fc.nat(99),
  keepdims: fc.boolean(),
});

/** fast-check: a random program of 2-12 ops on two broadcasting inputs. */
export const arbProgram: fc.Arbitrary<ProgramSpec> = fc.record({
  shapes: arbBroadcastPair(3),
  seeds: fc.tuple(arbSeed, arbSeed),
  ops: fc.array(arbOp, { minLength: 2, maxLength: 12 }),
  twin: fc.boolean(),
});

// Smooth and bounded enough that values and gradients stay finite.
const UNARY: ((x: Tensor) => Tensor)[] = [
  h.neg,
  h.tanh,
  h.sin,
  h.cos,
  h.sigmoid,
  (x) => h.exp(h.tanh(x)),
  (x) => h.log1p(h.mul(x, x)),
  (x) => h.mul(x, 0.5),
  (x) => h.add(x, 1.5),
  (x) => h.square(x),
];

const BINARY: ((x: Tensor, y: Tensor) => Tensor)[] = [
  h.add,
  h.sub,
  h.mul,
  (x, y) => h.div(x, h.add(h.mul(y, y), 1)),
  h.maximum,
  h.minimum,
];

function broadcasts(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 1; i <= Math.min(a.length, b.length); i++) {
    const x = a[a.length - i]!, y = b[b.length - i]!;
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

function applyOp(op: OpSpec, pool: Tensor[]): Tensor {
  const x = pool[op.a % pool.length]!;
  const y = pool[op.b % pool.length]!;
  switch (op.family) {
    case "unary":
      return UNARY[op.variant % UNARY.length]!(x);
    case "binary":
      return broadcasts(x.shape, y.shape)
        ? BINARY[op.variant % BINARY.length]!(x, y)
        : UNARY[op.variant % UNARY.length]!(x);
    case "reduce": {
      if (x.ndim === 0) return h.tanh(x);
      const axis = op.axis % x.ndim;
      const opts = { axis, keepdims: op.keepdims };
      return [h.sum, h.max, h.mean][op.variant % 3]!(x, opts);
    }
    case "norm": {
      // Several reductions over one iteration space.
      if (x.ndim === 0) return h.tanh(x);
      const axis = x.ndim - 1;
      switch (op.variant % 3) {
        case 0:
          return h.softmax(x, { axis });
        case 1:
          return h.layerNorm(x);
        default:
          return h.logSoftmax(x, { axis });
      }
    }
    case "shape":
      switch (op.variant % 4) {
        case 0:
          return h.reshape(x, [-1]);
        case 1:
          return h.transpose(x);
        case 2:
          return h.expandDims(x, op.axis % (x.ndim + 1));
        default:
          return h.broadcastTo(x, [2, ...x.shape]);
      }
    case "matmul":
      if (x.ndim === 0) return h.mul(x, x);
      // [.., m, n] @ [.., n, m], or a dot product for vectors.
      return x.ndim === 1 ? h.matmul(x, x) : h.matmul(
        x,
        h.transpose(
          x,
          [...x.shape.keys()].map((i) =>
            i < x.ndim - 2 ? i : i === x.ndim - 2 ? i + 1 : i - 1
          ),
        ),
      );
    case "mix": {
      // x @ tanh(xᵀx) / n: a matmul that keeps x's shape ([.., m, n]).
      if (x.ndim < 2) return h.mul(x, x);
      const perm = [...x.shape.keys()].map((i) =>
        i < x.ndim - 2 ? i : i === x.ndim - 2 ? i + 1 : i - 1
      );
      const gram = h.matmul(h.transpose(x, perm), x); // [.., n, n]
      return h.matmul(x, h.div(h.tanh(gram), x.shape[x.ndim - 1]!));
    }
  }
}

/**
 * The function a spec describes: its last two values, from two inputs
 * (and, for a twin, the last two of its copy on their tanh).
 */
export function build(spec: ProgramSpec): (x: Tensor, y: Tensor) => Tensor[] {
  const run = (pool: Tensor[]): Tensor[] => {
    for (const op of spec.ops) pool.push(applyOp(op, pool));
    return pool.slice(-2);
  };
  return (x, y) => {
    const out = run([x, y]);
    return spec.twin ? [...out, ...run([h.tanh(x), h.tanh(y)])] : out;
  };
}

/** A scalar function of the spec, for gradients: the sum of its outputs. */
export function buildLoss(spec: ProgramSpec): (x: Tensor, y: Tensor) => Tensor {
  const f = build(spec);
  return (x, y) => f(x, y).map((t) => h.sum(t)).reduce((p, q) => h.add(p, q));
}

/** The spec's input tensors (on the default backend). */
export function inputsOf(spec: ProgramSpec): [Tensor, Tensor] {
  return [
    randomTensor(spec.shapes[0], spec.seeds[0]),
    randomTensor(spec.shapes[1], spec.seeds[1]),
  ];
}
