// Every backend against the CPU reference: the same host inputs through the
// same ops, compared within stated tolerances, on random shapes with odd
// sizes (1, 3, 17, 129) and broadcasting.
//
// Tolerances: float32 kernels may round differently (fused multiply-add,
// other summation orders, other libm), so values agree to rtol 1e-4 /
// atol 1e-5 (transcendentals 2e-4, reductions and matmul 1e-4 relative to
// the magnitude of the summed terms). Integer and bool results must match
// exactly.

import fc from "fast-check";
import * as h from "../../../mod.ts";
import type { BackendName, Tensor } from "../../../mod.ts";
import { assertAllClose, randomValues, RUNS } from "../../_helpers.ts";

const others = h.backends().filter((b) => b !== "cpu");
if (others.length === 0) {
  console.warn(
    "parity_test: no backend besides cpu on this machine; nothing to compare (WebGPU adapter absent)",
  );
}

/** Shapes of rank 0-3 with sizes drawn from 1, 3, 17, 129, at most ~40k elements. */
const arbOddShape = fc.array(fc.constantFrom<number>(1, 3, 17, 129), {
  maxLength: 3,
})
  .filter((s) => s.reduce((a, b) => a * b, 1) <= 40_000);

/** A second shape that broadcasts against the first. */
const arbPair = arbOddShape.chain((s) =>
  fc.tuple(
    fc.constant(s),
    fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }),
    fc.nat(s.length),
  )
    .map(([a, ones, drop]) =>
      [a, a.map((d, i) => (ones[i] ? 1 : d)).slice(drop)] as [
        number[],
        number[],
      ]
    )
);

type Host = {
  data: Float32Array | Int32Array;
  shape: number[];
  dtype: "float32" | "int32" | "bool";
};

function hostFloat(
  shape: number[],
  seed: number,
  domain: "any" | "positive" | "distinct" = "any",
): Host {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: randomValues(n, seed, domain), shape, dtype: "float32" };
}

function onBackend(
  b: BackendName,
  xs: Host[],
  f: (...t: Tensor[]) => Tensor,
): Promise<Tensor> {
  return h.withBackend(
    b,
    () =>
      f(...xs.map((x) => h.tensor(x.data, { shape: x.shape, dtype: x.dtype }))),
  );
}

/** Checks `f` on backend `b` against the CPU reference (each test names its `b`). */
async function agree(
  b: BackendName,
  xs: Host[],
  f: (...t: Tensor[]) => Tensor,
  tol = { rtol: 1e-4, atol: 1e-5 },
): Promise<void> {
  const ref = await onBackend("cpu", xs, f);
  const got = await onBackend(b, xs, f);
  await assertAllClose(
    got,
    ref,
    ref.dtype === "float32" ? tol : { rtol: 0, atol: 0 },
    `${b} vs cpu:`,
  );
}

const UNARY: Record<
  string,
  [(x: Tensor) => Tensor, "any" | "positive" | "distinct", number?]
> = {
  neg: [h.neg, "any"],
  exp: [h.exp, "any", 2e-4],
  log: [h.log, "positive", 2e-4],
  log1p: [h.log1p, "positive", 2e-4],
  sqrt: [h.sqrt, "positive"],
  rsqrt: [h.rsqrt, "positive", 2e-4],
  sin: [h.sin, "any", 2e-4],
  cos: [h.cos, "any", 2e-4],
  tanh: [h.tanh, "any", 2e-4],
  sigmoid: [h.sigmoid, "any", 2e-4],
  erf: [h.erf, "any", 2e-4],
  abs: [h.abs, "any"],
  sign: [h.sign, "any"],
  relu: [h.relu, "any"],
  gelu: [(x) => h.gelu(x), "any", 2e-4],
  "cast int32": [(x) => h.cast(h.mul(x, 10), "int32"), "any"],
  "cast bool": [(x) => h.cast(h.relu(x), "bool"), "any"],
  "sum all": [(x) => h.sum(x), "any", 1e-4],
  "sum axis 0": [(x) => (x.ndim ? h.sum(x, { axis: 0 }) : x), "any"],
  "mean last": [(x) => (x.ndim ? h.mean(x, { axis: -1 }) : x), "any"],
  "max middle": [(x) => (x.ndim > 1 ? h.max(x, { axis: 1 }) : h.max(x)), "any"],
  "min first and last": [
    (x) => (x.ndim > 1 ? h.min(x, { axis: [0, x.ndim - 1] }) : h.min(x)),
    "any",
  ],
  "argmax last": [
    (x) => (x.ndim ? h.argmax(x, { axis: -1 }) : h.argmax(x)),
    "distinct",
  ],
  "argmin first": [
    (x) => (x.ndim ? h.argmin(x, { axis: 0 }) : h.argmin(x)),
    "distinct",
  ],
  logsumexp: [(x) => h.logsumexp(x), "any", 2e-4],
  softmax: [(x) => (x.ndim ? h.softmax(x) : x), "any", 2e-4],
  layerNorm: [(x) => (x.ndim ? h.layerNorm(x) : x), "distinct", 5e-4],
  transpose: [(x) => h.transpose(x), "any"],
  "pad": [
    (x) => h.pad(x, x.shape.map(() => [2, 1] as [number, number]), -3),
    "any",
  ],
  "slice": [
    (x) =>
      h.slice(
        x,
        x.shape.map((d) => Math.floor(d / 3)),
        x.shape.map((d) => d - Math.floor(d / 3)),
      ),
    "any",
  ],
  "concat": [
    (x) => (x.ndim ? h.concat([x, h.neg(x), x], x.ndim - 1) : x),
    "any",
  ],
  "take": [
    (x) => (x.ndim ? h.take(x, h.tensor(new Int32Array([0, -1, 2, 1000]))) : x),
    "any",
  ],
  "broadcastTo": [(x) => h.broadcastTo(x, [3, ...x.shape]), "any"],
  "uniform-shaped random": [
    (x) => h.add(x, h.uniform(h.key(7), x.shape)),
    "any",
  ],
  "scatter via take's gradient": [
    (
      x,
    ) => (x.ndim
      ? h.grad((y: Tensor) =>
        h.sum(h.take(y, h.tensor(new Int32Array([0, 0, 1, 2]))))
      )(x)
      : x),
    "any",
  ],
};

for (const b of others) {
  for (const [name, [f, domain, rtol]] of Object.entries(UNARY)) {
    Deno.test(`${name} on ${b} matches the cpu reference on odd shapes`, async () => {
      await fc.assert(
        fc.asyncProperty(arbOddShape, fc.nat(), async (shape, seed) => {
          await agree(b, [hostFloat(shape, seed, domain)], f, {
            rtol: rtol ?? 1e-4,
            atol: 1e-5,
          });
        }),
        { numRuns: Math.ceil(RUNS / 2) },
      );
    });
  }

  const BINARY: Record<string, (x: Tensor, y: Tensor) => Tensor> = {
    add: h.add,
    sub: h.sub,
    mul: h.mul,
    div: (x, y) => h.div(x, h.add(h.abs(y), 0.5)),
    pow: (x, y) => h.pow(h.add(h.abs(x), 0.1), y),
    maximum: h.maximum,
    minimum: h.minimum,
    greater: (x, y) => h.greater(x, y),
    equal: (x, y) => h.equal(h.sign(x), h.sign(y)),
    where: (x, y) => h.where(h.less(x, 0), x, y),
    "int32 arithmetic": (x, y) =>
      h.add(
        h.mul(h.cast(h.mul(x, 100), "int32"), 3),
        h.div(h.cast(h.mul(y, 50), "int32"), 7),
      ),
  };
  for (const [name, f] of Object.entries(BINARY)) {
    Deno.test(`${name} on ${b} matches the cpu reference under broadcasting`, async () => {
      await fc.assert(
        fc.asyncProperty(
          arbPair,
          fc.nat(),
          fc.boolean(),
          async ([sa, sb], seed, swap) => {
            const [x, y] = [hostFloat(sa, seed), hostFloat(sb, seed + 1)];
            await agree(b, swap ? [y, x] : [x, y], f, {
              rtol: 2e-4,
              atol: 1e-5,
            });
          },
        ),
        { numRuns: Math.ceil(RUNS / 2) },
      );
    });
  }

  Deno.test(`matmul on ${b} matches the cpu reference for odd and batched shapes`, async () => {
    const arb = fc.tuple(
      fc.constantFrom<number>(1, 3, 17, 129),
      fc.constantFrom<number>(1, 3, 17, 129),
      fc.constantFrom<number>(1, 3, 17, 129),
      fc.array(fc.constantFrom(1, 2, 3), { maxLength: 2 }),
      fc.constantFrom("plain", "transA", "transB", "vector"),
    );
    await fc.assert(
      fc.asyncProperty(arb, fc.nat(), async ([m, k, n, batch, mode], seed) => {
        const a = hostFloat([...batch, m, k], seed),
          bb = hostFloat([k, n], seed + 1);
        const f = mode === "transA"
          ? (x: Tensor, y: Tensor) =>
            h.einsum(
              "...km,kn->...mn",
              h.transpose(x, [...batch.keys(), batch.length + 1, batch.length]),
              y,
            )
          : mode === "transB"
          ? (x: Tensor, y: Tensor) =>
            h.einsum("...mk,nk->...mn", x, h.transpose(y))
          : mode === "vector"
          ? (x: Tensor, y: Tensor) => h.matmul(x, h.slice(y, [0, 0], [k, 1]))
          : h.matmul;
        await agree(b, [a, bb], f, { rtol: 1e-4, atol: 1e-4 });
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  Deno.test(`gradients on ${b} match the cpu reference`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 3, 17),
        fc.constantFrom<number>(1, 3, 17, 129),
        fc.nat(),
        async (n, d, seed) => {
          const loss = (w: Tensor, x: Tensor) =>
            h.crossEntropy(
              h.matmul(h.tanh(x), w),
              h.tensor(Int32Array.from({ length: n }, (_, i) => i % 3)),
              {
                labelSmoothing: 0.1,
              },
            );
          const f = (w: Tensor, x: Tensor) => {
            const [gw, gx] = h.grad(loss, { argnums: [0, 1] })(w, x);
            return h.concat([h.reshape(gw, [-1]), h.reshape(gx, [-1])]);
          };
          await agree(
            b,
            [hostFloat([d, 3], seed), hostFloat([n, d], seed + 1)],
            f,
            { rtol: 2e-4, atol: 1e-5 },
          );
        },
      ),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  Deno.test(`a full reduction over more than 65,535 workgroups' worth of elements is right on ${b}`, async () => {
    const n = 70_000 * 4;
    const ones: Host = {
      data: new Float32Array(n).fill(1),
      shape: [n],
      dtype: "float32",
    };
    await agree(b, [ones], (x) => h.sum(x), { rtol: 0, atol: 0 });
    const big = await onBackend(b, [{
      data: new Float32Array(300_000).fill(1),
      shape: [300_000],
      dtype: "float32",
    }], (x) => h.add(x, 1));
    await assertAllClose(h.sum(big), 600_000, { rtol: 0, atol: 0 });
  });
}
