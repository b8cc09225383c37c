// Every parameter a piece captures gets correct derivatives in forward mode
// (jvp) and reverse mode (vjp/grad), checked against central finite
// differences and against each other with checkGrads, on random data.

import fc from "fast-check";
import {
  additive,
  alibi,
  attention,
  bias,
  bilinear,
  causal,
  cosine,
  gate,
  identityNormaliser,
  mixture,
  modules,
  multiHead,
  relativePositionBias,
  scaledDot,
  seedRatio,
  sigmoidNormaliser,
  softCap,
  type Spec,
  temperature,
} from "../../attention/mod.ts";
import {
  add,
  grad,
  key,
  mul,
  sum,
  type Tensor,
  tensor,
} from "../../ops/mod.ts";
import { checkGrads } from "../../testing/mod.ts";
import {
  arbSeed,
  assertAllClose,
  randomTensor,
  testEachBackend,
  values,
} from "../_helpers.ts";

type Params = Record<string, Tensor>;

/** A parametrised spec and how to draw its parameters. */
interface Case {
  readonly name: string;
  readonly params: (seed: number) => Params;
  readonly spec: (p: Params) => Spec;
}

const D = 3; // features of q and k; scores are [B=1, H=2, Tq=3, Tk=4]

const CASES: readonly Case[] = [
  {
    name: "additive W₁, W₂, v and b",
    params: (s) => ({
      w1: randomTensor([D, 2], s),
      w2: randomTensor([D, 2], s + 1),
      v: randomTensor([2], s + 2),
      b: randomTensor([2], s + 3),
    }),
    spec: ({ w1, w2, v, b }) => ({
      score: additive({ w1: w1!, w2: w2!, v: v!, b: b! }),
    }),
  },
  {
    name: "bilinear W (one per head)",
    params: (s) => ({ w: randomTensor([2, D, D], s) }),
    spec: ({ w }) => ({ score: bilinear(w!), masks: [causal()] }),
  },
  {
    name: "seedRatio Q",
    params: (s) => ({ q: randomTensor([D, D], s) }),
    spec: ({ q }) => ({
      score: seedRatio(q!),
      normalise: identityNormaliser(),
    }),
  },
  {
    name: "cosine scale and temperature",
    params: (s) => ({
      scale: add(randomTensor([], s, "positive"), 1),
      t: randomTensor([2, 1, 1], s + 1, "positive"),
    }),
    spec: ({ scale, t }) => ({
      score: cosine(scale!),
      mods: [temperature(t!)],
    }),
  },
  {
    name: "bias tensor and soft-cap",
    params: (s) => ({
      b: randomTensor([2, 3, 4], s),
      cap: add(randomTensor([], s + 1, "positive"), 1),
    }),
    spec: ({ b, cap }) => ({
      score: scaledDot(),
      mods: [bias(b!), softCap(cap!)],
    }),
  },
  {
    name: "ALiBi slopes",
    params: (s) => ({ m: randomTensor([2], s, "positive") }),
    spec: ({ m }) => ({
      score: scaledDot(),
      mods: [alibi(m!)],
      masks: [causal()],
    }),
  },
  {
    name: "relative-position table",
    params: (s) => ({ table: randomTensor([2, 8], s) }),
    spec: ({ table }) => ({
      score: scaledDot(),
      mods: [relativePositionBias(table!, { maxDistance: 4 })],
    }),
  },
  {
    name: "sigmoid bias",
    params: (s) => ({ b: randomTensor([], s) }),
    spec: ({ b }) => ({
      score: scaledDot(),
      normalise: sigmoidNormaliser({ bias: b! }),
    }),
  },
];

/** Inputs of one random problem. */
function problem(seed: number) {
  return {
    q: randomTensor([1, 2, 3, D], seed + 10, "unit"),
    k: randomTensor([1, 2, 4, D], seed + 11, "unit"),
    v: randomTensor([1, 2, 4, 2], seed + 12),
  };
}

for (const c of CASES) {
  testEachBackend(
    `${c.name}: jvp and vjp match finite differences`,
    async () => {
      await fc.assert(
        fc.asyncProperty(arbSeed, async (seed) => {
          const { q, k, v } = problem(seed);
          const out = (p: Params) => attention(c.spec(p))(q, k, v).output;
          await checkGrads(out, [c.params(seed)], { seed, directions: 1 });
        }),
        { numRuns: 3 },
      );
    },
  );
}

testEachBackend(
  "mixture α and gate W, b: jvp and vjp match finite differences",
  async () => {
    const { q, k, v } = problem(7);
    const parts = [
      attention({ score: scaledDot(), masks: [causal()] }),
      attention({ score: scaledDot(), normalise: sigmoidNormaliser() }),
    ];
    const mixed = (p: { alpha: Tensor }) =>
      modules(parts, mixture(p.alpha))(q, k, v).output;
    await checkGrads(mixed, [{ alpha: randomTensor([2], 1) }]);
    const gated = (p: { w: Tensor; b: Tensor }) =>
      modules(parts, gate(p))(q, k, v).output;
    await checkGrads(gated, [{
      w: randomTensor([D, 2], 2),
      b: randomTensor([2], 3),
    }]);
  },
);

testEachBackend(
  "multiHead projections: jvp and vjp match finite differences",
  async () => {
    const mha = multiHead({ score: scaledDot(), masks: [causal()] }, {
      heads: 2,
      dModel: 4,
    });
    const p = {
      ...mha.init(key(5)),
      bq: randomTensor([4], 4),
      bv: randomTensor([4], 5),
    };
    const x = randomTensor([1, 3, 4], 6);
    await checkGrads((params: typeof p) => mha.apply(params, x).output, [p]);
  },
);

testEachBackend(
  "grad of a scalar loss equals the vjp checked above",
  async () => {
    // grad is reverse mode with cotangent 1: compare it with ⟨r, ∂out⟩ by hand.
    const { q, k, v } = problem(3);
    const r = randomTensor([1, 2, 3, 2], 4);
    const p0 = CASES[0]!.params(1);
    const loss = (p: Params) =>
      sum(mul(attention(CASES[0]!.spec(p))(q, k, v).output, r));
    const g = grad(loss)(p0);
    const eps = 1e-3;
    const w1 = await values(p0.w1!);
    const shifted = (delta: number) => {
      const moved = w1.map((x, i) => (i === 4 ? x + delta : x));
      return loss({ ...p0, w1: tensor(moved, { shape: [D, 2] }) });
    };
    const fd =
      ((await values(shifted(eps)))[0]! - (await values(shifted(-eps)))[0]!) /
      (2 * eps);
    await assertAllClose((await values(g.w1!))[4]!, fd, {
      rtol: 1e-2,
      atol: 1e-3,
    });
  },
);
