/**
 * The attention-spec comparison of the README's quality table: every spec
 * trained from the command line (`deno task train`) on the same data and
 * budget with several seeds, reported as mean ± spread (half the range)
 * of the test score, with the wall time of each run.
 *
 *   deno run -A bench/spec_table.ts [--task=classify|translate] [--data=PATH]
 *     [--epochs=3] [--seeds=0,1,2] [--specs=a;b;c] [--out=bench/results/x.md]
 *     [--runs=runs/spec_table] [--train-args="--warmup 100"]
 *
 * Each run is `deno task train --attention <spec> --epochs <E> --seed <s>
 * --out <runs>/<task>/<spec>/<s>` (`<runs>` under `runs/`, where the task may
 * write; default `runs/spec_table`); a run whose folder already
 * holds a finished result is read back, not trained again, so an
 * interrupted table resumes where it stopped.
 *
 * @module
 */

const args = Object.fromEntries(
  Deno.args.filter((a) => a.startsWith("--")).map((a) => {
    const i = a.indexOf("=");
    return i < 0 ? [a.slice(2), "true"] : [a.slice(2, i), a.slice(i + 1)];
  }),
) as Record<string, string>;

/** The specs of the table: the issue's eight kinds, the seed variants, a gate. */
const DEFAULT_SPECS = [
  "scaled-dot",
  "bilinear",
  "cosine",
  "score=scaled-dot,mods=alibi",
  "sparsemax",
  "score=scaled-dot,norm=sigmoid",
  "seed-ratio",
  "seed-softmax",
  "seed-signed",
  "seed-gated",
  "score=seed-ratio,mods=softcap:1+temp,norm=softmax",
  "gate:scaled-dot/seed-gated",
];

const task = args.task ?? "classify";
if (task !== "classify" && task !== "translate") {
  throw new TypeError(
    `spec_table: --task is classify or translate, got ${task}`,
  );
}
const epochs = Number(args.epochs ?? 3);
const seeds = (args.seeds ?? "0,1,2").split(",").map(Number);
const specs = args.specs ? args.specs.split(";") : DEFAULT_SPECS;
const extra = [
  ...(args.data ? ["--data", args.data] : []),
  // more options for every run, e.g. --train-args="--warmup 100"
  ...(args["train-args"] ?? "").split(/\s+/).filter((a) => a !== ""),
];
const runs = args.runs ?? "runs/spec_table";
if (!/^runs\/[^.]/.test(runs) || runs.includes("..")) {
  throw new TypeError(
    `spec_table: --runs must be a folder under runs/ (deno task train may write only there), got ${runs}`,
  );
}

interface Score {
  readonly main: number;
  readonly second: number;
  readonly seconds: number;
}

const slug = (s: string) => s.replace(/[^a-z0-9.-]+/gi, "_");

/** Reads a finished run's scores from the last line train printed (saved in result.txt). */
function parse(text: string): Omit<Score, "seconds"> | null {
  const acc = text.match(/test accuracy ([\d.]+)%, macro-F1 ([\d.]+)%/);
  if (acc) return { main: Number(acc[1]), second: Number(acc[2]) };
  const bleu = text.match(
    /test BLEU ([\d.]+) \(sacreBLEU default\), ([\d.]+) \(lower-cased\)/,
  );
  if (bleu) return { main: Number(bleu[2]), second: Number(bleu[1]) };
  return null;
}

async function runOne(spec: string, seed: number): Promise<Score> {
  const out = `${runs}/${task}/${slug(spec)}/${seed}`;
  const saved = `${out}/result.txt`;
  try {
    const text = await Deno.readTextFile(saved);
    const score = parse(text);
    const secs = text.match(/wall ([\d.]+) s/);
    if (score && secs) return { ...score, seconds: Number(secs[1]) };
  } catch {
    // not run yet
  }
  const cmd = [
    "task",
    "train",
    "--task",
    task,
    ...extra,
    "--attention",
    spec,
    "--epochs",
    String(epochs),
    "--seed",
    String(seed),
    "--out",
    out,
  ];
  console.error(`deno ${cmd.join(" ")}`);
  const t0 = performance.now();
  const p = await new Deno.Command(Deno.execPath(), {
    args: cmd,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const text = new TextDecoder().decode(p.stdout);
  const score = parse(text);
  if (!p.success || !score) {
    throw new Error(
      `spec_table: ${spec} seed ${seed} failed (exit ${p.code}):\n${
        text.slice(-2000)
      }`,
    );
  }
  await Deno.writeTextFile(
    saved,
    `${text.trim().split("\n").at(-1)}\nwall ${seconds.toFixed(1)} s\n`,
  );
  return { ...score, seconds };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const half = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / 2;
const fmt = (xs: number[]) => `${mean(xs).toFixed(2)} ± ${half(xs).toFixed(2)}`;

const mainName = task === "classify" ? "test accuracy %" : "BLEU lower-cased";
const secondName = task === "classify"
  ? "macro-F1 %"
  : "BLEU sacreBLEU default";
const lines = [
  `| \`--attention\` | ${mainName} | ${secondName} | wall per run |`,
  "|---|---:|---:|---:|",
];
for (const spec of specs) {
  const scores: Score[] = [];
  for (const seed of seeds) scores.push(await runOne(spec, seed));
  const line = `| \`${spec}\` | ${fmt(scores.map((s) => s.main))} | ${
    fmt(scores.map((s) => s.second))
  } | ${mean(scores.map((s) => s.seconds)).toFixed(0)} s |`;
  console.log(line);
  lines.push(line);
}
const caption =
  `${task === "classify" ? "banking77" : (args.data ?? "Tatoeba")}, ` +
  `--epochs ${epochs}${
    args["train-args"] ? ` ${args["train-args"]}` : ""
  }, seeds ${seeds.join(", ")} (mean ± half the range), ` +
  `${
    new Date().toISOString().slice(0, 16)
  } UTC, ${Deno.build.os} ${Deno.build.arch}, ` +
  `${navigator.hardwareConcurrency} cores`;
const table = `${caption}\n\n${lines.join("\n")}\n`;
console.log(`\n${table}`);
if (args.out) {
  await Deno.writeTextFile(args.out, table);
  // the table as `deno fmt` lays it out, so `deno task check` stays clean
  await new Deno.Command(Deno.execPath(), { args: ["fmt", args.out] }).output();
}
