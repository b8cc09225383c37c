// Random programs for the jit properties: fast-check picks 2-12 ops from the
// elementwise, reduction, shape and matmul families over broadcasting
// shapes, and `build` turns them into a function of the input tensors. The
// function chooses each op's variant from its operands' shapes, so it does
// the same work eagerly and under jit (shapes are known while tracing).

import fc from "fast-check";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import { arbBroadcastPair, arbSeed, randomTensor } from "../../_helpers.ts";

/** One op of a random program: a family, a variant and operand picks. */
export interface OpSpec {
  family: "unary" | "binary" | "reduce" | "shape" | "matmul";
  variant: number;
  a: number;
  b: number;
  axis: number;
  keepdims: boolean;
}

/** A random program: input shapes and seeds, and its ops. */
export interface ProgramSpec {
  shapes: [number[], number[]];
  seeds: [number, number];
  ops: OpSpec[];
}

const arbOp: fc.Arbitrary<OpSpec> = fc.record({
  family: fc.constantFrom("unary", "binary", "reduce", "shape", "matmul"),
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
  }
}

/** The function a spec describes: its last two values, from two inputs. */
export function build(spec: ProgramSpec): (x: Tensor, y: Tensor) => Tensor[] {
  return (x, y) => {
    const pool = [x, y];
    for (const op of spec.ops) pool.push(applyOp(op, pool));
    return pool.slice(-2);
  };
}

/** A scalar function of the spec, for gradients: the sum of its outputs. */
export function buildLoss(spec: ProgramSpec): (x: Tensor, y: Tensor) => Tensor {
  const f = build(spec);
  return (x, y) => h.add(...(f(x, y).map((t) => h.sum(t)) as [Tensor, Tensor]));
}

/** The spec's input tensors (on the default backend). */
export function inputsOf(spec: ProgramSpec): [Tensor, Tensor] {
  return [
    randomTensor(spec.shapes[0], spec.seeds[0]),
    randomTensor(spec.shapes[1], spec.seeds[1]),
  ];
}
