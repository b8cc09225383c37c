// jit's donateArgnums: at the top level a donated argument's tensors are
// freed during the call (after their last use), the results are those of
// the call without donation, tensors held elsewhere (another argument, a
// constant, the output, a pinned constant) stay alive, nothing is donated
// under a transform or inside another jit's trace, and the step's peak of
// live memory drops.

import { assert, assertEquals, assertThrows } from "@std/assert";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import { jit } from "../../../ops/jit/jit.ts";
import { pin } from "../../../ops/memory.ts";
import { testEachBackend } from "../../_helpers.ts";
import { testBackend } from "./_fused_backend.ts";

type Params = { w: Tensor; b: Tensor };

/** A step that replaces its parameters and its momentum. */
const update = (p: Params, m: Params, x: Tensor) => {
  const g = { w: h.mul(x, h.tanh(p.w)), b: h.sum(p.b) }; // [3], []
  const nm = { w: h.add(h.mul(m.w, 0.9), g.w), b: h.add(h.mul(m.b, 0.9), g.b) };
  return {
    p: { w: h.sub(p.w, h.mul(nm.w, 0.1)), b: h.sub(p.b, h.mul(nm.b, 0.1)) },
    m: nm,
  };
};

const state = () => ({
  p: { w: h.tensor([0.5, -1, 2]), b: h.tensor([0.25, 3]) },
  m: { w: h.tensor([0.1, 0.2, 0.3]), b: h.tensor([-1, 1]) },
});

const bits = async (t: Tensor): Promise<number[]> => Array.from(await t.data());

testEachBackend(
  "donated arguments are freed and the results are bit-equal to the call without donation",
  async () => {
    const plain = jit(update);
    const donating = jit(update, { donateArgnums: [0, 1] });
    const x = h.tensor([1, 2, 3]);
    let a = state(), b = state();
    for (let i = 0; i < 3; i++) {
      const na = plain(a.p, a.m, x);
      const old = b;
      b = donating(b.p, b.m, x);
      for (const t of [old.p.w, old.p.b, old.m.w, old.m.b]) assert(t.released);
      for (const t of [a.p.w, a.p.b, a.m.w, a.m.b]) assert(!t.released);
      assert(!x.released);
      a = na;
    }
    for (const k of ["w", "b"] as const) {
      assertEquals(await bits(b.p[k]), await bits(a.p[k]));
      assertEquals(await bits(b.m[k]), await bits(a.m[k]));
    }
    assertEquals(donating.cacheSize, 1);
  },
);

Deno.test("reading a donated tensor is the freed-storage error", async () => {
  const f = jit((p: Tensor) => h.mul(p, 2), { donateArgnums: 0 });
  const p = h.tensor([1, 2]);
  assertEquals(await f(p).array(), [2, 4]);
  const why = "its storage was freed (it was donated to a jitted call";
  assertThrows(() => p.handle, TypeError, why);
  assertThrows(() => h.add(p, 1), TypeError, why);
});

Deno.test("a donated tensor that a non-donated argument also holds stays alive", async () => {
  const f = jit((a: Tensor, b: Tensor) => h.add(a, b), { donateArgnums: [0] });
  const x = h.tensor([1, 2]);
  assertEquals(await f(x, x).array(), [2, 4]);
  assert(!x.released);
  assertEquals(await x.array(), [1, 2]);
});

Deno.test("a tensor donated twice is freed once, after the call", async () => {
  for (const fused of [false, true]) {
    const b = testBackend(fused); // throws on a double free
    const f = jit((a: Tensor, c: Tensor) => h.mul(h.exp(a), c), {
      donateArgnums: [0, 1],
    });
    const x = b.tensor([0, 1], [2]);
    const y = f(x, x);
    assert(x.released);
    assertEquals(
      await bits(y),
      await bits(h.mul(h.exp(b.tensor([0, 1], [2])), b.tensor([0, 1], [2]))),
    );
  }
});

Deno.test("a donated tensor returned as it is stays alive as the output", async () => {
  const f = jit((p: Params) => ({ w: p.w, b: h.add(p.b, 1) }), {
    donateArgnums: 0,
  });
  const p = { w: h.tensor([1]), b: h.tensor([2]) };
  const out = f(p);
  assert(out.w === p.w && !p.w.released);
  assert(p.b.released);
  assertEquals(await out.w.array(), [1]);
  assertEquals(await out.b.array(), [3]);
  // Returned twice from one donated argument passed twice: still alive.
  const g = jit((a: Tensor, c: Tensor) => [a, h.neg(c)], {
    donateArgnums: [0, 1],
  });
  const z = h.tensor([5]);
  const [same, neg] = g(z, z);
  assert(same === z && !z.released);
  assertEquals(await neg!.array(), [-5]);
});

testEachBackend(
  "a result that shares a donated tensor's storage (a reshape) stays readable",
  async () => {
    const f = jit((p: Tensor) => [h.reshape(p, [2, 2]), h.mul(p, 2)], {
      donateArgnums: 0,
    });
    const p = h.tensor([1, 2, 3, 4]);
    const [r, d] = f(p);
    assert(p.released);
    h.dispose(d); // the pool may hand the freed memory out again
    const other = h.add(h.tensor([9, 9, 9, 9]), 1);
    assertEquals(await r!.array(), [[1, 2], [3, 4]]);
    assertEquals(await other.array(), [10, 10, 10, 10]);
  },
);

Deno.test("a donated tensor that the function closes over (a constant) stays alive", async () => {
  const w = h.tensor([1, 2]);
  const f = jit((p: Tensor) => h.add(p, w), { donateArgnums: 0 });
  assertEquals(await f(w).array(), [2, 4]);
  assert(!w.released);
  assertEquals(await f(h.tensor([1, 1])).array(), [2, 3]); // the constant still reads
});

Deno.test("a pinned (shared) tensor is never freed by donation", async () => {
  const c = pin(h.tensor([3]));
  const f = jit((p: Tensor) => h.mul(p, 2), { donateArgnums: 0 });
  assertEquals(await f(c).array(), [6]);
  assert(!c.released);
});

Deno.test("an unused donated argument is freed at the end of the call", async () => {
  const f = jit((_p: Tensor, x: Tensor) => h.mul(x, 2), { donateArgnums: 0 });
  const p = h.tensor([1]);
  assertEquals(await f(p, h.tensor([4])).array(), [8]);
  assert(p.released);
});

Deno.test("nothing is donated under grad, jvp and vmap", async () => {
  const f = jit((p: Tensor) => h.sum(h.mul(p, p)), { donateArgnums: 0 });
  const p = h.tensor([1, 2]);
  assertEquals(await h.grad(f)(p).array(), [2, 4]);
  assert(!p.released);
  const [y, yDot] = h.jvp(f, [p], [h.tensor([1, 0])]);
  assertEquals([await y.item(), await yDot.item()], [5, 2]);
  assert(!p.released);
  const rows = h.tensor([[1, 2], [3, 4]]);
  assertEquals(await h.vmap(f)(rows).array(), [5, 25]);
  assert(!rows.released);
  assertEquals(await p.array(), [1, 2]);
});

Deno.test("nothing is donated by a jitted function traced inside another jit", async () => {
  const inner = jit((p: Tensor) => h.mul(p, 3), { donateArgnums: 0 });
  const outer = jit((p: Tensor) => h.add(inner(p), p));
  const p = h.tensor([1, 2]);
  assertEquals(await outer(p).array(), [4, 8]);
  assert(!p.released);
  // jit(grad(inner)): the trace reads p after inner, so inner frees nothing
  const g = jit(h.grad((q: Tensor) => h.sum(h.mul(inner(q), q))));
  assertEquals(await g(p).array(), [6, 12]);
  assert(!p.released);
});

Deno.test("donation leaves the cache as it is: one trace per signature", async () => {
  let traces = 0;
  const f = jit((p: Tensor, x: Tensor) => {
    traces++;
    return h.add(p, x);
  }, { donateArgnums: 0 });
  const x = h.tensor([1, 1]);
  let p = h.tensor([0, 0]);
  for (let i = 0; i < 3; i++) p = f(p, x);
  assertEquals(await p.array(), [3, 3]);
  assertEquals([traces, f.cacheSize], [1, 1]);
  f(h.tensor([1]), h.tensor([1]));
  assertEquals([traces, f.cacheSize], [2, 2]);
});

Deno.test("donateArgnums is checked: type, range, and no static argument", () => {
  const id = (p: Tensor) => p;
  assertThrows(
    () => jit(id, { donateArgnums: "0" as unknown as number }),
    TypeError,
    "donateArgnums must be a number or an array",
  );
  assertThrows(
    () => jit(id, { donateArgnums: [-1] }),
    RangeError,
    "donateArgnums must hold non-negative integers, got -1",
  );
  assertThrows(
    () => jit(id, { staticArgnums: 1, donateArgnums: [0, 1] }),
    TypeError,
    "argument 1 is in both staticArgnums and donateArgnums",
  );
  assertThrows(
    () => jit(id, { donateArgnums: 2 })(h.tensor([1])),
    RangeError,
    "donateArgnums 2 is out of range for 1 argument(s)",
  );
  assertThrows(
    () => jit(id, { donate: 0 } as never),
    TypeError,
    "known: staticArgnums, donateArgnums",
  );
});

Deno.test("with donation a step's peak of live buffers drops by its replaced state", async () => {
  for (const fused of [false, true]) {
    const peaks: number[] = [];
    const results: number[][] = [];
    const b = testBackend(fused); // one per name: scalars are cached by name
    for (const donate of [false, true]) {
      const f = jit(
        (p: Tensor[], g: Tensor[]) =>
          p.map((w, i) => h.sub(w, h.mul(g[i]!, 0.1))),
        donate ? { donateArgnums: 0 } : {},
      );
      const make = () =>
        Array.from({ length: 4 }, (_, i) => b.tensor([i, i + 1, i + 2], [3]));
      const g = make();
      f(make(), g); // compile, and make the scalars it needs
      const p = make();
      const before = b.memory().liveBuffers;
      b.resetPeak();
      const next = f(p, g);
      peaks.push(b.counts.peak - before);
      results.push(await bits(next[3]!)); // 3 - 0.1 * 3, ...
    }
    // without: all four new parameters beside the old; with: one at a time
    // (one by one, the product g * 0.1 is a buffer of its own too)
    assertEquals(peaks, fused ? [4, 1] : [5, 2], `fused=${fused}`);
    assertEquals(results[1], results[0]);
    assertEquals(results[0], [2.7, 3.6, 4.5].map(Math.fround));
  }
});

Deno.test("on wasm, donating [1024, 1024] parameters lowers the update's peak live bytes", async () => {
  if (!h.backends().includes("wasm")) return;
  const prev = h.getBackend().name;
  await h.setBackend("wasm");
  try {
    await wasmPeaks();
  } finally {
    await h.setBackend(prev);
  }
});

/** The most live bytes on `b` while `run` runs, sampled after each kernel. */
function peakDuring(b: h.Backend, run: () => void): number {
  const methods = b as unknown as Record<string, (...a: unknown[]) => unknown>;
  let peak = b.memory().liveBytes;
  const patched = ["run", "runFused"].filter((m) => m in b);
  for (const m of patched) {
    const fn = methods[m]!;
    methods[m] = (...a: unknown[]) => {
      const r = fn.apply(b, a);
      peak = Math.max(peak, b.memory().liveBytes);
      return r;
    };
  }
  try {
    run();
  } finally {
    for (const m of patched) delete methods[m]; // back to the prototype's
  }
  return peak;
}

async function wasmPeaks(): Promise<void> {
  const wasm = h.getBackend("wasm");
  const step = (p: Tensor[], g: Tensor[]) =>
    p.map((w, i) => h.sub(w, h.mul(g[i]!, 0.1)));
  const plain = jit(step);
  const donating = jit(step, { donateArgnums: 0 });
  const make = (v: number) => [0, 1].map(() => h.full([1024, 1024], v));
  const g = make(1);
  h.dispose([plain(make(2), g), donating(make(2), g)]); // compile
  const grow: number[] = [];
  for (const f of [plain, donating]) {
    const p = make(2);
    const base = wasm.memory().liveBytes;
    let out: Tensor[] = [];
    grow.push(peakDuring(wasm, () => void (out = f(p, g))) - base);
    assertEquals((await out[1]!.data())[7], Math.fround(2 - Math.fround(0.1)));
    h.dispose([p, out]);
  }
  // without: both new [1024, 1024] parameters beside the old (8 MiB);
  // with: the second reuses the first's memory (4 MiB)
  assertEquals(grow.map((n) => Math.round(n / (1 << 20))), [8, 4]);
  h.dispose(g);
}
