// The classifier's bag-of-n-grams member (models/arch/_bag.ts, `--bag N`):
// its logits equal a host computation of the same linear model (words,
// hashed word pairs, hashed character n-grams, divided by the root of the
// feature count, times BAG_SCALE); the classifier averages its
// log-probabilities with the Transformer's and trains it as one more
// member; the option is checked and kept in the configuration.

import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";
import * as h from "../../mod.ts";
import {
  applyBag,
  BAG_SCALE,
  initBag,
  mixBag,
} from "../../models/arch/_bag.ts";
import { fnv1a, ngramTable } from "../../models/arch/subwords.ts";
import {
  applyClassifier,
  classifierConfig,
  initClassifier,
} from "../../models/arch/classifier.ts";
import { rng } from "../_helpers.ts";

const WORDS = ["<pad>", "<unk>", "card", "lost", "my", "a", "transfer"];
const K = 3, BUCKETS = 11;

/** Random weights for every table. */
function randomBag(seed: number) {
  const r = rng(seed);
  const t = (rows: number) =>
    h.tensor(Float32Array.from({ length: rows * K }, () => r() * 2 - 1), {
      shape: [rows, K],
    });
  return {
    words: t(WORDS.length),
    pairs: t(BUCKETS),
    chars: t(BUCKETS + 1),
    bias: h.tensor(Float32Array.from({ length: K }, () => r())),
  };
}

/** The member's logits for one row of ids, on the host. */
async function hostBag(
  p: ReturnType<typeof randomBag>,
  ids: readonly number[],
): Promise<number[]> {
  const [w, pr, ch, b] = await Promise.all(
    [p.words, p.pairs, p.chars, p.bias].map((x) => x.data()),
  );
  const total = new Array<number>(K).fill(0);
  let n = 0;
  const addRow = (tab: ArrayLike<number>, row: number) => {
    for (let k = 0; k < K; k++) total[k]! += tab[row * K + k]!;
    n++;
  };
  ids.forEach((id) => addRow(w!, id));
  for (let i = 1; i < ids.length; i++) {
    const l = fnv1a(`${WORDS[ids[i - 1]!]}\u0001`) % BUCKETS;
    const r = fnv1a(`\u0002${WORDS[ids[i]!]}`) % BUCKETS;
    addRow(pr!, (l + r) % BUCKETS);
  }
  const grams = ngramTable(WORDS, BUCKETS);
  for (const id of ids) {
    for (let j = 0; j < grams.k; j++) {
      if (grams.used[id * grams.k + j]) {
        addRow(ch!, grams.ids[id * grams.k + j]!);
      }
    }
  }
  return total.map((x, k) =>
    (BAG_SCALE * x) / Math.sqrt(Math.max(n, 1)) + b![k]!
  );
}

Deno.test("the bag member's logits equal the host's linear model over words, pairs and character n-grams", async () => {
  const p = randomBag(1);
  const rows = [[4, 2, 3], [5, 6, 1], [2, 0, 0]]; // the last padded after one word
  const lens = [3, 3, 1];
  const ids = h.tensor(Int32Array.from(rows.flat()), { shape: [3, 3] });
  const mask = h.tensor(
    Uint8Array.from(
      rows.flatMap((r, i) => r.map((_, j) => (j < lens[i]! ? 1 : 0))),
    ),
    { shape: [3, 3], dtype: "bool" },
  );
  const got = await applyBag(p, ids, mask, WORDS).data();
  for (let i = 0; i < 3; i++) {
    const want = await hostBag(p, rows[i]!.slice(0, lens[i]));
    want.forEach((v, k) => assertAlmostEquals(got[i * K + k]!, v, 1e-5));
  }
  // one token: no pairs
  const one = await applyBag(
    p,
    h.tensor(Int32Array.of(2), { shape: [1, 1] }),
    h.tensor(Uint8Array.of(1), { shape: [1, 1], dtype: "bool" }),
    WORDS,
  ).data();
  (await hostBag(p, [2])).forEach((v, k) =>
    assertAlmostEquals(one[k]!, v, 1e-5)
  );
  // fresh parameters: zero logits, the uniform distribution
  const zero = await applyBag(
    initBag(WORDS.length, BUCKETS, K),
    ids,
    mask,
    WORDS,
  ).data();
  assert(zero.every((x) => x === 0));
});

Deno.test("mixBag is the mean of both log-softmaxes (a geometric mixture)", async () => {
  const a = h.tensor([[2, 0, -1]]), b = h.tensor([[-3, 1, 0.5]]);
  const got = await mixBag(a, b).data();
  const la = await h.logSoftmax(a).data(), lb = await h.logSoftmax(b).data();
  for (let k = 0; k < 3; k++) {
    assertAlmostEquals(got[k]!, (la[k]! + lb[k]!) / 2, 1e-6);
  }
});

Deno.test("a classifier with a bag member mixes it in, returns it as a member and learns with it", async () => {
  const config = classifierConfig({
    vocabSize: WORDS.length,
    numClasses: 2,
    dModel: 8,
    heads: 2,
    layers: 1,
    dropout: 0,
    bag: BUCKETS,
    words: WORDS,
  });
  let params = initClassifier(h.key(0), config);
  assert(params.bag !== undefined);
  const ids = h.tensor(Int32Array.of(4, 2, 3, 5, 6, 1), { shape: [2, 3] });
  const batch = { ids, mask: h.notEqual(ids, 0) };
  const labels = h.tensor(Int32Array.of(0, 1));
  const out = applyClassifier(params, batch, { config });
  assertEquals(out.members.length, 2);
  const want = mixBag(out.members[0]!, out.members[1]!);
  const [g, w] = await Promise.all([out.logits.data(), want.data()]);
  g.forEach((v, i) => assertAlmostEquals(v, w[i]!, 1e-6));
  // training: the sum of the members' losses falls, the bag's weights move
  const loss = (p: typeof params) =>
    applyClassifier(p, batch, { config }).members
      .map((l) => h.crossEntropy(l, labels))
      .reduce((a, b) => h.add(a, b));
  const before = Number(await loss(params).item());
  for (let i = 0; i < 20; i++) {
    const gr = h.grad(loss)(params);
    params = h.treeMap(
      (p, d) => h.sub(p as h.Tensor, h.mul(d as h.Tensor, 0.5)),
      params,
      gr,
    ) as typeof params;
  }
  assert(Number(await loss(params).item()) < before * 0.5);
  assert(Number(await h.sum(h.abs(params.bag!.words)).item()) > 0);
  // the option is checked, and needs the words
  assertThrows(
    () => classifierConfig({ ...config, bag: -1 }),
    RangeError,
    "bag",
  );
  assertThrows(
    () => classifierConfig({ vocabSize: 7, numClasses: 2, bag: 5 }),
    RangeError,
    "bag need the 7 vocabulary words",
  );
});
