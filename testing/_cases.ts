// Random attention problems for the law checker: a shape ("case"), host
// data drawn from the case's seed, and tensors built from that data.
// Private to testing/.

import fc from "fast-check";
import type { AttentionOptions } from "../attention/mod.ts";
import { type Tensor, tensor } from "../ops/mod.ts";
import { permutationOf, rng, uniformValues } from "./_host.ts";

/** The shape of one random problem; fast-check shrinks it toward 1s and seed 0. */
export interface Case {
  readonly batch: number;
  readonly heads: number;
  readonly tq: number;
  readonly tk: number;
  readonly d: number;
  readonly dv: number;
  readonly seed: number;
}

/** Fixed sizes, where a spec needs them. */
export interface Fixed {
  readonly heads?: number;
  readonly d?: number;
  readonly dv?: number;
  readonly maxT?: number;
}

/** fast-check: random cases within the fixed sizes. */
export function arbCase(fixed: Fixed): fc.Arbitrary<Case> {
  const size = (n: number | undefined, max: number) =>
    n === undefined ? fc.integer({ min: 1, max }) : fc.constant(n);
  const maxT = fixed.maxT ?? 5;
  return fc.record({
    batch: fc.integer({ min: 1, max: 2 }),
    heads: size(fixed.heads, 2),
    tq: fc.integer({ min: 1, max: maxT }),
    tk: fc.integer({ min: 1, max: maxT }),
    d: size(fixed.d, 4),
    dv: size(fixed.dv, 3),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  });
}

/** Host data of a problem: inputs and per-call options, all plain arrays. */
export interface Data {
  readonly c: Case;
  readonly q: Float32Array; // [B, H, Tq, d]
  readonly k: Float32Array; // [B, H, Tk, d]
  readonly v: Float32Array; // [B, H, Tk, dv]
  readonly qPos: number[]; // [Tq]
  readonly kPos: number[]; // [Tk]
  readonly segments: number[]; // [B, Tq]
  readonly kvSegments: number[]; // [B, Tk]
  readonly lengths: number[]; // [B]
  readonly keyMask: boolean[]; // [B, Tk]
}

/** Draws the data of case `c` from its seed. */
export function drawData(c: Case, scale: number): Data {
  const r = rng(c.seed);
  const { batch: b, heads: h, tq, tk, d, dv } = c;
  return {
    c,
    q: uniformValues(b * h * tq * d, r, scale),
    k: uniformValues(b * h * tk * d, r, scale),
    v: uniformValues(b * h * tk * dv, r, 1),
    qPos: [...Array(tq).keys()],
    kPos: [...Array(tk).keys()],
    segments: Array.from({ length: b * tq }, () => (r() < 0.7 ? 0 : 1)),
    kvSegments: Array.from({ length: b * tk }, () => (r() < 0.7 ? 0 : 1)),
    lengths: Array.from({ length: b }, () => Math.floor(r() * (tk + 1))),
    keyMask: Array.from({ length: b * tk }, () => r() < 0.85),
  };
}

/** The tensors of a problem. */
export interface Problem {
  readonly q: Tensor;
  readonly k: Tensor;
  readonly v: Tensor;
  readonly opts: AttentionOptions;
}

/** Builds tensors (on the current default backend) from host data. */
export function build(x: Data): Problem {
  const { batch: b, heads: h, tq, tk, d, dv } = x.c;
  const int = (a: number[], shape: number[]) =>
    tensor(a, { shape, dtype: "int32" });
  return {
    q: tensor(x.q, { shape: [b, h, tq, d] }),
    k: tensor(x.k, { shape: [b, h, tk, d] }),
    v: tensor(x.v, { shape: [b, h, tk, dv] }),
    opts: {
      qPositions: int(x.qPos, [tq]),
      kPositions: int(x.kPos, [tk]),
      segments: int(x.segments, [b, tq]),
      kvSegments: int(x.kvSegments, [b, tk]),
      lengths: x.lengths,
      keyMask: tensor(x.keyMask, { shape: [b, tk], dtype: "bool" }),
    },
  };
}

/**
 * Reorders axis `axis` of a row-major array of `shape` so that new index i
 * holds old index perm[i].
 */
export function permuteAxis<T>(
  a: ArrayLike<T>,
  shape: readonly number[],
  axis: number,
  perm: readonly number[],
): T[] {
  const n = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((p, s) => p * s, 1);
  const out: T[] = new Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const pos = Math.floor(i / inner) % n;
    const src = i + (perm[pos]! - pos) * inner;
    out[i] = a[src]!;
  }
  return out;
}

/** Random permutations of the queries (σ) and the keys (π) of a case. */
export function permutations(c: Case): { sigma: number[]; pi: number[] } {
  const r = rng(c.seed ^ 0x5bd1e995);
  return { sigma: permutationOf(c.tq, r), pi: permutationOf(c.tk, r) };
}

/** The data with queries reordered by σ and keys (with their data) by π. */
export function permuteData(x: Data, sigma: number[], pi: number[]): Data {
  const { batch: b, heads: h, tq, tk, d, dv } = x.c;
  return {
    ...x,
    q: Float32Array.from(permuteAxis(x.q, [b, h, tq, d], 2, sigma)),
    k: Float32Array.from(permuteAxis(x.k, [b, h, tk, d], 2, pi)),
    v: Float32Array.from(permuteAxis(x.v, [b, h, tk, dv], 2, pi)),
    qPos: permuteAxis(x.qPos, [tq], 0, sigma),
    kPos: permuteAxis(x.kPos, [tk], 0, pi),
    segments: permuteAxis(x.segments, [b, tq], 1, sigma),
    kvSegments: permuteAxis(x.kvSegments, [b, tk], 1, pi),
    keyMask: permuteAxis(x.keyMask, [b, tk], 1, pi),
  };
}
