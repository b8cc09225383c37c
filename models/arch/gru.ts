/**
 * The classic baseline: a GRU encoder-decoder with additive (Bahdanau)
 * attention (Bahdanau et al. 2015; Cho et al. 2014). The decoder's attention
 * is a spec from attention/ (`additive` score, padding mask), so its weights
 * can be inspected like any other.
 *
 * GRU cell:  r = σ(x W_r + h U_r + b_r),  z = σ(x W_z + h U_z + b_z),
 *            n = tanh(x W_n + r ⊙ (h U_n) + b_n),  h' = (1 - z) ⊙ n + z ⊙ h.
 *
 * @module
 */

import { additive, attention, padding } from "../../attention/mod.ts";
import {
  add,
  concat,
  crossEntropy,
  dispose,
  expandDims,
  type Key,
  logSoftmax,
  matmul,
  mul,
  normal,
  notEqual,
  reshape,
  scope,
  sigmoid,
  slice,
  split,
  stack,
  sub,
  take,
  tanh,
  type Tensor,
  tensor,
  where,
  zeros,
} from "../../ops/mod.ts";
import {
  embed,
  type EmbeddingParams,
  initEmbedding,
  initLinear,
  linear,
  type LinearParams,
} from "./layers.ts";
import type { SourceBatch, TranslationInput } from "./translator.ts";
import { beamRows, type StepDecoder } from "./decoding.ts";

/** Configuration of {@link initGru}. */
export interface GruConfig {
  /** Source vocabulary size. */
  readonly srcVocab: number;
  /** Target vocabulary size. */
  readonly tgtVocab: number;
  /** Embedding width (default 128). */
  readonly dEmbed?: number;
  /** Hidden width (default 256). */
  readonly hidden?: number;
  /** Attention hidden width (default 128). */
  readonly dAttn?: number;
}

/** Parameters of one GRU cell. */
export interface GruCell {
  /** Input weights for r, z, n: `[dIn, 3H]`. */
  readonly w: Tensor;
  /** Recurrent weights for r, z, n: `[H, 3H]`. */
  readonly u: Tensor;
  /** Biases `[3H]`. */
  readonly b: Tensor;
}

/** The GRU translator's parameters. */
export interface GruParams {
  /** Source embeddings. */
  readonly srcEmbed: EmbeddingParams;
  /** Target embeddings. */
  readonly tgtEmbed: EmbeddingParams;
  /** Encoder cell. */
  readonly enc: GruCell;
  /** Decoder cell (input: target embedding and context). */
  readonly dec: GruCell;
  /** Additive attention: query and key projections and the output vector. */
  readonly attn: {
    readonly w1: Tensor;
    readonly w2: Tensor;
    readonly v: Tensor;
  };
  /** Output layer from [state, context, embedding]. */
  readonly out: LinearParams;
}

function full(c: GruConfig) {
  return {
    ...c,
    dEmbed: c.dEmbed ?? 128,
    hidden: c.hidden ?? 256,
    dAttn: c.dAttn ?? 128,
  };
}

function initCell(key: Key, dIn: number, h: number): GruCell {
  const [k1, k2] = split(key);
  return {
    w: mul(normal(k1!, [dIn, 3 * h]), 1 / Math.sqrt(dIn)),
    u: mul(normal(k2!, [h, 3 * h]), 1 / Math.sqrt(h)),
    b: zeros([3 * h]),
  };
}

/** The inputs of {@link gruCell}. */
export interface GruCellInput {
  /** `[B, dIn]` input. */
  readonly x: Tensor;
  /** `[B, H]` previous state. */
  readonly h: Tensor;
}

/** One GRU step: `x [B, dIn]`, `h [B, H]` → the new state `[B, H]`. */
export function gruCell(cell: GruCell, input: GruCellInput): Tensor {
  const { x, h } = input;
  const hid = h.shape[1]!;
  const gx = add(linearNoBias(x, cell.w), cell.b); // [B, 3H]
  const gh = linearNoBias(h, cell.u); // [B, 3H]
  const part = (t: Tensor, i: number) =>
    slice(t, [0, i * hid], [t.shape[0]!, hid]);
  const r = sigmoid(add(part(gx, 0), part(gh, 0)));
  const z = sigmoid(add(part(gx, 1), part(gh, 1)));
  const n = tanh(add(part(gx, 2), mul(r, part(gh, 2))));
  return add(mul(sub(1, z), n), mul(z, h));
}

function linearNoBias(x: Tensor, w: Tensor): Tensor {
  return linear({ w, b: zeros([w.shape[1]!]) }, x);
}

/** Fresh parameters. */
export function initGru(key: Key, config: GruConfig): GruParams {
  const c = full(config);
  const k = split(key, 8);
  return {
    srcEmbed: initEmbedding(k[0]!, c.srcVocab, c.dEmbed),
    tgtEmbed: initEmbedding(k[1]!, c.tgtVocab, c.dEmbed),
    enc: initCell(k[2]!, c.dEmbed, c.hidden),
    dec: initCell(k[3]!, c.dEmbed + c.hidden, c.hidden),
    attn: {
      w1: mul(normal(k[4]!, [c.hidden, c.dAttn]), 1 / Math.sqrt(c.hidden)),
      w2: mul(normal(k[5]!, [c.hidden, c.dAttn]), 1 / Math.sqrt(c.hidden)),
      v: mul(normal(k[6]!, [c.dAttn]), 1 / Math.sqrt(c.dAttn)),
    },
    out: initLinear(k[7]!, 2 * c.hidden + c.dEmbed, c.tgtVocab),
  };
}

/** Options of the GRU translator's functions. */
export interface GruOptions {
  /** The configuration the parameters were made with. */
  readonly config: GruConfig;
}

/** Encoder states `[B, S, H]` (padding keeps the previous state) and the last state. */
export function gruEncode(
  params: GruParams,
  input: SourceBatch,
  opts: GruOptions,
): { states: Tensor; last: Tensor } {
  const c = full(opts.config);
  const [b, s] = input.src.shape as [number, number];
  const x = embed(params.srcEmbed, input.src); // [B, S, E]
  const keep = boolMask(input.srcMask); // [B, S]
  let h = zeros([b, c.hidden]);
  const states: Tensor[] = [];
  for (let t = 0; t < s; t++) {
    const xt = reshape(slice(x, [0, t, 0], [b, 1, c.dEmbed]), [b, c.dEmbed]);
    const next = gruCell(params.enc, { x: xt, h });
    h = where(reshape(slice(keep, [0, t], [b, 1]), [b, 1]), next, h);
    states.push(h);
  }
  return { states: stack(states, 1), last: h };
}

function boolMask(m: Tensor): Tensor {
  return m.dtype === "bool" ? m : notEqual(m, 0);
}

/**
 * The encoder states projected by the attention's key matrix, `[B, S, A]`:
 * the same at every decoder step, so computed once per sentence.
 */
export function gruProjectKeys(params: GruParams, states: Tensor): Tensor {
  return matmul(states, params.attn.w2);
}

/** The inputs of one decoder step. */
export interface GruStepInput {
  /** `[B, S, H]` encoder states. */
  readonly states: Tensor;
  /** `[B, S]` bool, true for a source token. */
  readonly keyMask: Tensor;
  /** `[B]` int32 previous target ids. */
  readonly prev: Tensor;
  /** `[B, H]` decoder state. */
  readonly h: Tensor;
  /** {@link gruProjectKeys} of `states`, to skip projecting them at every step. */
  readonly projectedKeys?: Tensor;
}

/** One decoder step: logits `[B, V]`, the new state and the attention weights `[B, S]`. */
export function gruDecodeStep(
  params: GruParams,
  input: GruStepInput,
  opts: GruOptions,
): { logits: Tensor; h: Tensor; weights: Tensor } {
  const c = full(opts.config);
  const { states, keyMask, prev, h, projectedKeys } = input;
  const b = prev.shape[0]!;
  const e = embed(params.tgtEmbed, prev); // [B, E]
  const attend = attention({
    score: additive(params.attn, projectedKeys ? { projectedKeys } : {}),
    masks: [padding()],
  });
  const { output, weights } = attend(expandDims(h, 1), states, states, {
    keyMask,
  }); // [B, 1, H]
  const ctx = reshape(output, [b, c.hidden]);
  const hNew = gruCell(params.dec, { x: concat([e, ctx], 1), h });
  const logits = linear(params.out, concat([hNew, ctx, e], 1));
  return { logits, h: hNew, weights: reshape(weights, [b, -1]) };
}

/**
 * The whole model on a teacher-forced batch: logits `[B, T, V]` and the
 * attention weights `[B, T, S]` of every step.
 */
export function applyGru(
  params: GruParams,
  input: Omit<TranslationInput, "tgtOut" | "tgtMask">,
  opts: GruOptions,
): { logits: Tensor; weights: Tensor } {
  const { states, last } = gruEncode(params, input, opts);
  const keyMask = boolMask(input.srcMask);
  const projectedKeys = gruProjectKeys(params, states);
  const [b, t] = input.tgtIn.shape as [number, number];
  let h = last;
  const logits: Tensor[] = [], weights: Tensor[] = [];
  for (let i = 0; i < t; i++) {
    const prev = reshape(slice(input.tgtIn, [0, i], [b, 1]), [b]);
    const step = gruDecodeStep(
      params,
      { states, keyMask, prev, h, projectedKeys },
      opts,
    );
    h = step.h;
    logits.push(step.logits);
    weights.push(step.weights);
  }
  return { logits: stack(logits, 1), weights: stack(weights, 1) };
}

/** Options of {@link gruLoss}. */
export interface GruLossOptions extends GruOptions {
  /** Label smoothing (default 0). */
  readonly labelSmoothing?: number;
}

/** Mean cross-entropy with teacher forcing (padding id 0 ignored). */
export function gruLoss(
  params: GruParams,
  batch: TranslationInput,
  opts: GruLossOptions,
): Tensor {
  return crossEntropy(applyGru(params, batch, opts).logits, batch.tgtOut, {
    ignoreIndex: 0,
    labelSmoothing: opts.labelSmoothing ?? 0,
  });
}

/**
 * The GRU translator as a {@link StepDecoder} for `batch`: the hidden
 * states of the beams are gathered whenever the beams are re-ranked.
 */
export function gruDecoder(
  params: GruParams,
  batch: SourceBatch,
  opts: GruOptions,
): StepDecoder<GruDecoderState> {
  const b = batch.src.shape[0]!;
  return {
    batch: b,
    // A recurrent decoder has no length limit; translations rarely run
    // past twice the source length.
    maxLen: 2 * batch.src.shape[1]! + 5,
    start: (k) =>
      scope(() => {
        const rep = beamRows(b, k);
        const { states, last } = gruEncode(params, batch, opts);
        const st = take(states, rep, 0);
        return {
          states: st,
          projectedKeys: gruProjectKeys(params, st),
          keyMask: take(boolMask(batch.srcMask), rep, 0),
          h: take(last, rep, 0),
        };
      }),
    reorder: (s, from) => ({
      ...s,
      h: scope(() => take(s.h, tensor(from), 0)),
    }),
    step: (s, prefixes) => {
      using prev = tensor(Int32Array.from(prefixes, (x) => x[x.length - 1]!));
      const out = scope(() => {
        const r = gruDecodeStep(params, { ...s, prev }, opts);
        return { logp: logSoftmax(r.logits), h: r.h };
      });
      return { logp: out.logp, state: { ...s, h: out.h } };
    },
    // States share their encoder tensors; only the hidden vector is per step.
    release: (s) => dispose(s.h),
    close: (s) => dispose(s),
  };
}

/** The GRU decoder's state: encoder tensors (shared by all states) and `h`. */
export interface GruDecoderState extends Omit<GruStepInput, "prev"> {
  /** `[rows, H]` the hidden vector of each row. */
  readonly h: Tensor;
}
