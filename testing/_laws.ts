// The laws of one attention function, each a check of one random problem
// that throws on a violation. Private to testing/; the public entry is
// checkAttentionLaws.

import { attention, temperature } from "../attention/mod.ts";
import { add, matmul, sub, type Tensor, tensor } from "../ops/mod.ts";
import { permutations, permuteData } from "./_cases.ts";
import { fmt, indexOf, rng, uniformValues } from "./_host.ts";
import {
  assertClose,
  type Law,
  problem,
  read,
  rows,
  run,
  scores,
  visibility,
} from "./_law_kit.ts";

/** Weights have the right shape and are finite; output = weights @ v. */
export const shapes: Law = async ({ spec, data }) => {
  const { batch: b, heads: h, tq, tk, dv } = data.c;
  const sp = spec(data);
  const p = problem(sp, data);
  const { output, weights } = attention(sp)(p.q, p.k, p.v, p.opts);
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

/** Masked positions get 0; fully masked rows give zeros. */
export const masking: Law = async ({ spec, data }) => {
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

/** Permuting keys (with their data) and queries moves results with them. */
export const permutation: Law = async ({ spec, data }) => {
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

/** Large constants the shift law adds, where the shifted scores stay finite. */
export const LARGE_SHIFTS: readonly number[] = [1e6, 1e7, -1e7, 1e30, -1e30];

/**
 * Adding a constant to each row of scores changes nothing: random constants
 * in [-3, 3), and large ones. A large c rounds the scores (1e7 + 0.3 is
 * 1e7 in float32), so the weights of fl(s + c) are compared with those of
 * fl(s + c) − c: the same scores, exactly, shifted back.
 */
export const shift: Law = async ({ spec, data }) => {
  const s = spec(data);
  const { batch: b, heads: h, tq } = data.c;
  const c = tensor(uniformValues(b * h * tq, rng(data.c.seed + 5), 3), {
    shape: [b, h, tq, 1],
  });
  const mods = s.mods ?? [];
  const base = run(s, data);
  const shifted = run({ ...s, mods: [...mods, (x) => add(x, c)] }, data);
  const [w, w2, raw] = await read(
    base.weights,
    shifted.weights,
    scores(s, data),
  );
  assertClose("weights after a shift", w2!, w!, base.weights.shape);
  const top = Math.max(0, ...raw!.map(Math.abs));
  for (const big of LARGE_SHIFTS) {
    // fl(s + c) − c is exact only while |s| ≪ |c|; and s + c must be finite.
    if (Math.abs(big) < 4 * top) continue;
    if (!Number.isFinite(Math.fround(top + Math.abs(big)))) continue;
    const up = (x: Tensor) => add(x, big);
    const down = (x: Tensor) => sub(x, big);
    const [wUp, wBack] = await read(
      run({ ...s, mods: [...mods, up] }, data).weights,
      run({ ...s, mods: [...mods, up, down] }, data).weights,
    );
    assertClose(
      `weights after a shift by ${big}`,
      wUp!,
      wBack!,
      base.weights.shape,
    );
  }
};

/** Weights are ≥ 0 and rows with a visible key sum to 1. */
export const simplex: Law = async ({ spec, data }) => {
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

/** Temperatures the temperature law tries besides one fitted to the gaps. */
export const TINY_TEMPERATURES: readonly number[] = [1e-8];

/** As the temperature goes to 0 the weights approach argmax. */
export const cold: Law = async ({ spec, data }) => {
  const s = spec(data);
  const [raw, vis] = await read(scores(s, data), visibility(s, data));
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
  const largest = Math.max(0, ...raw!.map(Math.abs));
  const ts = [
    Number.isFinite(gap) ? gap / 12 : 1,
    ...TINY_TEMPERATURES.filter((t) =>
      Number.isFinite(Math.fround(largest / t))
    ),
  ];
  for (const t of ts) {
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
  }
};
