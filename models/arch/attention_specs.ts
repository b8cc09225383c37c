/**
 * Attention specs chosen by name (`--attention scaled-dot|additive|...`),
 * each with the initialiser of its own per-head parameters. Every model
 * builds its attention from these, so one flag swaps the weight function
 * everywhere.
 *
 * @module
 */

import {
  additive,
  bilinear,
  causal,
  cosine,
  type HeadDims,
  identityNormaliser,
  type MaskFn,
  padding,
  scaledDot,
  seedRatio,
  sparsemaxNormaliser,
  type Spec,
} from "../../attention/mod.ts";
import {
  eye,
  full,
  type Key,
  mul,
  normal,
  split,
  type Tensor,
} from "../../ops/mod.ts";

/** The attention weight functions a model can be configured with. */
export type AttentionName =
  | "scaled-dot"
  | "additive"
  | "bilinear"
  | "cosine"
  | "seed-ratio"
  | "sparsemax";

/** All names, for `--help` and validation. */
export const ATTENTION_NAMES: readonly AttentionName[] = [
  "scaled-dot",
  "additive",
  "bilinear",
  "cosine",
  "seed-ratio",
  "sparsemax",
];

/** Per-head parameters of the named specs (null for parameter-free ones). */
export type SpecParams = Record<string, Tensor> | null;

/** A named spec: how to initialise its parameters and build it from them. */
export interface NamedSpec {
  /** The name. */
  readonly name: AttentionName;
  /** Fresh per-head parameters. */
  init(key: Key, dims: HeadDims): SpecParams;
  /** The spec, given its parameters and the masks of this use. */
  build(params: SpecParams, masks: readonly MaskFn[]): Spec;
}

/** Checks a name from the command line or a config. */
export function checkAttentionName(name: string): AttentionName {
  if (!(ATTENTION_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(
      `unknown attention "${name}" (choose one of: ${
        ATTENTION_NAMES.join(", ")
      })`,
    );
  }
  return name as AttentionName;
}

const p = (params: SpecParams, k: string): Tensor => {
  const t = params?.[k];
  if (!t) throw new TypeError(`attention spec: missing parameter "${k}"`);
  return t;
};

/**
 * The spec called `name`. `seed-ratio` is the source document's weight
 * function a_ij = (e_jᵀ Q e_i) / (√d + e_jᵀ e_i), used as the weights
 * themselves (identity normaliser), with Q initialised near the identity.
 */
export function namedSpec(name: AttentionName): NamedSpec {
  switch (name) {
    case "scaled-dot":
      return {
        name,
        init: () => null,
        build: (_p, masks) => ({ score: scaledDot(), masks: [...masks] }),
      };
    case "sparsemax":
      return {
        name,
        init: () => null,
        build: (_p, masks) => ({
          score: scaledDot(),
          masks: [...masks],
          normalise: sparsemaxNormaliser(),
        }),
      };
    case "additive":
      return {
        name,
        init: (key, { heads, dHead }) => {
          const [k1, k2, k3] = split(key, 3);
          const s = 1 / Math.sqrt(dHead);
          return {
            w1: mul(normal(k1!, [heads, dHead, dHead]), s), // [H, d, h]
            w2: mul(normal(k2!, [heads, dHead, dHead]), s),
            v: mul(normal(k3!, [heads, 1, dHead]), s), // [H, 1, h]
          };
        },
        build: (params, masks) => ({
          score: additive({
            w1: p(params, "w1"),
            w2: p(params, "w2"),
            v: p(params, "v"),
          }),
          masks: [...masks],
        }),
      };
    case "bilinear":
      return {
        name,
        init: (_key, { heads, dHead }) => ({
          // Start at the scaled dot product: W = I/√d for every head.
          w: mul(full([heads, 1, 1], 1 / Math.sqrt(dHead)), eye(dHead)),
        }),
        build: (params, masks) => ({
          score: bilinear(p(params, "w")),
          masks: [...masks],
        }),
      };
    case "cosine":
      return {
        name,
        init: (_key, { heads }) => ({ scale: full([heads, 1, 1], 5) }),
        build: (params, masks) => ({
          score: cosine(p(params, "scale")),
          masks: [...masks],
        }),
      };
    case "seed-ratio":
      return {
        name,
        init: (_key, { heads, dHead }) => ({
          q: mul(full([heads, 1, 1], 1), eye(dHead)),
        }),
        build: (params, masks) => ({
          score: seedRatio(p(params, "q")),
          masks: [...masks],
          normalise: identityNormaliser(),
        }),
      };
    default:
      return name satisfies never;
  }
}

/** The masks of encoder self-attention (padding) and decoder self-attention (+ causal). */
export const MASKS: {
  readonly encoder: readonly MaskFn[];
  readonly decoder: readonly MaskFn[];
} = {
  encoder: [padding()],
  decoder: [padding(), causal()],
};
