/**
 * Decoding for the translators: one beam search with the GNMT length
 * penalty lp(n) = ((5 + n) / 6)^α over any {@link StepDecoder}; greedy
 * decoding is beam search with one beam. The model runs on the device
 * (the Transformer's encoder and decoder step under `jit`, see
 * `transformerDecoder`); choosing tokens happens on the host, one readback
 * per step.
 *
 * @module
 */

import { dispose, type Tensor, tensor } from "../../ops/mod.ts";

interface Hyp {
  readonly tokens: number[];
  readonly logp: number;
  /** This hypothesis's row in the decoder state. */
  readonly row: number;
}

/**
 * A decoder as {@link beamSearch} drives it: a state with one row per
 * hypothesis (`b·k` rows, row `s·k + j` serving sentence `s`), advanced one
 * token at a time. The Transformer's state is the encoder memory (it reads
 * the whole prefix each step); a recurrent decoder's state is its hidden
 * vector, which `reorder` gathers when beams are re-ranked.
 */
export interface StepDecoder<S> {
  /** Sentences in the batch. */
  readonly batch: number;
  /** Most tokens the model can generate for this batch. */
  readonly maxLen: number;
  /** The starting state for `k` rows per sentence. */
  start(k: number): S;
  /**
   * Log-probabilities `[rows, V]` of each row's next token given its prefix
   * (`<bos>` first; all prefixes have the same length), and the state after
   * the prefix's last token.
   */
  step(state: S, prefixes: readonly (readonly number[])[]): {
    readonly logp: Tensor;
    readonly state: S;
  };
  /** The state whose row `r` is row `from[r]` of `state`. */
  reorder(state: S, from: Int32Array): S;
  /** Frees a state that a newer one replaced (they may share tensors). */
  release(state: S): void;
  /** Frees the last state and everything `start` made. */
  close(state: S): void;
}

/**
 * Row indices that repeat each of `b` sentences `k` times, in
 * {@link StepDecoder} row order (row `s·k + j` is sentence `s`): `take` a
 * per-sentence tensor with them to start a beam-search state.
 */
export function beamRows(b: number, k: number): Tensor {
  return tensor(
    Int32Array.from({ length: b * k }, (_, r) => Math.floor(r / k)),
  );
}

/** Options of {@link beamSearch}. */
export interface BeamOptions {
  /** Beam width (default 4; 1 is greedy decoding). */
  readonly beam?: number;
  /** Length-penalty exponent α (default 0.6; 0 turns it off). */
  readonly alpha?: number;
  /** Id of `<bos>` (default 2). */
  readonly bos?: number;
  /** Id of `<eos>` (default 3). */
  readonly eos?: number;
  /** Most generated tokens (default and cap: the decoder's `maxLen`). */
  readonly maxLen?: number;
}

/**
 * Beam search with the GNMT length penalty over any {@link StepDecoder}:
 * keeps the `beam` best partial translations per sentence; a finished one
 * scores logp / lp(length). With `beam: 1` it is greedy decoding. Returns
 * ids without `<bos>`/`<eos>`.
 *
 * @example A toy decoder: 4, then 5, then `<eos>`
 * ```ts
 * import { logSoftmax, tensor } from "@heed/heed";
 * import { beamSearch, type StepDecoder } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * const next = (prefix: readonly number[]) => [0, 4, 5, 3][prefix.length]!; // <bos> counts
 * const decoder: StepDecoder<null> = {
 *   batch: 1,
 *   maxLen: 10,
 *   start: () => null,
 *   step: (state, prefixes) => ({
 *     logp: logSoftmax(tensor(prefixes.map((p) =>
 *       Array.from({ length: 8 }, (_, w) => (w === next(p) ? 5 : 0))
 *     ))),
 *     state,
 *   }),
 *   reorder: (state) => state,
 *   release: () => {},
 *   close: () => {},
 * };
 * assertEquals((await beamSearch(decoder, { beam: 1 })).map((x) => [...x]), [[4, 5]]);
 * assertEquals((await beamSearch(decoder, { beam: 3 })).map((x) => [...x]), [[4, 5]]);
 * ```
 */
export async function beamSearch<S>(
  dec: StepDecoder<S>,
  opts: BeamOptions = {},
): Promise<Int32Array[]> {
  const b = dec.batch, bos = opts.bos ?? 2, eos = opts.eos ?? 3;
  const maxLen = Math.min(opts.maxLen ?? dec.maxLen, dec.maxLen);
  const k = opts.beam ?? 4, alpha = opts.alpha ?? 0.6;
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(
      `beamSearch: beam must be a positive integer, got ${k}`,
    );
  }
  const lp = (n: number) => (alpha === 0 ? 1 : ((5 + n) / 6) ** alpha);
  let state = dec.start(k);
  let beams: Hyp[][] = Array.from(
    { length: b },
    (_, s) => [{ tokens: [bos], logp: 0, row: s * k }],
  );
  const finished: { tokens: number[]; score: number }[][] = Array.from({
    length: b,
  }, () => []);
  for (let t = 0; t < maxLen && beams.some((bs) => bs.length > 0); t++) {
    // k rows per sentence (a retired sentence's rows are padding, never read).
    const from = new Int32Array(b * k);
    const prefixes: number[][] = [];
    beams.forEach((bs, s) => {
      for (let j = 0; j < k; j++) {
        const h = bs[Math.min(j, bs.length - 1)];
        from[s * k + j] = h?.row ?? s * k;
        prefixes.push(h?.tokens ?? new Array<number>(t + 1).fill(bos));
      }
    });
    if (from.some((r, i) => r !== i)) {
      const moved = dec.reorder(state, from);
      if (moved !== state) dec.release(state);
      state = moved;
    }
    const out = dec.step(state, prefixes);
    if (out.state !== state) dec.release(state);
    state = out.state;
    const lps = await out.logp.data();
    dispose(out.logp);
    const v = out.logp.shape[1]!;
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
        } else keep.push({ tokens, logp: c.logp, row: s * k + c.from });
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
  dec.close(state);
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

export {
  DECODE_BUCKET,
  decoderPrograms,
  transformerDecoder,
  type TransformerDecoderOptions,
  type TransformerEncoded,
} from "./_transformer_decoder.ts";
