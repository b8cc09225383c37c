// The translator learns a toy copy task, and greedy and beam decoding
// reproduce it; the loss ignores padding.

import { assertEquals } from "@std/assert";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { adam } from "../../models/train/optim.ts";
import {
  initTranslator,
  type TranslationInput,
  translatorLoss,
} from "../../models/arch/translator.ts";
import {
  type BeamOptions,
  beamSearch,
  transformerDecoder,
} from "../../models/arch/decoding.ts";
import type {
  SourceBatch,
  TranslatorParams,
} from "../../models/arch/translator.ts";

const decodeWith = (p: TranslatorParams, b: SourceBatch, o: BeamOptions) =>
  beamSearch(transformerDecoder(p, b, { config }), o);

const BOS = 2, EOS = 3;
const config = {
  srcVocab: 10,
  tgtVocab: 10,
  dModel: 32,
  heads: 2,
  encLayers: 1,
  decLayers: 1,
  ffHidden: 64,
  maxLen: 8,
  dropout: 0,
};

/** Sentences of ids 4..9, copied as the translation (reversed, to need attention). */
function toyBatch(rows: number[][]): TranslationInput {
  const b = rows.length, s = Math.max(...rows.map((r) => r.length));
  const pad = (
    xs: number[],
    n: number,
  ) => [...xs, ...new Array(n - xs.length).fill(0)];
  const src = rows.map((r) => pad(r, s));
  const tgt = rows.map((r) => [...r].reverse());
  const tIn = tgt.map((r) => pad([BOS, ...r], s + 1));
  const tOut = tgt.map((r) => pad([...r, EOS], s + 1));
  const i32 = (x: number[][], cols: number) =>
    h.tensor(Int32Array.from(x.flat()), { shape: [b, cols] });
  return {
    src: i32(src, s),
    srcMask: i32(src.map((r) => r.map((v) => (v ? 1 : 0))), s),
    tgtIn: i32(tIn, s + 1),
    tgtOut: i32(tOut, s + 1),
    tgtMask: i32(
      tIn.map((r) => r.map((v, j) => (j === 0 || v ? 1 : 0))),
      s + 1,
    ),
  };
}

const DATA = [[4, 5, 6], [7, 8], [9, 4, 5, 6], [6, 6, 7], [8, 9], [5, 4]];

Deno.test("the translator learns to reverse short sequences; greedy and beam decoding agree", async () => {
  const batch = toyBatch(DATA);
  let params = initTranslator(h.key(0), config);
  const opt = adam({ lr: 3e-3 });
  let state = { params, opt: opt.init(params) };
  const vg = h.valueAndGrad((p: typeof params) =>
    translatorLoss(p, batch, { config })
  );
  let first = 0;
  for (let step = 0; step < 300; step++) {
    state = h.carry(state, (s) => {
      const [, g] = vg(s.params);
      const n = opt.update(s.params, g, s.opt);
      return { params: n.params, opt: n.state };
    });
    if (step === 0) {
      first = (await h.scope(() =>
        translatorLoss(state.params, batch, { config })
      ).item()) as number;
    }
  }
  params = state.params;
  const last = (await h.scope(() => translatorLoss(params, batch, { config }))
    .item()) as number;
  assertEquals(last < first / 10, true, `loss ${first} -> ${last}`);
  const src = { src: batch.src, srcMask: batch.srcMask };
  const greedy = await decodeWith(params, src, {
    bos: BOS,
    eos: EOS,
    beam: 1,
  });
  const beam = await decodeWith(params, src, {
    bos: BOS,
    eos: EOS,
    beam: 3,
  });
  const want = DATA.map((r) => [...r].reverse());
  assertEquals(greedy.map((x) => [...x]), want);
  assertEquals(beam.map((x) => [...x]), want);
  // Decoding reads results back in a loop; it must not leave them alive.
  const live = () => h.memory()[h.defaultBackend()]!.liveBytes;
  const before = live();
  await decodeWith(params, src, { bos: BOS, eos: EOS, beam: 1 });
  await decodeWith(params, src, { bos: BOS, eos: EOS, beam: 3 });
  assertEquals(live(), before, "decoding leaked device memory");
});

Deno.test("the translator's loss ignores padded target positions", async () => {
  const params = initTranslator(h.key(1), config);
  const a = toyBatch([[4, 5]]);
  // The same sentence padded to a longer batch gives the same loss.
  const b = toyBatch([[4, 5], [4, 5, 6, 7, 8]]);
  const one = (x: TranslationInput, rows: number): TranslationInput => {
    const cut = (t: Tensor, cols: number) => h.slice(t, [0, 0], [rows, cols]);
    return {
      src: cut(x.src, x.src.shape[1]!),
      srcMask: cut(x.srcMask, x.src.shape[1]!),
      tgtIn: cut(x.tgtIn, x.tgtIn.shape[1]!),
      tgtOut: cut(x.tgtOut, x.tgtIn.shape[1]!),
      tgtMask: cut(x.tgtMask, x.tgtIn.shape[1]!),
    };
  };
  const la = (await translatorLoss(params, a, { config }).item()) as number;
  const lb =
    (await translatorLoss(params, one(b, 1), { config }).item()) as number;
  assertEquals(Math.abs(la - lb) < 1e-5, true, `${la} vs ${lb}`);
});
