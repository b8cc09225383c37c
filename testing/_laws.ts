// The laws every attention spec must obey, each a check of one random
// problem that throws on a violation. Private to testing/; the public entry
// is checkAttentionLaws.

import {
  attention,
  concatenate,
  identity,
  mixture,
  modules,
  multiHead,
  type Spec,
  temperature,
} from "../attention/mod.ts";
import {
  add,
  backends,
  expandDims,
  key,
  matmul,
  ones,
  reshape,
  type Tensor,
  tensor,
  withBackend,
} from "../ops/mod.ts";
import {
  build,
  type Data,
  drawData,
  permutations,
  permuteData,
} from "./_cases.ts";
import { checkGrads } from "./check_grads.ts";
import { fmt, host, indexOf, rng, uniformValues } from "./_host.ts";

/** The name of a law of attention. */
export type LawName =
  | "shapes"
  | "masking"
  | "permutation"
  | "shift"
  | "simplex"
  | "temperature"
  | "modules"
  | "multiHead"
  | "backends"
  | "grads";

/** The laws, by name, with what each one says. */
export const LAWS: Record<LawName, string> = {
  shapes: "weights are [..., Tq, Tk] and finite, and output = weights @ v",
  masking:
    "masked positions get exactly 0 weight, and a fully masked row gives zeros, not NaN",
  permutation:
    "permuting keys and values (with their positions and data) leaves outputs unchanged, and permuting queries permutes outputs",
  shift: "adding a constant to a row of scores changes nothing",
  simplex: "weights are non-negative and each row with a visible key sums to 1",
  temperature: "as the temperature goes to 0 the weights approach argmax",
  modules: "modules([A]) equals A",
  multiHead: "multiHead with one head equals attention plus the projections",
  backends: "every backend agrees with the first one",
  grads:
    "forward and reverse derivatives with respect to q, k, v agree with finite differences",
};

/** What a law gets: the spec builder and one problem's data. */
export interface LawInput {
  readonly spec: (x: Data) => Spec;
  readonly data: Data;
  readonly scale: number;
}

/** A law: resolves if it holds on this problem, throws otherwise. */
export type Law = (input: LawInput) => Promise<void>;

/** Throws unless |a − e| ≤ atol·max(1, |e|max) + rtol·|e| elementwise. */
function assertClose(
  what: string,
  actual: readonly number[],
  expected: readonly number[],
  shape: readonly number[],
  tol = { rtol: 1e-4, atol: 1e-5 },
): void {
  if (actual.length !== expected.length) {
    throw new Error(
      `${what}: ${actual.length} values, expected ${expected.length}`,
    );
  }
  const big = Math.max(1, ...expected.map(Math.abs).filter(Number.isFinite));
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= tol.atol * big + tol.rtol * Math.abs(e))) {
      throw new Error(
        `${what} at ${indexOf(i, shape)}: ${fmt(a)}, expected ${fmt(e)}`,
      );
    }
  }
}

function run(spec: Spec, x: Data) {
  const p = build(x);
  return attention(spec)(p.q, p.k, p.v, p.opts);
}

/** The spec's combined mask as 0/1 weights, [B, H, Tq, Tk]. */
function visibility(spec: Spec, x: Data): Tensor {
  const probe: Spec = {
    ...spec,
    score: (_q, _k, ctx) => ones(ctx.shape),
    mods: [],
    normalise: identity(),
  };
  return run(probe, x).weights;
}

/** Per row of `w` ([rows, tk] flat): the indices that are visible. */
function rows(tk: number, n: number): number[][] {
  return Array.from(
    { length: n / tk },
    (_, r) => [...Array(tk).keys()].map((j) => r * tk + j),
  );
}

/** Reads tensors back in parallel (one round trip on a GPU). */
function read(...ts: Tensor[]): Promise<number[][]> {
  return Promise.all(ts.map(host));
}

const shapes: Law = async ({ spec, data }) => {
  const { batch: b, heads: h, tq, tk, dv } = data.c;
  const p = build(data);
  const { output, weights } = attention(spec(data))(p.q, p.k, p.v, p.opts);
  const want = [b, h, tq, tk];
  if (weights.shape.join(",") !== want.join(",")) {
    throw new Error(`weights are [${weights.shape}], expected [${want}]`);
  }
  const [w, o, wv] = await read(weights, output, matmul(weights, p.v));
  const bad = w!.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) {
    throw new Error(`weight ${indexOf(bad, weights.shape)} is ${w![bad]}`);
  }
  assertClose("output vs weights @ v", o!, wv!, [b, h, tq, dv]);
};

const masking: Law = async ({ spec, data }) => {
  const s = spec(data);
  const { batch: b, heads: h, tq, tk, dv } = data.c;
  const r = rng(data.c.seed + 17);
  // An extra random mask [B, 1, Tq, Tk] in which query 0 sees nothing.
  const m = Array.from(
    { length: b * tq * tk },
    (_, i) => Math.floor(i / tk) % tq !== 0 && r() < 0.7,
  );
  const extra = tensor(m, { shape: [b, 1, tq, tk], dtype: "bool" });
  const masks = [...(s.masks ?? []), () => extra];
  const { output, weights } = run({ ...s, masks }, data);
  const [w, o] = await read(weights, output);
  w!.forEach((x, i) => {
    const seen = m[Math.floor(i / (h * tq * tk)) * tq * tk + (i % (tq * tk))];
    if (!seen && x !== 0) {
      throw new Error(
        `masked weight ${indexOf(i, weights.shape)} is ${x}, not 0`,
      );
    }
  });
  o!.forEach((x, i) => {
    if (Number.isNaN(x)) {
      throw new Error(`output ${indexOf(i, output.shape)} is NaN`);
    }
    if (Math.floor(i / dv) % tq === 0 && x !== 0) {
      throw new Error(
        `output ${
          indexOf(i, output.shape)
        } of a fully masked row is ${x}, not 0`,
      );
    }
  });
};

const permutation: Law = async ({ spec, data }) => {
  const { sigma, pi } = permutations(data.c);
  const before = run(spec(data), data);
  const moved = permuteData(data, sigma, pi);
  const after = run(spec(moved), moved);
  const [w, o, w2, o2] = await read(
    before.weights,
    before.output,
    after.weights,
    after.output,
  );
  // after[i, j] = before[σ(i), π(j)]
  const { batch: b, heads: h, tq, tk, dv } = data.c;
  const wantW: number[] = [], wantO: number[] = [];
  for (let bh = 0; bh < b * h; bh++) {
    for (let i = 0; i < tq; i++) {
      const row = bh * tq + sigma[i]!;
      for (let j = 0; j < tk; j++) wantW.push(w![row * tk + pi[j]!]!);
      for (let e = 0; e < dv; e++) wantO.push(o![row * dv + e]!);
    }
  }
  const note = ` (queries reordered by [${sigma}], keys by [${pi}])`;
  assertClose("weights" + note, w2!, wantW, after.weights.shape);
  assertClose("output" + note, o2!, wantO, after.output.shape);
};

const shift: Law = async ({ spec, data }) => {
  const s = spec(data);
  const { batch: b, heads: h, tq } = data.c;
  const c = tensor(uniformValues(b * h * tq, rng(data.c.seed + 5), 3), {
    shape: [b, h, tq, 1],
  });
  const base = run(s, data);
  const shifted = run(
    { ...s, mods: [...(s.mods ?? []), (x) => add(x, c)] },
    data,
  );
  const [w, w2] = await read(base.weights, shifted.weights);
  assertClose("weights after a shift", w2!, w!, base.weights.shape);
};

const simplex: Law = async ({ spec, data }) => {
  const s = spec(data);
  const { weights } = run(s, data);
  const [w, vis] = await read(weights, visibility(s, data));
  const neg = w!.findIndex((x) => !(x >= 0));
  if (neg >= 0) {
    throw new Error(`weight ${indexOf(neg, weights.shape)} is ${w![neg]}`);
  }
  for (const row of rows(data.c.tk, w!.length)) {
    const total = row.reduce((a, i) => a + w![i]!, 0);
    const want = row.some((i) => vis![i] === 1) ? 1 : 0;
    if (!(Math.abs(total - want) <= 1e-5 * data.c.tk)) {
      const at = indexOf(row[0]!, weights.shape);
      throw new Error(`row ${at} sums to ${total}, expected ${want}`);
    }
  }
};

const cold: Law = async ({ spec, data }) => {
  const s = spec(data);
  const scores = run({ ...s, masks: [], normalise: identity() }, data).weights;
  const [raw, vis] = await read(scores, visibility(s, data));
  // Rows with a clear winner among the visible keys, and the smallest gap.
  const winners: number[] = [];
  let gap = Infinity;
  for (const row of rows(data.c.tk, raw!.length)) {
    const seen = row.filter((i) => vis![i] === 1)
      .sort((a, b) => raw![b]! - raw![a]!);
    if (seen.length === 0) continue;
    const top = raw![seen[0]!]!;
    const g = seen.length > 1 ? top - raw![seen[1]!]! : Infinity;
    if (g < 1e-3 * Math.max(1, Math.abs(top))) continue; // a near tie
    winners.push(seen[0]!);
    gap = Math.min(gap, g);
  }
  if (winners.length === 0) return;
  const t = Number.isFinite(gap) ? gap / 12 : 1;
  const mods = [...(s.mods ?? []), temperature(t)];
  const [w] = await read(run({ ...s, mods }, data).weights);
  for (const best of winners) {
    if (!(w![best]! >= 0.99)) {
      throw new Error(
        `at temperature ${fmt(t)} the top key ${best} has weight ${
          w![best]
        }, not ≈ 1`,
      );
    }
  }
};

const single: Law = async ({ spec, data }) => {
  const a = attention(spec(data));
  const p = build(data);
  const want = a(p.q, p.k, p.v, p.opts);
  const cat = modules([a], concatenate())(p.q, p.k, p.v, p.opts);
  const mix = modules([a], mixture([1]))(p.q, p.k, p.v, p.opts);
  const [wo, ww, co, cw, mo, mw] = await read(
    want.output,
    want.weights,
    cat.output,
    cat.weights,
    mix.output,
    mix.weights,
  );
  const [os, ws] = [want.output.shape, want.weights.shape];
  assertClose("modules([A], concatenate()).output", co!, wo!, os);
  assertClose("modules([A], concatenate()).weights", cw!, ww!, ws);
  assertClose("modules([A], mixture([1])).output", mo!, wo!, os);
  assertClose("modules([A], mixture([1])).weights", mw!, ww!, ws);
};

const oneHead: Law = async ({ spec, data, scale }) => {
  if (data.c.heads !== 1) return; // the spec may be tied to more heads
  const c = { ...data.c, tk: data.c.tq }; // self-attention
  const x = drawData(c, scale);
  const s = spec(x);
  const { batch: b, tq: t, d } = c;
  const r = rng(c.seed + 3);
  const rand = (shape: number[]) =>
    tensor(uniformValues(shape.reduce((p, q) => p * q, 1), r), { shape });
  const mha = multiHead(s, { heads: 1, dModel: d });
  const params = {
    ...mha.init(key(c.seed)),
    bq: rand([d]),
    bk: rand([d]),
    bv: rand([d]),
    bo: rand([d]),
  };
  const xs = rand([b, t, d]);
  const opts = build(x).opts;
  const got = mha.apply(params, xs, opts);
  // [B, T, d] -> [B, 1, T, d]: one head.
  const proj = (w: Tensor, bias: Tensor) =>
    expandDims(add(matmul(xs, w), bias), 1);
  const want = attention(s)(
    proj(params.wq, params.bq),
    proj(params.wk, params.bk),
    proj(params.wv, params.bv),
    opts,
  );
  const out = add(
    matmul(reshape(want.output, [b, t, d]), params.wo),
    params.bo,
  );
  const [go, gw, wo, ww] = await read(
    got.output,
    got.weights,
    out,
    want.weights,
  );
  assertClose("multiHead output", go!, wo!, [b, t, d]);
  assertClose("multiHead weights", gw!, ww!, want.weights.shape);
};

const agree: Law = async ({ spec, data }) => {
  const results: { name: string; w: number[]; o: number[] }[] = [];
  for (const name of backends()) {
    results.push(
      await withBackend(name, async () => {
        const r = run(spec(data), data);
        const [w, o] = await read(r.weights, r.output);
        return { name, w: w!, o: o! };
      }),
    );
  }
  const [first, ...others] = results;
  const { batch: b, heads: h, tq, tk, dv } = data.c;
  const tol = { rtol: 1e-3, atol: 1e-4 };
  for (const other of others) {
    const vs = `${other.name} vs ${first!.name}`;
    assertClose(`${vs} weights`, other.w, first!.w, [b, h, tq, tk], tol);
    assertClose(`${vs} output`, other.o, first!.o, [b, h, tq, dv], tol);
  }
};

const grads: Law = async ({ spec, data }) => {
  const attend = attention(spec(data));
  const p = build(data);
  await checkGrads(
    (q: Tensor, k: Tensor, v: Tensor) => attend(q, k, v, p.opts).output,
    [p.q, p.k, p.v],
    { directions: 1, seed: data.c.seed },
  );
};

/** Every law, by name. */
export const LAW_FNS: Record<LawName, Law> = {
  shapes,
  masking,
  permutation,
  shift,
  simplex,
  temperature: cold,
  modules: single,
  multiHead: oneHead,
  backends: agree,
  grads,
};
