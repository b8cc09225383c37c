// Every command in README.md and docs/*.md runs.
//
// The commands are extracted from fenced shell blocks (a `# comment` cut,
// `\` continuations joined) and from inline code spans in prose that start
// with a program (`deno …`, `npx …`, `.ci/run`). `[--flag value]` is
// optional notation: both variants are commands. Each command then gets one
// of the treatments below, matched in order; a command that none matches
// fails the test, so a new command in the docs is never skipped silently.
//
// - Run verbatim: `deno task info`, `deno task X --help`, `deno task bench`,
//   `deno task docs` (into docs/api/, which git ignores).
// - Run verbatim plus flags the program already has, named in the step:
//   - `deno task train …`: `--epochs 1` (the last value of a repeated flag
//     wins, checked below) and `--out runs/<this test's folder>/<n>` (so the
//     reader's runs/ is untouched). Without `--data` the command trains on
//     the bundled data for minutes, so it runs (a) with `--dry-run` (loads
//     and checks all the bundled data, builds the model, writes nothing) and
//     (b) in full with `--data` a small slice of the same data in the same
//     format (banking77 rows; Tatoeba pairs written as a Multi30k folder,
//     the format `--data` takes for translation);
//   - `deno task predict|eval|explain …`: `--out` the folder that the docs'
//     own train command of the same `--out` wrote to in this test;
//   - `deno task bench:peers …`: `--quick --workloads matmul-256 --no-write`
//     (a full run takes about 12 minutes), and without `--columns`,
//     `--columns heed:wasm,tfjs:wasm,jax-js:wasm-jit` (one per library);
//   - `bench/attention_fused/run.ts`: `--quick --rounds=1 --no-write`;
//   - `bench/attention.ts`: `--quick --specs=cosine`; `bench/wasm_matmul.ts`:
//     `--quick`; `bench/train_jit.ts`: its training half on the Multi30k
//     fixture (`--part=train --steps=2 --pairs=40 --rounds=1 --data=…`); `bench/charts/main.ts`: `--check` (compares, writes nothing);
//   - `deno bundle … --outdir dist`: the out folder is a temporary one;
//   - `deno task web …`: `--port=0` (a free port); the test fetches the page,
//     checks its COOP/COEP headers, and stops the server.
// - Placeholders (data that is never bundled): `…/multi30k` and
//   `path/to/multi30k` become a Multi30k-format folder of Tatoeba pairs;
//   `train.csv`, `test.csv`, `valid.csv` become banking77 slices with the
//   columns the command names.
// - Not run, asserted instead: `deno task test`, `check` and `test:browser`
//   and `.ci/run` are what CI runs (this test is part of `deno task test`:
//   running them here would recurse), so the test asserts `.ci/run` runs
//   each; `npx -y deno@V task …` is `deno task …` under Deno V, asserted to
//   be the version `.ci/run` tests; `deno add jsr:@heed/heed` needs the
//   network and JSR, so the test asserts the name is deno.json's and that
//   `check` runs the publish dry run.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { parseTrainArgs } from "../models/cli/args.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const td = new TextDecoder();

// ------------------------------------------------------------- extraction

/** A command found in the docs. */
interface DocCommand {
  /** `README.md` or `docs/x.md`. */
  readonly file: string;
  /** 1-based line of the command's start. */
  readonly line: number;
  /** The command, whitespace normalised. */
  readonly text: string;
}

const SHELL_FENCES = new Set(["sh", "bash", "shell", "zsh"]);

/** Spans in prose naming a program that are mentions, not commands, and why. */
const MENTIONS: Readonly<Record<string, string>> = {
  "npx": "names the program that fetches Deno (the commands are in the block)",
  "deno check": "names the type checker as what rejects a missing rule",
};

/** Cuts a `#` comment that starts outside quotes after whitespace. */
function cutComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) {
      return line.slice(0, i);
    }
  }
  return line;
}

/** `a [--x y] b` → [`a b`, `a --x y b`]: optional flags, both ways. */
function expandOptional(text: string): string[] {
  const m = /\s*\[(--[^\]]*)\]/.exec(text);
  if (!m) return [text];
  const rest = text.slice(m.index + m[0].length);
  const head = text.slice(0, m.index);
  return [
    ...expandOptional(`${head}${rest}`),
    ...expandOptional(`${head} ${m[1]}${rest}`),
  ].map((t) => t.replace(/\s+/g, " ").trim());
}

/** The commands of one markdown file, in order. */
function extractCommands(file: string, markdown: string): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = markdown.split("\n");
  const prose: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)/.exec(lines[i]!);
    if (!fence) {
      prose.push(lines[i]!);
      continue;
    }
    prose.push("");
    const shell = SHELL_FENCES.has(fence[1]!);
    let pending = "", start = 0;
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) {
      prose.push("");
      if (!shell) continue;
      const body = cutComment(lines[i]!);
      if (pending === "") start = i + 1;
      if (/\\\s*$/.test(body)) {
        pending += body.replace(/\\\s*$/, " ");
        continue;
      }
      const text = (pending + body).replace(/\s+/g, " ").trim();
      pending = "";
      for (const t of text ? expandOptional(text) : []) {
        out.push({ file, line: start, text: t });
      }
    }
    prose.push("");
  }
  const text = prose.join("\n");
  for (const m of text.matchAll(/`([^`]+)`/g)) {
    if (/\n\s*\n/.test(m[1]!)) continue; // not a span across paragraphs
    const span = m[1]!.replace(/\s+/g, " ").trim();
    if (
      !/^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:deno|npx|\.ci\/run)(?:\s|$)/.test(span)
    ) continue;
    if (span in MENTIONS) continue;
    const line = text.slice(0, m.index).split("\n").length;
    for (const t of expandOptional(span)) out.push({ file, line, text: t });
  }
  return out;
}

/** README.md, then docs/*.md in name order. */
function docFiles(): string[] {
  const docs = [...Deno.readDirSync(`${ROOT}/docs`)]
    .filter((e) => e.isFile && e.name.endsWith(".md"))
    .map((e) => `docs/${e.name}`).sort();
  return ["README.md", ...docs];
}

/** Splits a command into words the way sh does for these (quotes, no expansion). */
function shellWords(text: string): string[] {
  const words: string[] = [];
  for (const m of text.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) {
    words.push(m[1] ?? m[2] ?? m[3]!);
  }
  return words;
}

Deno.test("extractCommands() finds fenced and inline commands, cuts comments, joins lines, expands [--optional] flags", () => {
  const md = [
    "Run `deno task info` or `npx`, see `deno.json`.",
    "```sh",
    'deno task predict "a # b"   # a comment',
    "deno task train \\",
    "  --epochs 2",
    "```",
    "```ts",
    "deno task not-a-command",
    "```",
    "Wrapped: `deno task train --data x.csv [--valid",
    "v.csv] --seed 1` and `HEED_THREADS=1` alone.",
  ].join("\n");
  assertEquals(extractCommands("a.md", md), [
    { file: "a.md", line: 3, text: 'deno task predict "a # b"' },
    { file: "a.md", line: 4, text: "deno task train --epochs 2" },
    { file: "a.md", line: 1, text: "deno task info" },
    { file: "a.md", line: 10, text: "deno task train --data x.csv --seed 1" },
    {
      file: "a.md",
      line: 10,
      text: "deno task train --data x.csv --valid v.csv --seed 1",
    },
  ]);
  assertEquals(shellWords(`deno task predict --out d "Ich habe Hunger."`), [
    "deno",
    "task",
    "predict",
    "--out",
    "d",
    "Ich habe Hunger.",
  ]);
});

// ---------------------------------------------------------------- running

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `deno <args>` in the repository with a time limit; returns what it printed. */
async function deno(args: readonly string[], limitS = 120): Promise<Ran> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), limitS * 1000);
  try {
    const r = await child.output();
    return {
      code: r.code,
      stdout: td.decode(r.stdout),
      stderr: td.decode(r.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts `deno task web` (its command line from deno.json, so that stopping
 * it stops the server), waits for the URL it prints, fetches the page and
 * checks the isolation headers, then stops it. Returns the URL.
 */
async function serveOnce(args: readonly string[]): Promise<string> {
  const tasks = (JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)) as {
    tasks: Record<string, string>;
  }).tasks;
  const [first, ...words] = (tasks.web ?? "").split(/\s+/);
  assertEquals(first, "deno", "deno.json has no web task");
  const child = new Deno.Command(Deno.execPath(), {
    args: [...words, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  // stdout is read to its end in the background (leaving a for-await loop
  // early waits for the stream's cancellation, which waits for the server)
  let seen = "";
  let found: (url: string | null) => void = () => {};
  const printed = new Promise<string | null>((r) => (found = r));
  const drained = (async () => {
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      seen += chunk;
      const m = /(http:\/\/\S+\/)/.exec(seen);
      if (m) found(m[1]!);
    }
    found(null);
  })();
  try {
    const url = await printed;
    if (url === null) {
      throw new Error(`web printed no URL:\n${seen}\n${await stderr}`);
    }
    // `deno task test` grants no network: a child `deno eval` (which has
    // every permission) fetches the page
    const got = await deno([
      "eval",
      `const r = await fetch(${JSON.stringify(url)});
       const html = await r.text();
       console.log(JSON.stringify({ status: r.status, html: html.slice(0, 200),
         coop: r.headers.get("cross-origin-opener-policy"),
         coep: r.headers.get("cross-origin-embedder-policy") }));`,
    ]);
    assertOk(got, `fetch ${url}`);
    const page = JSON.parse(got.stdout.trim().split("\n").at(-1)!);
    assertEquals(page.status, 200);
    assertStringIncludes(page.html, "<html");
    assertEquals([page.coop, page.coep], ["same-origin", "require-corp"]);
    return url;
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch { /* already ended */ }
    await child.status;
    await drained;
    await stderr;
  }
}

function assertOk(r: Ran, what: string): void {
  assertEquals(r.code, 0, `${what}\n${r.stdout}\n${r.stderr}`);
}

// ------------------------------------------------------------ fixtures

const SCRATCH = `runs/docs_commands_test_${Deno.pid}`; // under runs/: the tasks may write only there

/** Small data in the bundled formats: banking77 CSV slices and a Multi30k folder of Tatoeba pairs. */
async function makeFixtures(dir: string): Promise<Record<string, string>> {
  const bank = (await Deno.readTextFile(
    `${ROOT}/data/datasets/banking77/train.csv`,
  )).split(/\r?\n/).filter((l) => l !== "");
  const label = (l: string) => l.slice(l.lastIndexOf(",") + 1);
  const cats = [
    "card_arrival",
    "exchange_rate",
    "top_up_failed",
    "lost_or_stolen_card",
  ];
  const rows = cats.flatMap((c) =>
    bank.slice(1).filter((l) => label(l) === c).slice(0, 60)
  );
  // interleave the classes so every slice holds all of them
  const mixed = rows.map((_, i) => rows[(i % 4) * 60 + Math.floor(i / 4)]!);
  const csv = (header: string, part: string[]) =>
    `${header}\n${part.join("\n")}\n`;
  const files: Record<string, string> = {};
  const write = async (name: string, text: string) => {
    files[name] = `${dir}/${name}`;
    await Deno.writeTextFile(files[name]!, text);
  };
  await write("banking.csv", csv("text,category", mixed.slice(0, 200)));
  // the columns `--text-column text --label-column intent` of training.md
  await write("train.csv", csv("text,intent", mixed.slice(0, 160)));
  await write("valid.csv", csv("text,intent", mixed.slice(160, 200)));
  await write("test.csv", csv("text,intent", mixed.slice(200, 240)));

  const pairs = (await Deno.readTextFile(
    `${ROOT}/data/datasets/tatoeba_deu_eng/deu.txt`,
  )).split("\n").slice(4000).map((l) => l.split("\t"))
    .filter((p) => p.length === 2).slice(0, 208);
  await Deno.mkdir(`${dir}/multi30k`);
  for (
    const [stem, part] of [
      ["train", pairs.slice(0, 200)],
      ["val", pairs.slice(200, 204)],
      ["test_2016_flickr", pairs.slice(204, 208)],
    ] as const
  ) {
    await Deno.writeTextFile(
      `${dir}/multi30k/${stem}.en`,
      part.map((p) => p[0]).join("\n") + "\n",
    );
    await Deno.writeTextFile(
      `${dir}/multi30k/${stem}.de`,
      part.map((p) => p[1]).join("\n") + "\n",
    );
  }
  files["multi30k"] = `${dir}/multi30k`;
  return files;
}

// ----------------------------------------------------------- treatments

/** What running the docs' commands remembers: train runs by --out, and results by command. */
interface Context {
  readonly fixtures: Record<string, string>;
  /** Per doc file: a command's --out → the folder this test trained into. */
  readonly outs: Map<string, Map<string, string>>;
  /** Results of commands already run (the same command in several places runs once). */
  readonly done: Map<string, string>;
  next: number;
}

/** The value of the last `--flag v` or `--flag=v` in `words`, or null. */
function lastFlag(words: readonly string[], flag: string): string | null {
  let v: string | null = null;
  words.forEach((w, i) => {
    if (w === flag) v = words[i + 1] ?? null;
    else if (w.startsWith(`${flag}=`)) v = w.slice(flag.length + 1);
  });
  return v;
}

/** Replaces placeholder words (data that is never bundled) by the fixtures. */
function substitute(words: readonly string[], ctx: Context): string[] {
  const map: Record<string, string> = {
    "…/multi30k": ctx.fixtures.multi30k!,
    "path/to/multi30k": ctx.fixtures.multi30k!,
    "train.csv": ctx.fixtures["train.csv"]!,
    "valid.csv": ctx.fixtures["valid.csv"]!,
    "test.csv": ctx.fixtures["test.csv"]!,
  };
  return words.map((w) => map[w] ?? w);
}

/** The folder a predict/eval/explain command's --out means: the docs' train run of that --out. */
function trainedOut(cmd: DocCommand, words: string[], ctx: Context): string {
  const out = lastFlag(words, "--out") ?? "runs/latest";
  const mine = ctx.outs.get(cmd.file)?.get(out) ??
    ctx.outs.get("README.md")?.get(out);
  if (mine === undefined) {
    throw new Error(
      `${cmd.file}:${cmd.line}: ${cmd.text}: no train command in the docs writes --out ${out}`,
    );
  }
  return mine;
}

type Treatment = {
  /** Which commands (words after substitution). */
  readonly match: (w: readonly string[]) => boolean;
  /** Runs or checks the command; returns what it did, for the step's log. */
  readonly run: (cmd: DocCommand, w: string[], ctx: Context) => Promise<string>;
};

const CI = () => Deno.readTextFileSync(`${ROOT}/.ci/run`);
const task = (w: readonly string[], name: string) =>
  w[0] === "deno" && w[1] === "task" && w[2] === name;

const TREATMENTS: readonly Treatment[] = [
  {
    // what CI runs: asserted, not run (this test is inside `deno task test`)
    match: (w) =>
      (w.length === 3 &&
        ["test", "check", "test:browser"].some((t) => task(w, t))) ||
      (w.length === 1 && w[0] === ".ci/run"),
    run: (_, w) => {
      const ci = CI();
      if (w[0] === ".ci/run") {
        assert((Deno.statSync(`${ROOT}/.ci/run`).mode! & 0o111) !== 0);
        assertStringIncludes(ci, "$DENO task test");
        return Promise.resolve(
          "asserted: .ci/run is executable and runs deno task test",
        );
      }
      assert(
        new RegExp(`\\$DENO task ${w[2]}(\\s|$)`, "m").test(ci),
        `.ci/run does not run deno task ${w[2]}`,
      );
      return Promise.resolve(`asserted: .ci/run runs deno task ${w[2]}`);
    },
  },
  {
    match: (w) => task(w, "info") && w.length === 3,
    run: async () => {
      const r = await deno(["task", "info"]);
      assertOk(r, "deno task info");
      assertStringIncludes(r.stdout, "wasm");
      return "ran verbatim";
    },
  },
  {
    match: (w) => w[0] === "deno" && w[1] === "task" && w.at(-1) === "--help",
    run: async (_, w) => {
      const r = await deno(w.slice(1));
      assertOk(r, w.join(" "));
      assertStringIncludes(r.stdout, `Usage: deno task ${w[2]}`);
      return "ran verbatim";
    },
  },
  {
    match: (w) => task(w, "train"),
    run: async (cmd, w, ctx) => {
      const args = w.slice(3);
      const translate = lastFlag(args, "--task") === "translate";
      const key = w.join(" ");
      if (args.includes("--dry-run")) {
        const r = await deno(w.slice(1));
        assertOk(r, key);
        assertStringIncludes(r.stdout, "nothing was trained or written");
        return "ran verbatim (a dry run writes nothing)";
      }
      let folder = ctx.done.get(key);
      const notes: string[] = [];
      if (folder === undefined) {
        folder = `${SCRATCH}/${ctx.next++}`;
        let data: string[] = [];
        if (lastFlag(args, "--data") === null) {
          // (a) the bundled data: verbatim plus --dry-run, which loads and
          // checks all of it and builds the model, then writes nothing
          const r = await deno(["task", "train", ...args, "--dry-run"]);
          assertOk(r, `${key} --dry-run`);
          assertStringIncludes(
            r.stdout,
            translate ? "the bundled Tatoeba pairs" : "the bundled banking77",
          );
          assertStringIncludes(r.stdout, "nothing was trained or written");
          notes.push("ran with --dry-run (the bundled data, checked in full)");
          data = [
            "--data",
            translate ? ctx.fixtures.multi30k! : ctx.fixtures["banking.csv"]!,
          ];
        }
        const extra = [...data, "--epochs", "1", "--out", folder];
        const r = await deno(["task", "train", ...args, ...extra], 180);
        assertOk(r, `${key} ${extra.join(" ")}`);
        assertStringIncludes(
          r.stdout,
          translate ? "test BLEU" : "test accuracy",
        );
        notes.push(`ran with ${extra.join(" ").replaceAll(ROOT + "/", "")}`);
        ctx.done.set(key, folder);
      } else notes.push("same command as above: its run");
      const out = lastFlag(args, "--out") ?? "runs/latest";
      if (!ctx.outs.has(cmd.file)) ctx.outs.set(cmd.file, new Map());
      ctx.outs.get(cmd.file)!.set(out, folder);
      return notes.join("; ");
    },
  },
  {
    match: (w) => ["predict", "eval", "explain"].some((t) => task(w, t)),
    run: async (cmd, w, ctx) => {
      const folder = trainedOut(cmd, w, ctx);
      // what this command must write is not there before it runs
      for (const f of ["attention.svg", "explain.html"]) {
        try {
          Deno.removeSync(`${ROOT}/${folder}/${f}`);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
      }
      const r = await deno(["task", ...w.slice(2), "--out", folder]);
      assertOk(r, `${w.join(" ")} --out ${folder}`);
      if (w[2] === "predict") {
        assert(Deno.statSync(`${ROOT}/${folder}/attention.svg`).isFile);
      }
      if (w[2] === "explain" || w.includes("--explain")) {
        const html = Deno.readTextFileSync(`${ROOT}/${folder}/explain.html`);
        assertStringIncludes(html, "<svg");
      }
      return `ran with --out ${folder} (the run of the train command above)`;
    },
  },
  {
    match: (w) => task(w, "bench") && w.length === 3,
    run: async () => {
      const r = await deno(["task", "bench"]);
      assertOk(r, "deno task bench");
      assert(/\| 1024 \|/.test(r.stdout), r.stdout);
      return "ran verbatim";
    },
  },
  {
    match: (w) => task(w, "bench:peers") && w.includes("--jit"),
    run: async (_, w) => {
      const extra = ["--quick", "--no-write"];
      const r = await deno([...w.slice(1), ...extra], 240);
      assertOk(r, `${w.join(" ")} ${extra.join(" ")}`);
      assert(
        /\| wasm \| MLP 784-256-10 b128 SGD step \|.*×/.test(r.stdout),
        r.stdout,
      );
      return `ran with ${extra.join(" ")} (a full run takes about 6 minutes)`;
    },
  },
  {
    match: (w) => task(w, "bench:peers"),
    run: async (_, w) => {
      const extra = ["--quick", "--workloads", "matmul-256", "--no-write"];
      // every column starts its own process: without --columns, heed and
      // one column of each peer library stand for all ten
      if (lastFlag(w, "--columns") === null) {
        extra.push("--columns", "heed:wasm,tfjs:wasm,jax-js:wasm-jit");
      }
      const r = await deno([...w.slice(1), ...extra], 180);
      assertOk(r, `${w.join(" ")} ${extra.join(" ")}`);
      assert(/\| f32 matmul 256×256 \|.*×/.test(r.stdout), r.stdout);
      return `ran with ${extra.join(" ")} (a full run takes about 12 minutes)`;
    },
  },
  {
    match: (w) => task(w, "docs") && w.length === 3,
    run: async () => {
      const r = await deno(["task", "docs"]);
      assertOk(r, "deno task docs");
      assert(Deno.statSync(`${ROOT}/docs/api/index.html`).isFile);
      return "ran verbatim (docs/api/ is ignored by git)";
    },
  },
  {
    match: (w) =>
      w[0] === "deno" && w[1] === "run" && w.includes("bench/attention.ts"),
    run: async (_, w) => {
      const extra = ["--quick", "--specs=cosine"];
      const r = await deno([...w.slice(1), ...extra]);
      assertOk(r, w.join(" "));
      assert(/\| cosine \(scale 10\) \| [\d.]+ \(/.test(r.stdout), r.stdout);
      return `ran with ${extra.join(" ")} (the full table takes minutes)`;
    },
  },
  {
    match: (w) =>
      w[0] === "deno" && w[1] === "run" && w.includes("bench/spec_table.ts"),
    run: async (_, w, ctx) => {
      // the full tables are 9-12 specs × 3 seeds (40-120 minutes): one or
      // two specs, one seed, one epoch on a fixture, in a scratch folder
      const translate = w.includes("--task=translate");
      const spec = translate ? "scaled-dot" : "score=scaled-dot,norm=sigmoid";
      const extra = [
        `--specs=${translate ? spec : `scaled-dot;${spec}`}`,
        "--seeds=0",
        "--epochs=1",
        `--data=${
          translate ? ctx.fixtures.multi30k! : ctx.fixtures["banking.csv"]!
        }`,
        `--runs=${SCRATCH}/spec_table_${ctx.next++}`,
      ];
      const r = await deno([...w.slice(1), ...extra], 180);
      assertOk(r, `${w.join(" ")} ${extra.join(" ")}`);
      assert(r.stdout.includes(`| \`${spec}\` | `), r.stdout);
      assert(/\| [\d.]+ ± 0\.00 \|/.test(r.stdout), r.stdout);
      return `ran with ${
        extra.join(" ")
      } (the full table takes about 40 minutes)`;
    },
  },
  {
    match: (w) =>
      w[0] === "deno" && w[1] === "run" && w.includes("bench/train_jit.ts"),
    run: async (_, w, ctx) => {
      // the full comparison trains for minutes and evaluates a trained run:
      // its training half on the Multi30k-format fixture, one round
      const extra = [
        "--part=train",
        "--steps=2",
        "--pairs=40",
        "--rounds=1",
        `--data=${ctx.fixtures.multi30k!}`,
      ];
      const r = await deno([...w.slice(1), ...extra], 240);
      assertOk(r, `${w.join(" ")} ${extra.join(" ")}`);
      assert(/jit \/ eager tokens\/s: [\d.]+×/.test(r.stdout), r.stdout);
      return `ran with ${extra.join(" ")} (the full comparison takes minutes)`;
    },
  },
  {
    match: (w) =>
      w[0] === "deno" && w[1] === "run" &&
      w.includes("bench/attention_fused/run.ts"),
    run: async (_, w) => {
      // the full comparison takes about 10 minutes of CPU: small sizes, one
      // round, nothing written
      const extra = ["--quick", "--rounds=1", "--no-write"];
      const r = await deno([...w.slice(1), ...extra], 300);
      assertOk(r, `${w.join(" ")} ${extra.join(" ")}`);
      // parts 1, 2 and 4 print ratios, part 3 peak memory
      assert(/\| [\d.]+(×| MiB) \|/.test(r.stdout), r.stdout);
      return `ran with ${
        extra.join(" ")
      } (the full run takes about 10 minutes)`;
    },
  },
  {
    match: (w) =>
      w[0] === "deno" && w[1] === "run" && w.includes("bench/jit_profile.ts"),
    run: async (_, w) => {
      // the documented run times 30 calls of each path: 2 here
      const r = await deno([...w.slice(1), "--reps", "2"], 180);
      assertOk(r, w.join(" "));
      assert(/\| [^|]+ \| \d+ \|/.test(r.stdout), r.stdout);
      return "ran with --reps 2 (the documented run times 30 calls)";
    },
  },
  {
    match: (w) =>
      w[0] === "deno" && w[1] === "run" && w.includes("bench/wasm_matmul.ts"),
    run: async (_, w) => {
      const r = await deno([...w.slice(1), "--quick"]);
      assertOk(r, w.join(" "));
      assert(/\| wasm \| [\d.]+ \|/.test(r.stdout), r.stdout);
      return "ran with --quick";
    },
  },
  {
    // a task for the chart generator, if deno.json gets one
    match: (w) => task(w, "bench:charts"),
    run: async (_, w) => {
      const r = await deno([...w.slice(1), "--check"]);
      assertOk(r, w.join(" "));
      return "ran with --check (writes nothing; fails on a stale chart)";
    },
  },
  {
    match: (w) =>
      w[0] === "deno" && w[1] === "run" && w.includes("bench/charts/main.ts"),
    run: async (_, w) => {
      // writing would rewrite the committed charts: --check compares instead
      const r = await deno([...w.slice(1), "--check"]);
      assertOk(r, w.join(" "));
      return "ran with --check (writes nothing; fails on a stale chart)";
    },
  },
  {
    match: (w) => w[0] === "deno" && w[1] === "bundle",
    run: async (_, w) => {
      const dir = await Deno.makeTempDir({ prefix: "heed_docs_bundle_" });
      try {
        const i = w.indexOf("--outdir");
        assert(i > 0, "the bundle command names no --outdir");
        const args = w.slice(1).map((x, j) => (j === i ? dir : x));
        const r = await deno(args);
        assertOk(r, w.join(" "));
        const mod = await Deno.readTextFile(`${dir}/mod.js`);
        assert(
          !/from\s+["']npm:/.test(mod),
          "the bundle imports npm: specifiers",
        );
        assert(Deno.statSync(`${dir}/models/mod.js`).isFile);
        return `ran with --outdir a temporary folder (instead of ${w[i + 1]})`;
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  },
  {
    match: (w) => task(w, "web"),
    run: async (_, w) => {
      const url = await serveOnce([...w.slice(3), "--port=0"]);
      return `ran with --port=0 (a free port) until it served ${url} with COOP/COEP`;
    },
  },
  {
    match: (w) =>
      w[0] === "deno" && w[1] === "add" && w[2]?.startsWith("jsr:") === true,
    run: (_, w) => {
      const config = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`));
      assertEquals(w[2], `jsr:${config.name}`);
      assertStringIncludes(config.tasks.check, "deno publish --dry-run");
      return Promise.resolve(
        "not run (needs the network and JSR): asserted the name is deno.json's and deno task check runs the publish dry run",
      );
    },
  },
  {
    // part of `deno task check`, which CI runs: asserted, not run
    match: (w) => w.join(" ") === "deno publish --dry-run",
    run: () => {
      const config = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`));
      assertStringIncludes(config.tasks.check, "deno publish --dry-run");
      assert(
        /\$DENO task check(\s|$)/m.test(CI()),
        ".ci/run does not run deno task check",
      );
      return Promise.resolve(
        "asserted: deno task check runs it, and .ci/run runs deno task check",
      );
    },
  },
];

/** `npx -y deno@V task …` → `deno task …`, after checking V is the version CI tests. */
function viaNpx(words: string[]): { words: string[]; note: string } {
  if (words[0] !== "npx") return { words, note: "" };
  const m = /^deno@([\d.]+)$/.exec(words[2] ?? "");
  if (words[1] !== "-y" || m === null) {
    throw new Error(`unexpected npx command: ${words.join(" ")}`);
  }
  const ci = /^DENO_VERSION=([\d.]+)$/m.exec(CI());
  assertEquals(
    m[1],
    ci?.[1],
    "the README's npx Deno is not the version .ci/run tests",
  );
  return {
    words: ["deno", ...words.slice(3)],
    note: `npx -y deno@${m[1]} is deno ${
      m[1]
    }, the version .ci/run tests; then `,
  };
}

Deno.test("a repeated flag takes its last value, so the budget flags this test appends win", () => {
  const a = parseTrainArgs([
    "--epochs",
    "40",
    "--out",
    "x",
    "--epochs",
    "1",
    "--out",
    "y",
  ]);
  assertEquals([a.epochs, a.out], [1, "y"]);
});

Deno.test("every command in README.md and docs/*.md runs", async (t) => {
  const commands = docFiles().flatMap((f) =>
    extractCommands(f, Deno.readTextFileSync(`${ROOT}/${f}`))
  );
  assert(commands.length >= 20, `only ${commands.length} commands found`);
  const untreated = commands.filter((c) => {
    const w = viaNpx(shellWords(c.text)).words;
    return !TREATMENTS.some((tr) => tr.match(w));
  });
  assertEquals(
    untreated.map((c) => `${c.file}:${c.line}: ${c.text}`),
    [],
    "commands with no treatment in tests/docs_commands_test.ts",
  );

  const dir = await Deno.makeTempDir({ prefix: "heed_docs_commands_" });
  const ctx: Context = {
    fixtures: await makeFixtures(dir),
    outs: new Map(),
    done: new Map(),
    next: 0,
  };
  // train commands first, each file in order: predict and eval use their runs
  const isTrain = (c: DocCommand) => / task train(?! --help)/.test(c.text);
  const ordered = [
    ...commands.filter(isTrain),
    ...commands.filter((c) => !isTrain(c)),
  ];
  const seen = new Map<string, string>();
  try {
    for (const cmd of ordered) {
      const { words, note } = viaNpx(shellWords(cmd.text));
      const w = substitute(words, ctx);
      const key = `${w.join(" ")}`;
      const tr = TREATMENTS.find((x) => x.match(w))!;
      await t.step(`${cmd.file}:${cmd.line}: ${cmd.text}`, async () => {
        // the same non-train command in several places runs once
        const again = task(w, "train") ? undefined : seen.get(key);
        const how = again === undefined
          ? await tr.run(cmd, w, ctx)
          : `same command as above (${again})`;
        if (again === undefined) seen.set(key, how);
        console.log(`  ${note}${how}`);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(`${ROOT}/${SCRATCH}`, { recursive: true }).catch(
      () => {},
    );
  }
});

Deno.test("every ts block in docs/*.md runs (deno test --doc)", async () => {
  const files = docFiles().filter((f) => f.startsWith("docs/"))
    .filter((f) => /^```ts/m.test(Deno.readTextFileSync(`${ROOT}/${f}`)));
  const blocks = files.reduce(
    (n, f) =>
      n +
      (Deno.readTextFileSync(`${ROOT}/${f}`).match(/^```ts/gm)?.length ?? 0),
    0,
  );
  assert(blocks > 0, "no ts blocks in docs/*.md");
  // README.md's blocks run in tests/consumer_test.ts, from a project outside
  const r = await deno([
    "test",
    "--doc",
    "--allow-read",
    "--allow-env",
    ...files,
  ]);
  assertOk(r, `deno test --doc ${files.join(" ")}`);
  assertStringIncludes(r.stdout, `${blocks} passed | 0 failed`);
});
