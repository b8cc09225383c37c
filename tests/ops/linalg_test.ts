// matmul against a naive triple loop with NumPy semantics (1-D operands,
// broadcast batches), and einsum against a naive sum over all indices and
// against matmul/transpose/sum.

import { assertEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import {
  arbBroadcastPair,
  arbSeed,
  assertAllClose,
  randomTensor,
  RUNS,
  testEachBackend,
  values,
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

/** NumPy's matmul by triple loop in Float64. */
async function refMatmul(
  a: Tensor,
  b: Tensor,
): Promise<{ shape: number[]; data: number[] }> {
  const x = await values(a), y = await values(b);
  const xs = a.ndim === 1 ? [1, a.shape[0]!] : [...a.shape];
  const ys = b.ndim === 1 ? [b.shape[0]!, 1] : [...b.shape];
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
  if (a.ndim > 1) shape.push(m);
  if (b.ndim > 1) shape.push(n);
  return { shape, data: out };
}

/** Naive einsum for explicit specs without `...`: one loop over all indices. */
async function refEinsum(
  spec: string,
  ...ts: Tensor[]
): Promise<{ shape: number[]; data: number[] }> {
  const [lhs, out] = spec.split("->") as [string, string];
  const terms = lhs.split(",");
  const data = await Promise.all(ts.map(values));
  const size = new Map<string, number>();
  terms.forEach((t, i) =>
    [...t].forEach((c, ax) => size.set(c, ts[i]!.shape[ax]!))
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
    terms.forEach((t, i) => (p *= data[i]![flatOf(t, ts[i]!.shape, at)]!));
    acc[flatOf(out, outShape, at)]! += p;
  }
  return { shape: outShape, data: acc };
}

// ------------------------------------------------------------------- matmul

testEachBackend("matmul keeps the textbook 2x2 product", async () => {
  const a = h.tensor([[1, 2], [3, 4]]), b = h.tensor([[5, 6], [7, 8]]);
  assertEquals(await h.matmul(a, b).array(), [[19, 22], [43, 50]]);
  assertEquals(await h.matmul(b, a).array(), [[23, 34], [31, 46]]);
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
          const a = randomTensor([...ba, m, k], seed),
            b = randomTensor([...bb, k, n], seed + 1);
          const y = h.matmul(a, b);
          const ref = await refMatmul(a, b);
          assertEquals(y.shape, ref.shape);
          await assertAllClose(y, ref.data, { rtol: 1e-5, atol: 1e-5 });
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
        fc.constantFrom<[boolean, boolean]>([true, false], [false, true], [
          true,
          true,
        ]),
        fc.constantFrom<number[]>([], [2], [3, 1]),
        arbSeed,
        async (k, n, [aVec, bVec], batch, seed) => {
          const a = randomTensor(aVec ? [k] : [...batch, n, k], seed);
          const b = randomTensor(bVec ? [k] : [...batch, k, n], seed + 1);
          const y = h.matmul(a, b);
          const ref = await refMatmul(a, b);
          assertEquals(y.shape, ref.shape);
          await assertAllClose(y, ref.data, { rtol: 1e-5, atol: 1e-5 });
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
  const cases: [number[], number[]][] = [
    [[129, 129], [129, 3]],
    [[2, 17, 129], [1, 129, 129]],
    [[129], [129, 129]],
  ];
  for (const [sa, sb] of cases) {
    const a = randomTensor(sa, 11), b = randomTensor(sb, 12);
    const ref = await refMatmul(a, b);
    await assertAllClose(h.matmul(a, b), ref.data, { rtol: 1e-4, atol: 1e-4 });
  }
});

testEachBackend("matmul of int32 is exact and int32", async () => {
  const a = h.tensor([[1, -2, 3]], { dtype: "int32" });
  const b = h.tensor([[4], [5], [-6]], { dtype: "int32" });
  const y = h.matmul(a, b);
  assertEquals([y.dtype, await y.array()], ["int32", [[-24]]]);
  assertEquals(h.matmul(a, h.tensor([[1], [1], [1]])).dtype, "float32");
});

testEachBackend(
  "matmul with identity is the identity and distributes over add",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 3, 17),
        fc.constantFrom(1, 3, 17),
        arbSeed,
        async (m, k, seed) => {
          const a = randomTensor([m, k], seed);
          await assertAllClose(h.matmul(a, h.eye(k)), a, { rtol: 0, atol: 0 });
          await assertAllClose(h.matmul(h.eye(m), a), a, { rtol: 0, atol: 0 });
          const b = randomTensor([k, 3], seed + 1),
            c = randomTensor([k, 3], seed + 2);
          await assertAllClose(
            h.matmul(a, h.add(b, c)),
            h.add(h.matmul(a, b), h.matmul(a, c)),
            {
              rtol: 1e-5,
              atol: 1e-5,
            },
          );
          // (AB)ᵀ = BᵀAᵀ
          await assertAllClose(
            h.transpose(h.matmul(a, b)),
            h.matmul(h.transpose(b), h.transpose(a)),
            {
              rtol: 1e-5,
              atol: 1e-6,
            },
          );
        },
      ),
      { numRuns: RUNS },
    );
  },
);

// ------------------------------------------------------------------- einsum

const EINSUM_SPECS: [string, number][] = [
  ["ij,jk->ik", 2],
  ["ij->ji", 1],
  ["ij->", 1],
  ["ij->j", 1],
  ["i,i->", 2],
  ["i,j->ij", 2],
  ["bij,bjk->bik", 2],
  ["bhqd,bhkd->bhqk", 2],
  ["ij,jk,kl->il", 3],
  ["ijk->kij", 1],
  ["ij,ij->i", 2],
  ["ij,kj->", 2],
  ["abc,cd->dba", 2],
];

for (const [spec, arity] of EINSUM_SPECS) {
  testEachBackend(
    `einsum "${spec}" equals a naive sum over all indices`,
    async () => {
      const letters = [...new Set(spec.replace(/[^a-z]/g, ""))];
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom(1, 2, 3), {
            minLength: letters.length,
            maxLength: letters.length,
          }),
          arbSeed,
          async (dims, seed) => {
            const size = new Map(letters.map((c, i) => [c, dims[i]!]));
            const terms = spec.split("->")[0]!.split(",");
            assertEquals(terms.length, arity);
            const ts = terms.map((t, i) =>
              randomTensor([...t].map((c) => size.get(c)!), seed + i)
            );
            const y = h.einsum(spec, ...ts);
            const ref = await refEinsum(spec, ...ts);
            assertEquals(y.shape, ref.shape);
            await assertAllClose(y, ref.data, { rtol: 1e-5, atol: 1e-5 });
          },
        ),
        { numRuns: RUNS },
      );
    },
  );
}

testEachBackend(
  "einsum equals matmul, transpose and sum for the equivalent specs",
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
          const tol = { rtol: 1e-5, atol: 1e-5 };
          await assertAllClose(
            h.einsum("ij,jk->ik", a, b),
            h.matmul(a, b),
            tol,
          );
          await assertAllClose(h.einsum("ij,jk", a, b), h.matmul(a, b), tol);
          await assertAllClose(h.einsum("ij->ji", a), h.transpose(a), tol);
          await assertAllClose(h.einsum("ji", a), h.transpose(a), tol);
          await assertAllClose(h.einsum("ij->", a), h.sum(a), tol);
          await assertAllClose(
            h.einsum("ij->i", a),
            h.sum(a, { axis: 1 }),
            tol,
          );
          await assertAllClose(
            h.einsum("ik,jk->ij", a, h.transpose(b)),
            h.matmul(a, b),
            tol,
          );
          const batch = randomTensor([2, m, k], seed + 2),
            w = randomTensor([2, k, n], seed + 3);
          await assertAllClose(
            h.einsum("bij,bjk->bik", batch, w),
            h.matmul(batch, w),
            tol,
          );
          await assertAllClose(
            h.einsum("...ij,...jk->...ik", batch, w),
            h.matmul(batch, w),
            tol,
          );
          await assertAllClose(
            h.einsum("...ij,jk->...ik", batch, b),
            h.matmul(batch, b),
            tol,
          );
          await assertAllClose(
            h.einsum("...ij,...jk", batch, w),
            h.matmul(batch, w),
            tol,
          );
          await assertAllClose(
            h.einsum("...ij->...ji", batch),
            h.transpose(batch, [0, 2, 1]),
            tol,
          );
          await assertAllClose(
            h.einsum("...ji", batch),
            h.transpose(batch, [0, 2, 1]),
            tol,
          );
          await assertAllClose(
            h.einsum("i...->...", batch),
            h.sum(batch, { axis: 0 }),
            tol,
          );
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
    assertEquals(await h.einsum("ij,ij->", a, a).item(), 30);
    assertEquals(await h.einsum("ij->ji", a).array(), [[1, 3], [2, 4]]);
    const u = h.tensor([1, 2]), v = h.tensor([3, 4, 5]);
    assertEquals(await h.einsum("i,j", u, v).array(), [[3, 4, 5], [6, 8, 10]]);
    assertEquals(await h.einsum("j,i", v, u).array(), [[3, 4, 5], [6, 8, 10]]);
    assertEquals(await h.einsum("i,i", u, u).item(), 5);
    assertEquals(await h.einsum(" i j -> j i ", a).array(), [[1, 3], [2, 4]]);
    assertEquals(h.einsum("...", h.zeros([2, 3])).shape, [2, 3]);
  },
);
