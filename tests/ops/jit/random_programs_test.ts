// The jit law, as fast-check properties over random programs of 2-12 ops:
// a program run under jit (its fused plan, at the top level) gives what the
// function gives eagerly (bit for bit on the CPU reference, within float32
// tolerance elsewhere), and jit commutes with grad: jit(grad(f)) is
// grad(f) bit for bit on the CPU, grad(jit(f)) within float32 tolerance.
// Every backend present runs them (its runFused where it has one), and so
// does a CPU backend whose runFused is the reference meaning.

import { assert, assertEquals, AssertionError } from "@std/assert";
import fc from "fast-check";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import { jit } from "../../../ops/jit/jit.ts";
import { assertAllClose, testEachBackend } from "../../_helpers.ts";
import {
  arbProgram,
  build,
  buildLoss,
  inputsOf,
  type ProgramSpec,
} from "./_random_programs.ts";
import { checkPlan } from "./_plan_check.ts";
import { testBackend } from "./_fused_backend.ts";
import { fromHost } from "../../../ops/core.ts";

const RUNS = 25;

/**
 * Equal bit for bit (NaN = NaN, -0 ≠ 0) when `exact` (default: on the CPU
 * reference), else within float32 tolerance.
 */
async function assertSameValues(
  actual: readonly Tensor[],
  expected: readonly Tensor[],
  what: string,
  exact: boolean = h.defaultBackend() === "cpu",
): Promise<void> {
  assertEquals(actual.length, expected.length, `${what}: output count`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    assertEquals(a.shape, e.shape, `${what}: shape of output ${i}`);
    assertEquals(a.dtype, e.dtype, `${what}: dtype of output ${i}`);
    if (!exact) {
      await assertAllClose(a, e, { rtol: 1e-5, atol: 1e-6 }, what);
      continue;
    }
    const [x, y] = await Promise.all([a.data(), e.data()]);
    for (let k = 0; k < x.length; k++) {
      if (!Object.is(x[k], y[k])) {
        throw new AssertionError(
          `${what}: output ${i} element ${k}: ${x[k]} vs ${y[k]}`,
        );
      }
    }
  }
}

const describe = (spec: ProgramSpec): string =>
  `${spec.twin ? "twin " : ""}${JSON.stringify(spec.shapes)} ${
    spec.ops.map((o) => `${o.family}${o.variant}`).join(" ")
  }`;

testEachBackend(
  "jit(f) gives what f gives on random programs of 2-12 ops",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbProgram, async (spec) => {
        const f = build(spec);
        const [x, y] = inputsOf(spec);
        const jf = jit(f);
        const what = describe(spec);
        // A call at the top level runs the fused plan on this backend.
        const lowered = jf.lower(x, y);
        checkPlan(lowered.plan);
        assert(lowered.kernels <= lowered.eagerKernels, lowered.text);
        // wasm and WebGPU run fused kernels themselves; the CPU interprets.
        assertEquals(lowered.fusedOnBackend, h.defaultBackend() !== "cpu");
        await assertSameValues(jf(x, y), f(x, y), `first call ${what}`);
        // The second call runs the cached program without tracing.
        await assertSameValues(jf(x, y), f(x, y), `cached call ${what}`);
        assertEquals(jf.cacheSize, 1);
      }),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "jit(grad(f)), grad(jit(f)) and grad(f) agree on random programs",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbProgram, async (spec) => {
        const loss = buildLoss(spec);
        const [x, y] = inputsOf(spec);
        const g = h.grad(loss, { argnums: [0, 1] });
        const expected = g(x, y);
        const what = describe(spec);
        await assertSameValues(jit(g)(x, y), expected, `jit(grad) ${what}`);
        // Not bit for bit: CSE merges equal subexpressions, so the backward
        // pass adds their cotangents in another order.
        const gj = h.grad(jit(loss), { argnums: [0, 1] });
        await assertSameValues(gj(x, y), expected, `grad(jit) ${what}`, false);
      }),
      { numRuns: RUNS },
    );
  },
);

Deno.test("jit(f) through runFused by the reference meaning is f bit for bit on random programs", async () => {
  const b = testBackend(true);
  const onB = async (t: Tensor): Promise<Tensor> =>
    fromHost(await t.data(), t.shape, t.dtype, b);
  await fc.assert(
    fc.asyncProperty(arbProgram, async (spec) => {
      const f = build(spec);
      const [x, y] = await Promise.all(inputsOf(spec).map(onB));
      const expected = f(x!, y!);
      const jf = jit(f);
      const what = describe(spec);
      await assertSameValues(jf(x!, y!), expected, `fused ${what}`, true);
      await assertSameValues(jf(x!, y!), expected, `cached ${what}`, true);
    }),
    { numRuns: 2 * RUNS },
  );
  assert(b.counts.fused > 2 * RUNS, `${b.counts.fused} fused kernels ran`);
});
