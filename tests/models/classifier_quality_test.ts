// The classifier's quality options: an ensemble of independent members
// whose logits are averaged (--ensemble), and fastText-style subword
// inputs (--subwords). Both are kept in the checkpoint, honoured by
// resume, eval and predict.

import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  applyClassifier,
  classifierConfig,
  initClassifier,
  loadClassifier,
} from "../../models/mod.ts";
import { charNgrams, ngramTable } from "../../models/arch/subwords.ts";
import { main as train, parseTrainArgs } from "../../models/cli/train.ts";
import { main as evaluate } from "../../models/cli/eval.ts";
import { add, div, key, sub, type Tensor, tensor } from "../../ops/mod.ts";
import { assertAllClose } from "../../testing/mod.ts";
import { quiet } from "./_cli.ts";

const WORDS = ["<pad>", "<unk>", "<bos>", "<eos>", "transfer", "transfers"];
const small = { vocabSize: 6, numClasses: 3, dModel: 8, heads: 2, layers: 1 };

function batch(): { ids: Tensor; mask: Tensor } {
  return {
    ids: tensor(new Int32Array([4, 5, 0, 5, 4, 4]), {
      shape: [2, 3],
      dtype: "int32",
    }),
    mask: tensor(new Int32Array([1, 1, 0, 1, 1, 1]), {
      shape: [2, 3],
      dtype: "int32",
    }),
  };
}

const data = async (t: Tensor) => Array.from(await t.data());

Deno.test("an ensemble's logits are its members' mean, and member 0 is the single model", async () => {
  const one = classifierConfig(small);
  const three = classifierConfig({ ...small, members: 3 });
  const single = initClassifier(key(7), one);
  const ens = initClassifier(key(7), three);
  assertEquals(ens.ensemble?.length, 2);
  const b = batch();
  const out = applyClassifier(ens, b, { config: three });
  assertEquals(out.members.length, 3);
  const mean = div(
    add(add(out.members[0]!, out.members[1]!), out.members[2]!),
    3,
  );
  assertAllClose(await data(out.logits), await data(mean), { atol: 1e-6 });
  assertAllClose(
    await data(out.members[0]!),
    await data(applyClassifier(single, b, { config: one }).logits),
    { atol: 1e-6 },
  );
  // members differ: their own initialisation
  assertNotEquals(await data(out.members[0]!), await data(out.members[1]!));
  // a config and params that disagree on the members are refused
  assertThrows(
    () => applyClassifier(single, b, { config: three }),
    TypeError,
    "config has 3 members, params 1",
  );
});

Deno.test("an ensemble's members draw their own dropout when training", async () => {
  const c = classifierConfig({ ...small, members: 2, dropout: 0.5 });
  const p = initClassifier(key(1), c);
  const b = batch();
  const a = applyClassifier(p, b, { config: c, training: true, key: key(3) });
  const again = applyClassifier(p, b, {
    config: c,
    training: true,
    key: key(3),
  });
  assertEquals(await data(a.logits), await data(again.logits));
  const eval0 = applyClassifier(p, b, { config: c });
  assertNotEquals(await data(a.members[1]!), await data(eval0.members[1]!));
});

Deno.test("charNgrams() gives the 3- to 5-grams of <word>, none for specials", () => {
  assertEquals(charNgrams("ab"), ["<ab", "ab>", "<ab>"]);
  assertEquals(charNgrams("<unk>"), []);
  assertEquals(charNgrams("abcdefghijklmnop").length, 24);
  // the longest row: "transfers", 9 + 8 + 7 n-grams of "<transfers>"
  assertEquals(ngramTable(WORDS, 50).k, 24);
});

Deno.test("ngramTable() shares the buckets of shared n-grams and pads the rest", () => {
  const t = ngramTable(WORDS, 1000);
  const row = (w: number) =>
    Array.from(t.ids.subarray(w * t.k, (w + 1) * t.k)).filter((i) => i > 0);
  const a = row(4), b = row(5); // transfer, transfers
  assertEquals(a.length, charNgrams("transfer").length);
  assertEquals(t.count[4], a.length);
  assert(a.filter((g) => b.includes(g)).length >= 15, "shared n-grams");
  assertEquals(row(0), []); // <pad>
  assertEquals(t.count[0], 1);
  assert(t.ids.every((i) => i >= 0 && i <= 1000));
  // the same list gives the same (cached) table
  assertEquals(ngramTable(WORDS, 1000), t);
});

Deno.test("subword embeddings change a word's input, and need the vocabulary's words", async () => {
  assertThrows(
    () => classifierConfig({ ...small, subwords: 10 }),
    RangeError,
    "subwords need the 6 vocabulary words, got 0",
  );
  assertThrows(
    () => classifierConfig({ ...small, subwords: -1, words: WORDS }),
    RangeError,
    "subwords must be an integer of at least 0",
  );
  const c = classifierConfig({ ...small, subwords: 20, words: WORDS });
  const p = initClassifier(key(2), c);
  assertEquals(p.subwords?.shape, [21, 8]);
  const b = batch();
  const before = applyClassifier(p, b, { config: c }).logits;
  const zeroed = { ...p, subwords: sub(p.subwords!, p.subwords!) };
  const after = applyClassifier(zeroed, b, { config: c }).logits;
  assertNotEquals(await data(before), await data(after));
  // without the n-grams' table the model is the plain one from the same key
  const plain = classifierConfig(small);
  assertAllClose(
    await data(after),
    await data(
      applyClassifier(initClassifier(key(2), plain), b, {
        config: plain,
      }).logits,
    ),
    { atol: 1e-5 },
  );
});

Deno.test("train: --d-model, --layers and --dropout are checked, for both tasks (the Transformer's)", () => {
  const a = parseTrainArgs([
    "--d-model",
    "256",
    "--layers=3",
    "--dropout",
    "0",
  ]);
  assertEquals([a.dModel, a.layers, a.dropout], [256, 3, 0]);
  const d = parseTrainArgs([]);
  assertEquals([d.dModel, d.layers, d.dropout], [null, null, null]);
  assertThrows(
    () => parseTrainArgs(["--d-model", "130"]),
    RangeError,
    "--d-model: expected a multiple of the 4 heads, got 130",
  );
  assertThrows(
    () => parseTrainArgs(["--layers", "0"]),
    RangeError,
    "--layers: expected an integer of at least 1, got 0",
  );
  for (const bad of ["1", "-0.1", "x", ""]) {
    assertThrows(
      () => parseTrainArgs(["--dropout", bad]),
      RangeError,
      `--dropout: expected a number in [0, 1), got ${bad}`,
    );
  }
  const t = parseTrainArgs(["--task", "translate", "--layers", "3"]);
  assertEquals([t.task, t.layers], ["translate", 3]);
  assertThrows(
    () =>
      parseTrainArgs(["--task", "translate", "--model", "gru", "--d-model=64"]),
    RangeError,
    "--d-model: only for the Transformer",
  );
});

Deno.test("train: --ensemble and --subwords are classify flags with checked values", () => {
  const a = parseTrainArgs(["--ensemble", "2", "--subwords=500", "--bag", "0"]);
  assertEquals([a.ensemble, a.subwords, a.bag], [2, 500, 0]);
  const d = parseTrainArgs([]);
  assertEquals([d.ensemble, d.subwords, d.bag], [null, null, null]);
  assertThrows(
    () => parseTrainArgs(["--bag", "-3"]),
    RangeError,
    "--bag: expected an integer of at least 0, got -3",
  );
  assertThrows(
    () => parseTrainArgs(["--task", "translate", "--bag", "2"]),
    RangeError,
    "--bag: only for --task classify",
  );
  assertThrows(
    () => parseTrainArgs(["--ensemble", "0"]),
    RangeError,
    "--ensemble: expected an integer of at least 1, got 0",
  );
  assertThrows(
    () => parseTrainArgs(["--subwords", "x"]),
    RangeError,
    "--subwords: expected an integer of at least 0, got x",
  );
  assertThrows(
    () => parseTrainArgs(["--task", "translate", "--ensemble", "2"]),
    RangeError,
    "--ensemble: only for --task classify",
  );
});

async function tinyCsv(dir: string): Promise<string> {
  const greet = ["hello there", "hi friend", "good morning", "hey you"];
  const leave = ["bye now", "see you later", "good night", "farewell friend"];
  const rows = Array.from(
    { length: 20 },
    (_, i) =>
      `${(i % 2 ? leave : greet)[(i >> 1) % 4]} w${i % 3},${
        i % 2 ? "leave" : "greet"
      }`,
  );
  const path = `${dir}/tiny.csv`;
  await Deno.writeTextFile(path, ["text,category", ...rows].join("\n") + "\n");
  return path;
}

const MODEL = [
  "--ensemble",
  "2",
  "--subwords",
  "30",
  "--bag",
  "40",
  "--d-model",
  "16",
  "--layers",
  "1",
  "--dropout",
  "0.1",
];

Deno.test("--ensemble, --subwords, --d-model, --layers and --dropout are kept in the checkpoint, by --resume, eval and the loaded model; another value on --resume is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_quality_" });
  try {
    const csv = await tinyCsv(dir);
    const out = `${dir}/run`;
    const args = ["--data", csv, "--backend", "cpu", "--out", out];
    const [code, log] = await quiet(() =>
      train([...args, "--epochs", "1", ...MODEL])
    );
    assertEquals(code, 0, log);
    const m = await loadClassifier(`${out}/checkpoint.safetensors`);
    assertEquals([m.config.members, m.config.subwords, m.config.bag], [
      2,
      30,
      40,
    ]);
    assertEquals(m.params.bag?.pairs.shape, [40, 2]);
    assertEquals(m.params.ensemble?.length, 1);
    assertEquals(m.config.words.length, m.config.vocabSize);
    // resumed without the flags: the run's members and subwords
    const resume = [...args, "--resume", "--epochs", "2"];
    const [dcode, dlog] = await quiet(() => train([...resume, "--dry-run"]));
    assertEquals(dcode, 0, dlog);
    assertStringIncludes(
      dlog,
      "ensemble of 2, subwords 30, bag-of-n-grams member (40 buckets)",
    );
    await assertRejects(
      () => quiet(() => train([...resume, "--ensemble", "3"])),
      Error,
      "differ",
    );
    const [rcode, rlog] = await quiet(() => train(resume));
    assertEquals(rcode, 0, rlog);
    assertStringIncludes(rlog, "epoch 2:");
    const r = await loadClassifier(`${out}/checkpoint.safetensors`);
    const { members, subwords, bag, dModel, layers, dropout } = r.config;
    assertEquals([members, subwords, bag, dModel, layers, dropout], [
      2,
      30,
      40,
      16,
      1,
      0.1,
    ]);
    const [ecode, elog] = await quiet(() => evaluate(["--out", out]));
    assertEquals(ecode, 0, elog);
    assertStringIncludes(elog, "accuracy");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
