// WebGPU-specific behaviour: compile errors with WGSL line:column, device
// loss and recovery, the buffer pool, adapter information.

import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import fc from "fast-check";
import * as h from "../../../mod.ts";
import {
  sizeClass,
  type WebGpuBackend,
} from "../../../ops/backends/webgpu/backend.ts";

await h.init(); // probes the adapter, so backends() lists WebGPU where present
const hasGpu = h.backends().includes("webgpu");
if (!hasGpu) {
  console.warn("webgpu_test: skipped: no WebGPU adapter on this machine");
}

async function gpu(): Promise<WebGpuBackend> {
  return (await h.initBackend("webgpu")) as WebGpuBackend;
}

Deno.test({
  name: "an invalid kernel is reported with its WGSL line and column",
  ignore: !hasGpu,
  fn: async () => {
    const b = await gpu();
    const out = b.allocate(16);
    b.runDispatch({
      key: "test:broken",
      source: () =>
        "@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = nope;\n}",
      inputs: [],
      output: out,
      meta: [1],
      groups: [1, 1, 1],
    });
    const err = await assertRejects(() => b.sync(), Error);
    assertMatch(err.message, /test:broken:3:\d+: .*nope/);
    b.free(out);
  },
});

Deno.test({
  name:
    "after device loss, old tensors fail clearly and new work runs on a re-acquired device",
  ignore: !hasGpu,
  fn: async () => {
    await h.withBackend("webgpu", async () => {
      const b = await gpu();
      const old = h.add(h.tensor([1, 2]), 1);
      assertEquals(await old.array(), [2, 3]);
      b.device.destroy();
      await b.device.lost;
      await new Promise((r) => setTimeout(r, 0));
      await b.ready();
      await assertRejects(() => old.data(), Error, "lost with the GPU device");
      const fresh = h.add(h.tensor([1, 2]), 1);
      assertEquals(await fresh.array(), [2, 3]);
      assertEquals(
        await h.matmul(h.tensor([[1, 2]]), h.tensor([[3], [4]])).array(),
        [[11]],
      );
    });
  },
});

Deno.test({
  name: "freed buffers return to the pool and are reused",
  ignore: !hasGpu,
  fn: async () => {
    await h.withBackend("webgpu", async () => {
      const before = h.memory().webgpu!;
      h.scope(() => void h.mul(h.ones([1000]), 3));
      const mid = h.memory().webgpu!;
      assert(mid.pooledBytes >= before.pooledBytes);
      h.scope(() => void h.mul(h.ones([1000]), 3));
      const after = h.memory().webgpu!;
      assertEquals(after.liveBytes, mid.liveBytes);
      assertEquals(after.pooledBytes, mid.pooledBytes);
      await h.sum(h.ones([3])).data();
    });
  },
});

Deno.test("size classes are at least the request and waste under 25%", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1 << 30 }), (n) => {
      const c = sizeClass(n);
      return c >= n && c % 16 === 0 && (n < 64 || c <= n * 1.25 + 16);
    }),
  );
});

Deno.test({
  name: "info() names the adapter, its limits and whether it is software",
  ignore: !hasGpu,
  fn: () => {
    const i = h.info();
    if (!i.adapter) throw new Error("no adapter");
    assertEquals(typeof i.adapter.isSoftware, "boolean");
    assert(i.adapter.limits.maxComputeWorkgroupsPerDimension! >= 65535);
    assert(i.backends.includes("webgpu"));
  },
});

for (const variant of ["blocked", "tiled"] as const) {
  Deno.test({
    name: `the ${variant} matmul kernel matches the cpu reference`,
    ignore: !hasGpu,
    fn: async () => {
      const b = await gpu();
      const saved = b.matmulVariant;
      b.matmulVariant = variant;
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(1, 2),
            fc.constantFrom(1, 3, 17, 64, 129),
            fc.constantFrom(1, 3, 17, 64, 129),
            fc.constantFrom(1, 3, 17, 64, 129),
            fc.boolean(),
            async (bt, m, k, n, transposeB) => {
              const a = new Float32Array(bt * m * k).map((_, i) =>
                Math.sin(i * 0.7)
              );
              const bb = new Float32Array(bt * k * n).map((_, i) =>
                Math.cos(i * 0.3)
              );
              const f = (x: h.Tensor, y: h.Tensor) =>
                transposeB
                  ? h.einsum("bmk,bnk->bmn", x, h.transpose(y, [0, 2, 1]))
                  : h.matmul(x, y);
              const run = (name: h.BackendName) =>
                h.withBackend(
                  name,
                  () =>
                    f(
                      h.tensor(a, { shape: [bt, m, k] }),
                      h.tensor(bb, { shape: [bt, k, n] }),
                    ).data(),
                );
              const [got, ref] = [await run("webgpu"), await run("cpu")];
              for (let i = 0; i < ref.length; i++) {
                if (
                  !(Math.abs(got[i]! - ref[i]!) <=
                    1e-4 * (1 + Math.abs(ref[i]!)))
                ) {
                  throw new Error(
                    `[${bt},${m},${k}]x[${k},${n}] element ${i}: ${got[i]} vs ${
                      ref[i]
                    }`,
                  );
                }
              }
            },
          ),
          { numRuns: 15 },
        );
      } finally {
        b.matmulVariant = saved;
      }
    },
  });
}
