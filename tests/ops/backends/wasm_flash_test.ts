// Flash kernels on the wasm backend (tiled SIMD, `_flash*.ts`) against
// their meaning, runFlashReference: hand-built kernels (scaled dots, two
// query matrices, a scalar temperature, an ALiBi-like slope per head read
// with strides, causal masks from int32 positions, random bool masks with
// a fully hidden row) and fast-check-generated shapes (Tq ≠ Tk, T = 1, T
// not a multiple of the tiles, batch ranks 0-2) for every mode; reruns of
// the gradient modes are bit-identical.

import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import {
  FLASH_MODES,
  type FlashKernel,
  type FlashMode,
  flashOutput,
} from "../../../ops/backends/flash.ts";
import { runFlashReference } from "../../../ops/backends/flash_reference.ts";
import type { Aval } from "../../../ops/dtype.ts";
import { WasmBackend } from "../../../ops/backends/wasm/backend.ts";
import { flashTileStats } from "../../../ops/backends/wasm/_flash.ts";
import { BC, BR } from "../../../ops/backends/wasm/_flash_gen.ts";
import {
  sharedMemoryUnavailable,
  ThreadPool,
} from "../../../ops/backends/wasm/_threads.ts";
import {
  buildKernel,
  type KernelSpec,
  operandsOf,
  referenceOf,
} from "./_flash_kernels.ts";

const wasm = await WasmBackend.create({ threads: 1 });

const MODES: readonly FlashMode[] = FLASH_MODES;

type Host = Float32Array | Int32Array | Uint8Array;

function run(
  b: WasmBackend,
  k: FlashKernel,
  mode: FlashMode,
  index: number,
  ins: readonly Host[],
): Float32Array {
  const nq = k.queries, nc = k.captured.length;
  const ops = ins.map((h, n) => {
    const aval: Aval = n >= nq + 2 && n < nq + 2 + nc
      ? k.captured[n - nq - 2]!
      : { shape: [h.length], dtype: "float32" };
    return { handle: b.upload(h, aval), aval };
  });
  const params = { kernel: k, mode, index };
  const out = b.runFlash(params, ops);
  const got = b.readSync(out, flashOutput(params)) as Float32Array;
  b.free(out);
  for (const o of ops) b.free(o.handle);
  return got;
}

/** |got − want| ≤ atol + rtol·|want|, with atol scaled to the result's size. */
function assertClose(
  got: Float32Array,
  want: Float32Array,
  what: string,
): void {
  assertEquals(got.length, want.length);
  let scale = 0;
  for (const w of want) scale = Math.max(scale, Math.abs(w));
  const atol = 2e-5 * Math.max(1, scale), rtol = 1e-3;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= atol + rtol * Math.abs(w))) {
      throw new Error(`${what}: element ${i} is ${g}, expected ${w}`);
    }
  }
}

/** The float32 captured tensors of a kernel (grad_captured indices). */
function floatCaptured(k: FlashKernel): number[] {
  return k.captured.flatMap((c, i) => (c.dtype === "float32" ? [i] : []));
}

function checkAll(spec: KernelSpec, seed: number, modes = MODES): void {
  const k = buildKernel(spec);
  for (const mode of modes) {
    const indices = mode === "grad_captured" ? floatCaptured(k) : [0];
    for (const index of indices) {
      const ins = operandsOf(k, mode, seed);
      const want = referenceOf(k, mode, index, ins);
      const got = run(wasm, k, mode, index, ins);
      assertClose(got, want, `${mode}[${index}] of ${JSON.stringify(spec)}`);
    }
  }
}

const BASE: KernelSpec = {
  batch: [2, 3],
  tq: 37,
  tk: 70,
  d: 7,
  dv: 5,
  queries: 1,
  normaliser: "softmax",
  mask: "none",
  extra: "none",
};

Deno.test("runFlash equals the reference for scaled dot products in every mode", () => {
  checkAll(BASE, 1);
  checkAll({ ...BASE, batch: [], tq: 1, tk: 1, d: 4, dv: 8 }, 2);
});

Deno.test("runFlash equals the reference with two query matrices and an ALiBi slope under a causal mask", () => {
  checkAll({ ...BASE, queries: 2, mask: "causal", extra: "alibi" }, 3);
  checkAll({ ...BASE, tq: 70, tk: 37, mask: "causal", extra: "alibi" }, 4);
});

Deno.test("runFlash equals the reference for a temperature, a random mask with a hidden row, and normaliser none", () => {
  checkAll({ ...BASE, mask: "random", extra: "temperature" }, 5);
  checkAll({
    ...BASE,
    normaliser: "none",
    mask: "random",
    extra: "temperature",
  }, 6);
  checkAll({
    ...BASE,
    normaliser: "none",
    queries: 2,
    mask: "causal",
    extra: "alibi",
  }, 7);
});

Deno.test("runFlash equals the reference for a score that calls a host function (sin)", () => {
  checkAll({ ...BASE, mask: "causal", extra: "sin" }, 13);
  checkAll({ ...BASE, normaliser: "none", queries: 2, extra: "sin" }, 14);
});

Deno.test("runFlash equals the reference for a transposed, reversed bias and a transposed mask (gathers)", () => {
  checkAll({ ...BASE, mask: "transposed", extra: "bias" }, 15);
  checkAll({
    ...BASE,
    batch: [2],
    normaliser: "none",
    mask: "transposed",
    extra: "bias",
  }, 16);
});

Deno.test("runFlash without fused multiply-add equals the reference too", async () => {
  const plain = await WasmBackend.create({ threads: 1, fma: false });
  for (
    const spec of [
      {
        ...BASE,
        queries: 2 as const,
        mask: "causal" as const,
        extra: "alibi" as const,
      },
      {
        ...BASE,
        normaliser: "none" as const,
        mask: "random" as const,
        extra: "bias" as const,
      },
    ]
  ) {
    const k = buildKernel(spec);
    for (const mode of MODES) {
      const index = mode === "grad_captured" ? floatCaptured(k)[0]! : 0;
      const ins = operandsOf(k, mode, 17);
      const want = referenceOf(k, mode, index, ins);
      assertClose(run(plain, k, mode, index, ins), want, `${mode} without fma`);
    }
  }
  plain.close();
});

Deno.test("runFlash handles no keys, no queries and zero widths", () => {
  for (
    const [tq, tk, d, dv] of [[3, 0, 4, 4], [0, 3, 4, 4], [3, 5, 0, 4], [
      3,
      5,
      4,
      0,
    ]]
  ) {
    checkAll({
      ...BASE,
      batch: [2],
      tq: tq!,
      tk: tk!,
      d: d!,
      dv: dv!,
      mask: "causal",
      extra: "temperature",
    }, 12);
  }
});

Deno.test("runFlash equals the reference on generated kernels", () => {
  const spec: fc.Arbitrary<KernelSpec> = fc.record({
    batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    tq: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 70 })),
    tk: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 140 })),
    d: fc.integer({ min: 1, max: 9 }),
    dv: fc.integer({ min: 1, max: 18 }),
    queries: fc.constantFrom(1 as const, 2 as const),
    normaliser: fc.constantFrom("softmax" as const, "none" as const),
    mask: fc.constantFrom(
      "none" as const,
      "causal" as const,
      "random" as const,
      "transposed" as const,
    ),
    extra: fc.constantFrom(
      "none" as const,
      "temperature" as const,
      "alibi" as const,
      "sin" as const,
      "bias" as const,
    ),
  });
  fc.assert(
    fc.property(spec, fc.nat(1000), (s, seed) => checkAll(s, seed)),
    { numRuns: 25 },
  );
});

Deno.test("runFlash gradient modes give bit-identical reruns", () => {
  const k = buildKernel({
    ...BASE,
    queries: 2,
    mask: "causal",
    extra: "alibi",
  });
  for (const mode of MODES.filter((m) => m.startsWith("grad"))) {
    const index = mode === "grad_captured" ? floatCaptured(k)[0]! : 0;
    const ins = operandsOf(k, mode, 9);
    const a = run(wasm, k, mode, index, ins),
      b = run(wasm, k, mode, index, ins);
    assert(a.every((x, i) => Object.is(x, b[i])), `${mode} reruns differ`);
  }
});

Deno.test("runFlash grad_qkv holds grad_q's and grad_kv's results bit for bit", () => {
  for (const normaliser of ["softmax", "none"] as const) {
    const k = buildKernel({
      ...BASE,
      tq: 70,
      tk: 130,
      queries: 2,
      normaliser,
      mask: "causal",
      extra: "alibi",
    });
    const ins = operandsOf(k, "grad_qkv", 19);
    const all = run(wasm, k, "grad_qkv", 0, ins);
    const gq = run(wasm, k, "grad_q", 0, ins);
    const gkv = run(wasm, k, "grad_kv", 0, ins);
    const nq = gq.length / 6, nkv = gkv.length / 6;
    assertEquals(all.length, gq.length + gkv.length);
    for (let b = 0; b < 6; b++) {
      const at = b * (nq + nkv);
      for (let e = 0; e < nq; e++) {
        assert(Object.is(all[at + e], gq[b * nq + e]), `${normaliser} dq`);
      }
      for (let e = 0; e < nkv; e++) {
        const x = all[at + nq + e], y = gkv[b * nkv + e];
        assert(Object.is(x, y), `${normaliser} dkv`);
      }
    }
  }
});

Deno.test("runFlash skips the key tiles a causal mask hides and runs shown ones without the mask", () => {
  const before = flashTileStats();
  checkAll({ ...BASE, batch: [2], tq: 256, tk: 256, mask: "causal" }, 10, [
    "forward",
  ]);
  const after = flashTileStats();
  // Query rows i, keys j ≤ i: hidden above the diagonal, whole below it
  // (counted once: the mask reads no batch axis).
  const want = { empty: 0, full: 0, partial: 0 };
  for (let qt = 0; qt < 256 / BR; qt++) {
    for (let kt = 0; kt < 256 / BC; kt++) {
      if (kt * BC > qt * BR + BR - 1) want.empty++;
      else if (kt * BC + BC - 1 <= qt * BR) want.full++;
      else want.partial++;
    }
  }
  assert(want.empty > 0 && want.full > 0);
  assertEquals(after.empty - before.empty, want.empty);
  assertEquals(after.partial - before.partial, want.partial);
  assertEquals(after.full - before.full, want.full);
});

Deno.test("runFlash on two threads equals one thread bit for bit, and the reference", async () => {
  const two = await WasmBackend.create({ threads: 2 });
  const k = buildKernel({
    ...BASE,
    batch: [2, 2],
    tq: 130,
    tk: 150,
    d: 16,
    dv: 16,
    mask: "causal",
    extra: "alibi",
  });
  const cases = MODES.map((mode) => {
    const index = mode === "grad_captured" ? floatCaptured(k)[0]! : 0;
    const ins = operandsOf(k, mode, 11);
    run(two, k, mode, index, ins); // attaches the threads
    return { mode, index, ins };
  });
  await two.ready();
  const claims = ThreadPool.workerClaims();
  for (let rep = 0; rep < 3; rep++) {
    for (const { mode, index, ins } of cases) {
      const a = run(two, k, mode, index, ins);
      const b = run(wasm, k, mode, index, ins);
      assert(a.every((x, i) => Object.is(x, b[i])), `${mode} differs`);
      if (rep === 0) {
        assertClose(a, referenceOf(k, mode, index, ins), `${mode} threaded`);
      }
    }
  }
  if (sharedMemoryUnavailable() === null) {
    assert(ThreadPool.workerClaims() > claims, "no worker took a unit");
  }
  two.close();
});

Deno.test("runFlash grad_qkv of fewer batch elements than threads splits its tiles over them, with the bits of one thread", async () => {
  const two = await WasmBackend.create({ threads: 2 });
  const k = buildKernel({
    ...BASE,
    batch: [1],
    tq: 200,
    tk: 260,
    d: 20,
    dv: 24,
    mask: "causal",
    extra: "alibi",
  });
  const ins = operandsOf(k, "grad_qkv", 23);
  run(two, k, "grad_qkv", 0, ins); // attaches the threads
  await two.ready();
  const claims = ThreadPool.workerClaims();
  const b = run(wasm, k, "grad_qkv", 0, ins);
  assertClose(b, referenceOf(k, "grad_qkv", 0, ins), "grad_qkv");
  for (let rep = 0; rep < 4; rep++) {
    const a = run(two, k, "grad_qkv", 0, ins);
    assert(a.every((x, i) => Object.is(x, b[i])), "grad_qkv differs");
  }
  if (sharedMemoryUnavailable() === null) {
    assert(ThreadPool.workerClaims() > claims, "no worker took a unit");
  }
  two.close();
});

Deno.test("runFlash weights far below 2^-126 are exactly 0 (no subnormal reaches the tile products)", () => {
  // s = r·t with t = 100: score gaps past 87, so some exact weights
  // are subnormal (or 0) in float32; the kernel flushes them to 0, which
  // keeps x86 off its slow subnormal path, and stays within tolerance.
  const k = buildKernel({ ...BASE, batch: [2], extra: "temperature" });
  const base = operandsOf(k, "weights", 21);
  const t = 1 + k.queries + 1;
  base[t] = Float32Array.of(100);
  const tiny = (x: number) => x !== 0 && Math.abs(x) < 2 ** -126;
  const weights = run(wasm, k, "weights", 0, base);
  const want = referenceOf(k, "weights", 0, base);
  assert(want.some(tiny), "the case must make subnormal weights");
  assert(!weights.some(tiny), "a subnormal weight left the kernel");
  assertClose(weights, want, "weights at t = 100");
  const fwd = runFlashReference({ kernel: k, mode: "forward", index: 0 }, base);
  const rand = Float32Array.from(fwd, (_, i) => Math.sin(i * 0.37));
  for (const mode of ["grad_qkv", "forward"] as const) {
    const ins = mode === "forward" ? base : [...base, fwd, rand];
    assertClose(
      run(wasm, k, mode, 0, ins),
      referenceOf(k, mode, 0, ins),
      `${mode} at t = 100`,
    );
  }
});
