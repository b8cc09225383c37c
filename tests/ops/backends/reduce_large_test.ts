// Full reductions around 2^16, 2^24 and 2^25 elements on every backend,
// against exact answers (and the CPU reference, which must give them too).
// WebGPU once lost the odd lanes' partial sums past 2^24 elements: Mesa's
// llvmpipe stops a shader's loops after 65535 iterations in all.
//
// Inputs are made on the device (iota, comparisons, select), not uploaded,
// and chosen so that every partial sum is an exactly representable integer:
// the expected results are exact in any summation order.

import { assertEquals } from "@std/assert";
import * as h from "../../../mod.ts";
import type { WebGpuBackend } from "../../../ops/backends/webgpu/backend.ts";
import { bind } from "../../../ops/core.ts";
import type { Tensor } from "../../../ops/tensor.ts";
import { randomValues, readAll } from "../../_helpers.ts";

const SIZES = [2 ** 16 + 1, 2 ** 24 - 1, 2 ** 24 + 1000, 2 ** 25 + 3];

/** Elements one buffer binding can hold on `backend` (WebGPU caps bindings). */
async function maxElements(backend: h.BackendName): Promise<number> {
  if (backend !== "webgpu") return Infinity;
  const b = (await h.initBackend("webgpu")) as WebGpuBackend;
  return Math.floor(b.device.limits.maxStorageBufferBindingSize / 4);
}

function iota(n: number): Tensor {
  return bind("iota", [], { shape: [n], dim: 0, dtype: "int32" });
}

/** Reads each named scalar back, then frees them all. */
async function readNamed(
  results: Record<string, Tensor>,
): Promise<Record<string, number>> {
  const names = Object.keys(results);
  const vals = await readAll(names.map((k) => results[k]));
  h.dispose(results);
  return Object.fromEntries(names.map((k, i) => [k, vals[i]![0]!]));
}

/** Sums and means: data whose partial sums are exact integers in any order. */
function sums(n: number): Record<string, Tensor> {
  return h.scope(() => {
    // 1 where i ≡ 1 (mod 4): only odd lanes of a 256-wide workgroup hold data.
    const m = Math.ceil(n / 4);
    const mod4 = bind("iota", [], { shape: [m, 4], dim: 1, dtype: "int32" });
    const lane1 = h.where(
      h.equal(h.slice(h.reshape(mod4, [4 * m]), [0], [n]), 1),
      1,
      0,
    );
    const ones = h.ones([n]);
    const out: Record<string, Tensor> = {
      sumOnesI32: h.sum(h.ones([n], { dtype: "int32" })),
      sumLane1: h.sum(lane1),
      meanLane1: h.mean(lane1),
    };
    // Past 2^24 the count of ones rounds: once, as the CPU's float64 sum.
    out.sumOnes = h.sum(ones);
    out.meanOnes = h.mean(ones);
    return out;
  });
}

function sumsExpected(n: number): Record<string, number> {
  const count = Math.floor((n + 2) / 4); // i ≡ 1 (mod 4) below n
  const out: Record<string, number> = {
    sumOnesI32: n,
    sumLane1: count,
    meanLane1: Math.fround(count / Math.fround(n)),
  };
  out.sumOnes = Math.fround(n);
  out.meanOnes = 1;
  return out;
}

/** Extremes and their first index, at the start, the end and inside. */
function extremes(n: number): Record<string, Tensor> {
  const p = n - 2, q = (n >> 1) + 1;
  return h.scope(() => {
    const io = iota(n);
    const rev = h.sub(n - 1, io);
    const spike = h.where(h.equal(io, p), 3, h.where(h.equal(io, q), -2, 1));
    return {
      maxIota: h.max(io),
      minIota: h.min(io),
      argmaxIota: h.argmax(io),
      argminIota: h.argmin(io),
      argmaxRev: h.argmax(rev),
      argminRev: h.argmin(rev),
      maxSpike: h.max(spike),
      minSpike: h.min(spike),
      argmaxSpike: h.argmax(spike),
      argminSpike: h.argmin(spike),
    };
  });
}

function extremesExpected(n: number): Record<string, number> {
  return {
    maxIota: n - 1,
    minIota: 0,
    argmaxIota: n - 1,
    argminIota: 0,
    argmaxRev: 0,
    argminRev: n - 1,
    maxSpike: 3,
    minSpike: -2,
    argmaxSpike: n - 2,
    argminSpike: (n >> 1) + 1,
  };
}

const CASES = [
  ["sum and mean", sums, sumsExpected],
  ["max, min, argmax and argmin", extremes, extremesExpected],
] as const;

const caps = new Map<h.BackendName, number>();
for (const backend of h.backends()) {
  caps.set(backend, await maxElements(backend));
}

for (const backend of h.backends()) {
  for (const size of SIZES) {
    const n = Math.min(size, caps.get(backend)!);
    for (const [what, make, want] of CASES) {
      Deno.test({
        name: `${what} of ${n} elements are exact on ${backend}`,
        fn: async () => {
          const got = await h.withBackend(backend, () => readNamed(make(n)));
          assertEquals(got, want(n), `${backend}, n = ${n}`);
        },
      });
    }
  }
}

/** Long rows reduced along one axis: a few outputs, each over millions. */
function rows(): Record<string, Tensor> {
  return h.scope(() => {
    const a = bind("iota", [], {
      shape: [3, 2 ** 23 + 5],
      dim: 0,
      dtype: "int32",
    });
    const b = bind("iota", [], {
      shape: [2 ** 22 + 1, 4],
      dim: 1,
      dtype: "float32",
    });
    const c = bind("iota", [], {
      shape: [2 ** 22 + 1, 4],
      dim: 0,
      dtype: "int32",
    });
    return {
      rowSums: h.sum(a, { axis: 1 }),
      columnSums: h.sum(b, { axis: 0 }),
      columnArgmax: h.argmax(c, { axis: 0 }),
      columnMax: h.max(c, { axis: 0 }),
    };
  });
}

for (const backend of h.backends()) {
  Deno.test(`reductions along one axis of long rows are exact on ${backend}`, async () => {
    const got = await h.withBackend(backend, async () => {
      const r = rows();
      const names = Object.keys(r);
      const vals = await readAll(names.map((k) => r[k]));
      h.dispose(r);
      return Object.fromEntries(names.map((k, i) => [k, vals[i]]));
    });
    const m = 2 ** 23 + 5, k = 2 ** 22 + 1;
    assertEquals(got, {
      rowSums: [0, m, 2 * m],
      columnSums: [0, k, 2 * k, 3 * k],
      columnArgmax: [k - 1, k - 1, k - 1, k - 1],
      columnMax: [k - 1, k - 1, k - 1, k - 1],
    });
  });
}

/** Distance from `a` to the float32 `e` in units in the last place of `e`. */
function ulps(a: number, e: number): number {
  if (a === e) return 0;
  const exp = Math.max(Math.floor(Math.log2(Math.abs(e))), -126);
  return Math.abs(a - e) / 2 ** (exp - 23);
}

for (const backend of h.backends().filter((b) => b !== "cpu")) {
  Deno.test(`float32 sums on ${backend} round once, as the CPU reference's float64 sum`, async () => {
    // 2^22 values in [-1, 1): the sum cancels to about 2^11, so a float32
    // running sum would be off by many ulp.
    const xs = randomValues(2 ** 22, 11).map((v) => v / 2);
    const sums = (b: h.BackendName) =>
      h.withBackend(b, async () => {
        using x = h.tensor(xs);
        using m = h.reshape(x, [2048, 2048]);
        const outs = [h.sum(x), h.sum(m, { axis: 1 }), h.sum(m, { axis: 0 })];
        const vals = await readAll(outs);
        h.dispose(outs);
        return vals.flat();
      });
    const got = await sums(backend), ref = await sums("cpu");
    const worst = Math.max(...got.map((a, i) => ulps(a, ref[i]!)));
    assertEquals(
      worst <= 1,
      true,
      `${worst} ulp; full sum ${got[0]} vs ${ref[0]}`,
    );
  });
}
