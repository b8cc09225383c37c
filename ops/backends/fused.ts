/**
 * Fused kernels: what jit's fusion pass hands a backend. A fused kernel is
 * an expression over strided reads of its inputs, written in SSA order,
 * that a backend compiles into one kernel (wasm SIMD code, a WGSL shader).
 * Backends that cannot run one leave {@link FusedBackend.runFused} out; the
 * executor then runs the kernel's equations one by one, as the CPU
 * reference does.
 *
 * Semantics, for an iteration index `i = (i_0, …, i_{n-1})` over
 * {@link FusedElementwise.shape} (row-major):
 * - `load` node: input `input`'s element at offset
 *   `offset + Σ_d i_d · strides[d]` of that input's contiguous buffer
 *   (a stride of 0 broadcasts; strides also express transposes);
 * - `literal` node: the scalar `value` in `dtype`;
 * - `op` node: the elementwise primitive applied to its argument nodes,
 *   with exactly the eager kernel's semantics (same dtypes, same special
 *   values), so fused and eager results agree within float32 rounding;
 * - `reduced` node (reduce kernels only): the result of one of the
 *   kernel's reductions at the output element `i` belongs to (constant
 *   along the reduced axes), so a later reduction can use an earlier one:
 *   layer norm's `Σ (x - Σx/n)²` is one kernel of two passes over a row.
 *
 * @module
 */

import { type DType, stridesOf } from "../dtype.ts";
import type {
  DotGeneralParams,
  ElementwisePrimitive,
  Params,
} from "../primitives.ts";
import type { Backend, Operand } from "./contract.ts";

/** Reads element `i` of a kernel input through its strides. */
export interface FusedLoad {
  /** Tells node kinds apart. */
  readonly kind: "load";
  /** Which kernel input (index into the operands). */
  readonly input: number;
  /** Offset of element `(0, …, 0)` in the input's buffer, in elements. */
  readonly offset: number;
  /** One stride per iteration axis, in elements (0 broadcasts). */
  readonly strides: readonly number[];
  /** The input's dtype. */
  readonly dtype: DType;
}

/** A scalar constant. */
export interface FusedLiteral {
  /** Tells node kinds apart. */
  readonly kind: "literal";
  /** The value (booleans as 1 and 0). */
  readonly value: number;
  /** Its dtype. */
  readonly dtype: DType;
}

/** An elementwise primitive applied to earlier nodes. */
export interface FusedOp {
  /** Tells node kinds apart. */
  readonly kind: "op";
  /** The primitive (one of `ELEMENTWISE_PRIMITIVES`). */
  readonly prim: ElementwisePrimitive;
  /** Its params (only `convert_element_type` has any: `{ dtype }`). */
  readonly params: Params<ElementwisePrimitive>;
  /** Argument node indices, each smaller than this node's own index. */
  readonly args: readonly number[];
  /** The result dtype. */
  readonly dtype: DType;
}

/**
 * The result of reduction `index` of a reduce kernel (0: its own
 * `op`/`value`, k: `more[k - 1]`), read at the current index's output
 * element. Its reduction's `value` node comes before it, and the
 * reduction must not depend on it.
 */
export interface FusedReduced {
  /** Tells node kinds apart. */
  readonly kind: "reduced";
  /** Which reduction. */
  readonly index: number;
  /** Its dtype (the reduced value's). */
  readonly dtype: DType;
}

/** One value of a fused expression. */
export type FusedNode = FusedLoad | FusedLiteral | FusedOp | FusedReduced;

/** A further reduction of a reduce kernel. */
export interface FusedReduction {
  /** `sum`, `max` or `min`. */
  readonly op: "sum" | "max" | "min";
  /** The node reduced. */
  readonly value: number;
}

/** An output of a reduce kernel computed from its reduced values. */
export interface FusedEpilogue {
  /** The node written (constant along the reduced axes). */
  readonly node: number;
  /** The output's shape: the kept axes' elements, in order, under any unit axes. */
  readonly shape: readonly number[];
}

/**
 * An elementwise kernel: every output element is computed from the
 * inputs' elements at the same iteration index. Each output is a new
 * contiguous buffer of `shape` in its node's dtype.
 */
export interface FusedElementwise {
  /** Tells kernel kinds apart. */
  readonly kind: "elementwise";
  /** The iteration shape, which is also every output's shape. */
  readonly shape: readonly number[];
  /** The expression, in SSA order. */
  readonly nodes: readonly FusedNode[];
  /** The node written to each output. */
  readonly outputs: readonly number[];
}

/**
 * A reduction of a fused expression: the expression is evaluated over
 * `shape` and node `value` is reduced over `axes`; the first output has
 * `shape` without `axes` (row-major, contiguous) and `value`'s dtype.
 * Sums of float32 add in any order (within float32 tolerance of the eager
 * kernel); max and min propagate NaN as the eager kernels do.
 *
 * Optionally, `more` reductions over the same iteration follow, one
 * output each (in order), and may read earlier reductions through
 * `reduced` nodes; then `epilogue` outputs, each one node that does not
 * vary along `axes` (literals, `reduced` nodes, loads with stride 0 on
 * every reduced axis, and ops of these), written once per output element.
 */
export interface FusedReduce {
  /** Tells kernel kinds apart. */
  readonly kind: "reduce";
  /** `reduce_sum`, `reduce_max` or `reduce_min`. */
  readonly op: "sum" | "max" | "min";
  /** The iteration shape before reduction. */
  readonly shape: readonly number[];
  /** The reduced axes, sorted, unique, non-empty. */
  readonly axes: readonly number[];
  /** The expression, in SSA order. */
  readonly nodes: readonly FusedNode[];
  /** The node reduced. */
  readonly value: number;
  /** Further reductions (outputs 1, 2, ...); none when absent. */
  readonly more?: readonly FusedReduction[];
  /** Outputs after the reductions'; none when absent. */
  readonly epilogue?: readonly FusedEpilogue[];
}

/**
 * A float32 `dot_general` with an elementwise epilogue (a matmul whose
 * bias, activation or residual add is applied before its output is
 * stored): the product of inputs `lhs` and `rhs` (shapes `lhsShape` and
 * `rhsShape`, float32) under `dims` ({@link dotProductShape}), read in
 * row-major order over `shape` (the same elements, perhaps reshaped), is
 * `reduced` node 0 of an elementwise expression over `shape`; each output
 * is a node of it, as in {@link FusedElementwise}. A backend may compute the product
 * block by block and apply the expression to each block while it is in
 * cache, or store the product and run {@link dotEpilogue} over it
 * ({@link runDotSplit}).
 */
export interface FusedDot {
  /** Tells kernel kinds apart. */
  readonly kind: "dot";
  /** The input index of the left operand. */
  readonly lhs: number;
  /** The input index of the right operand. */
  readonly rhs: number;
  /** The left operand's shape. */
  readonly lhsShape: readonly number[];
  /** The right operand's shape. */
  readonly rhsShape: readonly number[];
  /** The `dot_general` params. */
  readonly dims: DotGeneralParams;
  /** The iteration shape (every output's): the product's elements, in order. */
  readonly shape: readonly number[];
  /** The epilogue, in SSA order; `reduced` nodes (index 0) read the product. */
  readonly nodes: readonly FusedNode[];
  /** The node written to each output. */
  readonly outputs: readonly number[];
}

/** A kernel the fusion pass made. */
export type FusedKernel = FusedElementwise | FusedReduce | FusedDot;

/** A kernel that is one expression over one iteration (code generators' input). */
export type FusedLoopKernel = FusedElementwise | FusedReduce;

/** The optional part of the backend contract that runs fused kernels. */
export interface FusedBackend {
  /**
   * Runs `kernel` on its inputs (one operand per input index the loads
   * use; operands are contiguous buffers of their avals), returning one new
   * storage handle per output. Backends cache compiled kernels by
   * {@link fusedKey}.
   */
  runFused(kernel: FusedKernel, inputs: readonly Operand[]): unknown[];
}

/** The nodes that `roots` depend on (themselves included), ascending. */
export function reachable(
  nodes: readonly FusedNode[],
  roots: readonly number[],
): number[] {
  const live = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const n = stack.pop()!;
    if (live.has(n)) continue;
    live.add(n);
    const node = nodes[n]!;
    if (node.kind === "op") stack.push(...node.args);
  }
  return [...live].sort((a, b) => a - b);
}

/**
 * A string that identifies a kernel's code: equal keys mean the same
 * kernel (shapes, strides, offsets and literal values included).
 */
export function fusedKey(kernel: FusedKernel): string {
  // JSON writes NaN and ±Infinity as null and -0 as 0: spell them out, so
  // kernels that differ only in such a literal get different keys.
  return JSON.stringify(
    kernel,
    (_, v) =>
      typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))
        ? `#${Object.is(v, -0) ? "-0" : String(v)}`
        : v,
  );
}

/** The output avals of `kernel`. */
export function fusedOutputs(
  kernel: FusedKernel,
): { shape: number[]; dtype: DType }[] {
  if (kernel.kind !== "reduce") {
    return kernel.outputs.map((n) => ({
      shape: [...kernel.shape],
      dtype: kernel.nodes[n]!.dtype,
    }));
  }
  const axes = new Set(kernel.axes);
  const shape = kernel.shape.filter((_, d) => !axes.has(d));
  return [
    ...reductionsOf(kernel).map((r) => ({
      shape: [...shape],
      dtype: kernel.nodes[r.value]!.dtype,
    })),
    ...(kernel.epilogue ?? []).map((e) => ({
      shape: [...e.shape],
      dtype: kernel.nodes[e.node]!.dtype,
    })),
  ];
}

/** A reduce kernel's reductions, in order: its own, then `more`. */
export function reductionsOf(kernel: FusedReduce): FusedReduction[] {
  return [{ op: kernel.op, value: kernel.value }, ...(kernel.more ?? [])];
}

/** Epilogue kernels by dot kernel, so reruns reuse one object (backends cache by object). */
const EPILOGUES = new WeakMap<FusedDot, FusedElementwise>();

/**
 * The epilogue of `kernel` as an elementwise kernel that reads the product
 * as input `inputs` (one past the dot kernel's `inputs` inputs), contiguous.
 */
export function dotEpilogue(
  kernel: FusedDot,
  inputs: number,
): FusedElementwise {
  const have = EPILOGUES.get(kernel);
  if (have) return have;
  const strides = stridesOf(kernel.shape).map((s, d) =>
    kernel.shape[d] === 1 ? 0 : s
  );
  const nodes = kernel.nodes.map((n): FusedNode => {
    if (n.kind !== "reduced") return n;
    if (n.index !== 0) {
      throw new RangeError(
        `fused dot kernel: a reduced node reads product ${n.index}; there is one (0)`,
      );
    }
    return { kind: "load", input: inputs, offset: 0, strides, dtype: n.dtype };
  });
  const made: FusedElementwise = {
    kind: "elementwise",
    shape: kernel.shape,
    nodes,
    outputs: kernel.outputs,
  };
  EPILOGUES.set(kernel, made);
  return made;
}

/** The shape of a dot kernel's product: batch, then lhs free, then rhs free axes. */
export function dotProductShape(k: FusedDot): number[] {
  const { dims: p, lhsShape: xs, rhsShape: ys } = k;
  const lFree = xs.filter((_, a) =>
    !p.lhsContract.includes(a) && !p.lhsBatch.includes(a)
  );
  const rFree = ys.filter((_, a) =>
    !p.rhsContract.includes(a) && !p.rhsBatch.includes(a)
  );
  return [...p.lhsBatch.map((a) => xs[a]!), ...lFree, ...rFree];
}

/**
 * Runs a dot kernel as two: the backend's `dot_general` into a temporary,
 * then its fused epilogue over it (for backends without a dot kernel of
 * their own).
 */
export function runDotSplit<H>(
  b: Pick<Backend, "run" | "free"> & {
    runFused(k: FusedKernel, ins: readonly Operand[]): H[];
  },
  kernel: FusedDot,
  inputs: readonly Operand[],
): H[] {
  const aval = { shape: dotProductShape(kernel), dtype: "float32" as const };
  const product = b.run(
    "dot_general",
    [inputs[kernel.lhs]!, inputs[kernel.rhs]!],
    kernel.dims,
    aval,
  );
  try {
    return b.runFused(dotEpilogue(kernel, inputs.length), [
      ...inputs,
      { handle: product, aval },
    ]);
  } finally {
    b.free(product);
  }
}
