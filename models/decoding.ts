/**
 * Decoding for the translator: greedy, and beam search with the GNMT length
 * penalty lp(n) = ((5 + n) / 6)^α. The model runs on the device; choosing
 * tokens happens on the host, one readback per step.
 *
 * @module
 */

import {
  argmax,
  logSoftmax,
  ones,
  reshape,
  scope,
  slice,
  take,
  type Tensor,
  tensor,
} from "../ops/mod.ts";
import { releaseNow } from "../ops/memory.ts";
import {
  decode,
  encode,
  type TranslatorConfig,
  type TranslatorParams,
} from "./translator.ts";

/** Options of the decoders. */
export interface DecodingOptions {
  /** Id of `<bos>` (default 2). */
  readonly bos?: number;
  /** Id of `<eos>` (default 3). */
  readonly eos?: number;
  /** Most generated tokens (default: the model's maxLen - 1). */
  readonly maxLen?: number;
}

/** Options of {@link beamSearch}. */
export interface BeamOptions extends DecodingOptions {
  /** Beam width (default 4). */
  readonly beam?: number;
  /** Length-penalty exponent α (default 0.6; 0 turns it off). */
  readonly alpha?: number;
}

/** A padded batch of source sentences. */
export interface SourceBatch {
  /** `[B, S]` int32 ids. */
  readonly src: Tensor;
  /** `[B, S]` int32 mask (1 = token). */
  readonly srcMask: Tensor;
}

function limits(config: TranslatorConfig, opts: DecodingOptions) {
  const maxModel = (config.maxLen ?? 64) - 1;
  return {
    bos: opts.bos ?? 2,
    eos: opts.eos ?? 3,
    maxLen: Math.min(opts.maxLen ?? maxModel, maxModel),
  };
}

/** Greedy decoding: the most likely token at every step. Returns ids without `<bos>`/`<eos>`. */
export async function greedyDecode(
  params: TranslatorParams,
  config: TranslatorConfig,
  batch: SourceBatch,
  opts: DecodingOptions = {},
): Promise<Int32Array[]> {
  const { bos, eos, maxLen } = limits(config, opts);
  const b = batch.src.shape[0]!;
  const memory = scope(() => encode(params, config, batch.src, batch.srcMask));
  const seqs: number[][] = Array.from({ length: b }, () => [bos]);
  const done = new Array<boolean>(b).fill(false);
  for (let t = 0; t < maxLen && done.includes(false); t++) {
    const next = scope(() => {
      const tgt = tensor(Int32Array.from(seqs.flat()), { shape: [b, t + 1] });
      const { logits } = decode(
        params,
        config,
        memory,
        batch.srcMask,
        tgt,
        ones([b, t + 1], { dtype: "int32" }),
      );
      const last = reshape(slice(logits, [0, t, 0], [b, 1, logits.shape[2]!]), [
        b,
        -1,
      ]);
      return argmax(last, { axis: -1 });
    });
    const ids = await next.data();
    releaseNow(next);
    for (let i = 0; i < b; i++) {
      const tok = done[i] ? eos : ids[i]!;
      seqs[i]!.push(tok);
      if (tok === eos) done[i] = true;
    }
  }
  releaseNow(memory);
  return seqs.map((s) => {
    const body = s.slice(1);
    const end = body.indexOf(eos);
    return Int32Array.from(end < 0 ? body : body.slice(0, end));
  });
}

interface Hyp {
  readonly tokens: number[];
  readonly logp: number;
}

/**
 * Beam search with a length penalty: keeps the `beam` best partial
 * translations per sentence; a finished one scores logp / lp(length).
 */
export async function beamSearch(
  params: TranslatorParams,
  config: TranslatorConfig,
  batch: SourceBatch,
  opts: BeamOptions = {},
): Promise<Int32Array[]> {
  const { bos, eos, maxLen } = limits(config, opts);
  const k = opts.beam ?? 4, alpha = opts.alpha ?? 0.6;
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(
      `beamSearch: beam must be a positive integer, got ${k}`,
    );
  }
  const lp = (n: number) => (alpha === 0 ? 1 : ((5 + n) / 6) ** alpha);
  const b = batch.src.shape[0]!;
  // Every sentence's memory repeated once per beam: rows b·k + j.
  const rep = tensor(
    Int32Array.from({ length: b * k }, (_, r) => Math.floor(r / k)),
  );
  const { memory, srcMask } = scope(() => ({
    memory: take(encode(params, config, batch.src, batch.srcMask), rep, 0),
    srcMask: take(batch.srcMask, rep, 0),
  }));
  let beams: Hyp[][] = Array.from(
    { length: b },
    () => [{ tokens: [bos], logp: 0 }],
  );
  const finished: { tokens: number[]; score: number }[][] = Array.from({
    length: b,
  }, () => []);
  for (let t = 0; t < maxLen && beams.some((bs) => bs.length > 0); t++) {
    // k rows per sentence (a retired sentence's rows are padding, never read).
    const rows = beams.flatMap((bs) =>
      Array.from(
        { length: k },
        (_, j) =>
          bs[Math.min(j, bs.length - 1)]?.tokens ??
            new Array<number>(t + 1).fill(bos),
      )
    );
    const logp = scope(() => {
      const tgt = tensor(Int32Array.from(rows.flat()), {
        shape: [b * k, t + 1],
      });
      const { logits } = decode(
        params,
        config,
        memory,
        srcMask,
        tgt,
        ones([b * k, t + 1], { dtype: "int32" }),
      );
      return logSoftmax(
        reshape(slice(logits, [0, t, 0], [b * k, 1, logits.shape[2]!]), [
          b * k,
          -1,
        ]),
      );
    });
    const lps = await logp.data();
    releaseNow(logp);
    const v = logp.shape[1]!;
    beams = beams.map((live, s) => {
      if (live.length === 0) return live;
      const cands: { from: number; tok: number; logp: number }[] = [];
      live.forEach((h, j) => {
        const row = (s * k + j) * v;
        const top: { tok: number; lp: number }[] = []; // the k best tokens of this beam
        for (let w = 0; w < v; w++) {
          const x = lps[row + w]!;
          if (top.length < k || x > top[top.length - 1]!.lp) {
            top.push({ tok: w, lp: x });
            top.sort((a, c) => c.lp - a.lp);
            if (top.length > k) top.pop();
          }
        }
        for (const c of top) {
          cands.push({ from: j, tok: c.tok, logp: h.logp + c.lp });
        }
      });
      cands.sort((a, c) => c.logp - a.logp);
      const keep: Hyp[] = [];
      for (const c of cands) {
        const tokens = [...live[c.from]!.tokens, c.tok];
        if (c.tok === eos) {
          finished[s]!.push({ tokens, score: c.logp / lp(tokens.length - 1) });
        } else keep.push({ tokens, logp: c.logp });
        if (keep.length === k) break;
      }
      // Retire the sentence once no live beam can beat its best finished one
      // (log-probabilities only fall, and lp grows at most to lp(maxLen)).
      const bestDone = Math.max(-Infinity, ...finished[s]!.map((f) => f.score));
      const bestLive = Math.max(
        -Infinity,
        ...keep.map((h) => h.logp / lp(maxLen)),
      );
      return finished[s]!.length >= k || bestDone >= bestLive ? [] : keep;
    });
  }
  releaseNow(memory, srcMask, rep);
  return beams.map((live, s) => {
    const pool = [
      ...finished[s]!,
      ...live.map((h) => ({
        tokens: h.tokens,
        score: h.logp / lp(h.tokens.length - 1),
      })),
    ].sort((a, c) => c.score - a.score);
    const body = (pool[0]?.tokens ?? [bos]).slice(1);
    const end = body.indexOf(eos);
    return Int32Array.from(end < 0 ? body : body.slice(0, end));
  });
}
