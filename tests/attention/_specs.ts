// Built-in specs for the law tests: one per score, modifier, mask and
// normaliser, and some compositions. Factories give parameters of the
// right size for the random shapes the law checker draws.

import {
  additive,
  alibi,
  and,
  bias,
  bilinear,
  causal,
  cosine,
  dot,
  identityNormaliser,
  not,
  or,
  padding,
  relativePositionBias,
  scaledDot,
  seedRatio,
  segments,
  sigmoidNormaliser,
  slidingWindow,
  softCap,
  sparsemaxNormaliser,
  temperature,
} from "../../attention/mod.ts";
import { mul, normal, split } from "../../ops/mod.ts";
import type { AttentionLawOptions, SpecFactory } from "../../testing/mod.ts";

/** A named spec with the options its laws need. */
export interface NamedSpec {
  readonly name: string;
  readonly spec: SpecFactory;
  readonly opts?: AttentionLawOptions;
}

/** Every built-in piece appears in at least one of these. */
export const BUILT_IN_SPECS: readonly NamedSpec[] = [
  { name: "dot + softmax", spec: () => ({ score: dot() }) },
  {
    name: "scaledDot + causal + padding + segments",
    spec: () => ({
      score: scaledDot(),
      masks: [causal(), padding(), segments()],
    }),
  },
  {
    name: "additive (Bahdanau)",
    spec: ({ d, key }) => {
      const [k1, k2, k3, k4] = split(key, 4);
      return {
        score: additive({
          w1: normal(k1!, [d, 3]),
          w2: normal(k2!, [d, 3]),
          v: normal(k3!, [3]),
          b: normal(k4!, [3]),
        }),
      };
    },
  },
  {
    name: "bilinear (Luong general) per head",
    spec: ({ d, heads, key }) => ({
      score: bilinear(mul(normal(key, [heads, d, d]), 0.5)),
    }),
  },
  {
    name: "cosine with a learnable scale + temperature",
    spec: () => ({ score: cosine(5), mods: [temperature(0.5)] }),
  },
  {
    name: "seedRatio + identity (the seed's function)",
    spec: ({ d, key }) => ({
      score: seedRatio(mul(normal(key, [d, d]), 0.5)),
      normalise: identityNormaliser(),
    }),
    opts: { inputScale: 0.5 },
  },
  {
    name: "causal + ALiBi",
    spec: ({ heads }) => ({
      score: scaledDot(),
      mods: [alibi(heads)],
      masks: [causal()],
    }),
  },
  {
    name: "T5 relative position bias + soft-capping",
    spec: ({ heads, key }) => ({
      score: scaledDot(),
      mods: [
        relativePositionBias(normal(key, [heads, 8]), { maxDistance: 4 }),
        softCap(2),
      ],
    }),
  },
  {
    name: "sliding window + padding, bias tensor",
    spec: ({ heads, key }) => ({
      score: scaledDot(),
      mods: [bias(normal(key, [heads, 1, 1]))],
      masks: [slidingWindow(1, 0), padding()],
    }),
  },
  {
    name: "or/not/and mask combinators",
    spec: () => ({
      score: dot(),
      masks: [or(and(causal(), slidingWindow(2)), not(segments()))],
    }),
  },
  {
    name: "sparsemax + causal",
    spec: () => ({
      score: scaledDot(),
      masks: [causal()],
      normalise: sparsemaxNormaliser(),
    }),
  },
  {
    name: "sigmoid + padding",
    spec: () => ({
      score: scaledDot(),
      masks: [padding()],
      normalise: sigmoidNormaliser({ bias: -1 }),
    }),
  },
  {
    name: "dropout (inactive outside training)",
    spec: () => ({ score: scaledDot(), dropout: 0.5 }),
  },
];
