/**
 * The built-in attention modules, by name: `multiHead("cosine", ...)`, the
 * models' configs and `--attention scaled-dot|additive|...` all take these
 * names. Each module has the initialiser of its own per-head parameters. A
 * name is a convenience: any {@link AttentionModule} works the same way.
 *
 * @module
 */

import type { AttentionModule } from "./attention_module.ts";
import { additive, bilinear, cosine, scaledDot } from "./scores.ts";
import { identityNormaliser, softmaxNormaliser } from "./normalisers.ts";
import { sparsemaxNormaliser } from "./sparsemax.ts";
import { temperature } from "./modifiers.ts";
import { seedRatio } from "./seed_ratio.ts";
import { seedGated, signedSumNormaliser } from "./seed_variants.ts";
import {
  exp,
  eye,
  full,
  type Key,
  mul,
  normal,
  split,
  type Tensor,
  zeros,
} from "../ops/mod.ts";

/** The built-in attention modules' names. */
export type AttentionName =
  | "scaled-dot"
  | "additive"
  | "bilinear"
  | "cosine"
  | "seed-ratio"
  | "seed-softmax"
  | "seed-signed"
  | "seed-gated"
  | "sparsemax";

/** All names, for `--help` and validation. */
export const ATTENTION_NAMES: readonly AttentionName[] = [
  "scaled-dot",
  "additive",
  "bilinear",
  "cosine",
  "seed-ratio",
  "seed-softmax",
  "seed-signed",
  "seed-gated",
  "sparsemax",
];

/** Per-head parameters of the built-in modules (null for parameter-free ones). */
export type SpecParams = Record<string, Tensor> | null;

/** A built-in module: an attention module whose id is its name. */
export interface NamedSpec extends AttentionModule<SpecParams> {
  /** The name, also the id. */
  readonly name: AttentionName;
}

/** Whether `name` is a built-in module's name. */
export function isAttentionName(name: string): name is AttentionName {
  return (ATTENTION_NAMES as readonly string[]).includes(name);
}

/** Checks a name from the command line or a config. */
export function checkAttentionName(name: string): AttentionName {
  if (!isAttentionName(name)) {
    throw new RangeError(
      `unknown attention "${name}" (choose one of: ${
        ATTENTION_NAMES.join(", ")
      })`,
    );
  }
  return name;
}

const p = (params: SpecParams, k: string): Tensor => {
  const t = params?.[k];
  if (!t) throw new TypeError(`attention spec: missing parameter "${k}"`);
  return t;
};

/** Q = I in every head: the seed's ratio starts as e_jᵀe_i / (√d + e_jᵀe_i). */
const seedQ = (heads: number, dHead: number): Tensor =>
  mul(full([heads, 1, 1], 1), eye(dHead)); // [H, d, d]

const named = (
  name: AttentionName,
  description: string,
  init: (key: Key, dims: { heads: number; dHead: number }) => SpecParams,
  build: NamedSpec["build"],
): NamedSpec => ({ name, id: name, description, init, build });

/**
 * The built-in module called `name`. The seed family keeps the source
 * document's ratio a_ij = (e_jᵀ Q e_i) / (√d + e_jᵀ e_i) as the score, Q
 * initialised to the identity: `seed-ratio` takes it as the weights
 * (identity normaliser, the source's exact form), `seed-softmax` as
 * softmax(a / τ) with a learned per-head log τ, `seed-signed` as
 * a_ij / Σ_j |a_ij| (sign-preserving sum normalisation), `seed-gated` as
 * a gate on the scaled dot product's softmax, w ∝ exp(q·k/√d) σ(a).
 *
 * @example
 * ```ts
 * import { multiHead, namedSpec } from "@heed/heed/attention";
 * import { key } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const seed = namedSpec("seed-softmax");
 * const params = multiHead(seed, { heads: 2, dModel: 8 }).init(key(0));
 * assertEquals([seed.id, params.spec!.logT!.shape], ["seed-softmax", [2, 1, 1]]);
 * ```
 */
export function namedSpec(name: AttentionName): NamedSpec {
  switch (name) {
    case "scaled-dot":
      return named(name, "softmax(q·k/√d)", () => null, (_p, { masks }) => ({
        score: scaledDot(),
        masks: [...masks],
      }));
    case "sparsemax":
      return named(name, "sparsemax(q·k/√d)", () => null, (_p, { masks }) => ({
        score: scaledDot(),
        masks: [...masks],
        normalise: sparsemaxNormaliser(),
      }));
    case "additive":
      return named(
        name,
        "Bahdanau: vᵀ tanh(W1 q + W2 k)",
        (key, { heads, dHead }) => {
          const [k1, k2, k3] = split(key, 3);
          const s = 1 / Math.sqrt(dHead);
          return {
            w1: mul(normal(k1!, [heads, dHead, dHead]), s), // [H, d, h]
            w2: mul(normal(k2!, [heads, dHead, dHead]), s),
            v: mul(normal(k3!, [heads, 1, dHead]), s), // [H, 1, h]
          };
        },
        (params, { masks }) => ({
          score: additive({
            w1: p(params, "w1"),
            w2: p(params, "w2"),
            v: p(params, "v"),
          }),
          masks: [...masks],
        }),
      );
    case "bilinear":
      return named(
        name,
        "Luong general: qᵀ W k",
        // Start at the scaled dot product: W = I/√d for every head.
        (_key, { heads, dHead }) => ({
          w: mul(full([heads, 1, 1], 1 / Math.sqrt(dHead)), eye(dHead)),
        }),
        (params, { masks }) => ({
          score: bilinear(p(params, "w")),
          masks: [...masks],
        }),
      );
    case "cosine":
      return named(
        name,
        "learned scale × cos(q, k)",
        (_key, { heads }) => ({ scale: full([heads, 1, 1], 5) }),
        (params, { masks }) => ({
          score: cosine(p(params, "scale")),
          masks: [...masks],
        }),
      );
    case "seed-ratio":
      return named(
        name,
        "the source's ratio as the weights (identity normaliser)",
        (_key, { heads, dHead }) => ({ q: seedQ(heads, dHead) }),
        (params, { masks }) => ({
          score: seedRatio(p(params, "q")),
          masks: [...masks],
          normalise: identityNormaliser(),
        }),
      );
    case "seed-softmax":
      return named(
        name,
        "softmax of the source's ratio over a learned temperature exp(logT)",
        (_key, { heads, dHead }) => ({
          q: seedQ(heads, dHead),
          logT: zeros([heads, 1, 1]), // τ = 1 per head
        }),
        (params, { masks }) => ({
          score: seedRatio(p(params, "q")),
          mods: [temperature(exp(p(params, "logT")))],
          masks: [...masks],
          normalise: softmaxNormaliser(),
        }),
      );
    case "seed-signed":
      return named(
        name,
        "the source's ratio over the sum of its absolute values per query",
        (_key, { heads, dHead }) => ({ q: seedQ(heads, dHead) }),
        (params, { masks }) => ({
          score: seedRatio(p(params, "q")),
          masks: [...masks],
          normalise: signedSumNormaliser(),
        }),
      );
    case "seed-gated":
      return named(
        name,
        "softmax(q·k/√d + log σ(ratio)): the source's ratio gating a softmax",
        (_key, { heads, dHead }) => ({ q: seedQ(heads, dHead) }),
        (params, { masks }) => ({
          score: seedGated(p(params, "q")),
          masks: [...masks],
        }),
      );
    default:
      return name satisfies never;
  }
}
