// Which path a call of attention(spec) takes, and why: one fused flash
// kernel when every piece has a fused form (and, with `fused: "auto"`, the
// backend has a real flash kernel), else the composed ops. Private to
// attention/; explainAttention reports the choice.

import {
  broadcastShapes,
  getBackend,
  logicalAnd,
  type Tensor,
} from "../ops/mod.ts";
import { hasFlash } from "../ops/backends/flash.ts";
import { checkMask, checkMod, checkScores } from "./_checks.ts";
import { type FlashCall, flashReason } from "./_flash_call.ts";
import { fusedNormaliserOf, fusedScoreOf } from "./_fused_forms.ts";
import { softmaxNormaliser } from "./normalisers.ts";
import type { AttentionOptions, Context, Spec } from "./types.ts";

/** How a spec asks to run: see `Spec.fused`. */
export type FusedChoice = "auto" | boolean;

/** What is known before the call's context exists. */
export type Prospect =
  | { readonly fused: false; readonly reason: string }
  | { readonly fused: true; readonly reason: string };

/** The name of the backend a call on `q` runs on. */
function backendOf(q: Tensor): { name: string; flash: boolean } {
  let b;
  try {
    b = q.backend;
  } catch {
    b = getBackend(); // a traced value: it runs on the default backend
  }
  return { name: b.name, flash: b.name !== "cpu" && hasFlash(b) };
}

/**
 * The checks that need no context: the spec's choice, its pieces' fused
 * forms, dropout, and (for "auto") the backend.
 */
export function prospect(
  spec: Spec,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions,
): Prospect {
  const choice = spec.fused ?? "auto";
  if (choice === false) {
    return { fused: false, reason: "the spec says fused: false" };
  }
  const normalise = fusedNormaliserOf(spec.normalise ?? softmaxNormaliser());
  if (typeof normalise === "string") return { fused: false, reason: normalise };
  const score = fusedScoreOf(spec.score);
  if (typeof score === "string") return { fused: false, reason: score };
  if ((spec.dropout ?? 0) > 0 && opts.training) {
    return {
      fused: false,
      reason:
        `dropout (rate ${spec.dropout}) while training drops weights, which the flash kernel never holds`,
    };
  }
  const qk = broadcastShapes(
    "attention",
    q.shape.slice(0, -2),
    k.shape.slice(0, -2),
  );
  const all = broadcastShapes("attention", qk, v.shape.slice(0, -2));
  if (all.length !== qk.length || all.some((n, i) => n !== qk[i])) {
    return {
      fused: false,
      reason:
        `v [${v.shape}] has batch axes beyond those of q [${q.shape}] and k [${k.shape}]`,
    };
  }
  const backend = backendOf(q);
  if (choice === "auto" && !backend.flash) {
    return {
      fused: false,
      reason:
        `the ${backend.name} backend has no flash kernel (fused: true runs the reference one)`,
    };
  }
  if (choice === "auto" && backend.name === "webgpu") {
    return {
      fused: false,
      reason:
        "the webgpu flash kernels are not chosen automatically: on the software adapter they ran at 0.8x the composed path's speed (T 256, d 64) and every shape compiles its own shaders (about 12 s of CPU at d 64); fused: true runs them",
    };
  }
  const why = choice === true ? "the spec says fused: true; " : "";
  return {
    fused: true,
    reason: backend.flash
      ? `${why}every piece has a fused form and the ${backend.name} backend has a flash kernel`
      : `${why}the ${backend.name} backend runs the reference flash kernel`,
  };
}

/**
 * The flash call of `spec` on one call, or why it cannot be one. The
 * score function's fused form makes the queries and keys; the modifiers,
 * masks and an elementwise normaliser run inside the traced score and
 * mask functions, closing over the context (positions, per-call data).
 * With `plan`, the flash planner is asked too (a trace of the pieces).
 */
export function fusedCall(
  spec: Spec,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  ctx: Context,
  plan: boolean,
): FlashCall | string {
  const form = fusedScoreOf(spec.score);
  const norm = fusedNormaliserOf(spec.normalise ?? softmaxNormaliser());
  if (typeof form === "string") return form;
  if (typeof norm === "string") return norm;
  const shape = ctx.shape; // [..., Tq, Tk]
  const mods = spec.mods ?? [];
  const masks = spec.masks ?? [];
  const fused = form(q, k, ctx);
  const call: FlashCall = {
    q: fused.queries[0],
    ...(fused.queries[1] && { q2: fused.queries[1] }),
    k: fused.keys,
    v,
    score(dots) {
      let s = checkScores(fused.score(dots), spec.score, shape);
      mods.forEach((mod, i) => (s = checkMod(mod(s, ctx), mod, i, shape)));
      return norm.kind === "elementwise" ? norm.fn(s) : s;
    },
    ...(masks.length > 0 && {
      mask: () =>
        masks.map((m, i) => checkMask(m(ctx), m, i, shape))
          .reduce((a, b) => logicalAnd(a, b)),
    }),
    normaliser: norm.kind === "softmax" ? "softmax" : "none",
  };
  return plan ? flashReason(call) ?? call : call;
}
