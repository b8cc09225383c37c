// Hostile input, part 2: `train --resume` of another run (labels, vocabulary,
// data, model flags), of a folder without a checkpoint yet, runs that fail
// on their data or diverge, all through the real `deno task` command lines.
// A refused or failed run leaves the previous run's checkpoint, run.json and
// metrics.jsonl byte for byte, and nothing outside the run folder changes.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  assertConsistent,
  assertOneLineError,
  copyRun,
  leftovers,
  outsideOf,
  records,
  rewriteCheckpoint,
  type Sandbox,
  sandbox,
  task,
  TINY,
  tinyCsv,
  trainTiny,
} from "./_hostile.ts";
import { decodeSafetensors } from "../../models/train/checkpoint.ts";

/** `train --data <csv> --out <out> --resume` with the tiny flags and `extra`. */
function resume(sb: Sandbox, csv: string, out: string, extra: string[] = []) {
  return task(sb, "train", [
    "--data",
    csv,
    ...TINY,
    "--epochs",
    "2",
    ...extra,
    "--out",
    out,
    "--resume",
  ]);
}

Deno.test("--resume of another run is refused in one line naming what differs, and the run is left as it was", async (t) => {
  await using sb = await sandbox();
  const base = await trainTiny(sb, "base");
  const csv = tinyCsv();
  const renamed = csv.replaceAll(",greet", ",hello").replaceAll(
    ",leave",
    ",goodbye",
  );
  // the same number of distinct words, other words: the vocabulary differs
  const reworded = csv.replaceAll("hello", "howdy").replaceAll("bye", "ciao");
  // [what, the data file's new content (null: as trained), flags, drop run.json, message]
  const cases: [string, string | null, string[], boolean, string][] = [
    [
      "labels renamed in the training file",
      renamed,
      [],
      false,
      "--resume: the training data differs from the checkpoint's",
    ],
    [
      "labels renamed, run.json gone (only the checkpoint's record)",
      renamed,
      [],
      true,
      '--resume: the labels differ from the checkpoint\'s: labels[0] is "greet" in the checkpoint, "goodbye" now',
    ],
    [
      "another vocabulary, run.json gone",
      reworded,
      [],
      true,
      "--resume: the tokenizer (vocabulary) differs from the checkpoint's",
    ],
    [
      "other data",
      tinyCsv(60),
      [],
      false,
      "--resume: the training data differs from the checkpoint's",
    ],
    [
      "another --attention",
      null,
      ["--attention", "cosine"],
      false,
      '--resume: the model configuration differs from the checkpoint\'s: model.attention is "scaled-dot" in the checkpoint, "cosine" now',
    ],
    [
      "a shorter --max-length",
      null,
      ["--max-length", "2"],
      false,
      "--resume: the model configuration differs from the checkpoint's: model.maxLen",
    ],
  ];
  for (
    const [i, [what, content, flags, dropRunJson, message]] of cases.entries()
  ) {
    await t.step(what, async () => {
      const out = await copyRun(sb, base, `case${i}`);
      const data = `case${i}.csv`;
      await Deno.copyFile(`${sb.dir}/base.csv`, `${sb.dir}/${data}`);
      if (dropRunJson) await Deno.remove(`${sb.dir}/${out}/run.json`);
      if (content !== null) {
        await Deno.writeTextFile(`${sb.dir}/${data}`, content);
      }
      // run.json names base.csv: resume from it, edited in place
      const from = dropRunJson ? data : "base.csv";
      const saved = content !== null && !dropRunJson
        ? await Deno.readTextFile(`${sb.dir}/base.csv`)
        : null;
      if (saved !== null) {
        await Deno.writeTextFile(`${sb.dir}/base.csv`, content!);
      }
      try {
        const before = await records(sb, out);
        const guard = await outsideOf(sb, out);
        const r = await resume(sb, from, out, flags);
        assertOneLineError(r, "train", message);
        assertEquals(await records(sb, out), before);
        assertEquals(await leftovers(`${sb.dir}/${out}`), []);
        await guard.check();
      } finally {
        if (saved !== null) {
          await Deno.writeTextFile(`${sb.dir}/base.csv`, saved);
        }
      }
    });
  }
  await t.step(
    "the same run resumes (the refusals above are not vacuous)",
    async () => {
      const out = await copyRun(sb, base, "same");
      const r = await resume(sb, "base.csv", out);
      assertEquals(r.code, 0, r.stderr);
      await assertConsistent(sb, out);
    },
  );
});

Deno.test("--resume of a folder without a checkpoint yet starts a new run and says so", async (t) => {
  await using sb = await sandbox();
  await Deno.writeTextFile(`${sb.dir}/d.csv`, tinyCsv());
  await t.step("a folder that does not exist", async () => {
    const guard = await outsideOf(sb, "runs/new");
    const r = await resume(sb, "d.csv", "runs/new");
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(
      r.stderr,
      "holds no checkpoint yet; starting a new run",
    );
    await assertConsistent(sb, "runs/new");
    await guard.check();
  });
  await t.step(
    "a run killed before its first save (run.json, a torn log, a temporary)",
    async () => {
      const out = "runs/killed";
      await Deno.mkdir(`${sb.dir}/${out}`);
      await Deno.writeTextFile(
        `${sb.dir}/${out}/run.json`,
        JSON.stringify({ task: "classify", data: "d.csv", seed: 0 }),
      );
      await Deno.writeTextFile(
        `${sb.dir}/${out}/metrics.jsonl`,
        '{"epoch":1,"lo',
      );
      await Deno.writeFile(
        `${sb.dir}/${out}/.checkpoint.safetensors.${crypto.randomUUID()}.tmp`,
        new Uint8Array(4096),
      );
      const r = await resume(sb, "d.csv", out);
      assertEquals(r.code, 0, r.stderr);
      assertStringIncludes(
        r.stderr,
        "holds no checkpoint yet; starting a new run",
      );
      assertStringIncludes(r.stderr, "removed 1 temporary file (4096 bytes)");
      await assertConsistent(sb, out);
    },
  );
});

Deno.test("a run that fails on its data leaves the previous run in --out as it was", async (t) => {
  await using sb = await sandbox();
  const base = await trainTiny(sb, "base");
  const before = await records(sb, base);
  const bad: [string, string, string][] = [
    [
      "ragged.csv",
      'text,category\n"hi",greet\n"bye",leave,extra\n',
      "train: ragged.csv:3: ",
    ],
    ["short.csv", tinyCsv(5), "train: short.csv: too little data"],
    [
      "nolabel.csv",
      tinyCsv(12).replace(",leave\n", ",\n"),
      "train: nolabel.csv:3: ",
    ],
    ["missing.csv", "", "missing.csv"],
  ];
  for (const [name, content, message] of bad) {
    await t.step(name, async () => {
      if (content !== "") {
        await Deno.writeTextFile(`${sb.dir}/${name}`, content);
      }
      const guard = await outsideOf(sb, base);
      for (const more of [[], ["--resume"]]) {
        const r = await task(sb, "train", [
          "--data",
          name,
          ...TINY,
          "--out",
          base,
          ...more,
        ]);
        assertOneLineError(r, "train", message);
        assertEquals(await records(sb, base), before);
        assertEquals(await leftovers(`${sb.dir}/${base}`), []);
      }
      await guard.check();
    });
  }
});

Deno.test("a diverging run stops in one line and never saves or promotes non-finite parameters", async (t) => {
  await using sb = await sandbox();
  const base = await trainTiny(sb, "base");
  await t.step("a new run with --lr 1e6 saves nothing", async () => {
    const guard = await outsideOf(sb, "runs/nan");
    const r = await task(sb, "train", [
      "--data",
      "base.csv",
      ...TINY,
      "--lr",
      "1e6",
      "--out",
      "runs/nan",
    ]);
    assertOneLineError(
      r,
      "train",
      "diverged in epoch 1",
      "lower the learning rate",
    );
    assertEquals(
      (await records(sb, "runs/nan"))["checkpoint.safetensors"],
      "absent",
    );
    assertEquals(await leftovers(`${sb.dir}/runs/nan`), []);
    await guard.check();
  });
  await t.step("--resume with --lr 1e6 keeps the good checkpoint", async () => {
    const out = await copyRun(sb, base, "resumed");
    const ck = (await records(sb, out))["checkpoint.safetensors"];
    const r = await resume(sb, "base.csv", out, [
      "--epochs",
      "3",
      "--lr",
      "1e6",
    ]);
    assertOneLineError(r, "train", "diverged in epoch 2");
    assertEquals((await records(sb, out))["checkpoint.safetensors"], ck);
    const p = await task(sb, "predict", ["--out", out, "hello there"]);
    assertEquals(p.code, 0, p.stderr);
    assert(/\d+\.\d%\s+(greet|leave)/.test(p.stdout), p.stdout);
  });
  await t.step(
    "a resumed run that does no better keeps the best parameters byte for byte",
    async () => {
      const out = await copyRun(sb, base, "worse");
      const path = `${sb.dir}/${out}/checkpoint.safetensors`;
      const before = bestOf(await Deno.readFile(path));
      const p0 = await task(sb, "predict", ["--out", out, "see you later"]);
      const r = await resume(sb, "base.csv", out, [
        "--epochs",
        "3",
        "--lr",
        "3",
      ]);
      assertEquals(r.code, 0, r.stderr);
      const after = bestOf(await Deno.readFile(path));
      assertEquals(after.epoch, 3, "the resumed epochs ran");
      // a learning rate this high makes epochs 2 and 3 no better
      assertEquals(after.scores.slice(1).filter((v) => v > before.score), []);
      assertEquals([after.bestEpoch, after.best], [1, before.best]);
      const p1 = await task(sb, "predict", ["--out", out, "see you later"]);
      assertEquals(p1.stdout, p0.stdout);
    },
  );
  await t.step(
    "a checkpoint holding a NaN is refused, not trained on or used",
    async () => {
      const out = await copyRun(sb, base, "planted");
      await rewriteCheckpoint(
        `${sb.dir}/${out}/checkpoint.safetensors`,
        (ts) => {
          for (const k of ["params.head.b", "optState.best.head.b"]) {
            (ts[k]!.data as Float32Array)[0] = NaN;
          }
        },
      );
      const before = await records(sb, out);
      assertOneLineError(
        await resume(sb, "base.csv", out),
        "train",
        'parameter "head.b" is not finite',
      );
      assertOneLineError(
        await task(sb, "predict", ["--out", out, "hello there"]),
        "predict",
        "head.b",
        "not finite",
      );
      assertOneLineError(
        await task(sb, "eval", ["--out", out]),
        "eval",
        "not finite",
      );
      assertEquals(await records(sb, out), before);
    },
  );
});

/** A checkpoint's best parameters (their bytes, hashed) and where the run stands. */
function bestOf(bytes: Uint8Array) {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const fit = JSON.parse(metadata.fit!);
  const best = Object.keys(tensors).filter((k) =>
    k.startsWith("optState.best.")
  )
    .sort().map((k) => {
      const d = tensors[k]!.data;
      return `${k}:${
        contentHash(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
      }`;
    });
  return {
    best,
    score: fit.bestScore as number,
    scores: fit.history.map((h: { validAccuracy: number }) =>
      h.validAccuracy
    ) as number[],
    bestEpoch: fit.bestEpoch,
    epoch: fit.epoch,
  };
}

/** FNV-1a of bytes: enough to tell two tensors apart in a test. */
function contentHash(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const x of b) h = Math.imul(h ^ x, 0x01000193);
  return (h >>> 0).toString(16);
}
