// Every differentiable op, three ways: jvp against central finite
// differences, ⟨u, Jv⟩ = ⟨Jᵀu, v⟩, and jacfwd against jacrev — as fast-check
// properties over random shapes and values, on every backend.

import fc from "fast-check";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import {
  arbBroadcastPair,
  arbSeed,
  arbShape,
  assertAllClose,
  checkGradients,
  checkJvpFiniteDiff,
  type Domain,
  randomTensor,
  RUNS,
  testEachBackend,
} from "../_helpers.ts";

interface UnaryCase {
  f: (x: Tensor) => Tensor;
  domain: Domain;
  tol?: number;
}

const UNARY: Record<string, UnaryCase> = {
  neg: { f: h.neg, domain: "any" },
  exp: { f: h.exp, domain: "any" },
  log: { f: h.log, domain: "positive" },
  log1p: { f: h.log1p, domain: "positive" },
  sqrt: { f: h.sqrt, domain: "positive" },
  rsqrt: { f: h.rsqrt, domain: "positive" },
  abs: { f: h.abs, domain: "nonzero" },
  sin: { f: h.sin, domain: "any" },
  cos: { f: h.cos, domain: "any" },
  tanh: { f: h.tanh, domain: "any" },
  sigmoid: { f: h.sigmoid, domain: "any" },
  relu: { f: h.relu, domain: "nonzero" },
  gelu: { f: (x) => h.gelu(x), domain: "any" },
  "gelu exact": { f: (x) => h.gelu(x, { approximate: false }), domain: "any" },
  erf: { f: h.erf, domain: "any" },
  square: { f: h.square, domain: "any" },
  "pow (constant exponent)": { f: (x) => h.pow(x, 2.5), domain: "positive" },
  "clip": { f: (x) => h.clip(x, -0.5, 0.5), domain: "distinct" },
  "cast float32": { f: (x) => h.cast(x, "float32"), domain: "any" },
  "sum": { f: (x) => h.sum(x), domain: "any" },
  "sum axis 0 keepdims": {
    f: (x) => h.sum(x, { axis: x.ndim ? 0 : [], keepdims: true }),
    domain: "any",
  },
  "mean": { f: (x) => h.mean(x), domain: "any" },
  "max": { f: (x) => h.max(x), domain: "distinct" },
  "min last axis": {
    f: (x) => h.min(x, { axis: x.ndim ? -1 : [] }),
    domain: "distinct",
  },
  "logsumexp": { f: (x) => h.logsumexp(x), domain: "any" },
  "variance": { f: (x) => h.variance(x), domain: "any" },
  "softmax": { f: (x) => (x.ndim ? h.softmax(x) : h.exp(x)), domain: "any" },
  "logSoftmax": {
    f: (x) => (x.ndim ? h.logSoftmax(x) : h.exp(x)),
    domain: "any",
  },
  "layerNorm": {
    f: (x) => (x.ndim && x.shape[x.ndim - 1]! > 1 ? h.layerNorm(x) : h.tanh(x)),
    domain: "distinct",
    tol: 5e-2,
  },
  "transpose": { f: (x) => h.transpose(x), domain: "any" },
  "reshape": { f: (x) => h.reshape(x, [-1]), domain: "any" },
  "expandDims + squeeze": {
    f: (x) => h.squeeze(h.expandDims(x, 0), 0),
    domain: "any",
  },
  "broadcastTo": { f: (x) => h.broadcastTo(x, [2, ...x.shape]), domain: "any" },
  "pad": {
    f: (x) => h.pad(x, x.shape.map(() => [1, 2] as [number, number]), 3),
    domain: "any",
  },
  "slice": {
    f: (x) => h.slice(x, x.shape.map((d) => (d > 1 ? 1 : 0))),
    domain: "any",
  },
  "concat with itself": {
    f: (x) => (x.ndim ? h.concat([x, h.mul(x, x)], -1) : x),
    domain: "any",
  },
  "stack": { f: (x) => h.stack([x, h.sin(x)], 0), domain: "any" },
  "take": {
    f: (
      x,
    ) => (x.ndim
      ? h.take(x, h.tensor(new Int32Array([0, 0, x.shape[0]! - 1])), 0)
      : x),
    domain: "any",
  },
  "dropout (fixed key)": {
    f: (x) => h.dropout(x, { rate: 0.5, key: h.key(3) }),
    domain: "any",
  },
  "where by sign": {
    f: (x) => h.where(h.greater(x, 0), h.mul(x, x), h.sin(x)),
    domain: "nonzero",
  },
  "einsum trace-free sum": {
    f: (x) => (x.ndim >= 2 ? h.einsum("...ij->...j", x) : x),
    domain: "any",
  },
};

for (const [name, c] of Object.entries(UNARY)) {
  testEachBackend(
    `${name}: jvp matches finite differences, and vjp is its transpose`,
    async () => {
      await fc.assert(
        fc.asyncProperty(arbShape(0, 3), arbSeed, async (shape, seed) => {
          const x = randomTensor(shape, seed, c.domain);
          const tol = c.tol ?? 5e-3;
          await checkGradients(c.f, [x], { seed, rtol: tol, atol: tol });
        }),
        { numRuns: RUNS },
      );
    },
  );
}

interface BinaryCase {
  f: (x: Tensor, y: Tensor) => Tensor;
  domains: [Domain, Domain];
}

const BINARY: Record<string, BinaryCase> = {
  add: { f: h.add, domains: ["any", "any"] },
  sub: { f: h.sub, domains: ["any", "any"] },
  mul: { f: h.mul, domains: ["any", "any"] },
  div: { f: h.div, domains: ["any", "nonzero"] },
  pow: { f: h.pow, domains: ["positive", "any"] },
  maximum: { f: h.maximum, domains: ["distinct", "distinct"] },
  minimum: { f: h.minimum, domains: ["distinct", "distinct"] },
};

for (const [name, c] of Object.entries(BINARY)) {
  testEachBackend(
    `${name}: gradients are right under broadcasting`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          arbBroadcastPair(3),
          arbSeed,
          async ([sa, sb], seed) => {
            const x = randomTensor(sa, seed, c.domains[0]);
            // Offset the second seed so "distinct" inputs do not coincide.
            const y = randomTensor(sb, seed + 17, c.domains[1]);
            const f = c.domains[0] === "distinct"
              ? (a: Tensor, b: Tensor) => c.f(a, h.add(b, 0.05))
              : c.f;
            await checkGradients(f, [x, y], { seed });
          },
        ),
        { numRuns: RUNS },
      );
    },
  );
}

const arbMatmulShapes = fc.tuple(
  fc.constantFrom(1, 2, 3),
  fc.constantFrom(1, 3, 4),
  fc.constantFrom(1, 2, 5),
  fc.array(fc.constantFrom(1, 2), { maxLength: 2 }),
  fc.boolean(),
);

testEachBackend(
  "matmul: gradients are right for batched and broadcast operands",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        arbMatmulShapes,
        arbSeed,
        async ([m, k, n, batch, bcast], seed) => {
          const a = randomTensor([...batch, m, k], seed);
          const b = randomTensor(
            bcast ? [k, n] : [...batch.map(() => 1), k, n],
            seed + 1,
          );
          await checkGradients(h.matmul, [a, b], { seed });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "einsum: gradients are right for a batched contraction",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 2, 3),
        fc.constantFrom(1, 3),
        arbSeed,
        async (b, k, seed) => {
          const f = (x: Tensor, y: Tensor) => h.einsum("bik,bjk->bij", x, y);
          const x = randomTensor([b, 2, k], seed),
            y = randomTensor([b, 3, k], seed + 1);
          await checkGradients(f, [x, y], { seed });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "crossEntropy: gradients are right with smoothing and ignored targets",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 2, 5),
        fc.constantFrom(2, 3, 7),
        arbSeed,
        async (n, c, seed) => {
          const labels = h.tensor(
            Int32Array.from(
              { length: n },
              (_, i) =>
                (i * 7 + seed) % (c + 1) === c ? -100 : (i * 7 + seed) % c,
            ),
          );
          const f = (z: Tensor) =>
            h.crossEntropy(z, labels, {
              ignoreIndex: -100,
              labelSmoothing: 0.1,
            });
          const z = randomTensor([n, c], seed);
          await checkGradients(f, [z], { seed });
        },
      ),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "layerNorm: gradients with respect to scale and offset are right",
  async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(2, 3, 5), arbSeed, async (d, seed) => {
        const x = randomTensor([2, d], seed, "distinct");
        const f = (g: Tensor, b: Tensor) =>
          h.layerNorm(x, { scale: g, offset: b });
        await checkJvpFiniteDiff(f, [
          randomTensor([d], seed + 1),
          randomTensor([d], seed + 2),
        ], { seed });
      }),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("jacfwd equals jacrev on random compositions", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(1, 2, 3),
      fc.constantFrom(1, 3),
      arbSeed,
      async (m, n, seed) => {
        const w = randomTensor([n, m], seed + 5);
        const f = (x: Tensor) =>
          h.tanh(h.matmul(h.softmax(h.mul(x, x)), h.transpose(w)));
        const x = randomTensor([2, m], seed);
        await assertAllClose(h.jacfwd(f)(x), h.jacrev(f)(x), {
          rtol: 1e-4,
          atol: 1e-5,
        });
      },
    ),
    { numRuns: RUNS },
  );
});

testEachBackend("hessian of a scalar function is symmetric", async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(1, 2, 4), arbSeed, async (n, seed) => {
      const f = (x: Tensor) => h.logsumexp(h.mul(h.sin(x), h.sum(h.mul(x, x))));
      const H: Tensor = h.hessian(f)(randomTensor([n], seed));
      await assertAllClose(H, h.transpose(H), { rtol: 1e-4, atol: 1e-5 });
    }),
    { numRuns: RUNS },
  );
});

testEachBackend("grad of a linear function is constant", async () => {
  await fc.assert(
    fc.asyncProperty(arbShape(1, 3), arbSeed, async (shape, seed) => {
      const c = randomTensor(shape, seed);
      const f = (x: Tensor) => h.add(h.sum(h.mul(c, x)), 3);
      const g1 = h.grad(f)(randomTensor(shape, seed + 1));
      const g2 = h.grad(f)(randomTensor(shape, seed + 2));
      await assertAllClose(g1, g2, { rtol: 0, atol: 0 });
      await assertAllClose(g1, c, { rtol: 0, atol: 0 });
    }),
    { numRuns: RUNS },
  );
});
