// The batching rule of `flash_attention`: the mapped axis becomes the
// first axis of the kernel's batch. Private to ops/ (batching.ts uses it).

import { bind } from "../core.ts";
import { sizeOf } from "../dtype.ts";
import type { Tensor } from "../tensor.ts";
import { batchedAtFront, type BatchRule } from "../_batch_axes.ts";
import {
  flashFloatInputs,
  type FlashKernel,
  type FlashNode,
  type FlashParams,
} from "../backends/flash.ts";

/**
 * Loads of captured tensor c gain a stride for the new first axis: the
 * size of one example where c is batched (given its own leading axis),
 * 0 where every example reads the same c.
 */
function withLeadingAxis(
  nodes: readonly FlashNode[],
  stride: (input: number) => number,
): FlashNode[] {
  return nodes.map((n) =>
    n.kind === "load" ? { ...n, strides: [stride(n.input), ...n.strides] } : n
  );
}

/**
 * Every operand shaped by the batch (q, k, v, the forward output, the
 * cotangent, the tangents of q, k, v) is batched at the front. A captured
 * tensor is batched where its value or its tangent is, and always for
 * `grad_captured` of it (each example has its own gradient); else it is
 * shared, read with stride 0 along the new axis.
 */
export const flashBatch: BatchRule<"flash_attention"> = (
  xs,
  dims,
  params,
  size,
) => {
  const p = params as FlashParams;
  const k = p.kernel, nq = k.queries, nc = k.captured.length;
  const base = nq + 2 + nc;
  const floats = flashFloatInputs(k);
  // Operand index of captured c's tangent (tangent mode), or -1.
  const tangentAt = (c: number) =>
    p.mode === "tangent" ? base + 1 + floats.indexOf(nq + 2 + c) : -1;
  const batched = k.captured.map((_, c) =>
    dims[nq + 2 + c] !== null ||
    (tangentAt(c) > base && dims[tangentAt(c)] !== null) ||
    (p.mode === "grad_captured" && p.index === c)
  );
  const args: Tensor[] = xs.map((x, i) => {
    const c = i - nq - 2;
    const t = p.mode === "tangent" && i > base
      ? floats[i - base - 1]! - nq - 2
      : -1;
    const shared = (c >= 0 && c < nc && !batched[c]) ||
      (t >= 0 && !batched[t]);
    return shared ? x : batchedAtFront(x, dims[i] ?? null, size);
  });
  const stride = (c: number) => batched[c] ? sizeOf(k.captured[c]!.shape) : 0;
  const kernel: FlashKernel = {
    ...k,
    batch: [size, ...k.batch],
    captured: k.captured.map((a, c) =>
      batched[c] ? { shape: [size, ...a.shape], dtype: a.dtype } : a
    ),
    score: { ...k.score, nodes: withLeadingAxis(k.score.nodes, stride) },
    mask: k.mask && {
      ...k.mask,
      nodes: withLeadingAxis(k.mask.nodes, stride),
    },
  };
  return [bind("flash_attention", args, { ...p, kernel }), 0];
};
