/**
 * The reference meaning of a fused kernel: each node evaluated by the CPU
 * backend's own kernels, one primitive at a time, over host arrays. The
 * wasm and WGSL code generators are tested against it, and the CPU
 * backend runs fused kernels this way.
 *
 * @module
 */

import { type DType, type HostArray, sizeOf, stridesOf } from "../dtype.ts";
import { runPlainKernel } from "./_cpu_kernels.ts";
import type { CpuOperand } from "./_cpu_common.ts";
import {
  dotEpilogue,
  dotProductShape,
  type FusedKernel,
  type FusedNode,
  type FusedReduce,
  reductionsOf,
} from "./fused.ts";

function hostArray(dtype: DType, n: number): HostArray {
  return dtype === "float32"
    ? new Float32Array(n)
    : dtype === "int32"
    ? new Int32Array(n)
    : new Uint8Array(n);
}

/** The strided read of a load node, materialised over `shape`. */
function gatherLoad(
  src: HostArray,
  offset: number,
  strides: readonly number[],
  shape: readonly number[],
  dtype: DType,
): HostArray {
  const n = sizeOf(shape);
  const out = hostArray(dtype, n);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let at = offset;
    for (let d = 0; d < shape.length; d++) at += idx[d]! * strides[d]!;
    out[i] = src[at]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

const REDUCE_PRIMS = {
  sum: "reduce_sum",
  max: "reduce_max",
  min: "reduce_min",
} as const;

/** Every node's value over the kernel's iteration shape; `reduced` reduces first. */
function evalNodes(
  nodes: readonly FusedNode[],
  shape: readonly number[],
  inputs: readonly HostArray[],
  reduced: (index: number, vals: readonly HostArray[]) => HostArray,
): HostArray[] {
  const vals: HostArray[] = [];
  const aval = (dtype: DType) => ({ shape, dtype });
  for (const node of nodes) {
    if (node.kind === "reduced") {
      vals.push(reduced(node.index, vals));
    } else if (node.kind === "load") {
      const src = inputs[node.input];
      if (!src) {
        throw new RangeError(`fused kernel: no input ${node.input}`);
      }
      vals.push(gatherLoad(src, node.offset, node.strides, shape, node.dtype));
    } else if (node.kind === "literal") {
      const out = hostArray(node.dtype, sizeOf(shape));
      out.fill(node.value);
      vals.push(out);
    } else {
      const operands: CpuOperand[] = node.args.map((a) => {
        const v = vals[a];
        if (!v) {
          throw new RangeError(`fused kernel: node ${a} is not defined yet`);
        }
        return { handle: v, aval: aval(nodes[a]!.dtype) };
      });
      vals.push(
        runPlainKernel(node.prim, operands, node.params, aval(node.dtype)),
      );
    }
  }
  return vals;
}

/**
 * Runs `kernel` on host arrays (one per input index) with the CPU
 * backend's kernels, returning one host array per output.
 */
export function runFusedReference(
  kernel: FusedKernel,
  inputs: readonly HostArray[],
): HostArray[] {
  if (kernel.kind === "elementwise") {
    const vals = evalNodes(kernel.nodes, kernel.shape, inputs, () => {
      throw new TypeError(
        "fused kernel: a reduced node in an elementwise kernel",
      );
    });
    return kernel.outputs.map((n) => vals[n]!);
  }
  if (kernel.kind === "dot") {
    const operand = (i: number, shape: readonly number[]): CpuOperand => {
      const h = inputs[i];
      if (!h) throw new RangeError(`fused kernel: no input ${i}`);
      return { handle: h, aval: { shape, dtype: "float32" } };
    };
    const product = runPlainKernel(
      "dot_general",
      [
        operand(kernel.lhs, kernel.lhsShape),
        operand(kernel.rhs, kernel.rhsShape),
      ],
      kernel.dims,
      { shape: dotProductShape(kernel), dtype: "float32" },
    );
    return runFusedReference(dotEpilogue(kernel, inputs.length), [
      ...inputs,
      product,
    ]);
  }
  return runReduce(kernel, inputs);
}

/** A reduce kernel: its reductions in order (each when first read), then its epilogue. */
function runReduce(
  kernel: FusedReduce,
  inputs: readonly HostArray[],
): HostArray[] {
  const { shape, nodes } = kernel;
  const axes = new Set(kernel.axes);
  const kept = shape.map((n, d) => (axes.has(d) ? 1 : n));
  const reductions = reductionsOf(kernel);
  const results: (HostArray | undefined)[] = reductions.map(() => undefined);
  const reduce = (j: number, vals: readonly HostArray[]): HostArray => {
    const have = results[j];
    if (have) return have;
    const r = reductions[j];
    const v = r && vals[r.value];
    if (!r || !v) {
      throw new RangeError(
        `fused kernel: reduction ${j} is read before its value is computed`,
      );
    }
    const dtype = nodes[r.value]!.dtype;
    return results[j] = runPlainKernel(
      REDUCE_PRIMS[r.op],
      [{ handle: v, aval: { shape, dtype } }],
      { axes: kernel.axes },
      { shape: shape.filter((_, d) => !axes.has(d)), dtype },
    );
  };
  // A reduced value read back over the iteration: stride 0 on reduced axes.
  const keptStrides = stridesOf(kept).map((s, d) => (axes.has(d) ? 0 : s));
  const vals = evalNodes(nodes, shape, inputs, (j, vals) => {
    const r = reduce(j, vals);
    return gatherLoad(
      r,
      0,
      keptStrides,
      shape,
      nodes[reductions[j]!.value]!.dtype,
    );
  });
  const outs = reductions.map((_, j) => reduce(j, vals));
  const epilogue = kernel.epilogue ?? [];
  if (epilogue.length === 0) return outs;
  // The epilogue over the kept axes alone (reduced index 0), where each
  // reduction's result is its output as it is.
  const at = evalNodes(nodes, kept, inputs, (j) => outs[j]!);
  for (const e of epilogue) {
    const v = at[e.node];
    if (!v) throw new RangeError(`fused kernel: no node ${e.node} to output`);
    outs.push(v);
  }
  return outs;
}
