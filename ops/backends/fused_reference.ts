/**
 * The reference meaning of a fused kernel: each node evaluated by the CPU
 * backend's own kernels, one primitive at a time, over host arrays. The
 * wasm and WGSL code generators are tested against it, and the CPU
 * backend runs fused kernels this way.
 *
 * @module
 */

import { type DType, type HostArray, sizeOf } from "../dtype.ts";
import type { Operand } from "./contract.ts";
import { CpuBackend } from "./cpu.ts";
import type { FusedKernel, FusedNode } from "./fused.ts";

const cpuBackend = new CpuBackend();

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

/** Every node's value over the kernel's iteration shape. */
function evalNodes(
  nodes: readonly FusedNode[],
  shape: readonly number[],
  inputs: readonly HostArray[],
): HostArray[] {
  const vals: HostArray[] = [];
  const aval = (dtype: DType) => ({ shape, dtype });
  for (const node of nodes) {
    if (node.kind === "load") {
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
      const operands: Operand[] = node.args.map((a) => {
        const v = vals[a];
        if (!v) {
          throw new RangeError(`fused kernel: node ${a} is not defined yet`);
        }
        return { handle: v, aval: aval(nodes[a]!.dtype) };
      });
      vals.push(
        cpuBackend.run(
          node.prim,
          operands,
          node.params,
          aval(node.dtype),
        ) as HostArray,
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
  const vals = evalNodes(kernel.nodes, kernel.shape, inputs);
  if (kernel.kind === "elementwise") {
    return kernel.outputs.map((n) => vals[n]!);
  }
  const prim = kernel.op === "sum"
    ? "reduce_sum"
    : kernel.op === "max"
    ? "reduce_max"
    : "reduce_min";
  const node = kernel.nodes[kernel.value]!;
  const axes = new Set(kernel.axes);
  const out = cpuBackend.run(
    prim,
    [{
      handle: vals[kernel.value]!,
      aval: { shape: kernel.shape, dtype: node.dtype },
    }],
    { axes: kernel.axes },
    { shape: kernel.shape.filter((_, d) => !axes.has(d)), dtype: node.dtype },
  );
  return [out as HostArray];
}
