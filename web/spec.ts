// The playground's composition: what the form holds (ComposeState), the
// attention function it builds from heed's own pieces, and the law
// checker's spec factory. Pure: no DOM, so Deno tests it too. The same
// state prints as TypeScript in source.ts.

import {
  additive,
  alibi,
  attention,
  type AttentionFn,
  bilinear,
  causal,
  concatenate,
  cosine,
  dot,
  gate,
  identityNormaliser,
  type MaskFn,
  mixture,
  type ModFn,
  modules,
  type Normaliser,
  normaliser,
  padding,
  scaledDot,
  type ScoreFn,
  seedGated,
  seedRatio,
  sigmoidNormaliser,
  signedSumNormaliser,
  slidingWindow,
  softCap,
  softmaxNormaliser,
  sparsemaxNormaliser,
  type Spec,
  temperature,
} from "../attention/mod.ts";
import {
  type Key,
  key,
  mul,
  normal,
  softmax,
  split,
  type Tensor,
  tensor,
} from "../ops/mod.ts";

/** The score functions the form offers. */
export const SCORES = [
  "dot",
  "scaledDot",
  "bilinear",
  "cosine",
  "additive",
  "seedRatio",
  "seedGated",
] as const;
/** A score's name. */
export type ScoreName = typeof SCORES[number];

/** The normalisers the form offers; "broken" forgets the mask on purpose. */
export const NORMALISERS = [
  "softmax",
  "sparsemax",
  "sigmoid",
  "identity",
  "signedSum",
  "broken",
] as const;
/** A normaliser's name. */
export type NormaliserName = typeof NORMALISERS[number];

/** How several modules merge. */
export const COMBINES = ["concat", "mixture", "gate"] as const;
/** A combination's name. */
export type CombineName = typeof COMBINES[number];

/** One attention module as the form describes it; null switches a piece off. */
export interface ModuleState {
  readonly score: ScoreName;
  /** cosine's scale. */
  readonly cosineScale: number;
  readonly temperature: number | null;
  /** ALiBi's slope (one head). */
  readonly alibi: number | null;
  readonly softCap: number | null;
  readonly causal: boolean;
  /** slidingWindow(before, after): keys at most this far away. */
  readonly window: number | null;
  /** padding(): keys at positions ≥ the call's `lengths` are hidden. */
  readonly padding: boolean;
  readonly normaliser: NormaliserName;
}

/** The whole composition. */
export interface ComposeState {
  /** One to three modules; with several, `combine` merges them. */
  readonly modules: readonly ModuleState[];
  readonly combine: CombineName;
  /** Seeds the parameters of bilinear, additive, seedRatio and the gate. */
  readonly seed: number;
  /** Valid keys, read by padding(). */
  readonly length: number;
}

/** A module with nothing but scaled dot-product softmax attention. */
export const DEFAULT_MODULE: ModuleState = {
  score: "scaledDot",
  cosineScale: 5,
  temperature: null,
  alibi: null,
  softCap: null,
  causal: false,
  window: null,
  padding: false,
  normaliser: "softmax",
};

/** The form's starting point. */
export const DEFAULT_STATE: ComposeState = {
  modules: [DEFAULT_MODULE],
  combine: "mixture",
  seed: 7,
  length: 4,
};

/**
 * A deliberately wrong normaliser: a softmax that forgets the mask yet
 * claims every law, so the checker has something to catch.
 */
export function brokenNormaliser(): Normaliser {
  return normaliser(
    (s) => softmax(s, { axis: -1 }),
    { simplex: true, shiftInvariant: true, smooth: true },
  );
}

function normaliserOf(name: NormaliserName): Normaliser {
  switch (name) {
    case "softmax":
      return softmaxNormaliser();
    case "sparsemax":
      return sparsemaxNormaliser();
    case "sigmoid":
      return sigmoidNormaliser();
    case "identity":
      return identityNormaliser();
    case "signedSum":
      return signedSumNormaliser();
    case "broken":
      return brokenNormaliser();
  }
  return name satisfies never;
}

/** Parameters are drawn with N(0, 1/d) entries so scores stay O(1). */
export function scaled(k: Key, shape: number[], d: number): Tensor {
  return mul(normal(k, shape), 1 / Math.sqrt(d));
}

/** The learnable tensors of a module's score, by name (none for dot, scaledDot, cosine). */
export type ScoreParams = Readonly<Record<string, Tensor>>;

/** Fresh parameters of `m`'s score for features `d`. */
export function scoreParams(m: ModuleState, d: number, k: Key): ScoreParams {
  switch (m.score) {
    case "dot":
    case "scaledDot":
    case "cosine":
      return {};
    case "bilinear":
    case "seedRatio":
    case "seedGated":
      return { w: scaled(k, [d, d], d) };
    case "additive": {
      const [k1, k2, k3] = split(k, 3);
      return {
        w1: scaled(k1!, [d, d], d),
        w2: scaled(k2!, [d, d], d),
        v: scaled(k3!, [d], d),
      };
    }
  }
  return m.score satisfies never;
}

function scoreOf(m: ModuleState, p: ScoreParams): ScoreFn {
  const need = (name: string): Tensor => {
    const t = p[name];
    if (!t) throw new TypeError(`${m.score}: missing parameter ${name}`);
    return t;
  };
  switch (m.score) {
    case "dot":
      return dot();
    case "scaledDot":
      return scaledDot();
    case "cosine":
      return cosine(m.cosineScale);
    case "bilinear":
      return bilinear(need("w"));
    case "seedRatio":
      return seedRatio(need("w"));
    case "seedGated":
      return seedGated(need("w"));
    case "additive":
      return additive({ w1: need("w1"), w2: need("w2"), v: need("v") });
  }
  return m.score satisfies never;
}

/**
 * Module `m`'s spec from its score's parameters. With `context` (a model's
 * use), the model's masks replace `padding()`, which the model supplies.
 */
export function specOf(
  m: ModuleState,
  p: ScoreParams,
  context?: { readonly masks: readonly MaskFn[] },
): Spec {
  const mods: ModFn[] = [];
  if (m.temperature !== null) mods.push(temperature(m.temperature));
  if (m.alibi !== null) mods.push(alibi(tensor([m.alibi])));
  if (m.softCap !== null) mods.push(softCap(m.softCap));
  const masks: MaskFn[] = [];
  if (m.causal) masks.push(causal());
  if (m.window !== null) masks.push(slidingWindow(m.window));
  if (context) masks.push(...context.masks);
  else if (m.padding) masks.push(padding());
  return {
    score: scoreOf(m, p),
    mods,
    masks,
    normalise: normaliserOf(m.normaliser),
  };
}

/** Module `m`'s spec for features `d`, its parameters drawn from `k`. */
export function moduleSpec(m: ModuleState, d: number, k: Key): Spec {
  return specOf(m, scoreParams(m, d, k));
}

/** The keys of the modules' parameters and of the gate: split(key(seed), K + 1). */
export function paramKeys(state: ComposeState): Key[] {
  return split(key(state.seed), state.modules.length + 1);
}

/** The composed attention function for features `d`. */
export function buildAttention(state: ComposeState, d: number): AttentionFn {
  const keys = paramKeys(state);
  const parts = state.modules.map((m, i) =>
    attention(moduleSpec(m, d, keys[i]!))
  );
  if (parts.length === 1) return parts[0]!;
  const n = parts.length;
  switch (state.combine) {
    case "concat":
      return modules(parts, concatenate());
    case "mixture":
      return modules(parts, mixture(Array(n).fill(1 / n)));
    case "gate":
      return modules(parts, gate({ w: scaled(keys[n]!, [d, n], d) }));
  }
  return state.combine satisfies never;
}

/** Whether any module reads the call's `lengths`. */
export function readsLengths(state: ComposeState): boolean {
  return state.modules.some((m) => m.padding);
}

/** What the law checker takes: module `i`'s spec for any features. */
export function specFactory(
  state: ComposeState,
  i: number,
): (dims: { d: number; key: Key }) => Spec {
  const m = state.modules[i]!;
  return ({ d, key }) => moduleSpec(m, d, key);
}
