// Hostile input, part 5: bad data files, inputs longer than a model reads,
// and eval's held-out rows, through the real `deno task train|predict|eval`
// command lines. A bad file is one line, `train: <file>:<line>: <what>`
// (a stack trace only with --debug), and --out is not even created.

import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
} from "@std/assert";
import {
  assertOneLineError,
  fitProgress,
  outsideOf,
  sandbox,
  task,
  TINY,
  tinyCsv,
  trainTiny,
} from "./_hostile.ts";
import { decodeSafetensors } from "../../models/train/checkpoint.ts";

const JUNK = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7919 + 13) % 256);

Deno.test("a bad data file is one clear line naming the file (and line), and --out is left alone", async (t) => {
  await using sb = await sandbox();
  const files: [string, string | Uint8Array, string][] = [
    [
      "nocol.csv",
      "text,label\nhi,greet\nbye,leave\n",
      'nocol.csv:1: missing column "category"',
    ],
    ["empty.csv", "", "empty.csv: the file is empty"],
    [
      "header.csv",
      "text,category\n",
      "header.csv: the file has no labelled rows",
    ],
    [
      "ragged.csv",
      "text,category\nhi,greet\nbye,leave,extra\n",
      "ragged.csv:3: expected 2 fields",
    ],
    ["junk.csv", JUNK, "junk.csv:"],
    [
      "two.csv",
      "text,category\nhi,greet\nbye,leave\n",
      "two.csv: too little data: 2 rows",
    ],
    [
      "five.csv",
      tinyCsv(5),
      "five.csv: too little data: after the test rows are held out",
    ],
    [
      "nolabel.csv",
      tinyCsv(12).replace(",leave\n", ",\n"),
      'nolabel.csv:3: column "category": the label is empty',
    ],
    [
      "notext.csv",
      'text,category\n"",greet\nbye,leave\n',
      'notext.csv:2: column "text": the text is empty',
    ],
    [
      "quote.csv",
      'text,category\n"hi,greet\nbye,leave\n',
      "quote.csv:2:1: unterminated quoted field",
    ],
    [
      "bad.jsonl",
      '{"text":"hi","category":"greet"}\n{"text":\n',
      "bad.jsonl:2:",
    ],
    ["absent.csv", "", "absent.csv"],
    ["folder.csv", "", "folder.csv"],
  ];
  await Deno.mkdir(`${sb.dir}/folder.csv`);
  for (const [i, [name, content, message]] of files.entries()) {
    await t.step(name, async () => {
      if (typeof content !== "string") {
        await Deno.writeFile(`${sb.dir}/${name}`, content);
      } else if (name !== "absent.csv" && name !== "folder.csv") {
        await Deno.writeTextFile(`${sb.dir}/${name}`, content);
      }
      const out = `runs/bad${i}`;
      const guard = await outsideOf(sb, out);
      const r = await task(sb, "train", [
        "--data",
        name,
        ...TINY,
        "--out",
        out,
      ]);
      const line = assertOneLineError(r, "train", `train: ${message}`);
      assert(!line.includes("splitTable"), line);
      assertEquals(
        await Deno.lstat(`${sb.dir}/${out}`).catch(() => null),
        null,
      );
      await guard.check();
    });
  }
  await t.step("--debug adds the stack trace after the same line", async () => {
    const r = await task(sb, "train", [
      "--data",
      "ragged.csv",
      ...TINY,
      "--debug",
    ]);
    assert(r.code !== 0);
    const [first, ...rest] = r.stderr.trimEnd().split("\n");
    assertMatch(first!, /^train: ragged\.csv:3: expected 2 fields/);
    assert(rest.some((l) => /^\s+at /.test(l)), r.stderr);
  });
});

/** The `config` a checkpoint's metadata records. */
async function configOf(path: string): Promise<{ maxLen: number }> {
  const { metadata } = decodeSafetensors(await Deno.readFile(path));
  return JSON.parse(metadata.config!);
}

Deno.test("long inputs: a 3,000-word training row is cut to --max-length; predict cuts a long sentence and says so", async (t) => {
  await using sb = await sandbox();
  const long = Array.from({ length: 3000 }, (_, i) => `w${i % 50}`).join(" ");
  const csv = tinyCsv() + `"${long}",greet\n`;
  await t.step("the default --max-length (128)", async () => {
    const out = await trainTiny(sb, "long", [], csv);
    const ck = `${sb.dir}/${out}/checkpoint.safetensors`;
    assertEquals((await configOf(ck)).maxLen, 128);
    assertEquals(fitProgress(await Deno.readFile(ck)).epoch, 1);
  });
  await t.step("--max-length 16, and predict of 6,000 words", async () => {
    const out = await trainTiny(sb, "cut", ["--max-length", "16"], csv);
    assertEquals(
      (await configOf(`${sb.dir}/${out}/checkpoint.safetensors`)).maxLen,
      16,
    );
    const r = await task(sb, "predict", ["--out", out, `${long} ${long}`]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(
      r.stderr.trim(),
      "predict: the sentence is 5984 tokens longer than the model reads (16); the end was cut",
    );
    assertMatch(r.stdout, /%\s+(greet|leave)/);
  });
  await t.step(
    "inputs without a known token classify; an empty one is one line",
    async () => {
      for (const text of ["🙂🙂", "!!!", "zzz qqq"]) {
        const r = await task(sb, "predict", ["--out", "runs/cut", text]);
        assertEquals([r.code, r.stderr], [0, ""], text);
        assertMatch(r.stdout, /%\s+(greet|leave)/);
      }
      assertOneLineError(
        await task(sb, "predict", ["--out", "runs/cut", "  "]),
        "predict",
        "give a sentence",
      );
    },
  );
});

Deno.test("long inputs: a translator reads a source longer than its positions table, cut with a notice", async () => {
  await using sb = await sandbox();
  const de = ["ein hund läuft", "eine katze schläft", "der mann isst"];
  const en = ["a dog runs", "a cat sleeps", "the man eats"];
  const longDe = Array(1000).fill(de[0]).join(" ");
  const longEn = Array(1000).fill(en[0]).join(" ");
  // mt: a pair of 3,000 words in train; mt_long: in test too (train's own
  // test decoding uses beam 4, so eval scores that one with --beam 1)
  for (const folder of ["mt", "mt_long"]) {
    await Deno.mkdir(`${sb.dir}/${folder}`);
    for (
      const [stem, n] of [["train", 30], ["val", 6], [
        "test_2016_flickr",
        6,
      ]] as const
    ) {
      const idx = Array.from({ length: n }, (_, i) => i % 3);
      const [d, e] = [idx.map((i) => de[i]), idx.map((i) => en[i])];
      if (stem === "train" || (stem !== "val" && folder === "mt_long")) {
        [d[0], e[0]] = [longDe, longEn];
      }
      await Deno.writeTextFile(
        `${sb.dir}/${folder}/${stem}.de`,
        d.join("\n") + "\n",
      );
      await Deno.writeTextFile(
        `${sb.dir}/${folder}/${stem}.en`,
        e.join("\n") + "\n",
      );
    }
  }
  const out = "runs/mt";
  const guard = await outsideOf(sb, out);
  const tr = await task(sb, "train", [
    "--task",
    "translate",
    "--data",
    "mt",
    "--epochs",
    "1",
    "--backend",
    "cpu",
    "--out",
    out,
  ]);
  assertEquals(tr.code, 0, tr.stderr);
  const ev = await task(sb, "eval", [
    "--out",
    out,
    "--data",
    "mt_long",
    "--beam",
    "1",
  ]);
  assertEquals(ev.code, 0, ev.stderr);
  assertMatch(ev.stdout, /test BLEU [\d.]+/);
  const source = Array(6000).fill(de[0]).join(" ");
  const p = await task(sb, "predict", ["--out", out, "--beam", "1", source]);
  assertEquals(p.code, 0, p.stderr);
  assertMatch(
    p.stderr.trim(),
    /^predict: the sentence is \d+ tokens longer than the model reads; the end was cut$/,
  );
  await guard.check();
});

Deno.test("eval scores exactly the rows train held out with --seed 1", async () => {
  await using sb = await sandbox();
  await Deno.writeTextFile(`${sb.dir}/d.csv`, tinyCsv(60));
  const out = "runs/seeded";
  const tr = await task(sb, "train", [
    "--data",
    "d.csv",
    ...TINY,
    "--seed",
    "1",
    "--out",
    out,
  ]);
  assertEquals(tr.code, 0, tr.stderr);
  const m = /test accuracy ([\d.]+)%, macro-F1 ([\d.]+)% \((\d+) test rows/
    .exec(tr.stdout);
  if (m === null) throw new Error(`no test accuracy in: ${tr.stdout}`);
  const ev = await task(sb, "eval", ["--out", out]);
  assertEquals(ev.code, 0, ev.stderr);
  assertEquals(
    ev.stdout.trim(),
    `test accuracy ${m[1]}%, macro-F1 ${m[2]}% (${m[3]} rows)`,
  );
  // the rows of seed 0 score otherwise, so the check above can fail
  const path = `${sb.dir}/${out}/run.json`;
  const run = JSON.parse(await Deno.readTextFile(path));
  await Deno.writeTextFile(path, JSON.stringify({ ...run, seed: 0 }));
  const other = await task(sb, "eval", ["--out", out]);
  assertEquals(other.code, 0, other.stderr);
  assertNotEquals(other.stdout.trim(), ev.stdout.trim());
});
