// The memory model: scopes free what a block created and did not return,
// `carry` keeps a training loop flat, `using` and `dispose` free values now,
// memory() reports live storage.

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { scalar } from "../../ops/core.ts";
import { assertAllClose, testEachBackend } from "../_helpers.ts";

type Params = { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor };

function initMlp(k: h.Key, dIn: number, dHidden: number, dOut: number): Params {
  const [k1, k2] = h.split(k);
  return {
    w1: h.mul(h.normal(k1!, [dIn, dHidden]), 1 / Math.sqrt(dIn)),
    b1: h.zeros([dHidden]),
    w2: h.mul(h.normal(k2!, [dHidden, dOut]), 1 / Math.sqrt(dHidden)),
    b2: h.zeros([dOut]),
  };
}

function loss(p: Params, x: Tensor, y: Tensor): Tensor {
  const hidden = h.relu(h.add(h.matmul(x, p.w1), p.b1));
  return h.crossEntropy(h.add(h.matmul(hidden, p.w2), p.b2), y);
}

function sgd(p: Params, x: Tensor, y: Tensor, lr: number): Params {
  const g = h.grad(loss)(p, x, y);
  return h.treeMap(
    (w, gw) => h.sub(w as Tensor, h.mul(gw as Tensor, lr)),
    p,
    g,
  );
}

const backendsWithMemory = h.backends().filter((b) => b !== "cpu");
for (const b of backendsWithMemory) {
  Deno.test(`500 gradient steps of an MLP on ${b} do not grow live memory`, async () => {
    await h.withBackend(b, async () => {
      const x = h.normal(h.key(1), [32, 16]);
      const y = h.tensor(Int32Array.from({ length: 32 }, (_, i) => i % 4));
      let params = initMlp(h.key(0), 16, 32, 4);
      const first = h.scope(() => loss(params, x, y));
      const live: number[] = [];
      for (let step = 0; step < 500; step++) {
        params = h.carry(params, (p) => sgd(p, x, y, 0.1));
        if (step >= 10 && step % 50 === 0) live.push(h.memory()[b]!.liveBytes);
      }
      const last = h.scope(() => loss(params, x, y));
      const [l0, l1] = [
        await first.item() as number,
        await last.item() as number,
      ];
      // The loop trained (so the steps really ran) and memory stayed flat.
      assertEquals(l1 < l0 * 0.5, true, `loss ${l0} -> ${l1}`);
      assertEquals(
        new Set(live).size,
        1,
        `live bytes changed: ${live.join(", ")}`,
      );
    });
  });
}

testEachBackend(
  "scope frees intermediates and keeps what it returns",
  async () => {
    const x = h.tensor([1, 2, 3]);
    let inner: Tensor | null = null;
    const out = h.scope(() => {
      inner = h.mul(x, x);
      return { y: h.add(inner, 1), keep: [h.neg(x)] };
    });
    assertEquals(await out.y.array(), [2, 5, 10]);
    assertEquals(await out.keep[0]!.array(), [-1, -2, -3]);
    assertEquals(inner!.released, true);
    assertEquals(x.released, false);
    await assertRejects(() => inner!.data(), TypeError, "storage was freed");
    assertThrows(() => h.add(inner!, 1), TypeError, "storage was freed");
  },
);

testEachBackend(
  "nested scopes hand returned tensors to the enclosing scope",
  async () => {
    let middle: Tensor | null = null;
    const out = h.scope(() => {
      middle = h.scope(() => h.mul(h.tensor([2]), 3));
      return h.add(middle, 1);
    });
    assertEquals(await out.array(), [7]);
    assertEquals(middle!.released, true);
  },
);

testEachBackend("scope frees everything when its block throws", () => {
  let made: Tensor | null = null;
  assertThrows(
    () =>
      h.scope(() => {
        made = h.tensor([1]);
        throw new Error("boom");
      }),
    Error,
    "boom",
  );
  assertEquals(made!.released, true);
});

testEachBackend("scope refuses async blocks", () => {
  assertThrows(
    () => h.scope(() => Promise.resolve(1)),
    TypeError,
    "synchronous",
  );
});

testEachBackend("cached constants survive scopes", async () => {
  h.scope(() => h.add(h.tensor([1]), 12345));
  const y = h.add(h.tensor([1]), 12345);
  assertEquals(await y.array(), [12346]);
});

testEachBackend("memory() reports the default backend", () => {
  const stats = h.memory()[h.defaultBackend()];
  assertEquals(typeof stats?.liveBytes, "number");
});

for (const b of backendsWithMemory) {
  Deno.test(`the backward pass of a long chain frees cotangents as it goes on ${b}`, async () => {
    await h.withBackend(b, async () => {
      // 300 steps of y = tanh(y W): every step adds a [128, 128] term to W's
      // gradient. Kept alive, those partial sums and cotangents would hold
      // about 300 × 200 KB; freed as they are used, the backward pass holds
      // the forward residuals and a few W-sized sums.
      const w = h.mul(h.normal(h.key(1), [128, 128]), 1 / Math.sqrt(128));
      const x0 = h.normal(h.key(2), [4, 128]);
      let liveInBackward = -1;
      const probe = h.customVjp(
        (x: Tensor) => x,
        (x: Tensor) => [x, null],
        (_res, ct: Tensor) => {
          // Transposed last: every later step's backward is done here.
          liveInBackward = h.memory()[b]!.liveBytes;
          return [ct];
        },
      );
      const before = h.memory()[b]!.liveBytes;
      const [g] = h.scope(() =>
        h.grad((ww: Tensor, x: Tensor) => {
          let y = probe(x);
          for (let i = 0; i < 300; i++) y = h.tanh(h.matmul(y, ww));
          return h.sum(y);
        }, { argnums: [0, 1] })(w, x0)
      );
      const extra = liveInBackward - before;
      // forward residuals: 300 × (y, tanh(yW)) of [4, 128] ≈ 1.2 MB
      if (extra > 6 * 2 ** 20) {
        throw new Error(
          `the backward pass held ${(extra / 2 ** 20).toFixed(1)} MiB`,
        );
      }
      assertEquals(g.shape, [128, 128]);
      assertEquals(Number.isFinite(await h.sum(g).item()), true);
    });
  });
}

testEachBackend(
  "the freed error says what to do: scope, carry, using",
  async () => {
    const gone = h.scope(() => {
      h.mul(h.tensor([1, 2]), 2);
      return null;
    });
    assertEquals(gone, null);
    const x = h.mul(h.tensor([1, 2]), 2);
    h.dispose(x);
    const e = await assertRejects(() => x.data(), TypeError);
    for (const word of ["freed", "`scope`", "`carry`", "`using`", "dispose"]) {
      assert(e.message.includes(word), `"${word}" missing from: ${e.message}`);
    }
    assertThrows(() => h.add(x, 1), TypeError, "`carry`");
  },
);

testEachBackend(
  "using frees a tensor at the end of its block, across await",
  async () => {
    const x = h.tensor([1, 2, 3]);
    let held: Tensor | null = null;
    {
      using y = h.mul(x, 2);
      held = y;
      await new Promise((r) => setTimeout(r, 1));
      assertEquals(await y.array(), [2, 4, 6]); // still alive after an await
      assertEquals(y.released, false);
    }
    assertEquals(held.released, true);
    assertEquals(x.released, false);
    await assertRejects(() => held!.data(), TypeError, "freed");
  },
);

testEachBackend(
  "using in an async loop frees each iteration's values",
  async () => {
    const x = h.tensor([1, 2, 3]);
    const seen: Tensor[] = [];
    for (let i = 0; i < 3; i++) {
      using s = h.sum(h.mul(x, i));
      seen.push(s);
      assertEquals(await s.item(), 6 * i);
    }
    assertEquals(seen.map((t) => t.released), [true, true, true]);
  },
);

testEachBackend(
  "dispose frees every tensor of a pytree, and twice is harmless",
  () => {
    const x = h.tensor([1, 2]);
    const tree = {
      a: h.mul(x, 2),
      b: [h.add(x, 1), { c: h.neg(x) }],
      n: 3,
      s: "text",
    };
    const leaves = [
      tree.a,
      tree.b[0] as Tensor,
      (tree.b[1] as { c: Tensor }).c,
    ];
    h.dispose(tree);
    assertEquals(leaves.map((t) => t.released), [true, true, true]);
    h.dispose(tree);
    h.dispose(x);
    assertEquals(x.released, true);
  },
);

testEachBackend("dispose and using leave pinned constants alone", async () => {
  const c = scalar(4321, "float32"); // the cached constant behind add(x, 4321)
  h.dispose(c);
  {
    using d = c;
    assertEquals(d, c);
  }
  assertEquals(c.released, false);
  assertEquals(await h.add(h.tensor([1]), 4321).array(), [4322]);
});

for (const b of backendsWithMemory) {
  Deno.test(`a 200-step loop with carry and a read-back loss keeps memory() flat on ${b}`, async () => {
    await h.withBackend(b, async () => {
      const target = h.tensor([1, -2, 3, -4]);
      let state = { w: h.zeros([4]), step: h.tensor(0) };
      const live: [number, number][] = [];
      for (let i = 0; i < 200; i++) {
        state = h.carry(state, (s) => ({
          w: h.sub(s.w, h.mul(h.sub(s.w, target), 0.1)),
          step: h.add(s.step, 1),
        }));
        if (i % 20 === 0) {
          // The scope frees the difference and the square; `using` the loss.
          using loss = h.scope(() => h.sum(h.square(h.sub(state.w, target))));
          await loss.item();
        }
        if (i >= 20 && i % 20 === 1) {
          const m = h.memory()[b]!;
          live.push([m.liveBuffers, m.liveBytes]);
        }
      }
      assertEquals(await state.step.item(), 200);
      await assertAllClose(await state.w.array(), [1, -2, 3, -4], {
        atol: 1e-4,
      });
      // Never above the first sample: the garbage collector may free other
      // tests' tensors meanwhile (live memory drops), but a leak grows it.
      const text = live.map((l) => l.join("/")).join(", ");
      for (const [buffers, bytes] of live) {
        assert(buffers <= live[0]![0] && bytes <= live[0]![1], `grew: ${text}`);
      }
    });
  });

  Deno.test(`the finaliser frees a tensor's storage once, never after dispose, on ${b}`, async () => {
    const script = await Deno.makeTempFile({ suffix: ".ts" });
    const root = new URL("../../", import.meta.url);
    await Deno.writeTextFile(
      script,
      `import * as h from "${new URL("mod.ts", root).href}";
import { pin } from "${new URL("ops/memory.ts", root).href}";
await h.setBackend("${b}");
const x = h.tensor([1, 2, 3, 4]);
(() => {
  // Views share x's storage, one reference each.
  const v = h.reshape(x, [2, 2]);
  pin(v); // already tracked: must not gain a second finaliser
  const w = h.reshape(x, [4, 1]);
  h.dispose(w); // freed now: its finaliser must not free it again
})();
for (let i = 0; i < 10; i++) {
  (globalThis as unknown as { gc(): void }).gc();
  await new Promise((r) => setTimeout(r, 10));
}
console.log(JSON.stringify(await x.array()));
`,
    );
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-env",
          "--v8-flags=--expose-gc",
          script,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assertEquals(out.code, 0, err);
      assertEquals(new TextDecoder().decode(out.stdout).trim(), "[1,2,3,4]");
    } finally {
      await Deno.remove(script);
    }
  });
}

testEachBackend(
  "scope inside a differentiated function frees nothing grad still needs",
  async () => {
    const x = h.tensor([0, 1, -0.5]);
    // exp(x) is a residual of mul's backward pass; scope used to free it.
    const f = (x: Tensor) =>
      h.scope(() => {
        const y = h.exp(x);
        return h.sum(h.mul(y, y));
      });
    const expected = [0, 1, -0.5].map((v) => 2 * Math.exp(2 * v));
    assertAllClose(await h.grad(f)(x).array(), expected, { rtol: 1e-5 });
    const [, tangent] = h.jvp(f, [x], [h.onesLike(x)]);
    assertAllClose(
      await tangent.item(),
      expected.reduce((a, b) => a + b),
      { rtol: 1e-5 },
    );
    assertAllClose(await h.jit(h.grad(f))(x).array(), expected, { rtol: 1e-5 });
    // At the top level it still frees what it made at once.
    let inner: Tensor | null = null;
    const z = h.scope(() => h.sum(h.mul(inner = h.exp(x), 2)));
    assertEquals(inner!.released, true);
    assertEquals(z.released, false);
    // Under grad, the same intermediate lives until grad is done with it.
    h.grad((x: Tensor) => {
      const r = h.scope(() => h.sum(h.mul(inner = h.exp(x), 2)));
      assertEquals(inner!.released, false);
      return r;
    })(x);
  },
);
