// The fused path of attention(spec): for every built-in spec, one flash
// kernel (fused: true) gives the composed path's output, weights and
// gradients (w.r.t. q, k, v and every captured tensor), on odd shapes
// (Tq ≠ Tk, T = 1, fully masked rows); "auto" picks the path the backend
// supports, and explainAttention says why.

import {
  additive,
  alibi,
  attention,
  bias,
  bilinear,
  causal,
  cosine,
  dot,
  explainAttention,
  gate,
  identityNormaliser,
  type ModFn,
  modules,
  multiHead,
  not,
  or,
  padding,
  relativePositionBias,
  scaledDot,
  seedGated,
  seedRatio,
  segments,
  sigmoidNormaliser,
  signedSumNormaliser,
  slidingWindow,
  softCap,
  sparsemaxNormaliser,
  type Spec,
  temperature,
} from "../../attention/mod.ts";
import {
  add,
  type BackendName,
  defaultBackend,
  eye,
  getBackend,
  grad,
  jit,
  key,
  max,
  mul,
  ones,
  setBackend,
  sub,
  sum,
  type Tensor,
  tensor,
  vmap,
} from "../../ops/mod.ts";
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  assertAllClose,
  randomTensor,
  readAll,
  testBackends,
  testEachBackend,
} from "../_helpers.ts";
import type { AttentionOptions } from "../../attention/mod.ts";
import { checkAttentionLaws } from "../../testing/mod.ts";
import { BUILT_IN_SPECS } from "./_specs.ts";

const H = 2, D = 4;

/** A spec whose captured tensors are `ps` (so gradients reach them). */
interface Case {
  readonly name: string;
  readonly spec: (ps: readonly Tensor[]) => Spec;
  readonly params?: () => Tensor[];
  /** Per-call data, made per test (on that test's backend). */
  readonly opts?: () => AttentionOptions;
  /** q and k are scaled by this (seedRatio: keep away from its pole). */
  readonly scale?: number;
}

const ids = (xs: number[][]) => tensor(xs, { dtype: "int32" });

const CASES: readonly Case[] = [
  { name: "scaledDot", spec: () => ({ score: scaledDot() }) },
  { name: "dot", spec: () => ({ score: dot() }) },
  {
    name: "scaledDot with a tensor scale",
    spec: ([c]) => ({ score: scaledDot(c) }),
    params: () => [tensor(0.7)],
  },
  {
    name: "bilinear per head",
    spec: ([w]) => ({ score: bilinear(w!) }),
    params: () => [mul(randomTensor([H, D, D], 11), 0.5)],
  },
  { name: "cosine", spec: () => ({ score: cosine(4) }) },
  {
    name: "seedRatio + softmax",
    spec: ([q]) => ({ score: seedRatio(q!) }),
    params: () => [mul(randomTensor([D, D], 12), 0.5)],
    scale: 0.5,
  },
  {
    name: "seedRatio + identity",
    spec: ([q]) => ({ score: seedRatio(q!), normalise: identityNormaliser() }),
    params: () => [mul(randomTensor([D, D], 13), 0.5)],
    scale: 0.5,
  },
  {
    name: "seedGated",
    spec: ([q]) => ({ score: seedGated(q!) }),
    params: () => [mul(randomTensor([D, D], 14), 0.5)],
    scale: 0.5,
  },
  {
    name: "sigmoid normaliser with a tensor bias, causal",
    spec: ([b]) => ({
      score: scaledDot(),
      masks: [causal()],
      normalise: sigmoidNormaliser({ bias: b! }),
    }),
    params: () => [tensor(-0.5)],
  },
  {
    name: "identity normaliser",
    spec: () => ({ score: dot(), normalise: identityNormaliser() }),
  },
  {
    name: "alibi (learned slopes) + causal",
    spec: ([m]) => ({
      score: scaledDot(),
      mods: [alibi(m!)],
      masks: [causal()],
    }),
    params: () => [tensor([0.5, 0.25])],
  },
  {
    name: "alibi (fixed slopes)",
    spec: () => ({ score: scaledDot(), mods: [alibi(H)] }),
  },
  {
    name: "temperature (number) + softCap",
    spec: () => ({ score: dot(), mods: [temperature(0.5), softCap(2)] }),
  },
  {
    name: "temperature (tensor)",
    spec: ([t]) => ({ score: dot(), mods: [temperature(t!)] }),
    params: () => [tensor(1.5)],
  },
  {
    name: "slidingWindow + padding by lengths (a fully masked example)",
    spec: () => ({
      score: scaledDot(),
      masks: [slidingWindow(1, 0), padding()],
    }),
    opts: () => ({ lengths: [3, 0] }),
  },
  {
    name: "padding by keyMask + segments",
    spec: () => ({ score: scaledDot(), masks: [padding(), segments()] }),
    opts: () => ({
      keyMask: tensor([[true, true, false, true, true], [
        false,
        true,
        true,
        true,
        false,
      ]], { dtype: "bool" }),
      segments: ids([[0, 0, 1], [1, 1, 1]]),
      kvSegments: ids([[0, 1, 1, 0, 1], [0, 0, 0, 1, 1]]),
    }),
  },
  {
    name: "relativePositionBias + bias tensor",
    spec: ([table, b]) => ({
      score: scaledDot(),
      mods: [relativePositionBias(table!, { maxDistance: 4 }), bias(b!)],
    }),
    params: () => [randomTensor([H, 8], 15), randomTensor([H, 1, 1], 16)],
  },
  {
    name: "or/not masks with per-example positions",
    spec: () => ({
      score: dot(),
      masks: [or(causal(), not(slidingWindow(1)))],
    }),
    opts: () => ({
      qPositions: ids([[4, 1, 2], [0, 0, 3]]),
      kPositions: ids([[0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]),
    }),
  },
];

/** Shapes: Tq ≠ Tk, T = 1 on either side. */
const SHAPES = [
  { tq: 3, tk: 5 },
  { tq: 1, tk: 5 },
  { tq: 3, tk: 1 },
] as const;

function inputs(c: Case, tq: number, tk: number, seed: number) {
  const s = c.scale ?? 1;
  return {
    q: mul(randomTensor([2, H, tq, D], seed), s), // [B, H, Tq, d]
    k: mul(randomTensor([2, H, tk, D], seed + 1), s), // [B, H, Tk, d]
    v: randomTensor([2, H, tk, 3], seed + 2), // [B, H, Tk, dv]
  };
}

/** The case's options, cut to `tq` queries and `tk` keys. */
function optsFor(c: Case, tq: number, tk: number): AttentionOptions {
  const o = c.opts?.() ?? {};
  const cut = (x: Tensor, t: number): Tensor =>
    tensor(
      (x.dtype === "bool"
        ? [[true], [false]].map((r, i) =>
          Array.from({ length: t }, (_, j) => j % 2 === 0 ? r[0]! : i === 1)
        )
        : Array.from(
          { length: 2 },
          (_, i) => Array.from({ length: t }, (_, j) => (i + j) % 3),
        )) as number[][],
      { dtype: x.dtype },
    );
  const same = tq === 3 && tk === 5;
  if (same) return o;
  return {
    ...(o.lengths && { lengths: [Math.min(tk, 1), 0] }),
    ...(o.keyMask && { keyMask: cut(o.keyMask, tk) }),
    ...(o.segments && { segments: cut(o.segments, tq) }),
    ...(o.kvSegments && { kvSegments: cut(o.kvSegments, tk) }),
    ...(o.qPositions && { qPositions: cut(o.qPositions, tq) }),
    ...(o.kPositions && { kPositions: cut(o.kPositions, tk) }),
  };
}

function both(spec: Spec) {
  return {
    fused: attention({ ...spec, fused: true }),
    composed: attention({ ...spec, fused: false }),
  };
}

const TOL = { rtol: 1e-5, atol: 1e-5 };

/**
 * Registers `fn` on `backends` (present ones only). WebGPU compiles a
 * shader per kernel and mode (seconds each on a software adapter), so it
 * runs a few representative cases; its kernels have their own tests.
 */
function testOn(
  backends: readonly BackendName[],
  name: string,
  fn: () => Promise<void>,
): void {
  for (const b of testBackends().filter((b) => backends.includes(b))) {
    Deno.test(`${name} [${b}]`, async () => {
      const prev = getBackend().name;
      await setBackend(b);
      try {
        await fn();
      } finally {
        await setBackend(prev);
      }
    });
  }
}

/** WebGPU runs these cases only. */
const ON_WEBGPU = new Set([
  "scaledDot",
  "seedGated",
  "alibi (learned slopes) + causal",
  "relativePositionBias + bias tensor",
]);
const backendsFor = (c: Case): BackendName[] =>
  ON_WEBGPU.has(c.name) ? ["cpu", "wasm", "webgpu"] : ["cpu", "wasm"];

for (const c of CASES) {
  testOn(
    backendsFor(c),
    `fused attention equals composed: ${c.name}`,
    async () => {
      for (const [n, { tq, tk }] of SHAPES.entries()) {
        const ps = c.params?.() ?? [];
        const { fused, composed } = both(c.spec(ps));
        const { q, k, v } = inputs(c, tq, tk, 100 + 7 * n);
        const opts = optsFor(c, tq, tk);
        const f = fused(q, k, v, opts), e = composed(q, k, v, opts);
        assertEquals(f.output.shape, e.output.shape);
        assertEquals(f.weights.shape, e.weights.shape);
        const [fo, fw, eo, ew] = await readAll([
          f.output,
          f.weights,
          e.output,
          e.weights,
        ]);
        const at = ` (Tq ${tq}, Tk ${tk})`;
        await assertAllClose(fo, eo, TOL, `output${at}`);
        await assertAllClose(fw, ew, TOL, `weights${at}`);
      }
    },
  );
}

for (const c of CASES) {
  testOn(
    backendsFor(c),
    `fused gradients equal composed: ${c.name}`,
    async () => {
      const ps = c.params?.() ?? [];
      const { q, k, v } = inputs(c, 3, 5, 300);
      const opts = optsFor(c, 3, 5);
      const r = randomTensor([2, H, 3, 3], 301); // a random cotangent
      const gradOf = (fused: boolean) =>
        grad((x: { q: Tensor; k: Tensor; v: Tensor; ps: Tensor[] }) => {
          const attend = attention({ ...c.spec(x.ps), fused });
          return sum(mul(attend(x.q, x.k, x.v, opts).output, r));
        })({ q, k, v, ps });
      const f = gradOf(true), e = gradOf(false);
      for (const name of ["q", "k", "v"] as const) {
        await assertAllClose(
          f[name],
          e[name],
          { rtol: 1e-4, atol: 1e-5 },
          name,
        );
      }
      for (const [i, g] of f.ps.entries()) {
        await assertAllClose(
          g,
          e.ps[i],
          { rtol: 1e-4, atol: 1e-5 },
          `ps[${i}]`,
        );
      }
    },
  );
}

Deno.test("fused attention gives a fully masked row zeros, not NaN", async () => {
  const { fused } = both({ score: scaledDot(), masks: [not(causal())] });
  const x = randomTensor([3, 2], 5);
  const [w, o] = await readAll([fused(x, x, x).weights, fused(x, x, x).output]);
  assertEquals(w!.slice(6), [0, 0, 0]); // the last query sees no later key
  assertEquals(o!.slice(4), [0, 0]);
});

Deno.test("fused attention computes the weights only when they are read", () => {
  let calls = 0;
  const counted: ModFn = (s) => (calls++, s);
  const attend = attention({ score: dot(), mods: [counted], fused: true });
  const x = randomTensor([4, 2], 6);
  const r = attend(x, x, x);
  const before = calls;
  assert(before > 0);
  assertEquals(r.weights.shape, [4, 4]);
  assert(calls > before, "reading the weights runs the score again");
  const after = calls;
  r.weights;
  assertEquals(calls, after, "the weights are computed once");
});

Deno.test("fused: true with a piece that has no fused form throws the reason", () => {
  const x = ones([2, 3]);
  const score = additive({ w1: eye(3), w2: eye(3), v: ones([3]) });
  assertThrows(
    () => attention({ score, fused: true })(x, x, x),
    TypeError,
    "hidden layer per pair",
  );
  assertThrows(
    () =>
      attention({
        score: dot(),
        normalise: sparsemaxNormaliser(),
        fused: true,
      })(
        x,
        x,
        x,
      ),
    TypeError,
    "sparsemaxNormaliser",
  );
  assertThrows(
    () => attention({ score: dot(), fused: "yes" as unknown as boolean }),
    TypeError,
    'spec.fused must be "auto", true or false',
  );
});

Deno.test("explainAttention says which path a call takes and why", () => {
  const shapes = { q: [2, 3, 4], k: [2, 5, 4], v: [2, 5, 4] };
  const explain = (spec: Spec, opts?: AttentionOptions) =>
    explainAttention(spec, { ...shapes, ...(opts && { opts }) });
  const fused = explain({ score: scaledDot(), fused: true });
  assertEquals(fused.path, "fused");
  assert(fused.reason.includes("fused: true"), fused.reason);
  const cases: [Spec, string, AttentionOptions?][] = [
    [{ score: scaledDot(), fused: false }, "fused: false"],
    [{ score: (q, k) => dot()(q, k, null!) }, "not a built-in one"],
    [{ score: (q, k) => dot()(q, k, null!) }, "fusableScore(fn, form)"],
    [{ score: dot(), normalise: signedSumNormaliser() }, "Σ|s|"],
    [{ score: dot(), normalise: sparsemaxNormaliser() }, "threshold"],
    [{ score: dot(), dropout: 0.1 }, "dropout (rate 0.1) while training", {
      training: true,
      key: key(0),
    }],
  ];
  for (const [spec, why, opts] of cases) {
    const e = explain(spec, opts);
    assertEquals(e.path, "composed");
    assert(e.reason.includes(why), `${e.reason} should say ${why}`);
  }
  // Dropout only matters while training.
  assertEquals(
    explain({ score: dot(), dropout: 0.1, fused: true }).path,
    "fused",
  );
  // Example tensors work as well as shapes.
  const x = ones([3, 4]);
  assertEquals(
    explainAttention({ score: dot(), fused: true }, { q: x, k: x, v: x }).path,
    "fused",
  );
});

testEachBackend(
  "auto takes the fused path only where the backend has a flash kernel",
  () => {
    const shapes = { q: [3, 4], k: [5, 4], v: [5, 4] };
    const e = explainAttention({ score: scaledDot() }, shapes);
    if (defaultBackend() === "cpu") {
      assertEquals(e.path, "composed");
      assert(e.reason.includes("cpu backend has no flash kernel"), e.reason);
    } else {
      assert(e.reason.length > 0);
    }
  },
);

Deno.test("multiHead passes the fused path through, weights included", async () => {
  const spec = { score: scaledDot(), masks: [causal()] };
  const run = (fused: boolean) => {
    const mha = multiHead({ ...spec, fused }, { heads: 2, dModel: 8 });
    const x = randomTensor([2, 5, 8], 7);
    return mha.apply(mha.init(key(0)), x);
  };
  const f = run(true), e = run(false);
  await assertAllClose(f.output, e.output, TOL);
  await assertAllClose(f.weights, e.weights, TOL);
});

for (const { name, spec, opts } of BUILT_IN_SPECS) {
  if (/additive|sparsemax/.test(name)) continue; // no fused form
  testOn(
    ["cpu", "wasm"],
    `the laws of attention hold on the fused path: ${name}`,
    async () => {
      const checked = await checkAttentionLaws(spec, {
        ...opts,
        fused: true,
        runs: 3,
        laws: { ...opts?.laws, backends: false },
      });
      assert(checked.includes("masking") && checked.includes("multiHead"));
    },
  );
}

testOn(
  ["cpu", "wasm"],
  "fused weights do not move when a row of scores is shifted by a constant",
  async () => {
    const q = randomTensor([2, 3, 4], 40), k = randomTensor([2, 5, 4], 41);
    const c = mul(randomTensor([2, 3, 1], 42), 3); // per-row constants in ±3
    const shifted: ModFn = (s) => add(s, c);
    const base = attention({
      score: scaledDot(),
      masks: [causal()],
      fused: true,
    });
    const moved = attention({
      score: scaledDot(),
      mods: [shifted],
      masks: [causal()],
      fused: true,
    });
    await assertAllClose(moved(q, k, k).weights, base(q, k, k).weights, TOL);
    await assertAllClose(moved(q, k, k).output, base(q, k, k).output, TOL);
  },
);

testOn(
  ["cpu", "wasm"],
  "the fused path runs under jit and vmap as the composed one",
  async () => {
    const spec = { score: scaledDot(), mods: [alibi(H)], masks: [causal()] };
    const { fused, composed } = both(spec);
    const q = randomTensor([3, H, 4, D], 50),
      k = randomTensor([3, H, 6, D], 51);
    const v = randomTensor([3, H, 6, 3], 52);
    const f = (a: typeof fused) => (x: Tensor, y: Tensor, z: Tensor) =>
      a(x, y, z, { queryOffset: 2 }).output;
    await assertAllClose(jit(f(fused))(q, k, v), f(composed)(q, k, v), TOL);
    // vmap over the batch: each example [H, T, d].
    await assertAllClose(vmap(f(fused))(q, k, v), f(composed)(q, k, v), TOL);
    // grad under jit.
    const loss = (a: typeof fused) => (x: Tensor) => sum(f(a)(x, k, v));
    await assertAllClose(jit(grad(loss(fused)))(q), grad(loss(composed))(q), {
      rtol: 1e-4,
      atol: 1e-5,
    });
  },
);

testOn(
  ["cpu", "wasm"],
  "a modifier the planner cannot fuse: auto falls back, true throws, explain says why",
  async () => {
    // Subtracting the row max reduces over the keys: not elementwise in the dots.
    const rowMax: ModFn = (s) => sub(s, max(s, { axis: -1, keepdims: true }));
    const spec = { score: scaledDot(), mods: [rowMax] };
    const x = randomTensor([3, 4], 60);
    const shapes = { q: [3, 4], k: [3, 4], v: [3, 4] };
    const why = explainAttention({ ...spec, fused: true }, shapes);
    assertEquals(why.path, "composed");
    assert(why.reason.includes("the flash planner says"), why.reason);
    assertThrows(
      () => attention({ ...spec, fused: true })(x, x, x),
      TypeError,
      "cannot fuse",
    );
    const auto = attention(spec)(x, x, x),
      composed = attention({ ...spec, fused: false })(x, x, x);
    await assertAllClose(auto.output, composed.output, TOL);
  },
);

Deno.test("modules() of fused attention equal those of composed attention", async () => {
  const x = randomTensor([2, H, 4, D], 70), v = randomTensor([2, H, 4, 3], 71);
  const make = (fused: boolean) =>
    modules([
      attention({ score: scaledDot(), masks: [causal()], fused }),
      attention({ score: dot(), mods: [alibi(H)], fused }),
    ], gate({ w: randomTensor([H, D, 2], 72) }));
  const f = make(true)(x, x, v), e = make(false)(x, x, v);
  await assertAllClose(f.output, e.output, TOL);
  await assertAllClose(f.weights, e.weights, TOL);
});
