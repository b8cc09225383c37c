// sin and cos off the CPU against the reference (Math.sin/cos rounded to
// float32): within 4e-7 for |x| ≤ 8192, where WebGPU reduces the argument
// itself (WGSL's builtins may be off by 2^-11; SwiftShader in Chrome was
// by 4e-5), bounded beyond, and exact at the special values.

import { assert, assertEquals } from "@std/assert";
import * as h from "../../../mod.ts";
import { rng } from "../../_helpers.ts";

const OTHERS = h.backends().filter((b) => b !== "cpu");

async function on(
  b: h.BackendName,
  f: (x: h.Tensor) => h.Tensor,
  xs: Float32Array,
): Promise<Float32Array> {
  return await h.withBackend(b, async () => {
    using x = h.tensor(xs);
    using y = f(x);
    return (await y.data()) as Float32Array;
  });
}

const r = rng(11);
const xs = new Float32Array([
  ...Array.from({ length: 2000 }, () => 8 * r() - 4),
  ...Array.from({ length: 2000 }, () => 16384 * r() - 8192),
  // Near the octant boundaries and the zeros of sin and cos.
  ...Array.from({ length: 64 }, (_, k) => (k * Math.PI) / 4),
  ...Array.from({ length: 64 }, (_, k) => (k * Math.PI) / 4 + 1e-6),
  1e-30,
  -1e-30,
]);

for (const b of OTHERS) {
  for (const [name, f] of [["sin", h.sin], ["cos", h.cos]] as const) {
    Deno.test(`${name} on ${b} is within 4e-7 of the CPU reference up to 8192, and exact at special values`, async () => {
      const got = await on(b, f, xs);
      const ref = await on("cpu", f, xs);
      let worst = 0, at = 0;
      for (let i = 0; i < xs.length; i++) {
        const d = Math.abs(got[i]! - ref[i]!);
        if (d > worst) [worst, at] = [d, xs[i]!];
      }
      assert(worst <= 4e-7, `${name}(${at}) is off by ${worst}`);
      const big = await on(b, f, new Float32Array([1e5, -3e7, 1e30]));
      assert(big.every((v) => Math.abs(v) <= 1), `${name} of large x: ${big}`);
      const special = await on(
        b,
        f,
        new Float32Array([0, -0, Infinity, -Infinity, NaN]),
      );
      const want = name === "sin"
        ? [0, -0, NaN, NaN, NaN]
        : [1, 1, NaN, NaN, NaN];
      assertEquals([...special], want);
    });
  }
}

Deno.test("sin and cos precision runs on some backend besides cpu, or says why not", () => {
  if (OTHERS.length === 0) {
    console.warn("no backend besides cpu: nothing compared");
  }
  assert(h.backends().includes("cpu"));
});
