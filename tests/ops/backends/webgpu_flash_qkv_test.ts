// The grad_qkv mode of flash kernels on WebGPU (`_flash_qkv.ts`: grad_q
// and grad_kv, their blocks copied per batch element) against the
// reference, runFlashReference, on the backend tests' kernels.

import { assertEquals } from "@std/assert";
import { assertAllClose } from "../../_helpers.ts";
import type { Aval, HostArray } from "../../../ops/dtype.ts";
import { flashOutput, type FlashParams } from "../../../ops/backends/flash.ts";
import { WebGpuBackend } from "../../../ops/backends/webgpu/backend.ts";
import {
  buildKernel,
  type KernelSpec,
  operandsOf,
  referenceOf,
} from "./_flash_kernels.ts";

const gpu = await WebGpuBackend.create();
if (!gpu) console.warn("webgpu_flash_qkv_test: skipped: no WebGPU adapter");

const BASE: KernelSpec = {
  batch: [2, 3],
  tq: 9,
  tk: 13,
  d: 5,
  dv: 3,
  queries: 1,
  normaliser: "softmax",
  mask: "none",
  extra: "none",
};

async function runOnGpu(
  b: WebGpuBackend,
  params: FlashParams,
  inputs: readonly HostArray[],
): Promise<Float32Array> {
  const k = params.kernel, nq = k.queries, nc = k.captured.length;
  const ops = inputs.map((h, n) => {
    const aval: Aval = n >= nq + 2 && n < nq + 2 + nc
      ? k.captured[n - nq - 2]!
      : { shape: [h.length], dtype: "float32" };
    return { handle: b.upload(h, aval), aval };
  });
  const out = b.runFlash(params, ops);
  for (const o of ops) b.free(o.handle);
  const got = await b.read(out, flashOutput(params));
  b.free(out);
  return got as Float32Array;
}

Deno.test({
  name: "runFlash grad_qkv on WebGPU equals the reference",
  ignore: !gpu,
  async fn() {
    const specs: KernelSpec[] = [
      BASE,
      { ...BASE, queries: 2, mask: "causal", extra: "alibi" },
      { ...BASE, normaliser: "none", mask: "random", extra: "temperature" },
      { ...BASE, batch: [], tq: 1, tk: 1, d: 4, dv: 8 },
      { ...BASE, batch: [2], tq: 0 },
      { ...BASE, batch: [2], tk: 0 },
    ];
    for (const [n, spec] of specs.entries()) {
      const k = buildKernel(spec);
      const params: FlashParams = { kernel: k, mode: "grad_qkv", index: 0 };
      const ins = operandsOf(k, "grad_qkv", 30 + n);
      const want = referenceOf(k, "grad_qkv", 0, ins);
      const got = await runOnGpu(gpu!, params, ins);
      assertEquals(got.length, want.length);
      await assertAllClose(
        Array.from(got),
        Array.from(want),
        { rtol: 2e-4, atol: 2e-5 },
        `grad_qkv of ${JSON.stringify(spec)}`,
      );
    }
  },
});
