/**
 * The `--attention` syntax: a built-in name, a composition of built-in
 * pieces, or several modules combined. Every form parses to an
 * {@link AttentionModule} whose id is the text itself, so a checkpoint's
 * config names exactly the module it needs.
 *
 * ```
 * NAME                              scaled-dot, seed-softmax, ... (ATTENTION_NAMES)
 * score=S[,mods=M+M][,masks=K+K][,norm=N]
 *                                   one module from pieces; `+` lists, `:` an argument
 * concat:A/B/...  gate:A/B/...  mix[=0.7+0.3]:A/B/...
 *                                   several modules (each a NAME or a composition)
 * ```
 *
 * @module
 */

import {
  alibi,
  alibiSlopes,
  type AttentionModule,
  bilinear,
  causal,
  cosine,
  dot,
  identityNormaliser,
  type MaskFn,
  type ModFn,
  type Normaliser,
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
  temperature,
} from "../../attention/mod.ts";
import { exp, eye, full, mul, type Tensor, tensor } from "../../ops/mod.ts";
import {
  ATTENTION_NAMES,
  isAttentionName,
  namedSpec,
} from "./attention_specs.ts";
import { type Combination, combineModules } from "./attention_combine.ts";

type Dims = { readonly heads: number; readonly dHead: number };
type Flat = Record<string, Tensor>;
/** A piece: its parameters (named) and what it makes of them. */
interface Piece<F> {
  readonly init?: (dims: Dims, arg: number | null) => Flat;
  readonly make: (p: Flat, arg: number | null) => F;
  /** Whether the piece takes `:N`, and what N must be. */
  readonly arg?: "positive" | "integer";
}

const SCORES: Record<string, Piece<ScoreFn>> = {
  "dot": { make: () => dot() },
  "scaled-dot": { make: () => scaledDot() },
  "bilinear": {
    init: ({ heads, dHead }) => ({
      w: mul(full([heads, 1, 1], 1 / Math.sqrt(dHead)), eye(dHead)),
    }),
    make: (p) => bilinear(p.w!),
  },
  "cosine": {
    init: ({ heads }) => ({ scale: full([heads, 1, 1], 5) }),
    make: (p) => cosine(p.scale!),
  },
  // Q starts at c·I, `:c` (default 1).
  "seed-ratio": {
    arg: "positive",
    init: ({ heads, dHead }, c) => ({
      q: mul(full([heads, 1, 1], c ?? 1), eye(dHead)),
    }),
    make: (p) => seedRatio(p.q!),
  },
  "seed-gated": {
    arg: "positive",
    init: ({ heads, dHead }, c) => ({
      q: mul(full([heads, 1, 1], c ?? 1), eye(dHead)),
    }),
    make: (p) => seedGated(p.q!),
  },
};

const MODS: Record<string, Piece<ModFn>> = {
  // A learned per-head temperature τ = exp(logT), starting at `:τ0` (default 1).
  "temp": {
    arg: "positive",
    init: ({ heads }, t0) => ({
      logT: full([heads, 1, 1], Math.log(t0 ?? 1)),
    }),
    make: (p) => temperature(exp(p.logT!)),
  },
  // ALiBi's standard slopes, learnable from there.
  "alibi": {
    init: ({ heads }) => ({ slopes: tensor(alibiSlopes(heads)) }),
    make: (p) => alibi(p.slopes!),
  },
  "softcap": { arg: "positive", make: (_p, cap) => softCap(cap ?? 30) },
};

const MASKS: Record<string, Piece<MaskFn>> = {
  "causal": { make: () => causal() },
  "window": { arg: "integer", make: (_p, w) => slidingWindow(w ?? 16) },
};

const NORMS: Record<string, Piece<Normaliser>> = {
  "softmax": { make: () => softmaxNormaliser() },
  "sparsemax": { make: () => sparsemaxNormaliser() },
  "sigmoid": { make: () => sigmoidNormaliser() },
  "identity": { make: () => identityNormaliser() },
  "signed": { make: () => signedSumNormaliser() },
};

const PARTS = { score: SCORES, mods: MODS, masks: MASKS, norm: NORMS };
type Part = keyof typeof PARTS;

/** The choices of every part, for `--help` and error messages. */
export const ATTENTION_PIECES: {
  readonly score: readonly string[];
  readonly mods: readonly string[];
  readonly masks: readonly string[];
  readonly norm: readonly string[];
} = {
  score: Object.keys(SCORES),
  mods: Object.keys(MODS),
  masks: Object.keys(MASKS),
  norm: Object.keys(NORMS),
};

const COMBINE = /^(concat|gate|mix)(?:=(.*))?$/;

function fail(text: string, what: string): never {
  throw new RangeError(`attention "${text}": ${what}`);
}

interface Item {
  readonly part: Part;
  readonly name: string;
  readonly arg: number | null;
}

/** `name[:N]` of `part`, checked against its table. */
function item(text: string, part: Part, raw: string): Item {
  const [name = "", argText, extra] = raw.split(":");
  const piece = (PARTS[part] as Record<string, Piece<unknown>>)[name];
  if (!piece) {
    fail(
      text,
      `unknown ${part} "${name}" (choose ${ATTENTION_PIECES[part].join(", ")})`,
    );
  }
  if (argText === undefined) return { part, name, arg: null };
  const n = Number(argText);
  if (!piece.arg || extra !== undefined) {
    fail(text, `${part} "${name}" takes no argument ":${argText}"`);
  }
  if (
    argText === "" || !Number.isFinite(n) || n <= 0 ||
    (piece.arg === "integer" && !Number.isInteger(n))
  ) {
    fail(
      text,
      `${part} "${name}:${argText}": expected ${
        piece.arg === "integer" ? "a positive integer" : "a number above 0"
      }`,
    );
  }
  return { part, name, arg: n };
}

/** One module from `score=S,mods=..,masks=..,norm=N`. */
function composition(text: string, src: string): AttentionModule<Flat | null> {
  const items: Item[] = [];
  const seen = new Set<string>();
  for (const field of src.split(",")) {
    const eq = field.indexOf("=");
    const key = eq < 0 ? field : field.slice(0, eq);
    if (!(key in PARTS)) {
      fail(
        text,
        eq < 0
          ? `"${field}" is neither a built-in name (${
            ATTENTION_NAMES.join(", ")
          }) nor part=value (parts: ${Object.keys(PARTS).join(", ")})`
          : `unknown part "${key}" (choose ${Object.keys(PARTS).join(", ")})`,
      );
    }
    if (seen.has(key)) fail(text, `part "${key}" given twice`);
    seen.add(key);
    const values = field.slice(eq + 1).split("+");
    if ((key === "score" || key === "norm") && values.length > 1) {
      fail(text, `${key} takes one value, got ${values.join(" + ")}`);
    }
    for (const v of values) items.push(item(text, key as Part, v));
  }
  if (!seen.has("score")) fail(text, `a composition needs score=...`);
  const keyOf = (it: Item, i: number) => `${it.part}${i}_`;
  return {
    id: src,
    description: `composed: ${src}`,
    init: (_key, dims) => {
      const out: Flat = {};
      items.forEach((it, i) => {
        const piece = (PARTS[it.part] as Record<string, Piece<unknown>>)[
          it.name
        ]!;
        const made = piece.init?.(dims, it.arg) ?? {};
        for (const [k, t] of Object.entries(made)) out[keyOf(it, i) + k] = t;
      });
      return Object.keys(out).length === 0 ? null : out;
    },
    build: (params, { masks }) => {
      const made = items.map((it, i) => {
        const own: Flat = {};
        for (const [k, t] of Object.entries(params ?? {})) {
          if (k.startsWith(keyOf(it, i))) own[k.slice(keyOf(it, i).length)] = t;
        }
        const piece = (PARTS[it.part] as Record<string, Piece<unknown>>)[
          it.name
        ]!;
        return { part: it.part, fn: piece.make(own, it.arg) };
      });
      const of = <F>(part: Part) =>
        made.filter((m) => m.part === part).map((m) => m.fn as F);
      const norm = of<Normaliser>("norm")[0];
      return {
        score: of<ScoreFn>("score")[0]!,
        mods: of<ModFn>("mods"),
        masks: [...masks, ...of<MaskFn>("masks")],
        ...(norm ? { normalise: norm } : {}),
      };
    },
  };
}

/** One module: a built-in name or a composition. */
function single(text: string, src: string): AttentionModule<unknown> {
  if (isAttentionName(src)) return namedSpec(src) as AttentionModule<unknown>;
  return composition(text, src) as AttentionModule<unknown>;
}

/**
 * Parses an `--attention` value (a name, a composition or a combination of
 * modules) into an attention module whose id is the text. An invalid value
 * is a one-line RangeError naming the part and its choices.
 *
 * @example
 * ```ts
 * import { parseAttention } from "@heed/heed/models";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(parseAttention("score=seed-ratio,mods=temp,norm=softmax").id, "score=seed-ratio,mods=temp,norm=softmax");
 * assertEquals(parseAttention("gate:scaled-dot/cosine").id, "gate:scaled-dot/cosine");
 * assertThrows(() => parseAttention("score=nope"), RangeError, 'unknown score "nope"');
 * ```
 */
export function parseAttention(text: string): AttentionModule<unknown> {
  if (text === "") fail(text, "empty");
  const colon = text.indexOf(":");
  const head = colon < 0 ? "" : text.slice(0, colon);
  const match = COMBINE.exec(head);
  if (!match) return single(text, text);
  const parts = text.slice(colon + 1).split("/");
  if (parts.length < 2 || parts.some((p) => p === "")) {
    fail(text, `${match[1]} needs two or more modules: ${match[1]}:A/B`);
  }
  let how: Combination;
  if (match[1] === "mix") {
    const alpha = match[2] === undefined
      ? parts.map(() => 1 / parts.length)
      : match[2].split("+").map(Number);
    if (alpha.length !== parts.length || alpha.some((a) => !isFinite(a))) {
      fail(
        text,
        `mix=${match[2]}: expected ${parts.length} numbers joined by +`,
      );
    }
    how = { kind: "mix", alpha };
  } else {
    if (match[2] !== undefined) {
      fail(text, `${match[1]} takes no value "=${match[2]}"`);
    }
    how = { kind: match[1] as "concat" | "gate" };
  }
  return combineModules(text, parts.map((p) => single(text, p)), how);
}

/** The `--attention` lines of `train --help`. */
export const ATTENTION_HELP: string =
  `  --attention A              the attention module of every attention layer (default
                             scaled-dot). A is one of:
                             a built-in name: ${
    ATTENTION_NAMES.slice(0, 5).join(", ")
  },
                               ${ATTENTION_NAMES.slice(5).join(", ")}
                             a composition of pieces, score=S[,mods=M+M][,masks=K+K][,norm=N]:
                               score  ${ATTENTION_PIECES.score.join(", ")}
                                      (seed-ratio:0.1 starts Q at 0.1·I; default I)
                               mods   ${ATTENTION_PIECES.mods.join(", ")}
                                      (temp = learned temperature, temp:0.5 starts it at 0.5;
                                      softcap:30)
                               masks  ${
    ATTENTION_PIECES.masks.join(", ")
  } (window:16; added to padding)
                               norm   ${
    ATTENTION_PIECES.norm.join(", ")
  } (default softmax;
                                      signed = s / Σ|s| per query)
                               e.g. score=seed-ratio,mods=temp,norm=softmax
                             several modules side by side, COMBINE:A/B[/...], each a name or a
                             composition: concat (value features split between them),
                             gate (a learned per-query gate), mix (an even mixture) or
                             mix=0.7+0.3 (fixed weights)
                               e.g. gate:scaled-dot/cosine
                             a path to your own TypeScript module (ends in .ts or starts with
                             ./ or /) whose default export (or export "attention") is
                             { id, init(key, dims), build(params, context) }: read
                             permission is enough (the tasks have --allow-read). predict
                             and eval import it again from the path the checkpoint
                             records (or from their own --attention PATH if it moved)`;
