// The acceptance case of attention modules in the models (issue 14): a user
// writes a new attention module in a file of their own, outside the
// repository, and through the real `deno task train|eval|predict|explain`
// command lines (their permissions read from deno.json) trains the
// classifier and the translator with it, kills a second training run with
// SIGKILL mid-way and resumes it to the uninterrupted run's result, then
// evaluates, predicts (with --explain) and explains with it. The tiny
// translator must learn (--warmup 5): its loss falls to under half and its
// test BLEU beats the best source-blind output by 25 points.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { loadCheckpoint } from "../../models/train/checkpoint.ts";
import { corpusBleu } from "../../models/train/metrics.ts";
import type { Tensor } from "../../ops/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

type Task = "train" | "eval" | "predict" | "explain";

/** A deno.json task's words after `deno`, the script made absolute. */
async function taskWords(name: Task): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const [deno, ...words] = (config.tasks[name] as string).split(/\s+/);
  assertEquals(deno, "deno");
  assert(words.includes("--no-prompt"), `${name} lacks --no-prompt`);
  assert(words.includes("--allow-read"), `${name} cannot read the module`);
  assertEquals(
    words.filter((w) => w.startsWith("--allow-write")),
    name === "eval" ? [] : ["--allow-write=runs"],
  );
  assertEquals(words.at(-1), `models/cli/${name}.ts`);
  return [...words.slice(0, -1), `${ROOT}models/cli/${name}.ts`];
}

/** Starts `deno task <name> <args>` in `cwd` (which has a `runs/` folder). */
async function spawn(
  cwd: string,
  name: Task,
  args: readonly string[],
): Promise<Deno.ChildProcess> {
  return new Deno.Command(Deno.execPath(), {
    args: [...await taskWords(name), ...args],
    cwd,
    env: { HEED_BACKEND: "cpu", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function finish(p: Deno.ChildProcess): Promise<Ran> {
  const [status, stdout, stderr] = await Promise.all([
    p.status,
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
  ]);
  return { code: status.code, stdout, stderr };
}

/** Runs a task to its end and asserts it exits 0; returns its stdout. */
async function ok(cwd: string, name: Task, args: string[]): Promise<string> {
  const r = await finish(await spawn(cwd, name, args));
  assertEquals(r.code, 0, `${name} ${args.join(" ")}:\n${r.stderr}`);
  return r.stdout;
}

/**
 * The user's module: the scaled dot product over a learned per-head
 * temperature, soft-capped, imported the way the example does
 * (examples/attention_module_own.ts).
 */
const USER_MODULE = `
import { attentionModule, scaledDot, softCap, temperature } from "@heed/heed/attention";
import { exp, type Tensor, zeros } from "@heed/heed/ops";

/** Scaled dot product over exp(logT) per head, capped at ±8. */
export default attentionModule({
  id: "tempered-capped-dot",
  description: "scaled dot product over a learned per-head temperature, soft-capped at 8",
  init: (_key, { heads }) => ({ logT: zeros([heads, 1, 1]) }),
  build: (p: { readonly logT: Tensor }, { masks }) => ({
    score: scaledDot(),
    mods: [temperature(exp(p.logT)), softCap(8)],
    masks: [...masks],
  }),
});
`;

type Meta = {
  config: {
    heads: number;
    layers?: number;
    encLayers?: number;
    decLayers?: number;
    attention: unknown;
  };
};

/** The checkpoint's metadata and the module's `logT` leaves (one per attention). */
async function checkpointOf(
  path: string,
): Promise<{ meta: Meta; logT: Float32Array[] }> {
  const ck = await loadCheckpoint<unknown, unknown, Meta>(path);
  const logT: Float32Array[] = [];
  const walk = async (x: unknown): Promise<void> => {
    if (typeof x !== "object" || x === null) return;
    for (const [k, v] of Object.entries(x)) {
      if (k === "logT") logT.push(await (v as Tensor).data() as Float32Array);
      else await walk(v);
    }
  };
  await walk(ck.params);
  return { meta: ck.metadata, logT };
}

async function waitFor(path: string, ms: number): Promise<void> {
  for (const t0 = Date.now(); Date.now() - t0 < ms;) {
    if (await Deno.lstat(path).then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${path} did not appear within ${ms} ms`);
}

/** metrics.jsonl's records. */
async function metrics(dir: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l));
}

/**
 * Trains `args` into runs/whole uninterrupted and into runs/killed killed
 * with SIGKILL once its first checkpoint exists and then resumed; asserts
 * the resumed run's log and result are the uninterrupted run's. Returns
 * train's output of the resumed run.
 */
async function trainKillResume(
  sb: string,
  args: string[],
  epochs: number,
): Promise<string> {
  await ok(sb, "train", [...args, "--out", "runs/whole"]);
  const p = await spawn(sb, "train", [...args, "--out", "runs/killed"]);
  await waitFor(`${sb}/runs/killed/checkpoint.safetensors`, 60_000);
  p.kill("SIGKILL");
  const killed = await finish(p);
  assert(killed.code !== 0, `the run ended before the kill:\n${killed.stdout}`);
  const before = await metrics(`${sb}/runs/killed`);
  assert(before.length < epochs, `killed after ${before.length} epochs`);
  const resumed = await ok(sb, "train", [
    ...args,
    "--out",
    "runs/killed",
    "--resume",
  ]);
  assertStringIncludes(resumed, `epoch ${epochs}:`);
  const a = await metrics(`${sb}/runs/whole`);
  const b = await metrics(`${sb}/runs/killed`);
  // every record but its timings: losses, validation and test scores
  const timeless = (ms: Record<string, unknown>[]) =>
    ms.map((
      { seconds: _s, tokensPerSecond: _t, time: _w, train_seconds: _ts, ...r },
    ) => r);
  assertEquals(timeless(b), timeless(a));
  assertEquals(b.map((r) => r.epoch ?? "final"), [
    ...Array.from({ length: epochs }, (_, i) => i + 1),
    "final",
  ]);
  return resumed;
}

/** Checks the checkpoint records the module and its file, and the module trained. */
async function assertModuleRecorded(
  sb: string,
  file: string,
  attentions: (m: Meta) => number,
): Promise<Meta> {
  const run = JSON.parse(await Deno.readTextFile(`${sb}/runs/killed/run.json`));
  assertEquals(run.attention, file);
  const { meta, logT } = await checkpointOf(
    `${sb}/runs/killed/checkpoint.safetensors`,
  );
  assertEquals(meta.config.attention, {
    id: "tempered-capped-dot",
    source: await Deno.realPath(file),
    description:
      "scaled dot product over a learned per-head temperature, soft-capped at 8",
  });
  assertEquals(logT.length, attentions(meta));
  for (const t of logT) {
    assertEquals(t.length, meta.config.heads);
    assert(t.every(Number.isFinite), `${t}`);
  }
  assert(logT.some((t) => t.some((x) => x !== 0)), "logT never moved");
  return meta;
}

const count = (html: string, s: string) => html.split(s).length - 1;

/** Runs explain; checks explain.html's heatmaps and entropies. */
async function assertExplains(
  sb: string,
  args: string[],
  heads: number,
  section: string,
): Promise<void> {
  const out = await ok(sb, "explain", ["--out", "runs/killed", ...args]);
  assertEquals(out.trim(), "runs/killed/explain.html");
  const html = await Deno.readTextFile(`${sb}/runs/killed/explain.html`);
  assert(!/src=|href=|<script/i.test(html), "no external assets");
  assertEquals(count(html, `<figure class="head"`), heads);
  assert(count(html, "<svg") >= heads, "a heatmap per head");
  assert(html.includes(`id="${section}"`), section);
  const hs = [...html.matchAll(/class="entropy">([^<]*)</g)].map((m) =>
    Number(m[1])
  );
  assertEquals(hs.length, heads);
  assert(hs.every((h) => Number.isFinite(h) && h >= 0), `${hs}`);
}

async function sandbox(): Promise<{ dir: string; file: string }> {
  const dir = await Deno.makeTempDir({ prefix: "heed_own_module_" });
  await Deno.mkdir(`${dir}/runs`);
  await Deno.mkdir(`${dir}/mine`);
  const file = `${dir}/mine/tempered.ts`;
  await Deno.writeTextFile(file, USER_MODULE);
  return { dir, file };
}

const GREET = ["hello there", "hi friend", "good morning", "hey you"];
const LEAVE = ["bye now", "see you later", "good night", "farewell friend"];

Deno.test("a user's own attention module: the classifier trains, resumes after SIGKILL, evaluates, predicts and explains from the command line", async () => {
  const { dir: sb, file } = await sandbox();
  try {
    const rows = Array.from({ length: 48 }, (_, i) => {
      const words = i % 2 === 0 ? GREET : LEAVE;
      return `"${words[(i >> 1) % 4]} w${i % 5}",${i % 2 ? "leave" : "greet"}`;
    });
    await Deno.writeTextFile(
      `${sb}/tiny.csv`,
      ["text,category", ...rows].join("\n") + "\n",
    );
    const epochs = 3;
    const args = [
      "--data",
      "tiny.csv",
      "--attention",
      file,
      "--epochs",
      String(epochs),
      "--batch-size",
      "2",
      "--backend",
      "cpu",
      // one Transformer and no bag member: the module under test predicts alone
      "--ensemble",
      "1",
      "--bag",
      "0",
    ];
    const log = await trainKillResume(sb, args, epochs);
    const acc = /test accuracy ([\d.]+)%, macro-F1 ([\d.]+)% \((\d+) test/
      .exec(log);
    if (acc === null) throw new Error(`no match in: ${log}`);
    assert(Number(acc[1]) >= 75, `test accuracy ${acc[1]}%`);
    // one attention per layer
    const meta = await assertModuleRecorded(sb, file, (m) => m.config.layers!);
    const ev = await ok(sb, "eval", ["--out", "runs/killed"]);
    assertStringIncludes(
      ev,
      `test accuracy ${acc[1]}%, macro-F1 ${acc[2]}% (${acc[3]} rows)`,
    );
    const pr = await ok(sb, "predict", [
      "--out",
      "runs/killed",
      "--explain",
      "hello there",
    ]);
    const top = /^\s*([\d.]+)%\s+(\w+)$/m.exec(pr);
    if (top === null) throw new Error(`no match in: ${pr}`);
    assertEquals(top[2], "greet", pr);
    // predict --explain writes explain's report and says where
    assertStringIncludes(pr, "explanation: runs/killed/explain.html");
    const report = await Deno.readTextFile(`${sb}/runs/killed/explain.html`);
    assertStringIncludes(report, "Input: <b>hello there</b>");
    await assertExplains(
      sb,
      ["good night"],
      meta.config.layers! * meta.config.heads,
      "rollout",
    );
  } finally {
    await Deno.remove(sb, { recursive: true });
  }
});

Deno.test("a user's own attention module: the translator trains, resumes after SIGKILL, evaluates, predicts and explains from the command line", async () => {
  const { dir: sb, file } = await sandbox();
  try {
    // a tiny Multi30k-style folder: three sentences of six words, so BLEU
    // has 4-grams to count
    await Deno.mkdir(`${sb}/mt`);
    const de = [
      "ein hund läuft im park",
      "eine katze schläft auf dem sofa",
      "der mann isst einen roten apfel",
    ];
    const en = [
      "a dog runs in the park",
      "a cat sleeps on the sofa",
      "the man eats a red apple",
    ];
    for (
      const [stem, n] of [["train", 30], ["val", 6], [
        "test_2016_flickr",
        6,
      ]] as const
    ) {
      const idx = Array.from({ length: n }, (_, i) => (i * 7 + n) % 3);
      for (const [lang, side] of [["de", de], ["en", en]] as const) {
        await Deno.writeTextFile(
          `${sb}/mt/${stem}.${lang}`,
          idx.map((i) => side[i]).join("\n") + "\n",
        );
      }
    }
    const epochs = 3;
    // a short warm-up and small batches (about 8 steps an epoch): with the
    // default 400-step warm-up, 3 epochs of one batch learn nothing
    const args = [
      "--task",
      "translate",
      "--data",
      "mt",
      "--attention",
      file,
      "--epochs",
      String(epochs),
      "--warmup",
      "5",
      "--max-tokens",
      "96",
      "--backend",
      "cpu",
    ];
    const log = await trainKillResume(sb, args, epochs);
    const bleu =
      /test BLEU ([\d.]+) \(sacreBLEU default\), ([\d.]+) \(lower-cased\), chrF ([\d.]+)/
        .exec(log);
    if (bleu === null) throw new Error(`no match in: ${log}`);
    // It learned: the training loss fell to under half, and the test BLEU
    // beats by 25 points the best output that ignores the source (one
    // training sentence for every test sentence; 37.9 here).
    const losses = (await metrics(`${sb}/runs/killed`)).flatMap((r) =>
      typeof r.loss === "number" ? [r.loss] : []
    );
    assertEquals(losses.length, epochs);
    assert(losses.at(-1)! < 0.5 * losses[0]!, `losses ${losses}`);
    const refs = (await Deno.readTextFile(`${sb}/mt/test_2016_flickr.en`))
      .trim().split("\n");
    const blind = Math.max(
      ...en.map((c) =>
        corpusBleu(refs.map(() => c), refs, { lowercase: true }).score
      ),
    );
    assert(
      Number(bleu[2]) >= blind + 25,
      `test BLEU ${bleu[2]} (lower-cased) against ${blind} without the source`,
    );
    // encoder self, decoder self and cross attention in every block
    const meta = await assertModuleRecorded(
      sb,
      file,
      (m) => m.config.encLayers! + 2 * m.config.decLayers!,
    );
    const ev = await ok(sb, "eval", ["--out", "runs/killed"]);
    assertStringIncludes(
      ev,
      `test BLEU ${bleu[1]} (sacreBLEU default), ${
        bleu[2]
      } (lower-cased), chrF ${bleu[3]} (6 sentences`,
    );
    const pr = await ok(sb, "predict", [
      "--out",
      "runs/killed",
      de[0]!,
    ]);
    assertEquals(pr.split("\n")[0], en[0], pr);
    // every encoder block, and every decoder block's self and cross
    await assertExplains(
      sb,
      ["--beam", "2", de[2]!],
      (meta.config.encLayers! + 2 * meta.config.decLayers!) *
        meta.config.heads,
      "alignment",
    );
  } finally {
    await Deno.remove(sb, { recursive: true });
  }
});
