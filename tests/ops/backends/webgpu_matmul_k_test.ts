// Matmuls with a long contracted axis on WebGPU. Mesa's llvmpipe ends a
// shader invocation after 65,535 loop iterations in all, and the matmul
// kernels loop over k, so [1,70000]@[70000,1] once gave 65535. The backend
// now splits k into chunks that each add into the output; both kernels are
// checked against the CPU reference on small integers (exact in any order).

import { assertEquals } from "@std/assert";
import * as h from "../../../mod.ts";
import type { WebGpuBackend } from "../../../ops/backends/webgpu/backend.ts";
import type { Tensor } from "../../../ops/tensor.ts";

await h.init();
const hasGpu = h.backends().includes("webgpu");
if (!hasGpu) {
  console.warn("webgpu_matmul_k_test: skipped: no WebGPU adapter");
}

const KS = [70_000, 131_075];

/** Small integers: every partial sum below is exact in float32. */
function ints(n: number, period: number, offset = 0): Float32Array {
  return new Float32Array(n).map((_, i) => (i + offset) % period);
}

/** Runs `f` on WebGPU with the `variant` kernel, and on the CPU. */
async function both(
  variant: "blocked" | "tiled",
  f: () => Tensor | Tensor[],
): Promise<[number[][], number[][]]> {
  const b = (await h.initBackend("webgpu")) as WebGpuBackend;
  const saved = b.matmulVariant;
  b.matmulVariant = variant;
  const read = async (name: h.BackendName) =>
    await h.withBackend(name, async () => {
      const r = f();
      const list = Array.isArray(r) ? r : [r];
      const out: number[][] = [];
      for (const t of list) out.push([...await t.data()]);
      h.dispose(list);
      return out;
    });
  try {
    return [await read("webgpu"), await read("cpu")];
  } finally {
    b.matmulVariant = saved;
  }
}

for (const variant of ["blocked", "tiled"] as const) {
  Deno.test({
    name: `${variant} matmul: [1,k]@[k,1] of ones is k past 65,535`,
    ignore: !hasGpu,
    fn: async () => {
      for (const k of KS) {
        const [got, ref] = await both(
          variant,
          () => h.matmul(h.ones([1, k]), h.ones([k, 1])),
        );
        assertEquals(got, [[k]]);
        assertEquals(ref, [[k]]);
      }
    },
  });

  Deno.test({
    name: `${variant} matmul: [3,k]@[k,5] and batched dot_general match cpu`,
    ignore: !hasGpu,
    fn: async () => {
      for (const k of KS) {
        const a = ints(3 * k, 3), b = ints(k * 5, 2, 1);
        const ab = ints(2 * 3 * k, 3, 1), bb = ints(2 * k * 4, 2);
        const [got, ref] = await both(variant, () => [
          h.matmul(
            h.tensor(a, { shape: [3, k] }),
            h.tensor(b, { shape: [k, 5] }),
          ),
          // Batched, contracting A's middle axis (strided k offsets).
          h.einsum(
            "bkm,bkn->bmn",
            h.tensor(ab, { shape: [2, k, 3] }),
            h.tensor(bb, { shape: [2, k, 4] }),
          ),
          h.matmul(
            h.tensor(ab, { shape: [2, 3, k] }),
            h.tensor(bb, { shape: [2, k, 4] }),
          ),
        ]);
        assertEquals(got, ref);
      }
    },
  });

  Deno.test({
    name: `${variant} matmul: gradients through a long contraction match cpu`,
    ignore: !hasGpu,
    fn: async () => {
      const k = 70_000;
      const a = ints(3 * k, 3), b = ints(k * 2, 2, 1);
      const [got, ref] = await both(variant, () => {
        const [ga, gb] = h.grad(
          (x: Tensor, y: Tensor) => h.sum(h.square(h.matmul(x, y))),
          { argnums: [0, 1] },
        )(h.tensor(a, { shape: [3, k] }), h.tensor(b, { shape: [k, 2] }));
        // The gradient of x^T x contracts over k in the forward pass.
        const gx = h.grad((x: Tensor) =>
          h.sum(h.matmul(h.transpose(x, [1, 0]), x))
        )(h.tensor(b, { shape: [k, 2] }));
        return [ga, gb, gx];
      });
      assertEquals(got, ref);
    },
  });
}
