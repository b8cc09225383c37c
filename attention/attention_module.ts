/**
 * Attention modules: a model's attention as a value. A module is a pure
 * pair, `init(key, dims) -> params` and `build(params, context) -> Spec`
 * (or any attention function), plus an `id` that checkpoints record. The
 * built-in weight functions are modules, and a user's own module is the same
 * kind of value: nothing is registered anywhere.
 *
 * @module
 */

import type { Key } from "../ops/mod.ts";
import type { HeadDims } from "./multi_head.ts";
import type { AttentionFn, MaskFn, Spec } from "./types.ts";

/** Where a module is used: the masks of that use and the layer's role. */
export interface ModuleContext {
  /** The masks this use needs (padding; causal in a decoder). Keep them. */
  readonly masks: readonly MaskFn[];
  /** Encoder self-attention, decoder self-attention or cross-attention. */
  readonly role: "encoder" | "decoder" | "cross";
}

/**
 * A model's attention: parameters per layer from `init`, and the spec (or
 * attention function) those parameters make with `build`. `P` is any pytree
 * of tensors (or null); a model trains, checkpoints and restores it like
 * every other parameter.
 */
export interface AttentionModule<P = unknown> {
  /** A stable name; checkpoints record it, so a loader can say what it needs. */
  readonly id: string;
  /** One line for people (optional). */
  readonly description?: string;
  /** Fresh parameters for one multi-head layer of `dims`. */
  init(key: Key, dims: HeadDims): P;
  /** The attention of one layer, from its parameters and its use. */
  build(params: P, context: ModuleContext): Spec | AttentionFn;
}

/**
 * Checks that `m` is an attention module (an `id` string, `init` and
 * `build` functions) and returns it; a TypeError names what is missing.
 * Use it to give a module its type, and on values from outside (a file).
 *
 * @example A user's module: scaled dot product with a learned per-head bias
 * ```ts
 * import { attentionModule, bias, multiHead, scaledDot } from "@heed/heed/attention";
 * import { key, normal, zeros } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const biased = attentionModule({
 *   id: "biased-dot",
 *   init: (_key, { heads }) => ({ b: zeros([heads, 1, 1]) }),
 *   build: (p, { masks }) => ({ score: scaledDot(), mods: [bias(p.b)], masks }),
 * });
 * const mha = multiHead(biased, { heads: 2, dModel: 8 });
 * const params = mha.init(key(0));
 * assertEquals(params.spec.b.shape, [2, 1, 1]);
 * assertEquals(mha.apply(params, normal(key(1), [3, 8])).output.shape, [3, 8]);
 * ```
 */
export function attentionModule<P>(m: AttentionModule<P>): AttentionModule<P> {
  if (!isAttentionModule(m)) {
    const o = m as unknown as Record<string, unknown> | null;
    const missing = typeof o !== "object" || o === null
      ? `got ${o === null ? "null" : typeof o}`
      : ["id", "init", "build"].filter((k) =>
        k === "id" ? typeof o.id !== "string" || o.id === "" : typeof o[k] !==
          "function"
      ).map((k) => k === "id" ? "an id string" : `a function ${k}`).join(
        ", ",
      );
    throw new TypeError(
      `attentionModule: expected { id, init, build }, missing ${missing}`,
    );
  }
  return m;
}

/** Whether `x` has an id string and `init` and `build` functions. */
export function isAttentionModule(x: unknown): x is AttentionModule {
  const o = x as Record<string, unknown> | null;
  return typeof o === "object" && o !== null && typeof o.id === "string" &&
    o.id !== "" && typeof o.init === "function" &&
    typeof o.build === "function";
}
