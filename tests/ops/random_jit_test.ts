// Keys under jit: a key argument is a traced input (int32 [2]), keys split
// and folded inside the trace stay symbolic, and every sampler gives the
// numbers the host key gives eagerly, from one program for every key.

import { assertEquals, assertThrows } from "@std/assert";
import * as h from "../../mod.ts";
import type { Key, Tensor } from "../../mod.ts";
import { grad, vmap } from "../../mod.ts";
import { assertAllClose, readAll, testEachBackend } from "../_helpers.ts";

await h.init(); // lists WebGPU where an adapter exists, so it is tested too

/** Bit-equal on the CPU; within float32 rounding of log/cos elsewhere. */
async function assertSame(
  got: readonly Tensor[],
  want: readonly Tensor[],
  what: string,
): Promise<void> {
  const [a, b] = [await readAll(got), await readAll(want)];
  if (h.defaultBackend() === "cpu") return assertEquals(a, b, what);
  for (let i = 0; i < a.length; i++) {
    await assertAllClose(a[i]!, b[i]!, { rtol: 1e-6, atol: 1e-6 }, what);
  }
}

/** Every derivation and sampler on one key. */
function draws(x: Tensor, k: Key): Tensor[] {
  const [a, b] = h.split(k);
  const c = h.foldIn(b, 7);
  return [
    h.uniform(a, [5], { min: -1, max: 3 }),
    h.normal(c, [4]),
    h.bernoulli(h.split(c, 3)[2], 0.3, [6]),
    h.dropout(x, { rate: 0.5, key: h.foldIn(a, 2) }),
    h.categorical(h.foldIn(h.foldIn(c, 1), 4), h.zeros([3, 5])),
  ];
}

testEachBackend(
  "a jitted sampler traces once and gives the host key's numbers for every key",
  async () => {
    let traces = 0;
    const f = h.jit((x: Tensor, k: Key) => {
      traces++;
      return draws(x, k);
    });
    const x = h.add(h.reshape(h.arange(8), [2, 4]), 1);
    for (const seed of [0, 1, -1, 2 ** 40 + 3]) {
      const k = h.foldIn(h.key(seed), 5);
      await assertSame(f(x, k), draws(x, k), `seed ${seed}`);
    }
    assertEquals([traces, f.cacheSize], [1, 1]);
  },
);

testEachBackend(
  "uniform on a traced key equals the golden values",
  async () => {
    const f = h.jit((k: Key) => h.uniform(k, [4]));
    assertEquals(await f(h.key(0)).array(), [
      0.41845703125,
      0.6004990339279175,
      0.31468164920806885,
      0.7533911466598511,
    ]);
    // The key is an input of the program, not a folded constant.
    assertEquals(f.program(h.key(9)).inputs.length, 1);
  },
);

testEachBackend(
  "keys passed into a nested jit keep their path",
  async () => {
    const inner = h.jit((k: Key) => h.uniform(k, [3]));
    const outer = h.jit((k: Key) => {
      const [, b] = h.split(h.foldIn(k, 3));
      return h.add(inner(b), inner(h.foldIn(b, 1)));
    });
    const eager = (k: Key) => {
      const [, b] = h.split(h.foldIn(k, 3));
      return h.add(h.uniform(b, [3]), h.uniform(h.foldIn(b, 1), [3]));
    };
    for (const seed of [4, 5]) {
      await assertSame([outer(h.key(seed))], [eager(h.key(seed))], "nested");
    }
    assertEquals(outer.cacheSize, 1);
  },
);

testEachBackend(
  "jit(grad(f)) with dropout on a traced key equals grad(f)",
  async () => {
    const f = (w: Tensor, k: Key) =>
      h.sum(h.square(h.dropout(h.mul(w, 3), { rate: 0.4, key: k })));
    const g = grad(f);
    const jg = h.jit(g);
    const w = h.add(h.arange(8), 0.5);
    for (const seed of [1, 2, 3]) {
      await assertSame([jg(w, h.key(seed))], [g(w, h.key(seed))], "grad");
    }
    assertEquals(jg.cacheSize, 1);
  },
);

Deno.test("vmap over a batch of key tensors equals a loop of draws", async () => {
  const words = h.tensor([0, 0, 0, 42, -1, -1], {
    dtype: "int32",
    shape: [3, 2],
  });
  const got = vmap((kd: Tensor) =>
    h.uniform(h.split(h.keyFromData(kd))[1], [4])
  )(
    words,
  );
  const want = [h.key(0), h.key(42), h.key(-1)].map((k) =>
    h.uniform(h.split(k)[1], [4])
  );
  assertEquals(await got.array(), await readAll(want));
});

Deno.test("a traced key's words are a TypeError that names jit", () => {
  const f = h.jit((k: Key) => h.permutation(k, 4));
  assertThrows(() => f(h.key(0)), TypeError, "traced by jit");
  assertEquals(h.jit((k: Key) => String(k))(h.key(1)), "Key(traced, path [])");
});

Deno.test("a traced key takes at most MAX_KEY_PATH derivation steps", () => {
  const deep = (n: number) =>
    h.jit((k: Key) => {
      for (let i = 0; i < n; i++) k = h.foldIn(k, i);
      return h.uniform(k, [2]);
    });
  deep(h.MAX_KEY_PATH)(h.key(0));
  assertThrows(
    () => deep(h.MAX_KEY_PATH + 1)(h.key(0)),
    RangeError,
    `at most ${h.MAX_KEY_PATH} times`,
  );
});

Deno.test("keyFromData refuses anything but int32 [2] and a path of uint32 pairs", () => {
  assertThrows(() => h.keyFromData(h.zeros([2])), TypeError, "int32");
  const i3 = h.tensor([1, 2, 3], { dtype: "int32" });
  assertThrows(() => h.keyFromData(i3), TypeError, "shape [2]");
  const ok = h.tensor([1, 2], { dtype: "int32" });
  assertThrows(() => h.keyFromData(ok, [[1, -1]]), RangeError, "uint32");
  assertThrows(
    () => h.keyFromData(ok, [[1]] as unknown as [number, number][]),
    RangeError,
    "path",
  );
});

testEachBackend(
  "a key with a path samples what the host key split the same way does",
  async () => {
    const k = h.key(77);
    const { data } = h.keyOperand(k);
    const viaPath = h.keyFromData(data, [[1, 1], [9, 2]]); // split [1], foldIn 9
    const host = h.foldIn(h.split(k)[1], 9);
    await assertSame([h.uniform(viaPath, [7])], [h.uniform(host, [7])], "path");
  },
);
