// Neural-network ops: softmax and logSoftmax laws, layerNorm statistics,
// crossEntropy against hand-computed losses (ignoreIndex, labelSmoothing,
// reductions), and dropout's expectation and determinism. Each property
// reads its tensors in one batch (readback dominates on WebGPU).

import { assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import {
  arbSeed,
  arbShape,
  assertAllClose,
  randomTensor,
  readAll,
  rng,
  RUNS,
  testEachBackend,
} from "../_helpers.ts";

// ---------------------------------------------------------------- reference

/** The rows of `data` of `shape` along `axis`, as lists (with their flat positions). */
function rowsAlong(shape: readonly number[], axis: number): number[][] {
  const n = shape.reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const d = shape[axis]!;
  const rows: number[][] = [];
  for (let f = 0; f < n; f++) {
    if (Math.floor(f / inner) % d !== 0) continue;
    rows.push(Array.from({ length: d }, (_, j) => f + j * inner));
  }
  return rows;
}

const lseRef = (xs: readonly number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
};

/** Applies a row function along `axis` of host data, in Float64. */
function alongAxis(
  data: readonly number[],
  shape: readonly number[],
  axis: number,
  f: (row: number[]) => number[],
): number[] {
  const out = new Array<number>(data.length);
  for (const pos of rowsAlong(shape, axis)) {
    const y = f(pos.map((p) => data[p]!));
    pos.forEach((p, j) => (out[p] = y[j]!));
  }
  return out;
}

const softmaxRef = (row: number[]) => {
  const l = lseRef(row);
  return row.map((x) => Math.exp(x - l));
};

/** fast-check: a shape of rank 1..3 and an axis of it (possibly negative). */
const arbShapeAxis = arbShape(1, 3, [1, 2, 3, 5]).chain((s) =>
  fc.tuple(fc.constant(s), fc.integer({ min: -s.length, max: s.length - 1 }))
);

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

// ------------------------------------------------------------------ softmax

testEachBackend(
  "softmax rows sum to 1, are non-negative, and match Float64",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbShapeAxis, arbSeed, async ([shape, axis], seed) => {
        const x = h.mul(randomTensor(shape, seed), 5);
        const p = h.softmax(x, { axis });
        assertEquals([p.shape, p.dtype], [shape, "float32"]);
        const [xv, pv, sums] = await readAll([x, p, h.sum(p, { axis })]);
        for (const v of pv!) {
          assertEquals(v >= 0, true, `negative probability ${v}`);
        }
        await assertAllClose(
          sums,
          sums!.map(() => 1),
          { atol: 1e-6 },
        );
        await assertAllClose(
          pv,
          alongAxis(xv!, shape, norm(axis, shape.length), softmaxRef),
          {
            rtol: 1e-5,
            atol: 1e-7,
          },
        );
      }),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "softmax ignores a constant shift per row, even of ±1e4",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShapeAxis,
        arbSeed,
        fc.constantFrom(1, 1e4, -1e4),
        async ([shape, axis], seed, scale) => {
          const x = randomTensor(shape, seed);
          // One constant per row: size 1 along the softmax axis, broadcast over it.
          const cShape = shape.map((
            d,
            i,
          ) => (i === norm(axis, shape.length) ? 1 : d));
          const c = h.mul(randomTensor(cShape, seed + 1), scale);
          const [a, b] = await readAll([
            h.softmax(x, { axis }),
            h.softmax(h.add(x, c), { axis }),
          ]);
          for (const v of b!) assertEquals(Number.isFinite(v), true);
          // x + c rounds to float32 spacing of c (~1e-3 at 1e4), which moves p by as much.
          await assertAllClose(b, a, {
            rtol: 0,
            atol: scale === 1 ? 1e-6 : 5e-3,
          });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "softmax keeps known values and gives 0 where the logit is -Infinity",
  async () => {
    const e = Math.exp(1), e2 = Math.exp(2);
    const [a, b, c, d] = await readAll([
      h.softmax(h.tensor([1, 2, 3])),
      h.softmax(h.tensor([[0, -Infinity, 0]])),
      h.softmax(h.tensor([[1, 1], [2, 0]]), { axis: 0 }),
      h.softmax(h.tensor([1e4, 0, -1e4])),
    ]);
    const z = 1 + e + e2;
    await assertAllClose(a, [1 / z, e / z, e2 / z]);
    await assertAllClose(b, [0.5, 0, 0.5]);
    await assertAllClose(c, [
      1 / (1 + e),
      1 / (1 + 1 / e),
      e / (1 + e),
      1 / (1 + e),
    ]);
    await assertAllClose(d, [1, 0, 0]);
  },
);

testEachBackend(
  "logSoftmax equals log of softmax, and its exp sums to 1",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbShapeAxis, arbSeed, async ([shape, axis], seed) => {
        const x = h.mul(randomTensor(shape, seed), 5);
        const l = h.logSoftmax(x, { axis });
        assertEquals(l.shape, shape);
        const [xv, lv, sums] = await readAll([x, l, h.sum(h.exp(l), { axis })]);
        const ref = alongAxis(xv!, shape, norm(axis, shape.length), (row) => {
          const s = lseRef(row);
          return row.map((v) => v - s);
        });
        await assertAllClose(lv, ref, { rtol: 1e-5, atol: 1e-5 });
        await assertAllClose(sums, sums!.map(() => 1), { atol: 1e-5 });
      }),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "logSoftmax is finite for logits of ±1e4 and -Infinity where masked",
  async () => {
    const [a, b] = await readAll([
      h.logSoftmax(h.tensor([1e4, 1e4, -1e4])),
      h.logSoftmax(h.tensor([-Infinity, 0])),
    ]);
    await assertAllClose(a, [-Math.LN2, -Math.LN2, -2e4 - Math.LN2], {
      rtol: 1e-6,
      atol: 2e-3,
    });
    assertEquals(b, [-Infinity, 0]);
  },
);

// ---------------------------------------------------------------- layerNorm

testEachBackend(
  "layerNorm gives mean ≈ 0 and variance ≈ 1 along the axis",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 3, [2, 3, 5]).chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.integer({ min: -s.length, max: s.length - 1 }),
          )
        ),
        arbSeed,
        async ([shape, axis], seed) => {
          // "distinct" values: no row is constant, so the variance is defined.
          const x = h.add(h.mul(randomTensor(shape, seed, "distinct"), 3), 7);
          const y = h.layerNorm(x, { axis, eps: 0 });
          assertEquals(y.shape, shape);
          const [m, v] = await readAll([
            h.mean(y, { axis }),
            h.variance(y, { axis }),
          ]);
          await assertAllClose(m, m!.map(() => 0), { atol: 1e-5 });
          await assertAllClose(v, v!.map(() => 1), { rtol: 1e-4, atol: 1e-4 });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "layerNorm matches Float64 with eps, scale and offset",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 3, [2, 3, 5]),
        arbSeed,
        async (shape, seed) => {
          const d = shape[shape.length - 1]!;
          const x = randomTensor(shape, seed),
            g = randomTensor([d], seed + 1),
            b = randomTensor([d], seed + 2);
          const y = h.layerNorm(x, { scale: g, offset: b, eps: 1e-3 });
          const [xv, gv, bv, yv] = await readAll([x, g, b, y]);
          const ref = alongAxis(xv!, shape, shape.length - 1, (row) => {
            const mu = row.reduce((s, v) => s + v, 0) / d;
            const va = row.reduce((s, v) => s + (v - mu) ** 2, 0) / d;
            return row.map((v, j) =>
              ((v - mu) / Math.sqrt(va + 1e-3)) * gv![j]! + bv![j]!
            );
          });
          await assertAllClose(yv, ref, { rtol: 1e-4, atol: 1e-5 });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("layerNorm keeps known values", async () => {
  const y = h.layerNorm(h.tensor([[1, 2, 3], [4, 4, 4]]), { eps: 0.5 });
  const s = Math.sqrt(2 / 3 + 0.5);
  await assertAllClose(y, [-1 / s, 0, 1 / s, 0, 0, 0], { rtol: 1e-6 });
});

// ------------------------------------------------------------- crossEntropy

const LOGITS = [[1, 2, 3], [1, 0, 0], [-1, 0.5, 2]];

/** -log softmax(z)[label] for one row, in Float64. */
const nll = (row: number[], label: number) => lseRef(row) - row[label]!;

/** Smoothed loss of one row: -Σ ((1-ε)·onehot + ε/C) · log p. */
const smoothNll = (row: number[], label: number, eps: number) => {
  const l = lseRef(row), c = row.length;
  return -row.reduce(
    (s, z, j) => s + ((j === label ? 1 - eps : 0) + eps / c) * (z - l),
    0,
  );
};

const labels = (v: number[]) => h.tensor(v, { dtype: "int32" });

testEachBackend(
  "crossEntropy equals the hand-computed loss for each reduction",
  async () => {
    const z = h.tensor(LOGITS), y = labels([2, 0, 1]);
    const per = LOGITS.map((row, i) => nll(row, [2, 0, 1][i]!));
    const none = h.crossEntropy(z, y, { reduction: "none" });
    const sum = h.crossEntropy(z, y, { reduction: "sum" });
    const mean = h.crossEntropy(z, y);
    assertEquals([none.shape, sum.shape, mean.shape], [[3], [], []]);
    const got = await readAll([none, sum, mean]);
    await assertAllClose(got[0], per);
    await assertAllClose(got[1], [per[0]! + per[1]! + per[2]!]);
    await assertAllClose(got[2], [(per[0]! + per[1]! + per[2]!) / 3]);
    // By hand: row 1 is log(1 + 2/e).
    await assertAllClose(per[1]!, Math.log(1 + 2 / Math.E), { rtol: 1e-12 });
  },
);

testEachBackend(
  "crossEntropy ignores rows whose label is ignoreIndex",
  async () => {
    const z = h.tensor(LOGITS), y = labels([2, -100, 1]);
    const opts = { ignoreIndex: -100 };
    const got = await readAll([
      h.crossEntropy(z, y, { ...opts, reduction: "none" }),
      h.crossEntropy(z, y, opts),
      h.crossEntropy(z, y, { ...opts, reduction: "sum" }),
      h.crossEntropy(z, labels([0, 0, 0]), { ignoreIndex: 0 }),
      h.crossEntropy(z, labels([-100, -100, -100]), opts),
      h.crossEntropy(z, labels([-100, -100, -100]), {
        ...opts,
        reduction: "sum",
      }),
    ]);
    const a = nll(LOGITS[0]!, 2), c = nll(LOGITS[2]!, 1);
    await assertAllClose(got[0], [a, 0, c]);
    // The mean is over the rows that count: ignored rows contribute nothing.
    await assertAllClose(got[1], [(a + c) / 2]);
    await assertAllClose(got[2], [a + c]);
    // All rows ignored: 0, not NaN.
    assertEquals(got.slice(3), [[0], [0], [0]]);
  },
);

testEachBackend(
  "crossEntropy with labelSmoothing mixes in the uniform distribution",
  async () => {
    const z = h.tensor(LOGITS), y = labels([2, 0, 1]);
    const got = await readAll(
      [0.1, 0.5, 1].map((eps) => h.crossEntropy(z, y, { labelSmoothing: eps })),
    );
    for (const [i, eps] of [0.1, 0.5, 1].entries()) {
      const expected = LOGITS.reduce((s, row, r) =>
        s + smoothNll(row, [2, 0, 1][r]!, eps), 0) / 3;
      await assertAllClose(
        got[i],
        [expected],
        { rtol: 1e-6 },
        `labelSmoothing ${eps}`,
      );
    }
    // Smoothing and ignoring together: ignored rows still contribute nothing.
    const both = h.crossEntropy(z, labels([2, -1, 1]), {
      labelSmoothing: 0.2,
      ignoreIndex: -1,
    });
    const expected =
      (smoothNll(LOGITS[0]!, 2, 0.2) + smoothNll(LOGITS[2]!, 1, 0.2)) / 2;
    await assertAllClose(both, [expected], { rtol: 1e-6 });
  },
);

testEachBackend(
  "crossEntropy ignores a -Infinity logit of a class that is not the label",
  async () => {
    // Regression: 0 · log 0 gave NaN; other libraries give log(1 + e).
    const z = h.tensor([[-Infinity, 0, 1]]);
    const expected = Math.log(1 + Math.E) - 0; // lse([0, 1]) - 0
    await assertAllClose(h.crossEntropy(z, labels([1])), [expected], {
      rtol: 1e-6,
    });
    await assertAllClose(h.crossEntropy(z, h.tensor([[0, 1, 0]])), [expected], {
      rtol: 1e-6,
    });
    const g = h.grad((z: h.Tensor) => h.crossEntropy(z, labels([1])))(z);
    const e = Math.E / (1 + Math.E); // softmax(z) - onehot(1)
    await assertAllClose(g, h.tensor([[0, -e, e]]), { rtol: 1e-5 });
    // Soft targets keep their gradient -log softmax(z), also where p = 0.
    const zf = h.tensor([[0, 1, 2]]);
    const gp = h.grad((p: h.Tensor) =>
      h.crossEntropy(zf, p, { reduction: "sum" })
    )(h.tensor([[0, 0.5, 0.5]]));
    await assertAllClose(gp, h.neg(h.logSoftmax(zf)), { rtol: 1e-5 });
  },
);

testEachBackend(
  "crossEntropy refuses labels outside [0, classes)",
  async () => {
    // Regression: a label of 7 for 3 classes, or -1 without ignoreIndex,
    // silently added a loss of 0.
    const z = h.tensor(LOGITS);
    if (h.defaultBackend() === "webgpu") {
      // Labels cannot be read synchronously there: the loss is NaN instead.
      const got = await readAll([
        h.crossEntropy(z, labels([2, 7, 1])),
        h.crossEntropy(z, labels([2, -1, 1]), { reduction: "none" }),
      ]);
      assertEquals(Number.isNaN(got[0]![0]), true);
      assertEquals(got[1]!.map(Number.isNaN), [false, true, false]);
    } else {
      assertThrows(
        () => h.crossEntropy(z, labels([2, 7, 1])),
        RangeError,
        "crossEntropy: label 7 (at flat index 1) is out of range for 3 classes",
      );
      assertThrows(
        () => h.crossEntropy(z, labels([2, -1, 1])),
        RangeError,
        "pass { ignoreIndex: -1 }",
      );
    }
    // -1 is fine once it is the ignored index.
    await assertAllClose(
      h.crossEntropy(z, labels([2, -1, 1]), { ignoreIndex: -1 }),
      [(nll(LOGITS[0]!, 2) + nll(LOGITS[2]!, 1)) / 2],
      { rtol: 1e-6 },
    );
  },
);

testEachBackend("crossEntropy with float class ids asks for int32", () => {
  assertThrows(
    () => h.crossEntropy(h.tensor(LOGITS), h.tensor([2, 0, 1])),
    TypeError,
    "look like class ids; pass class ids as int32",
  );
});

testEachBackend("nn ops refuse unknown option keys", () => {
  const z = h.tensor(LOGITS);
  assertThrows(
    () => h.crossEntropy(z, labels([2, 0, 1]), { ignore: 0 } as never),
    TypeError,
    'crossEntropy: unknown option "ignore" (known: ignoreIndex, labelSmoothing, reduction)',
  );
  assertThrows(() => h.softmax(z, { dim: 0 } as never), TypeError, '"dim"');
  assertThrows(() => h.logSoftmax(z, { dim: 0 } as never), TypeError, '"dim"');
  assertThrows(
    () => h.layerNorm(z, { epsilon: 1 } as never),
    TypeError,
    '"epsilon"',
  );
  assertThrows(
    () => h.sum(z, { axes: 0 } as never),
    TypeError,
    'sum: unknown option "axes"',
  );
  assertThrows(() => h.argmax(z, { axes: 0 } as never), TypeError, '"axes"');
  assertThrows(() => h.gelu(z, { exact: true } as never), TypeError, '"exact"');
  assertThrows(
    () => h.dropout(z, { rate: 0.1, key: h.key(0), seed: 1 } as never),
    TypeError,
    '"seed"',
  );
});

testEachBackend(
  "crossEntropy with probability targets equals -Σ p log softmax(z)",
  async () => {
    const p = [[0.2, 0.3, 0.5], [1, 0, 0], [0, 0.5, 0.5]];
    const got = await h.crossEntropy(h.tensor(LOGITS), h.tensor(p), {
      reduction: "none",
    }).data();
    const expected = LOGITS.map((row, i) => {
      const l = lseRef(row);
      return -row.reduce((s, zj, j) => s + p[i]![j]! * (zj - l), 0);
    });
    await assertAllClose(got, expected);
    // One-hot probabilities agree with integer labels.
    const onehot = h.crossEntropy(
      h.tensor(LOGITS),
      h.oneHot(labels([2, 0, 1]), 3),
    );
    await assertAllClose(
      onehot,
      h.crossEntropy(h.tensor(LOGITS), labels([2, 0, 1])),
    );
  },
);

testEachBackend(
  "crossEntropy over random batches matches Float64, for any leading shape",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 2, [1, 2, 3]),
        fc.integer({ min: 1, max: 6 }),
        arbSeed,
        async (batch, c, seed) => {
          const z = h.mul(randomTensor([...batch, c], seed), 4);
          const r = rng(seed);
          const n = batch.reduce((a, b) => a * b, 1);
          const ids = Array.from({ length: n }, () => Math.floor(r() * c));
          const y = h.tensor(Int32Array.from(ids), { shape: batch });
          const loss = h.crossEntropy(z, y, { reduction: "none" });
          assertEquals(loss.shape, batch);
          const [zv, lv, mv] = await readAll([z, loss, h.crossEntropy(z, y)]);
          const expected = ids.map((id, i) =>
            nll(zv!.slice(i * c, (i + 1) * c), id)
          );
          await assertAllClose(lv, expected, { rtol: 1e-5, atol: 1e-5 });
          await assertAllClose(mv, [expected.reduce((a, b) => a + b, 0) / n], {
            rtol: 1e-5,
            atol: 1e-5,
          });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

// ------------------------------------------------------------------ dropout

testEachBackend(
  "dropout keeps the expectation: mean of dropout(ones) ≈ 1",
  async () => {
    const n = 200 * 200;
    for (const rate of [0.1, 0.5, 0.9]) {
      const y = h.dropout(h.ones([200, 200]), { rate, key: h.key(7) });
      const [yv, m] = await readAll([y, h.mean(y)]);
      // Each element is 0 or 1/(1-rate): variance rate/(1-rate); 6 standard errors.
      const se = Math.sqrt(rate / (1 - rate) / n);
      await assertAllClose(m, [1], { rtol: 0, atol: 6 * se }, `rate ${rate}`);
      const kept = yv!.filter((v) => v !== 0);
      for (const v of kept) {
        assertEquals(
          Math.abs(v - 1 / (1 - rate)) < 1e-5,
          true,
        );
      }
      const dropped = 1 - kept.length / n;
      await assertAllClose(dropped, rate, {
        rtol: 0,
        atol: 6 * Math.sqrt(rate * (1 - rate) / n),
      });
    }
  },
);

testEachBackend(
  "dropout is deterministic per key, differs across keys, and rate 0 is the identity",
  async () => {
    const x = randomTensor([64], 3);
    const k = h.key(42);
    const [a, b, c, id, xv] = await readAll([
      h.dropout(x, { rate: 0.5, key: k }),
      h.dropout(x, { rate: 0.5, key: h.key(42) }),
      h.dropout(x, { rate: 0.5, key: h.key(43) }),
      h.dropout(x, { rate: 0, key: k }),
      x,
    ]);
    assertEquals(a, b);
    assertNotEquals(a, c);
    assertEquals(id, xv);
    // The surviving elements are x / (1 - rate).
    a!.forEach((v, i) => {
      if (v !== 0) assertEquals(Math.abs(v - 2 * xv![i]!) < 1e-6, true);
    });
  },
);

testEachBackend("dropout keeps the shape and gives float32", () => {
  const y = h.dropout(h.ones([2, 3], { dtype: "int32" }), {
    rate: 0.3,
    key: h.key(0),
  });
  assertEquals([y.shape, y.dtype], [[2, 3], "float32"]);
});

testEachBackend("nn ops never change their input", async () => {
  const x = h.tensor([[1, 2], [3, 4]]);
  h.softmax(x);
  h.layerNorm(x);
  h.dropout(x, { rate: 0.5, key: h.key(1) });
  h.crossEntropy(x, labels([0, 1]));
  assertEquals(await x.array(), [[1, 2], [3, 4]]);
});
