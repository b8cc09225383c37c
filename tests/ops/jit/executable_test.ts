// The executor: fused kernels go to runFused where a backend has it, else
// their equations run one by one; intermediates are freed right after
// their last use; lower() counts kernels per call. The test backends are
// the CPU reference, with and without runFused (by the reference meaning).

import { assert, assertEquals } from "@std/assert";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import { jit } from "../../../ops/jit/jit.ts";
import { compileExecutable } from "../../../ops/jit/executable.ts";
import { assertAllClose, testEachBackend } from "../../_helpers.ts";
import { testBackend } from "./_fused_backend.ts";

const ROWS = [0.5, -1, 2, 3, -0.25, 1.5, 0, -2, 4, 1, -3, 0.75];

async function bits(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

Deno.test("a jitted call at top level runs fused kernels through runFused", async () => {
  const b = testBackend(true);
  const x = b.tensor(ROWS, [3, 4]);
  const f = jit((x: Tensor) => h.softmax(x));
  const expected = await bits(h.softmax(x));
  const eagerRuns = b.counts.runs;
  b.counts.runs = 0;
  const y = f(x);
  assertEquals(b.counts.fused, 2); // max then sum of exp, divide
  assertEquals(b.counts.runs, 0);
  assert(eagerRuns >= 8, `eager ran ${eagerRuns} kernels`);
  assertEquals(y.backend, b);
  assertEquals(await bits(y), expected); // bit for bit: the reference meaning
});

Deno.test("without runFused a kernel's equations run one by one, bit-equal to eager", async () => {
  const b = testBackend(false);
  const x = b.tensor(ROWS, [3, 4]);
  const g = (x: Tensor) => h.layerNorm(h.tanh(h.mul(x, 3)));
  const f = jit(g);
  const lowered = f.lower(x);
  assert(lowered.kernels < lowered.eagerKernels);
  assertEquals(lowered.fusedOnBackend, false);
  assertEquals(await bits(f(x)), await bits(g(x)));
  assertEquals(b.counts.fused, 0);
});

Deno.test("each intermediate is freed right after its last use", async () => {
  for (const fused of [false, true]) {
    const b = testBackend(fused);
    const x = b.tensor(ROWS.slice(0, 9).map((v) => v / 4), [3, 3]);
    const chain = (x: Tensor) => {
      let y = x;
      for (let i = 0; i < 8; i++) y = h.tanh(h.matmul(y, x));
      return y;
    };
    const f = jit(chain);
    f(x); // compile, and make the scalars it needs
    const before = b.memory().liveBuffers;
    b.resetPeak();
    const y = f(x);
    // x, the value in flight, the next one: never all eight.
    assert(
      b.counts.peak - before <= 2,
      `fused=${fused}: peak ${b.counts.peak} with ${before} live before`,
    );
    assertEquals(b.memory().liveBuffers, before + 1); // only y stays
    await assertAllClose(y, chain(x), { rtol: 1e-6, atol: 1e-7 });
  }
});

Deno.test("memory() stays flat across jitted calls", async () => {
  for (const fused of [false, true]) {
    const b = testBackend(fused);
    const x = b.tensor(ROWS, [3, 4]);
    const f = jit((x: Tensor) => [h.softmax(x), h.sum(h.exp(x))]);
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      const outs = f(x);
      await Promise.all(outs.map((t) => t.data()));
      h.dispose(outs);
      seen.push(b.memory().liveBuffers);
    }
    assertEquals(new Set(seen).size, 1, `fused=${fused}: ${seen}`);
  }
});

Deno.test("lower() shows the plan and kernels per call, eager vs jit", () => {
  const x = testBackend(true).tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const f = jit((x: Tensor) => h.layerNorm(x));
  const l = f.lower(x);
  assertEquals([l.kernels, l.eagerKernels], [2, 12]); // reshapes not counted
  assertEquals(l.plan.steps.length, l.kernels);
  assert(l.text.startsWith("{ plan ; a:f32[2,3]. let  # 2 kernels"), l.text);
  assertEquals(l.fusedOnBackend, true);
  assertEquals(f.cacheSize, 1);
  const cpu = f.lower(testBackend(false).tensor([1, 2, 3, 4, 5, 6], [2, 3]));
  assertEquals([cpu.kernels, cpu.fusedOnBackend], [4, false]); // no copies
});

Deno.test("inside another jit's trace a jitted call records its equations", () => {
  const inner = jit((x: Tensor) => h.exp(h.mul(x, 2)));
  const outer = jit((x: Tensor) => h.add(inner(x), 1));
  const p = outer.program(h.tensor([1, 2]));
  assertEquals(p.eqns.map((e) => e.prim), ["mul", "exp", "add"]);
  assertEquals(outer.lower(h.tensor([1, 2])).kernels, 1);
});

Deno.test("an executable checks its inputs and runs only on its backend's tensors", () => {
  const b = testBackend(true);
  const { program } = h.makeProgram((x: Tensor) => h.exp(x))(h.tensor([1]));
  const exe = compileExecutable(program, b);
  let err = "";
  try {
    exe.run([h.tensor([1, 2])]);
  } catch (e) {
    err = String(e);
  }
  assert(err.includes("input 0 is float32[2]"), err);
  try {
    exe.run([h.tensor([1])]); // on the default backend
  } catch (e) {
    err = String(e);
  }
  assert(err.includes("different backends"), err);
});

Deno.test("jitted calls keep live storage flat on the backends that count it exactly", async () => {
  await h.init(); // lists WebGPU where there is an adapter
  // The CPU reference counts storage until the garbage collector runs.
  const names = h.backends().filter((b) => b !== "cpu");
  assert(names.includes("wasm"));
  for (const name of names) {
    await h.withBackend(name, async () => {
      const x = h.uniform(h.key(1), [64, 48]);
      const f = jit((x: Tensor) => [h.layerNorm(h.tanh(x)), h.softmax(x)]);
      const live: number[] = [];
      for (let i = 0; i < 4; i++) {
        const outs = f(x);
        await Promise.all(outs.map((t) => t.data()));
        h.dispose(outs);
        live.push(h.memory()[name]!.liveBuffers);
      }
      assertEquals(new Set(live).size, 1, `${name}: ${live}`);
    });
  }
});

testEachBackend(
  "fused kernels mixing float32, int32 and bool give what eager gives",
  async () => {
    const x = h.uniform(h.key(4), [33, 17], { min: -3, max: 3 }); // [33, 17]
    const n = h.cast(h.mul(x, 4), "int32"); // [33, 17]
    const f = (x: Tensor, n: Tensor) => {
      const big = h.logicalOr(h.greater(x, 1), h.logicalNot(h.less(n, -2)));
      const m = h.where(h.logicalAnd(big, h.equal(h.abs(n), 3)), h.sign(x), x);
      const k = h.maximum(h.mul(n, 3), h.sub(n, 7)); // int32
      const t = h.add(h.cast(k, "float32"), h.pow(h.abs(m), 1.5)); // [33, 17]
      return [
        t,
        h.sum(h.cast(big, "int32"), { axis: 0 }), // [17] int32
        h.max(h.mul(t, h.transpose(h.reshape(h.transpose(x), [17, 33]))), {
          axis: 1,
        }), // [33]
        h.min(k, { axis: 1 }), // [33] int32
        h.cast(h.sum(h.cast(big, "float32")), "int32"),
      ];
    };
    const jf = jit(f);
    const l = jf.lower(x, n);
    assert(l.kernels < l.eagerKernels / 2, l.text);
    const [got, want] = [jf(x, n), f(x, n)];
    for (let i = 0; i < want.length; i++) {
      assertEquals(got[i]!.dtype, want[i]!.dtype);
      await assertAllClose(got[i]!, want[i]!, { rtol: 1e-5, atol: 1e-5 });
    }
  },
);

testEachBackend(
  "softmax, layer norm and cross-entropy under jit equal eager",
  async () => {
    const x = h.uniform(h.key(7), [37, 29], { min: -4, max: 4 }); // [37, 29]
    const labels = h.cast(h.mul(h.uniform(h.key(8), [37]), 28.9), "int32");
    const cases: [(x: Tensor) => Tensor, number][] = [
      [(x) => h.softmax(x), 2],
      [(x) => h.layerNorm(x), 2],
      [(x) => h.crossEntropy(x, labels, { labelSmoothing: 0.1 }), 2],
    ];
    for (const [f, kernels] of cases) {
      const jf = jit(f);
      const l = jf.lower(x);
      // Without runFused no group is copied, so a few more kernels run.
      if (l.fusedOnBackend) assertEquals(l.kernels, kernels, l.text);
      await assertAllClose(jf(x), f(x), { rtol: 1e-5, atol: 1e-6 });
    }
  },
);
