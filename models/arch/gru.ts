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
  argmax,
  concat,
  crossEntropy,
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
import { releaseNow } from "../../ops/memory.ts";
import {
  embed,
  type EmbeddingParams,
  initEmbedding,
  initLinear,
  linear,
  type LinearParams,
} from "./layers.ts";
import type { TranslationInput } from "./translator.ts";
import {
  type BeamOptions,
  beamRows,
  beamSearchWith,
  type SourceBatch,
  type StepDecoder,
} from "./decoding.ts";

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

/** One GRU step: `x [B, dIn]`, `h [B, H]` → `[B, H]`. */
export function gruStep(c: GruCell, x: Tensor, h: Tensor): Tensor {
  const hid = h.shape[1]!;
  const gx = add(linearNoBias(x, c.w), c.b); // [B, 3H]
  const gh = linearNoBias(h, c.u); // [B, 3H]
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

/** Encoder states `[B, S, H]` (padding keeps the previous state) and the last state. */
export function gruEncode(
  p: GruParams,
  config: GruConfig,
  src: Tensor,
  srcMask: Tensor,
): { states: Tensor; last: Tensor } {
  const c = full(config);
  const [b, s] = src.shape as [number, number];
  const x = embed(p.srcEmbed, src); // [B, S, E]
  const keep = notEqual(srcMask, 0); // [B, S]
  let h = zeros([b, c.hidden]);
  const states: Tensor[] = [];
  for (let t = 0; t < s; t++) {
    const xt = reshape(slice(x, [0, t, 0], [b, 1, c.dEmbed]), [b, c.dEmbed]);
    const next = gruStep(p.enc, xt, h);
    h = where(reshape(slice(keep, [0, t], [b, 1]), [b, 1]), next, h);
    states.push(h);
  }
  return { states: stack(states, 1), last: h };
}

/**
 * The encoder states projected by the attention's key matrix, `[B, S, A]`:
 * the same at every decoder step, so computed once per sentence.
 */
export function gruProjectKeys(p: GruParams, states: Tensor): Tensor {
  return matmul(states, p.attn.w2);
}

/**
 * One decoder step: returns logits `[B, V]`, the new state and the attention
 * weights `[B, S]`. Pass `projectedKeys` ({@link gruProjectKeys} of
 * `states`) to skip projecting the keys again at every step.
 */
export function gruDecodeStep(
  p: GruParams,
  config: GruConfig,
  states: Tensor,
  keyMask: Tensor,
  prev: Tensor,
  h: Tensor,
  projectedKeys?: Tensor,
): { logits: Tensor; h: Tensor; weights: Tensor } {
  const c = full(config);
  const b = prev.shape[0]!;
  const e = embed(p.tgtEmbed, prev); // [B, E]
  const attend = attention({
    score: additive(p.attn, projectedKeys ? { projectedKeys } : {}),
    masks: [padding()],
  });
  const { output, weights } = attend(expandDims(h, 1), states, states, {
    keyMask,
  }); // [B, 1, H]
  const ctx = reshape(output, [b, c.hidden]);
  const hNew = gruStep(p.dec, concat([e, ctx], 1), h);
  const logits = linear(p.out, concat([hNew, ctx, e], 1));
  return { logits, h: hNew, weights: reshape(weights, [b, -1]) };
}

/** Mean cross-entropy with teacher forcing (padding id 0 ignored). */
export function gruLoss(
  p: GruParams,
  config: GruConfig,
  batch: TranslationInput,
  labelSmoothing = 0,
): Tensor {
  const { states, last } = gruEncode(p, config, batch.src, batch.srcMask);
  const keyMask = notEqual(batch.srcMask, 0);
  const keys = gruProjectKeys(p, states);
  const [b, t] = batch.tgtIn.shape as [number, number];
  let h = last;
  const logits: Tensor[] = [];
  for (let i = 0; i < t; i++) {
    const prev = reshape(slice(batch.tgtIn, [0, i], [b, 1]), [b]);
    const step = gruDecodeStep(p, config, states, keyMask, prev, h, keys);
    h = step.h;
    logits.push(step.logits);
  }
  return crossEntropy(stack(logits, 1), batch.tgtOut, {
    ignoreIndex: 0,
    labelSmoothing,
  });
}

/** Greedy decoding, one token per step with the recurrent state carried. */
export async function gruGreedy(
  p: GruParams,
  config: GruConfig,
  batch: SourceBatch,
  opts: { bos?: number; eos?: number; maxLen?: number } = {},
): Promise<Int32Array[]> {
  const bos = opts.bos ?? 2,
    eos = opts.eos ?? 3,
    maxLen = opts.maxLen ?? 2 * batch.src.shape[1]! + 5;
  const b = batch.src.shape[0]!;
  let state = scope(() => {
    const { states, last } = gruEncode(p, config, batch.src, batch.srcMask);
    return {
      states,
      keys: gruProjectKeys(p, states),
      h: last,
      keyMask: notEqual(batch.srcMask, 0),
    };
  });
  let prev = new Int32Array(b).fill(bos);
  const out: number[][] = Array.from({ length: b }, () => []);
  const done = new Array<boolean>(b).fill(false);
  for (let t = 0; t < maxLen && done.includes(false); t++) {
    const step = scope(() => {
      const s = gruDecodeStep(
        p,
        config,
        state.states,
        state.keyMask,
        tensor(prev),
        state.h,
        state.keys,
      );
      return { h: s.h, next: argmax(s.logits, { axis: -1 }) };
    });
    releaseNow(state.h);
    state = { ...state, h: step.h };
    const ids = await step.next.data();
    releaseNow(step.next);
    prev = Int32Array.from(ids);
    for (let i = 0; i < b; i++) {
      if (done[i]) continue;
      if (ids[i] === eos) done[i] = true;
      else out[i]!.push(ids[i]!);
    }
  }
  releaseNow(state.states, state.keys, state.h, state.keyMask);
  return out.map((o) => Int32Array.from(o));
}

/**
 * Beam search for the GRU baseline, with the same GNMT length penalty as
 * the Transformer's: the hidden states of the beams are gathered whenever
 * the beams are re-ranked.
 */
export async function gruBeamSearch(
  p: GruParams,
  config: GruConfig,
  batch: SourceBatch,
  opts: BeamOptions = {},
): Promise<Int32Array[]> {
  const b = batch.src.shape[0]!;
  interface State {
    readonly states: Tensor;
    readonly keys: Tensor;
    readonly keyMask: Tensor;
    readonly h: Tensor;
  }
  let shared: Tensor[] = [];
  const dec: StepDecoder<State> = {
    start: (k) => {
      const s = scope(() => {
        const rep = beamRows(b, k);
        const { states, last } = gruEncode(p, config, batch.src, batch.srcMask);
        const st = take(states, rep, 0);
        return {
          states: st,
          keys: gruProjectKeys(p, st),
          keyMask: take(notEqual(batch.srcMask, 0), rep, 0),
          h: take(last, rep, 0),
        };
      });
      shared = [s.states, s.keys, s.keyMask];
      return s;
    },
    reorder: (s, from) => ({
      ...s,
      h: scope(() => take(s.h, tensor(from), 0)),
    }),
    step: (s, prefixes) => {
      const prev = tensor(Int32Array.from(prefixes, (x) => x[x.length - 1]!));
      const out = scope(() => {
        const r = gruDecodeStep(
          p,
          config,
          s.states,
          s.keyMask,
          prev,
          s.h,
          s.keys,
        );
        return { logp: logSoftmax(r.logits), h: r.h };
      });
      releaseNow(prev);
      return { logp: out.logp, state: { ...s, h: out.h } };
    },
    // States share their encoder tensors; only the hidden vector is per step.
    release: (s) => releaseNow(s.h),
  };
  const out = await beamSearchWith(dec, {
    batch: b,
    bos: opts.bos ?? 2,
    eos: opts.eos ?? 3,
    maxLen: opts.maxLen ?? 2 * batch.src.shape[1]! + 5,
    beam: opts.beam ?? 4,
    ...(opts.alpha === undefined ? {} : { alpha: opts.alpha }),
  });
  releaseNow(...shared);
  return out;
}
