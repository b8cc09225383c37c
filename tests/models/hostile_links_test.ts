// Hostile input, part 4: symbolic links planted in a run folder, a run
// folder that is itself a link, and a run.json edited to point elsewhere,
// through the real `deno task train|predict|eval` command lines. Nothing is
// written through a link, nothing outside the run folder changes, and no
// error quotes a file that run.json points to.

import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  assertOneLineError,
  copyRun,
  outsideOf,
  records,
  sandbox,
  SECRET,
  snapshot,
  task,
  TINY,
  trainTiny,
} from "./_hostile.ts";

const NAMES = [
  "attention.svg",
  "metrics.jsonl",
  "run.json",
  "checkpoint.safetensors",
] as const;

Deno.test("a link planted in a run folder is never written through; what needs the file refuses in one line", async (t) => {
  await using sb = await sandbox();
  const base = await trainTiny(sb, "base");
  const target = `${sb.dir}/outside/precious.txt`;
  for (const [i, name] of NAMES.entries()) {
    await t.step(`${name} -> a file outside runs/`, async () => {
      const out = await copyRun(sb, base, `link${i}`);
      await Deno.remove(`${sb.dir}/${out}/${name}`).catch(() => {});
      await Deno.symlink(target, `${sb.dir}/${out}/${name}`);
      const guard = await outsideOf(sb, out);
      const train = (more: string[]) =>
        task(sb, "train", [
          "--data",
          "base.csv",
          ...TINY,
          "--epochs",
          "2",
          "--out",
          out,
          ...more,
        ]);
      const runs = {
        predict: await task(sb, "predict", ["--out", out, "hello there"]),
        eval: await task(sb, "eval", ["--out", out]),
        train: await train([]),
        resume: await train(["--resume"]),
      };
      // what writes or reads the linked file refuses; the rest may succeed
      const refuses: Record<typeof NAMES[number], (keyof typeof runs)[]> = {
        "attention.svg": ["predict"],
        "metrics.jsonl": ["train", "resume"],
        "run.json": ["predict", "eval", "train", "resume"],
        "checkpoint.safetensors": ["predict", "eval", "train", "resume"],
      };
      for (const [what, r] of Object.entries(runs)) {
        const cmd = what === "resume" ? "train" : what as "train";
        if (refuses[name].includes(what as keyof typeof runs)) {
          assertOneLineError(r, cmd, `${out}/`);
        } else assertEquals(r.code, 0, `${what}: ${r.stderr}`);
      }
      // the link is still there, still a link, and its target unchanged
      assert((await Deno.lstat(`${sb.dir}/${out}/${name}`)).isSymlink);
      assertEquals(await Deno.readTextFile(target), "keep me\n");
      await guard.check();
    });
  }
  await t.step(
    "a run folder that is a link to a folder outside runs/",
    async () => {
      await Deno.symlink(`${sb.dir}/outside`, `${sb.dir}/runs/away`);
      const before = await snapshot(`${sb.dir}/outside`);
      const r = await task(sb, "train", [
        "--data",
        "base.csv",
        ...TINY,
        "--out",
        "runs/away",
      ]);
      assertOneLineError(r, "train", "runs/away leads outside runs", "link");
      const up = await task(sb, "train", [
        "--data",
        "base.csv",
        ...TINY,
        "--out",
        "runs/../outside/x",
      ]);
      assertOneLineError(up, "train", "leads outside runs", "through ..");
      const p = await task(sb, "predict", ["--out", "runs/away", "hello"]);
      assert(p.code !== 0);
      assertEquals(await snapshot(`${sb.dir}/outside`), before);
    },
  );
});

Deno.test("eval treats run.json as untrusted: a path it names is followed only if it holds what train read, and nothing is echoed", async (t) => {
  await using sb = await sandbox();
  const base = await trainTiny(sb, "base");
  const recorded = JSON.parse(
    await Deno.readTextFile(`${sb.dir}/${base}/run.json`),
  );
  const secret = `${sb.dir}/outside/secret.csv`;
  const cases: [string, string, string][] = [
    [
      "data pointing outside, hash kept",
      JSON.stringify({ ...recorded, data: secret }),
      "changed since the run was trained (or run.json was edited)",
    ],
    [
      "data pointing outside, hash removed",
      JSON.stringify({
        ...recorded,
        data: "../outside/secret.csv",
        dataHash: undefined,
      }),
      "without its content hash",
    ],
    [
      "a test file outside, no hash",
      JSON.stringify({ ...recorded, test: secret }),
      "without its content hash",
    ],
    [
      "data pointing at a device",
      JSON.stringify({ ...recorded, data: "/dev/zero" }),
      "not a file or folder",
    ],
    [
      "no data: the model's classes are not banking77's",
      JSON.stringify({ task: "classify" }),
      "not banking77's 77",
    ],
    [
      "the columns renamed to the secret",
      JSON.stringify({ ...recorded, textColumn: `${SECRET}\n` }),
      'field "textColumn" must be a column name',
    ],
    [
      "a field heed does not know, holding the secret",
      JSON.stringify({ ...recorded, [SECRET]: SECRET }),
      "has a field heed does not know",
    ],
    ["not JSON", `${SECRET}\n`, "run.json is not valid JSON"],
    [
      "over 64 KiB",
      JSON.stringify({ ...recorded, data: "x".repeat(70_000) }),
      "more than the 65536 heed reads",
    ],
    [
      "another task than the checkpoint's",
      JSON.stringify({ task: "translate", data: `${sb.dir}/outside` }),
      "holds a classifier, but",
    ],
  ];
  for (const [i, [what, text, message]] of cases.entries()) {
    await t.step(what, async () => {
      const out = await copyRun(sb, base, `json${i}`);
      await Deno.writeTextFile(`${sb.dir}/${out}/run.json`, text);
      const guard = await outsideOf(sb, out);
      const before = await records(sb, out);
      assertOneLineError(
        await task(sb, "eval", ["--out", out]),
        "eval",
        message,
      );
      assertEquals(await records(sb, out), before);
      await guard.check();
    });
  }
  await t.step(
    "eval scores the recorded run (the refusals above are not vacuous)",
    async () => {
      const r = await task(sb, "eval", ["--out", base]);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout, /test accuracy [\d.]+%/);
    },
  );
});
