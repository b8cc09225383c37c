// `train` on a user's own files: a TSV with literal quotes to train on, a
// JSONL test file and a CSV validation file, with their own column names;
// then `eval` scores exactly the recorded test file and `predict` reads
// the model back.

import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { main as train } from "../../models/cli/train.ts";
import { main as evaluate } from "../../models/cli/eval.ts";
import { main as predict } from "../../models/cli/predict.ts";
import { quiet } from "./_cli.ts";

const GREET = ["hello there", "hi", 'say "hi" to me', "good morning", "hey"];
const LEAVE = ["bye", "see you", 'say "bye" then', "good night", "farewell"];

Deno.test("train reads a user's TSV, JSONL and CSV files by their column names; eval scores the recorded test file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_own_" });
  try {
    const rows = [
      ...GREET.map((t) => [t, "greet"]),
      ...LEAVE.map((t) => [t, "leave"]),
    ];
    await Deno.writeTextFile(
      `${dir}/train.tsv`,
      "sentence\tintent\n" +
        [...rows, ...rows].map(([t, l]) => `${t}\t${l}`).join("\n") + "\n",
    );
    await Deno.writeTextFile(
      `${dir}/test.jsonl`,
      rows.slice(0, 3).map(([t, l]) =>
        JSON.stringify({ sentence: t, intent: l, id: 1 })
      ).join("\n") + "\n",
    );
    await Deno.writeTextFile(
      `${dir}/valid.csv`,
      "intent,sentence\n" + rows.map(([t, l]) =>
        `${l},"${t!.replaceAll('"', '""')}"`
      ).join("\n") +
        "\n",
    );
    const out = `${dir}/run`;
    const [code, log] = await quiet(() =>
      train([
        "--data",
        `${dir}/train.tsv`,
        "--test",
        `${dir}/test.jsonl`,
        "--valid",
        `${dir}/valid.csv`,
        "--text-column",
        "sentence",
        "--label-column",
        "intent",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--backend",
        "cpu",
        "--out",
        out,
      ])
    );
    assertEquals(code, 0, log);
    assertStringIncludes(log, "(20 train, 3 test rows)");
    assertStringIncludes(log, "(3 test rows");
    const run = JSON.parse(await Deno.readTextFile(`${out}/run.json`));
    assertEquals(
      [run.test, run.textColumn, run.labelColumn],
      [`${dir}/test.jsonl`, "sentence", "intent"],
    );
    const trained = log.match(/test accuracy ([\d.]+)%/)![1];
    const [evalCode, evalLog] = await quiet(() => evaluate(["--out", out]));
    assertEquals(evalCode, 0, evalLog);
    assertStringIncludes(evalLog, `test accuracy ${trained}%`);
    assertStringIncludes(evalLog, "(3 rows)");
    const [pCode, pLog] = await quiet(() =>
      predict(["--out", out, "good", "morning"])
    );
    assertEquals(pCode, 0, pLog);
    assert(/greet|leave/.test(pLog), pLog);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs a deno.json task's command line (its permissions) with `args`. */
async function task(
  name: "train" | "predict" | "eval",
  args: string[],
): Promise<{ code: number; stderr: string }> {
  const root = new URL("../../", import.meta.url).pathname;
  const config = JSON.parse(await Deno.readTextFile(`${root}deno.json`));
  const [deno, ...words] = (config.tasks[name] as string).split(" ");
  assertEquals(deno, "deno");
  assert(words.includes("--no-prompt"), `${name} task lacks --no-prompt`);
  const env = words.find((w) => w.startsWith("--allow-env"));
  assert(env?.startsWith("--allow-env="), `${name} task allows every variable`);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...words, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("the tasks name their permissions and refuse in one line", async () => {
  const outside = await Deno.makeTempDir({ prefix: "heed_outside_" });
  try {
    const t = await task("train", ["--epochs", "1", "--out", outside]);
    assertEquals(t.code, 1, t.stderr);
    assertEquals(
      t.stderr.trim(),
      `train: no permission to write ${outside}: the task may write only inside runs/ (--allow-write=runs); choose an --out inside runs/`,
    );
    const e = await task("eval", ["--out", `runs/heed-no-such-run`]);
    assertEquals(e.code, 1, e.stderr);
    assertEquals(e.stderr.trim().split("\n").length, 1, e.stderr);
    assertStringIncludes(
      e.stderr,
      "eval: no trained model in runs/heed-no-such-run",
    );
    const p = await task("predict", ["--lr", "1"]);
    assertEquals(p.code, 2, p.stderr);
    assertEquals(p.stderr.trim(), "predict: unknown option --lr (see --help)");
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

/** A tiny labelled CSV in `dir`; `bad` leaves one label empty. */
async function tinyCsv(dir: string, bad = false): Promise<string> {
  const path = `${dir}/${bad ? "bad" : "good"}.csv`;
  const rows = [
    ...GREET.map((t) => [t, "greet"]),
    ...LEAVE.map((t) => [t, "leave"]),
  ];
  await Deno.writeTextFile(
    path,
    "text,category\n" +
      rows.map(([t, l], i) =>
        `"${t!.replaceAll('"', '""')}",${bad && i === 3 ? "" : l}`
      ).join("\n") + "\n",
  );
  return path;
}

const TINY = ["--epochs", "1", "--batch-size", "4", "--backend", "cpu"];

Deno.test("a run that fails on its data leaves the previous run's records as they were", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_own_" });
  try {
    const out = `${dir}/run`;
    const good = await tinyCsv(dir);
    assertEquals(
      (await quiet(() => train(["--data", good, ...TINY, "--out", out])))[0],
      0,
    );
    const before = await Promise.all(
      ["run.json", "metrics.jsonl"].map((f) =>
        Deno.readTextFile(`${out}/${f}`)
      ),
    );
    const bad = await tinyCsv(dir, true);
    const failed = quiet(() => train(["--data", bad, ...TINY, "--out", out]));
    await assertRejects(() => failed, Error, "bad.csv:5");
    const after = await Promise.all(
      ["run.json", "metrics.jsonl"].map((f) =>
        Deno.readTextFile(`${out}/${f}`)
      ),
    );
    assertEquals(after, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--resume on a folder without a checkpoint starts a new run and says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_own_" });
  try {
    const out = `${dir}/run`;
    const csv = await tinyCsv(dir);
    const [code, log] = await quiet(() =>
      train(["--data", csv, ...TINY, "--out", out, "--resume"])
    );
    assertEquals(code, 0, log);
    assertStringIncludes(log, "holds no checkpoint yet; starting a new run");
    const lines = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim()
      .split("\n").map((l) => JSON.parse(l));
    assertEquals(lines.map((l) => l.epoch ?? "final"), [1, "final"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("predict does not write through a link planted in the run folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_own_" });
  try {
    const out = `${dir}/run`;
    const csv = await tinyCsv(dir);
    assertEquals(
      (await quiet(() => train(["--data", csv, ...TINY, "--out", out])))[0],
      0,
    );
    const target = `${dir}/precious.txt`;
    await Deno.writeTextFile(target, "keep me");
    await Deno.symlink(target, `${out}/attention.svg`);
    await assertRejects(() => quiet(() => predict(["--out", out, "hello"])));
    assertEquals(await Deno.readTextFile(target), "keep me");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a 3,000-word row is cut to --max-length, and predict cuts a long sentence and says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_own_" });
  try {
    const csv = await tinyCsv(dir);
    const long = Array.from({ length: 3000 }, (_, i) => `w${i % 50}`).join(" ");
    await Deno.writeTextFile(csv, `"${long}",greet\n`, { append: true });
    const out = `${dir}/run`;
    const [code, log] = await quiet(() =>
      train(["--data", csv, ...TINY, "--max-length", "16", "--out", out])
    );
    assertEquals(code, 0, log);
    const { loadClassifier } = await import("../../models/inference.ts");
    const m = await loadClassifier(`${out}/checkpoint.safetensors`);
    assertEquals(m.config.maxLen, 16);
    const [pCode, pLog] = await quiet(() =>
      predict(["--out", out, ...GREET, ...LEAVE, ...GREET])
    );
    assertEquals(pCode, 0, pLog);
    assertStringIncludes(pLog, "tokens longer than the model reads (16)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval scores the rows train held out with its --seed, and refuses data that changed since", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_own_" });
  try {
    const csv = await tinyCsv(dir);
    const q = (t: string) => `"${t.replaceAll('"', '""')}"`;
    const extra = GREET.flatMap((g, i) => [
      `${q(`${g} ${i}`)},greet`,
      `${q(`${LEAVE[i]} ${i}`)},leave`,
    ]);
    await Deno.writeTextFile(csv, extra.join("\n") + "\n", { append: true });
    const out = `${dir}/run`;
    const [code, log] = await quiet(() =>
      train(["--data", csv, ...TINY, "--seed", "1", "--out", out])
    );
    assertEquals(code, 0, log);
    const trained = log.match(/test accuracy ([\d.]+)%.*\((\d+) test rows/)!;
    const [evalCode, evalLog] = await quiet(() => evaluate(["--out", out]));
    assertEquals(evalCode, 0, evalLog);
    assertStringIncludes(
      evalLog,
      `test accuracy ${trained[1]}%, macro-F1`,
    );
    assertStringIncludes(evalLog, `(${trained[2]} rows)`);
    await Deno.writeTextFile(csv, "hi again,greet\n", { append: true });
    await assertRejects(
      () => quiet(() => evaluate(["--out", out])),
      Error,
      "changed since the run was trained",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second train on a folder that a run holds is refused, naming the holder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_own_" });
  try {
    const csv = await tinyCsv(dir);
    const out = `${dir}/run`;
    await Deno.mkdir(out);
    const { lockRunDir } = await import("../../models/train/run_dir.ts");
    await using _held = await lockRunDir(out, { command: "train (the first)" });
    await assertRejects(
      () => quiet(() => train(["--data", csv, ...TINY, "--out", out])),
      Error,
      "train (the first)",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
