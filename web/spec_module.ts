// The composed attention as an attention module, so that the Train section
// can train the classifier with what the Compose section built: the
// scores' matrices and the gate become parameters (shared by the heads),
// and the model's masks (padding) take the place of padding().

import {
  attention,
  type AttentionModule,
  attentionModule,
  gate,
  mixture,
  modules,
} from "../attention/mod.ts";
import { split, type Tensor } from "../ops/mod.ts";
import {
  type ComposeState,
  scaled,
  type ScoreParams,
  scoreParams,
  specOf,
} from "./spec.ts";

/** A composed module's parameters: each score's, and the gate's. */
export interface ComposedParams {
  readonly scores: readonly ScoreParams[];
  /** `[dHead, K]` gate logits' weights, with several modules and `gate`. */
  readonly gate: Tensor | null;
}

/**
 * `state` as an attention module for a model. Several modules combine by
 * mixture or gate; concatenation widens the output and cannot stand in a
 * multi-head layer, so it is a RangeError.
 */
export function composedModule(
  state: ComposeState,
): AttentionModule<ComposedParams> {
  const n = state.modules.length;
  if (n > 1 && state.combine === "concat") {
    throw new RangeError(
      "playground: concat widens each head's output to K·dv, which a model's layer cannot take; train with mixture or gate",
    );
  }
  const gated = n > 1 && state.combine === "gate";
  return attentionModule<ComposedParams>({
    id: "playground",
    description: `the playground's composition of ${n} module(s)`,
    init(k, { dHead }) {
      const keys = split(k, n + 1);
      return {
        scores: state.modules.map((m, i) => scoreParams(m, dHead, keys[i]!)),
        gate: gated ? scaled(keys[n]!, [dHead, n], dHead) : null,
      };
    },
    build(p, context) {
      const specs = state.modules.map((m, i) =>
        specOf(m, p.scores[i]!, context)
      );
      if (n === 1) return specs[0]!;
      const parts = specs.map((s) => attention(s));
      return p.gate
        ? modules(parts, gate({ w: p.gate }))
        : modules(parts, mixture(Array(n).fill(1 / n)));
    },
  });
}
