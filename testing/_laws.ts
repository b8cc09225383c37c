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

/** The laws, by name, with what each one says. */
export const LAWS = {
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
} as const;

/** The name of a law. */
export type LawName = keyof typeof LAWS;

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
function visibility(spec: Spec, x: Data): Promise<number[]> {
  const probe: Spec = {
    ...spec,
    score: (_q, _k, ctx) => ones(ctx.shape),
    mods: [],
    normalise: identity(),
  };
  return host(run(probe, x).weights);
}

/** Per row of `w` ([rows, tk] flat): the indices that are visible. */
function rows(tk: number, n: number): number[][] {
  return Array.from(
    { length: n / tk },
    (_, r) => [...Array(tk).keys()].map((j) => r * tk + j),
  );
}

const shapes: Law = async ({ spec, data }) => {
  const s = spec(data);
  const { batch: b, heads: h, tq, tk, dv } = data.c;
  const p = build(data);
  const { output, weights } = attention(s)(p.q, p.k, p.v, p.opts);
  const want = [b, h, tq, tk].join(",");
  if (weights.shape.join(",") !== want) {
    throw new Error(`weights are [${weights.shape}], expected [${want}]`);
  }
  const w = await host(weights), o = await host(output);
  const bad = w.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) {
    throw new Error(`weight ${indexOf(bad, weights.shape)} is ${w[bad]}`);
  }
  assertClose("output vs weights @ v", o, await host(matmul(weights, p.v)), [
    b,
    h,
    tq,
    dv,
  ]);
};

const masking: Law = async ({ spec, data }) => {
  const s = spec(data);
  const { batch: b, tq, tk } = data.c;
  const r = rng(data.c.seed + 17);
  // An extra random mask in which query 0 sees nothing.
  const m = Array.from(
    { length: b * tq * tk },
    (_, i) => Math.floor(i / tk) % tq !== 0 && r() < 0.7,
  );
  const extra = tensor(m, { shape: [b, 1, tq, tk], dtype: "bool" });
  const { output, weights } = run({
    ...s,
    masks: [...(s.masks ?? []), () => extra],
  }, data);
  const w = await host(weights), o = await host(output);
  const h = data.c.heads;
  for (let i = 0; i < w.length; i++) {
    const bi = Math.floor(i / (h * tq * tk)), rest = i % (tq * tk);
    if (!m[bi * tq * tk + rest] && w[i] !== 0) {
      throw new Error(
        `masked weight ${indexOf(i, weights.shape)} is ${w[i]}, not 0`,
      );
    }
  }
  const nan = o.findIndex((x) => Number.isNaN(x));
  if (nan >= 0) throw new Error(`output ${indexOf(nan, output.shape)} is NaN`);
  const dv = data.c.dv;
  for (let i = 0; i < o.length; i++) {
    if (Math.floor(i / dv) % tq === 0 && o[i] !== 0) {
      throw new Error(
        `output ${indexOf(i, output.shape)} of a fully masked row is ${
          o[i]
        }, not 0`,
      );
    }
  }
};

const permutation: Law = async ({ spec, data }) => {
  const { sigma, pi } = permutations(data.c);
  const before = run(spec(data), data);
  const moved = permuteData(data, sigma, pi);
  const after = run(spec(moved), moved);
  const { batch: b, heads: h, tq, tk, dv } = data.c;
  const w = await host(before.weights), o = await host(before.output);
  const wantW: number[] = [], wantO: number[] = [];
  for (let bh = 0; bh < b * h; bh++) {
    for (let i = 0; i < tq; i++) {
      for (let j = 0; j < tk; j++) {
        wantW.push(w[(bh * tq + sigma[i]!) * tk + pi[j]!]!);
      }
      for (let e = 0; e < dv; e++) {
        wantO.push(o[(bh * tq + sigma[i]!) * dv + e]!);
      }
    }
  }
  const note = ` (queries reordered by [${sigma}], keys by [${pi}])`;
  assertClose(
    "weights" + note,
    await host(after.weights),
    wantW,
    after.weights.shape,
  );
  assertClose(
    "output" + note,
    await host(after.output),
    wantO,
    after.output.shape,
  );
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
  assertClose(
    "weights after a shift",
    await host(shifted.weights),
    await host(base.weights),
    base.weights.shape,
  );
};

const simplex: Law = async ({ spec, data }) => {
  const s = spec(data);
  const { weights } = run(s, data);
  const w = await host(weights), vis = await visibility(s, data);
  const neg = w.findIndex((x) => !(x >= 0));
  if (neg >= 0) {
    throw new Error(`weight ${indexOf(neg, weights.shape)} is ${w[neg]}`);
  }
  for (const row of rows(data.c.tk, w.length)) {
    const total = row.reduce((a, i) => a + w[i]!, 0);
    const seen = row.some((i) => vis[i] === 1);
    const want = seen ? 1 : 0;
    if (!(Math.abs(total - want) <= 1e-5 * data.c.tk)) {
      const at = indexOf(row[0]!, weights.shape);
      throw new Error(`row ${at} sums to ${total}, expected ${want}`);
    }
  }
};

const cold: Law = async ({ spec, data }) => {
  const s = spec(data);
  const raw = await host(
    run({ ...s, masks: [], normalise: identity() }, data).weights,
  );
  const vis = await visibility(s, data);
  // Rows with a clear winner among visible keys, and the smallest gap.
  const winners: [number[], number][] = [];
  let gap = Infinity;
  for (const row of rows(data.c.tk, raw.length)) {
    const seen = row.filter((i) => vis[i] === 1).sort((a, b) =>
      raw[b]! - raw[a]!
    );
    if (seen.length === 0) continue;
    const g = seen.length > 1 ? raw[seen[0]!]! - raw[seen[1]!]! : Infinity;
    if (g < 1e-3 * Math.max(1, Math.abs(raw[seen[0]!]!))) continue; // a near tie
    winners.push([row, seen[0]!]);
    gap = Math.min(gap, g);
  }
  if (winners.length === 0) return;
  const t = Number.isFinite(gap) ? gap / 12 : 1;
  const w = await host(
    run({ ...s, mods: [...(s.mods ?? []), temperature(t)] }, data).weights,
  );
  for (const [, best] of winners) {
    if (!(w[best]! >= 0.99)) {
      throw new Error(
        `at temperature ${fmt(t)} the top key ${best} has weight ${
          w[best]
        }, not ≈ 1`,
      );
    }
  }
};

const single: Law = async ({ spec, data }) => {
  const s = spec(data);
  const a = attention(s);
  const p = build(data);
  const want = a(p.q, p.k, p.v, p.opts);
  const wo = await host(want.output), ww = await host(want.weights);
  const cat = modules([a], concatenate())(p.q, p.k, p.v, p.opts);
  assertClose(
    "modules([A], concatenate()).output",
    await host(cat.output),
    wo,
    want.output.shape,
  );
  assertClose(
    "modules([A], concatenate()).weights",
    await host(cat.weights),
    ww,
    want.weights.shape,
  );
  const mix = modules([a], mixture([1]))(p.q, p.k, p.v, p.opts);
  assertClose(
    "modules([A], mixture([1])).output",
    await host(mix.output),
    wo,
    want.output.shape,
  );
  assertClose(
    "modules([A], mixture([1])).weights",
    await host(mix.weights),
    ww,
    want.weights.shape,
  );
};

const oneHead: Law = async ({ spec, data, scale }) => {
  if (data.c.heads !== 1) return; // the spec is tied to more heads
  const c = { ...data.c, tk: data.c.tq }; // self-attention
  const x = drawData(c, scale);
  const s = spec(x);
  const { batch: b, tq: t, d } = c;
  const r = rng(c.seed + 3);
  const mha = multiHead(s, { heads: 1, dModel: d });
  const rand = (shape: number[]) =>
    tensor(uniformValues(shape.reduce((p, q) => p * q, 1), r), { shape });
  const params = {
    ...mha.init(key(c.seed)),
    bq: rand([d]),
    bk: rand([d]),
    bv: rand([d]),
    bo: rand([d]),
  };
  const xs = tensor(uniformValues(b * t * d, r), { shape: [b, t, d] });
  const opts = build(x).opts;
  const got = mha.apply(params, xs, opts);
  const proj = (w: Tensor, bias: Tensor) =>
    expandDims(add(matmul(xs, w), bias), 1); // [B, 1, T, d]
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
  assertClose("multiHead output", await host(got.output), await host(out), [
    b,
    t,
    d,
  ]);
  assertClose(
    "multiHead weights",
    await host(got.weights),
    await host(want.weights),
    want.weights.shape,
  );
};

const agree: Law = async ({ spec, data }) => {
  const names = backends();
  const results = [];
  for (const name of names) {
    results.push(
      await withBackend(name, async () => {
        const r = run(spec(data), data);
        const [w, o] = [await host(r.weights), await host(r.output)];
        return { name, w, o, shape: r.output.shape };
      }),
    );
  }
  const first = results[0]!;
  for (const other of results.slice(1)) {
    const tol = { rtol: 1e-3, atol: 1e-4 };
    assertClose(`${other.name} vs ${first.name} weights`, other.w, first.w, [
      other.w.length,
    ], tol);
    assertClose(
      `${other.name} vs ${first.name} output`,
      other.o,
      first.o,
      other.shape,
      tol,
    );
  }
};

const grads: Law = async ({ spec, data }) => {
  const s = attention(spec(data));
  const p = build(data);
  await checkGrads(
    (q: Tensor, k: Tensor, v: Tensor) => s(q, k, v, p.opts).output,
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
