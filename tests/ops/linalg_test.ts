// matmul against a naive triple loop with NumPy semantics (1-D operands,
// broadcast batches), and einsum against a naive sum over all indices and
// against matmul/transpose/sum. Each property reads its tensors in one batch
// (readback dominates on WebGPU).

import { assertEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import {
  arbBroadcastPair,
  arbSeed,
  assertAllClose,
  randomTensor,
  readAll,
  RUNS,
  testEachBackend,
  type Tolerance,
} from "../_helpers.ts";

// ---------------------------------------------------------------- reference

const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let ax = shape.length - 1; ax >= 0; ax--) {
    idx[ax] = flat % shape[ax]!;
    flat = Math.floor(flat / shape[ax]!);
  }
  return idx;
}

/** Flat index into `shape` of a batch index right-aligned to it, broadcasting. */
function batchOffset(idx: readonly number[], shape: readonly number[]): number {
  let f = 0;
  const off = idx.length - shape.length;
  for (let ax = 0; ax < shape.length; ax++) {
    f = f * shape[ax]! + (shape[ax] === 1 ? 0 : idx[ax + off]!);
  }
  return f;
}

interface Ref {
  shape: number[];
  data: number[];
}

/** NumPy's matmul of host arrays by triple loop, in Float64. */
function refMatmul(
  as: readonly number[],
  x: number[],
  bs: readonly number[],
  y: number[],
): Ref {
  const xs = as.length === 1 ? [1, as[0]!] : [...as];
  const ys = bs.length === 1 ? [bs[0]!, 1] : [...bs];
  const m = xs[xs.length - 2]!, k = xs[xs.length - 1]!, n = ys[ys.length - 1]!;
  const xb = xs.slice(0, -2), yb = ys.slice(0, -2);
  const rank = Math.max(xb.length, yb.length);
  const batch = Array.from(
    { length: rank },
    (_, i) =>
      Math.max(
        xb[i - (rank - xb.length)] ?? 1,
        yb[i - (rank - yb.length)] ?? 1,
      ),
  );
  const out: number[] = [];
  for (let bi = 0; bi < sizeOf(batch); bi++) {
    const idx = unravel(bi, batch);
    const xo = batchOffset(idx, xb) * m * k, yo = batchOffset(idx, yb) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let l = 0; l < k; l++) {
          s += x[xo + i * k + l]! * y[yo + l * n + j]!;
        }
        out.push(s);
      }
    }
  }
  const shape = [...batch];
  if (as.length > 1) shape.push(m);
  if (bs.length > 1) shape.push(n);
  return { shape, data: out };
}

/** Naive einsum of host arrays for explicit specs without `...`. */
function refEinsum(
  spec: string,
  shapes: readonly (readonly number[])[],
  data: readonly number[][],
): Ref {
  const [lhs, out] = spec.split("->") as [string, string];
  const terms = lhs.split(",");
  const size = new Map<string, number>();
  terms.forEach((t, i) =>
    [...t].forEach((c, ax) => size.set(c, shapes[i]![ax]!))
  );
  const letters = [...size.keys()];
  const dims = letters.map((c) => size.get(c)!);
  const outShape = [...out].map((c) => size.get(c)!);
  const acc = new Array<number>(sizeOf(outShape)).fill(0);
  const flatOf = (
    sub: string,
    shape: readonly number[],
    at: Map<string, number>,
  ) => [...sub].reduce((f, c, ax) => f * shape[ax]! + at.get(c)!, 0);
  for (let f = 0; f < sizeOf(dims); f++) {
    const idx = unravel(f, dims);
    const at = new Map(letters.map((c, i) => [c, idx[i]!]));
    let p = 1;
    terms.forEach((t, i) => (p *= data[i]![flatOf(t, shapes[i]!, at)]!));
    acc[flatOf(out, outShape, at)]! += p;
  }
  return { shape: outShape, data: acc };
}

const TOL: Tolerance = { rtol: 1e-5, atol: 1e-5 };

/** Checks each matmul(a, b) against the triple loop, reading everything at once. */
async function checkMatmuls(
  pairs: readonly [Tensor, Tensor][],
  tol: Tolerance = TOL,
): Promise<void> {
  const ys = pairs.map(([a, b]) => h.matmul(a, b));
  const read = await readAll([...ys, ...pairs.flat()]);
  for (const [i, [a, b]] of pairs.entries()) {
    const ref = refMatmul(
      a.shape,
      read[ys.length + 2 * i]!,
      b.shape,
      read[ys.length + 2 * i + 1]!,
    );
    const label = `matmul([${a.shape}], [${b.shape}])`;
    assertEquals(ys[i]!.shape, ref.shape, label);
    await assertAllClose(read[i], ref.data, tol, label);
  }
}

// ------------------------------------------------------------------- matmul

testEachBackend("matmul keeps the textbook 2x2 product", async () => {
  const a = h.tensor([[1, 2], [3, 4]]), b = h.tensor([[5, 6], [7, 8]]);
  assertEquals(await readAll([h.matmul(a, b), h.matmul(b, a)]), [[
    19,
    22,
    43,
    50,
  ], [23, 34, 31, 46]]);
});

testEachBackend(
  "matmul equals a naive triple loop for sizes 1, 3, 17 and broadcast batches",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 3, 17),
        fc.constantFrom(1, 3, 17),
        fc.constantFrom(1, 3, 17),
        arbBroadcastPair(2),
        arbSeed,
        async (m, k, n, [ba, bb], seed) => {
          await checkMatmuls([[
            randomTensor([...ba, m, k], seed),
            randomTensor([...bb, k, n], seed + 1),
          ]]);
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "matmul with 1-D operands follows NumPy: vector·matrix, matrix·vector, dot",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 3, 17),
        fc.constantFrom(1, 3, 17),
        fc.constantFrom<number[]>([], [2], [3, 1]),
        arbSeed,
        async (k, n, batch, seed) => {
          const vec = randomTensor([k], seed),
            vec2 = randomTensor([k], seed + 1);
          await checkMatmuls([
            [vec, randomTensor([...batch, k, n], seed + 2)],
            [randomTensor([...batch, n, k], seed + 3), vec],
            [vec, vec2],
          ]);
        },
      ),
      { numRuns: RUNS },
    );
    assertEquals(
      await h.matmul(h.tensor([1, 2, 3]), h.tensor([4, 5, 6])).item(),
      32,
    );
    assertEquals(h.matmul(h.zeros([4, 2, 3]), h.zeros([3])).shape, [4, 2]);
    assertEquals(h.matmul(h.zeros([3]), h.zeros([4, 3, 2])).shape, [4, 2]);
  },
);

testEachBackend("matmul equals a naive triple loop at size 129", async () => {
  const shapes: [number[], number[]][] = [
    [[129, 129], [129, 3]],
    [[2, 17, 129], [1, 129, 129]],
    [[129], [129, 129]],
  ];
  // Sums of 129 float32 products: allow for accumulation-order differences.
  await checkMatmuls(
    shapes.map((
      [a, b],
      i,
    ) => [randomTensor(a, 11 + i), randomTensor(b, 21 + i)]),
    {
      rtol: 1e-4,
      atol: 1e-4,
    },
  );
});

testEachBackend(
  "matmul of int32 is exact and int32; with a float32 operand it is float32",
  async () => {
    const a = h.tensor([[1, -2, 3]], { dtype: "int32" });
    const b = h.tensor([[4], [5], [-6]], { dtype: "int32" });
    const y = h.matmul(a, b);
    assertEquals([y.dtype, h.matmul(a, h.tensor([[1], [1], [1]])).dtype], [
      "int32",
      "float32",
    ]);
    assertEquals(await y.array(), [[-24]]);
  },
);

testEachBackend(
  "matmul by the identity changes nothing, distributes over add, and (AB)ᵀ = BᵀAᵀ",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 3, 17),
        fc.constantFrom(1, 3, 17),
        arbSeed,
        async (m, k, seed) => {
          const a = randomTensor([m, k], seed);
          const b = randomTensor([k, 3], seed + 1),
            c = randomTensor([k, 3], seed + 2);
          const [av, ai, ia, l1, r1, l2, r2] = await readAll([
            a,
            h.matmul(a, h.eye(k)),
            h.matmul(h.eye(m), a),
            h.matmul(a, h.add(b, c)),
            h.add(h.matmul(a, b), h.matmul(a, c)),
            h.transpose(h.matmul(a, b)),
            h.matmul(h.transpose(b), h.transpose(a)),
          ]);
          assertEquals(ai, av);
          assertEquals(ia, av);
          await assertAllClose(l1, r1, TOL);
          await assertAllClose(l2, r2, TOL);
        },
      ),
      { numRuns: RUNS },
    );
  },
);

// ------------------------------------------------------------------- einsum

const EINSUM_SPECS = [
  "ij,jk->ik",
  "ij->ji",
  "ij->",
  "ij->j",
  "i,i->",
  "i,j->ij",
  "bij,bjk->bik",
  "bhqd,bhkd->bhqk",
  "ij,jk,kl->il",
  "ijk->kij",
  "ij,ij->i",
  "ij,kj->",
  "abc,cd->dba",
];

testEachBackend(
  "einsum equals a naive sum over all indices for explicit specs",
  async () => {
    const letters = [...new Set(EINSUM_SPECS.join("").replace(/[^a-z]/g, ""))];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(1, 2, 3), {
          minLength: letters.length,
          maxLength: letters.length,
        }),
        arbSeed,
        async (dims, seed) => {
          const size = new Map(letters.map((c, i) => [c, dims[i]!]));
          const operands = EINSUM_SPECS.map((spec) =>
            spec.split("->")[0]!.split(",").map((t, i) =>
              randomTensor([...t].map((c) => size.get(c)!), seed + i)
            )
          );
          const ys = EINSUM_SPECS.map((spec, i) =>
            h.einsum(spec, ...operands[i]!)
          );
          const read = await readAll([...ys, ...operands.flat()]);
          let at = ys.length;
          for (const [i, spec] of EINSUM_SPECS.entries()) {
            const ts = operands[i]!;
            const ref = refEinsum(
              spec,
              ts.map((t) => t.shape),
              read.slice(at, at + ts.length),
            );
            at += ts.length;
            assertEquals(ys[i]!.shape, ref.shape, spec);
            await assertAllClose(read[i], ref.data, TOL, spec);
          }
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "einsum equals matmul, transpose and sum for equivalent specs, with ... and implicit output",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 3, 17),
        fc.constantFrom(1, 3, 17),
        fc.constantFrom(1, 3, 17),
        arbSeed,
        async (m, k, n, seed) => {
          const a = randomTensor([m, k], seed),
            b = randomTensor([k, n], seed + 1);
          const batch = randomTensor([2, m, k], seed + 2),
            w = randomTensor([2, k, n], seed + 3);
          const pairs: [string, Tensor, Tensor][] = [
            ["ij,jk->ik", h.einsum("ij,jk->ik", a, b), h.matmul(a, b)],
            ["ij,jk", h.einsum("ij,jk", a, b), h.matmul(a, b)],
            ["ij->ji", h.einsum("ij->ji", a), h.transpose(a)],
            ["ji", h.einsum("ji", a), h.transpose(a)],
            ["ij->", h.einsum("ij->", a), h.sum(a)],
            ["ij->i", h.einsum("ij->i", a), h.sum(a, { axis: 1 })],
            [
              "ik,jk->ij",
              h.einsum("ik,jk->ij", a, h.transpose(b)),
              h.matmul(a, b),
            ],
            [
              "bij,bjk->bik",
              h.einsum("bij,bjk->bik", batch, w),
              h.matmul(batch, w),
            ],
            [
              "...ij,...jk->...ik",
              h.einsum("...ij,...jk->...ik", batch, w),
              h.matmul(batch, w),
            ],
            [
              "...ij,jk->...ik",
              h.einsum("...ij,jk->...ik", batch, b),
              h.matmul(batch, b),
            ],
            [
              "...ij,...jk",
              h.einsum("...ij,...jk", batch, w),
              h.matmul(batch, w),
            ],
            [
              "...ij->...ji",
              h.einsum("...ij->...ji", batch),
              h.transpose(batch, [0, 2, 1]),
            ],
            ["...ji", h.einsum("...ji", batch), h.transpose(batch, [0, 2, 1])],
            [
              "i...->...",
              h.einsum("i...->...", batch),
              h.sum(batch, { axis: 0 }),
            ],
          ];
          const read = await readAll(pairs.flatMap(([, x, y]) => [x, y]));
          for (const [i, [spec, x, y]] of pairs.entries()) {
            assertEquals(x.shape, y.shape, spec);
            await assertAllClose(read[2 * i], read[2 * i + 1], TOL, spec);
          }
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "einsum keeps known values, with implicit outputs in alphabetical order",
  async () => {
    const a = h.tensor([[1, 2], [3, 4]]);
    const u = h.tensor([1, 2]), v = h.tensor([3, 4, 5]);
    const ys = [
      h.einsum("ij,ij->", a, a),
      h.einsum("ij->ji", a),
      h.einsum("i,j", u, v),
      h.einsum("j,i", v, u),
      h.einsum("i,i", u, u),
      h.einsum(" i j -> j i ", a),
    ];
    assertEquals(ys.map((y) => y.shape), [[], [2, 2], [2, 3], [2, 3], [], [
      2,
      2,
    ]]);
    assertEquals(await readAll(ys), [
      [30],
      [1, 3, 2, 4],
      [3, 4, 5, 6, 8, 10],
      [3, 4, 5, 6, 8, 10],
      [5],
      [1, 3, 2, 4],
    ]);
    assertEquals(h.einsum("...", h.zeros([2, 3])).shape, [2, 3]);
  },
);

testEachBackend("a contraction over k = 0 is all zeros", async () => {
  // Regression: matmul(zeros([3,0]), zeros([0,4])) threw in reshape, and
  // einsum sized the empty index as 1. Dirty memory first, so that an
  // output the kernel leaves unwritten would show.
  await h.scope(() => h.matmul(h.full([3, 4], 7), h.full([4, 4], 3))).data();
  const z = (...s: number[]) => h.zeros(s);
  await assertAllClose(h.matmul(z(3, 0), z(0, 4)), z(3, 4));
  await assertAllClose(h.matmul(z(3, 0), z(0)), z(3));
  await assertAllClose(h.matmul(z(0), z(0, 4)), z(4));
  await assertAllClose(h.matmul(z(0), z(0)), z());
  await assertAllClose(h.matmul(z(2, 3, 0), z(2, 0, 4)), z(2, 3, 4));
  await assertAllClose(
    h.matmul(
      h.zeros([3, 0], { dtype: "int32" }),
      h.zeros([0, 2], { dtype: "int32" }),
    ),
    h.zeros([3, 2], { dtype: "int32" }),
  );
  await assertAllClose(h.einsum("ij,jk->ik", z(2, 0), z(0, 3)), z(2, 3));
  await assertAllClose(h.einsum("i,i->", z(0), z(0)), z());
  // Gradients: empty inputs get empty gradients; the other side gets zeros.
  const [ga, gb] = h.grad(
    (a: Tensor, b: Tensor) => h.sum(h.matmul(a, b)),
    { argnums: [0, 1] },
  )(z(3, 0), z(0, 4));
  assertEquals([ga.shape, gb.shape], [[3, 0], [0, 4]]);
  const gw = h.grad((w: Tensor) =>
    h.sum(h.matmul(z(3, 0), h.reshape(w, [0, 4])))
  )(
    z(0),
  );
  assertEquals(gw.shape, [0]);
  const gx = h.grad((x: Tensor) =>
    h.sum(h.mul(x, h.einsum("ij,jk->ik", z(2, 0), z(0, 3))))
  )(h.ones([2, 3]));
  await assertAllClose(gx, z(2, 3));
});
