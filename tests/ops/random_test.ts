// The PRNG: Threefry known answers, golden samples (the same on every run and
// every backend), independence of split and folded keys, and the moments and
// frequencies of every sampler. Statistical checks allow 6 standard errors,
// so a correct sampler fails one with probability about 2e-9; the keys are
// fixed, so the outcome is the same on every run.

import { assertEquals, assertNotEquals } from "@std/assert";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import fc from "fast-check";
import {
  bitsToUniform,
  fillUniform,
  randomBits,
  threefry2x32,
} from "../../ops/threefry.ts";
import {
  assertAllClose,
  readAll,
  testEachBackend,
  values,
} from "../_helpers.ts";

const mean = (xs: readonly number[]) =>
  xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: readonly number[]) => {
  const m = mean(xs);
  return mean(xs.map((x) => (x - m) ** 2));
};

/** Pearson correlation of two equally long samples. */
function correlation(a: readonly number[], b: readonly number[]): number {
  const ma = mean(a), mb = mean(b);
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const da = a[i]! - ma, db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Asserts |actual - expected| ≤ 6 standard errors. */
function assertWithin6Se(
  actual: number,
  expected: number,
  se: number,
  what: string,
): void {
  if (!(Math.abs(actual - expected) <= 6 * se)) {
    throw new Error(
      `${what}: ${actual} is more than 6 standard errors (${se}) from ${expected}`,
    );
  }
}

/** A frequency p̂ of `n` draws is within 6 standard errors of p. */
const assertFrequency = (count: number, n: number, p: number, what: string) =>
  assertWithin6Se(count / n, p, Math.sqrt((p * (1 - p)) / n), what);

// ------------------------------------------------------------ known answers

Deno.test("threefry2x32 matches the Random123 known-answer vectors", () => {
  // Threefry-2x32, 20 rounds: kat_vectors of Salmon et al.'s Random123.
  assertEquals(threefry2x32(0, 0, 0, 0), [0x6b200159, 0x99ba4efe]);
  assertEquals(threefry2x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), [
    0x1cb996fc,
    0xbb002be7,
  ]);
  assertEquals(threefry2x32(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3), [
    0xc4923a9c,
    0x483df7a0,
  ]);
});

Deno.test("key, split and foldIn give the documented key words", () => {
  assertEquals(h.key(0).words, [0, 0]);
  assertEquals(h.key(42).words, [0, 42]);
  assertEquals(h.key(-1).words, [0xffffffff, 0xffffffff]);
  assertEquals(h.key(2 ** 32).words, [1, 0]);
  assertEquals(h.split(h.key(0)).map((k) => k.words), [
    [928981903, 3453687069],
    [2473972575, 935721516],
  ]);
  assertEquals(h.foldIn(h.key(0), 1).words, [1390163619, 3131650755]);
  assertEquals(h.foldIn(h.key(0), 2).words, [2228513173, 3097936683]);
  assertEquals(String(h.key(42)), "Key(0x00000000, 0x0000002a)");
});

testEachBackend(
  "uniform(key(0), [4]) gives the golden values on every backend",
  async () => {
    // Element i is (word i & 1 of threefry2x32(key, (i >>> 1, 0))) >>> 9, times
    // 2^-23: threefry2x32(0, 0, 0, 0) = (0x6b200159, 0x99ba4efe), so element 0
    // is 3510272 / 2^23 and element 1 is (0x99ba4efe >>> 9) / 2^23.
    const got = await readAll([
      h.uniform(h.key(0), [4]),
      h.uniform(h.key(42), [3]),
    ]);
    assertEquals(got, [
      [
        0.41845703125,
        0.6004990339279175,
        0.31468164920806885,
        0.7533911466598511,
      ],
      [0.4267275333404541, 0.06302011013031006, 0.1001582145690918],
    ]);
    assertEquals(got[0]![0], 3510272 / 2 ** 23);
    assertEquals(got[0]![1], (0x99ba4efe >>> 9) / 2 ** 23);
  },
);

testEachBackend(
  "the other samplers give golden values for key(0)",
  async () => {
    const [n, p, b, c] = await readAll([
      h.normal(h.key(0), [3]),
      h.permutation(h.key(0), 8),
      h.bernoulli(h.key(0), 0.5, [8]),
      h.categorical(h.key(0), h.zeros([6, 3])),
    ]);
    // normal goes through log and cos, whose last bit may differ across backends.
    await assertAllClose(n, [
      0.03710823133587837,
      -0.3535230755805969,
      -0.29762381315231323,
    ], {
      rtol: 1e-5,
      atol: 1e-6,
    });
    assertEquals(p, [3, 6, 5, 7, 4, 2, 0, 1]);
    assertEquals(b, [1, 0, 1, 0, 1, 0, 0, 1]);
    assertEquals(c, [1, 2, 0, 0, 1, 2]);
  },
);

// -------------------------------------------------------------- determinism

testEachBackend(
  "the same key gives identical samples and different keys do not",
  async () => {
    const k = h.key(1234);
    const samplers: [string, (k: h.Key) => Tensor][] = [
      ["uniform", (k) => h.uniform(k, [64])],
      ["normal", (k) => h.normal(k, [64])],
      ["bernoulli", (k) => h.bernoulli(k, 0.5, [64])],
      ["categorical", (k) => h.categorical(k, h.zeros([64, 5]))],
      ["permutation", (k) => h.permutation(k, 64)],
    ];
    const got = await readAll(
      samplers.flatMap(([, f]) => [f(k), f(h.key(1234)), f(h.key(1235))]),
    );
    for (const [i, [name]] of samplers.entries()) {
      assertEquals(got[3 * i], got[3 * i + 1], `${name}: same key`);
      assertNotEquals(got[3 * i], got[3 * i + 2], `${name}: next key`);
    }
  },
);

Deno.test("permutationIndices on the host equals permutation", async () => {
  for (const seed of [0, 1, 99]) {
    assertEquals(
      Array.from(h.permutationIndices(h.key(seed), 50)),
      await values(h.permutation(h.key(seed), 50)),
    );
  }
});

// ------------------------------------------------------------- independence

testEachBackend(
  "split keys, folded keys and nearby seeds give uncorrelated streams",
  async () => {
    const n = 10_000;
    const k = h.key(7);
    const [a, b] = h.split(k);
    const three = h.split(k, 3);
    const streams: [string, h.Key, h.Key][] = [
      ["split children", a!, b!],
      ["parent and child", k, a!],
      ["split(k, 3) first and last", three[0]!, three[2]!],
      ["foldIn 1 and 2", h.foldIn(k, 1), h.foldIn(k, 2)],
      ["foldIn and parent", h.foldIn(k, 0), k],
      ["seeds 0 and 1", h.key(0), h.key(1)],
    ];
    const got = await readAll(
      streams.flatMap(([, x, y]) => [h.uniform(x, [n]), h.uniform(y, [n])]),
    );
    // Under independence the sample correlation has standard error 1/√n.
    for (const [i, [what]] of streams.entries()) {
      assertWithin6Se(
        correlation(got[2 * i]!, got[2 * i + 1]!),
        0,
        1 / Math.sqrt(n),
        what,
      );
    }
    // Within one stream, neighbours are uncorrelated too.
    const s = got[0]!;
    assertWithin6Se(
      correlation(s.slice(1), s.slice(0, -1)),
      0,
      1 / Math.sqrt(n - 1),
      "lag 1",
    );
  },
);

Deno.test("split keys differ from each other and from the parent; foldIn data matters", () => {
  const k = h.key(3);
  const words = [
    k,
    ...h.split(k, 4),
    h.foldIn(k, 0),
    h.foldIn(k, 1),
    h.foldIn(k, -1),
  ].map((x) => x.words.join(","));
  assertEquals(new Set(words).size, words.length);
  assertEquals(h.split(k, 1).length, 1);
  assertEquals(h.split(k, 5).length, 5);
  // split is a pure function of the key.
  assertEquals(
    h.split(k, 3).map((x) => x.words),
    h.split(h.key(3), 3).map((x) => x.words),
  );
});

// --------------------------------------------------------------- samplers

testEachBackend(
  "uniform lies in [0, 1) with mean 1/2, variance 1/12 and flat bins",
  async () => {
    const n = 50_000;
    const [u, r] = await readAll([
      h.uniform(h.key(11), [n]),
      h.uniform(h.key(12), [n], { min: -2, max: 3 }),
    ]);
    for (const v of u!) {
      if (!(v >= 0 && v < 1)) {
        throw new Error(`uniform sample ${v} outside [0, 1)`);
      }
    }
    assertWithin6Se(mean(u!), 0.5, Math.sqrt(1 / 12 / n), "mean");
    // Var((U - 1/2)²) = 1/80 - 1/144 = 1/180.
    assertWithin6Se(variance(u!), 1 / 12, Math.sqrt(1 / 180 / n), "variance");
    const bins = new Array<number>(16).fill(0);
    for (const v of u!) bins[Math.floor(v * 16)]! += 1;
    bins.forEach((c, i) => assertFrequency(c, n, 1 / 16, `bin ${i}`));
    for (const v of r!) {
      if (!(v >= -2 && v < 3)) {
        throw new Error(`uniform sample ${v} outside [-2, 3)`);
      }
    }
    assertWithin6Se(mean(r!), 0.5, Math.sqrt(25 / 12 / n), "mean on [-2, 3)");
  },
);

testEachBackend(
  "normal has mean 0, variance 1 and the normal's central masses",
  async () => {
    const n = 50_000;
    const z = await values(h.normal(h.key(21), [n]));
    for (const v of z) {
      if (!Number.isFinite(v)) {
        throw new Error(
          `normal sample ${v} is not finite`,
        );
      }
    }
    assertWithin6Se(mean(z), 0, 1 / Math.sqrt(n), "mean");
    // Var(Z²) = 2.
    assertWithin6Se(variance(z), 1, Math.sqrt(2 / n), "variance");
    assertFrequency(
      z.filter((v) => Math.abs(v) < 1).length,
      n,
      0.6826894921370859,
      "P(|Z| < 1)",
    );
    assertFrequency(
      z.filter((v) => Math.abs(v) < 2).length,
      n,
      0.9544997361036416,
      "P(|Z| < 2)",
    );
    assertFrequency(z.filter((v) => v > 0).length, n, 0.5, "P(Z > 0)");
  },
);

testEachBackend(
  "bernoulli is true with frequency p, for scalar and per-element p",
  async () => {
    const n = 50_000;
    const ps = [0.1, 0.5, 0.9];
    const got = await readAll([
      ...ps.map((p, i) => h.bernoulli(h.key(30 + i), p, [n])),
      h.bernoulli(h.key(40), h.tensor([0.2, 0.7]), [n / 2, 2]),
      h.bernoulli(h.key(41), 0, [1000]),
      h.bernoulli(h.key(42), 1, [1000]),
    ]);
    ps.forEach((p, i) =>
      assertFrequency(got[i]!.filter((v) => v === 1).length, n, p, `p = ${p}`)
    );
    const cols = got[3]!;
    assertFrequency(
      cols.filter((v, i) => i % 2 === 0 && v === 1).length,
      n / 2,
      0.2,
      "column p = 0.2",
    );
    assertFrequency(
      cols.filter((v, i) => i % 2 === 1 && v === 1).length,
      n / 2,
      0.7,
      "column p = 0.7",
    );
    assertEquals(got[4]!.every((v) => v === 0), true, "p = 0 is never true");
    assertEquals(got[5]!.every((v) => v === 1), true, "p = 1 is always true");
  },
);

testEachBackend(
  "categorical frequencies match softmax(logits) on 20,000 samples",
  async () => {
    const n = 20_000;
    const logits = [1, 2, 0.5, -1, -Infinity];
    const z = Math.log(logits.reduce((s, l) => s + Math.exp(l), 0));
    const p = logits.map((l) => Math.exp(l - z));
    const rows = h.broadcastTo(h.tensor(logits), [n, logits.length]);
    const [draws, byAxis0] = await readAll([
      h.categorical(h.key(51), rows),
      h.categorical(h.key(52), h.transpose(rows), 0),
    ]);
    for (const sample of [draws!, byAxis0!]) {
      const counts = new Array<number>(logits.length).fill(0);
      for (const c of sample) counts[c]! += 1;
      counts.forEach((c, i) => assertFrequency(c, n, p[i]!, `class ${i}`));
      assertEquals(counts[4], 0, "a -Infinity logit is never drawn");
    }
  },
);

Deno.test("permutation is a permutation, and all 6 orders of 3 are equally likely", () => {
  for (const n of [0, 1, 2, 17, 100]) {
    const perm = Array.from(h.permutationIndices(h.key(n), n));
    assertEquals([...perm].sort((a, b) => a - b), [...Array(n).keys()]);
  }
  const trials = 6_000;
  const counts = new Map<string, number>();
  const k = h.key(61);
  for (let i = 0; i < trials; i++) {
    const s = h.permutationIndices(h.foldIn(k, i), 3).join("");
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  assertEquals(counts.size, 6);
  for (const [order, c] of counts) {
    assertFrequency(c, trials, 1 / 6, `order ${order}`);
  }
  // Each position of a larger permutation is uniform too: where does 0 land?
  const where0 = new Array<number>(5).fill(0);
  for (let i = 0; i < trials; i++) {
    where0[h.permutationIndices(h.foldIn(k, -i - 1), 5).indexOf(0)]! += 1;
  }
  where0.forEach((c, i) =>
    assertFrequency(c, trials, 1 / 5, `0 at position ${i}`)
  );
});

// ------------------------------------------------------------ shapes, dtypes

testEachBackend("every sampler gives the documented shape and dtype", () => {
  const k = h.key(0);
  const cases: [string, Tensor, number[], h.DType][] = [
    ["uniform", h.uniform(k, [2, 3]), [2, 3], "float32"],
    ["uniform scalar", h.uniform(k, []), [], "float32"],
    ["uniform empty", h.uniform(k, [0, 4]), [0, 4], "float32"],
    ["uniform range", h.uniform(k, [5], { min: 2, max: 4 }), [5], "float32"],
    ["normal", h.normal(k, [4, 1]), [4, 1], "float32"],
    ["normal scalar", h.normal(k, []), [], "float32"],
    ["bernoulli", h.bernoulli(k, 0.3, [2, 2]), [2, 2], "bool"],
    [
      "bernoulli with a p tensor",
      h.bernoulli(k, h.full([3], 0.5)),
      [3],
      "bool",
    ],
    ["categorical", h.categorical(k, h.zeros([2, 3, 4])), [2, 3], "int32"],
    [
      "categorical axis 0",
      h.categorical(k, h.zeros([2, 3, 4]), 0),
      [3, 4],
      "int32",
    ],
    ["categorical of a vector", h.categorical(k, h.zeros([4])), [], "int32"],
    ["permutation", h.permutation(k, 6), [6], "int32"],
    ["permutation of 0", h.permutation(k, 0), [0], "int32"],
  ];
  for (const [name, t, shape, dtype] of cases) {
    assertEquals([t.shape, t.dtype], [shape, dtype], name);
  }
  assertEquals(h.permutationIndices(k, 4) instanceof Int32Array, true);
});

Deno.test("split returns a tuple for a literal count", () => {
  const k = h.key(3);
  // These annotations are the test: they compile only with tuple types.
  const [a, b]: [h.Key, h.Key] = h.split(k);
  const three: [h.Key, h.Key, h.Key] = h.split(k, 3);
  const n = 2 + three.length;
  const many: h.Key[] = h.split(k, n);
  assertEquals(many.length, 5);
  assertEquals(three[0].words, a.words);
  assertEquals(three[1].words, b.words);
});

Deno.test("fillUniform (unrolled) equals bitsToUniform of randomBits for any key and length", () => {
  fc.assert(
    fc.property(
      fc.nat(0xffffffff),
      fc.nat(0xffffffff),
      fc.nat(9),
      (k0, k1, n) => {
        const out = new Float32Array(n);
        fillUniform(k0, k1, out);
        const want = Float32Array.from(
          { length: n },
          (_, i) => bitsToUniform(randomBits(k0, k1, i)),
        );
        assertEquals(out, want);
      },
    ),
  );
});

testEachBackend(
  "uniform equals the CPU reference at every length around SIMD blocks and thread units",
  async () => {
    // wasm draws eight elements per SIMD step and cuts large outputs into
    // units for its threads: heads, tails and unit edges are all checked.
    const sizes = [0, 1, 2, 3, 7, 8, 9, 15, 17, 31, 33, 1000, 70001, 300007];
    for (const n of sizes) {
      const k = h.foldIn(h.key(-7), n);
      const want = new Float32Array(n);
      fillUniform(k.words[0], k.words[1], want);
      const got = await h.uniform(k, [n]).data();
      assertEquals(got, want, `length ${n}`);
    }
  },
);
