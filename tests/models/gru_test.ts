// The GRU + additive-attention baseline learns the toy reversal task, its
// attention weights are a distribution over real source tokens, and its
// gradients match finite differences.

import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import * as h from "../../mod.ts";
import { adam } from "../../models/train/optim.ts";
import {
  gruCell,
  gruDecoder,
  gruDecodeStep,
  gruEncode,
  gruLoss,
  type GruParams,
  initGru,
} from "../../models/arch/gru.ts";
import { type BeamOptions, beamSearch } from "../../models/arch/decoding.ts";
import type { SourceBatch } from "../../models/arch/translator.ts";
import type { TranslationInput } from "../../models/arch/translator.ts";
import { checkGradients, randomTensor } from "../_helpers.ts";

const BOS = 2, EOS = 3;
const config = {
  srcVocab: 10,
  tgtVocab: 10,
  dEmbed: 16,
  hidden: 32,
  dAttn: 16,
};
const DATA = [[4, 5, 6], [7, 8], [9, 4, 5, 6], [6, 6, 7], [8, 9], [5, 4]];

function toyBatch(rows: number[][]): TranslationInput {
  const b = rows.length, s = Math.max(...rows.map((r) => r.length));
  const pad = (
    xs: number[],
    n: number,
  ) => [...xs, ...new Array(n - xs.length).fill(0)];
  const tgt = rows.map((r) => [...r].reverse());
  const i32 = (x: number[][], cols: number) =>
    h.tensor(Int32Array.from(x.flat()), { shape: [b, cols] });
  const src = rows.map((r) => pad(r, s));
  const tIn = tgt.map((r) => pad([BOS, ...r], s + 1));
  return {
    src: i32(src, s),
    srcMask: i32(src.map((r) => r.map((v) => (v ? 1 : 0))), s),
    tgtIn: i32(tIn, s + 1),
    tgtOut: i32(tgt.map((r) => pad([...r, EOS], s + 1)), s + 1),
    tgtMask: i32(
      tIn.map((r) => r.map((v, j) => (j === 0 || v ? 1 : 0))),
      s + 1,
    ),
  };
}

Deno.test("the GRU cell matches its equations and its gradients match finite differences", async () => {
  const cell = {
    w: randomTensor([3, 6], 1),
    u: randomTensor([2, 6], 2),
    b: randomTensor([6], 3),
  };
  const x = randomTensor([1, 3], 4), s = randomTensor([1, 2], 5);
  const [xs, hs, w, u, b] = await Promise.all([
    x.data(),
    s.data(),
    cell.w.data(),
    cell.u.data(),
    cell.b.data(),
  ]);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const gate = (k: number, j: number, withU = true) => {
    let v = b[k * 2 + j]!;
    for (let i = 0; i < 3; i++) v += xs[i]! * w[i * 6 + k * 2 + j]!;
    if (withU) {
      for (let i = 0; i < 2; i++) {
        v += hs[i]! * u[i * 6 + k * 2 + j]!;
      }
    }
    return v;
  };
  const got = await gruCell(cell, { x, h: s }).data();
  for (let j = 0; j < 2; j++) {
    const r = sig(gate(0, j)), z = sig(gate(1, j));
    let un = 0;
    for (let i = 0; i < 2; i++) un += hs[i]! * u[i * 6 + 4 + j]!;
    const n = Math.tanh(gate(2, j, false) + r * un);
    assertAlmostEquals(got[j]!, (1 - z) * n + z * hs[j]!, 1e-5);
  }
  await checkGradients((a, bb) => gruCell(cell, { x: a, h: bb }), [x, s]);
});

Deno.test("GRU attention weights are a distribution over real source tokens", async () => {
  const p = initGru(h.key(0), config);
  const batch = toyBatch([[4, 5], [6, 7, 8, 9]]);
  const { states, last } = gruEncode(p, batch, { config });
  const { weights } = gruDecodeStep(p, {
    states,
    keyMask: h.notEqual(batch.srcMask, 0),
    prev: h.tensor(new Int32Array([BOS, BOS])),
    h: last,
  }, { config });
  const w = await weights.array() as number[][];
  assertEquals(w[0]!.slice(2), [0, 0]);
  for (const row of w) {
    assertAlmostEquals(row.reduce((a, b) => a + b, 0), 1, 1e-5);
  }
});

Deno.test("the GRU baseline learns to reverse short sequences", async () => {
  const batch = toyBatch(DATA);
  const p0 = initGru(h.key(0), config);
  const opt = adam({ lr: 1e-2 });
  let state = { params: p0, opt: opt.init(p0) };
  const vg = h.valueAndGrad((p: typeof p0) => gruLoss(p, batch, { config }));
  for (let step = 0; step < 150; step++) {
    state = h.carry(state, (s) => {
      const [, g] = vg(s.params);
      const n = opt.update(s.params, g, s.opt);
      return { params: n.params, opt: n.state };
    });
  }
  const loss = (await h.scope(() => gruLoss(state.params, batch, { config }))
    .item()) as number;
  assert(loss < 0.3, `loss ${loss}`);
  const src = { src: batch.src, srcMask: batch.srcMask };
  const decodeWith = (p: GruParams, b: SourceBatch, o: BeamOptions) =>
    beamSearch(gruDecoder(p, b, { config }), o);
  const out = await decodeWith(state.params, src, {
    bos: BOS,
    eos: EOS,
    beam: 1,
  });
  assertEquals(out.map((x) => [...x]), DATA.map((r) => [...r].reverse()));
  const beam = await decodeWith(state.params, src, {
    bos: BOS,
    eos: EOS,
    beam: 3,
  });
  assertEquals(beam.map((x) => [...x]), DATA.map((r) => [...r].reverse()));
  // Decoding reads results back in a loop; it must not leave them alive.
  const live = () => h.memory()[h.defaultBackend()]!.liveBytes;
  const before = live();
  await decodeWith(state.params, src, { bos: BOS, eos: EOS, beam: 1 });
  await decodeWith(state.params, src, { bos: BOS, eos: EOS });
  assertEquals(live(), before, "GRU decoding leaked device memory");
});
