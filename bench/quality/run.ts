/**
 * The banking77 quality runner: trains one configuration with `train`
 * under `/usr/bin/time -v` and appends what it gave to
 * bench/quality/results.jsonl (best validation accuracy and its epoch,
 * test accuracy and macro-F1, wall and process CPU seconds, peak resident
 * memory, the command).
 *
 * Usage:
 *   deno run -A bench/quality/run.ts NAME [train flags...]
 *
 * It trains into runs/hq-NAME. One training at a time: the machine is
 * shared and CPU seconds are the number to compare.
 *
 * @module
 */

const [name, ...flags] = Deno.args;
if (!name || name.startsWith("-")) {
  console.error("usage: bench/quality/run.ts NAME [train flags...]");
  Deno.exit(2);
}
const out = `runs/hq-${name}`;
await Deno.remove(out, { recursive: true }).catch(() => {});
const train = [
  "run",
  "--no-prompt",
  "--allow-read",
  "--allow-write=runs",
  "--allow-env=HEED_BACKEND,HEED_THREADS,HEED_WEBGPU_MATMUL",
  "models/cli/train.ts",
  ...flags,
  "--out",
  out,
];
const started = new Date().toISOString();
const child = new Deno.Command("/usr/bin/time", {
  args: ["-v", Deno.execPath(), ...train],
  stdout: "piped",
  stderr: "piped",
}).spawn();
const [o, status] = await Promise.all([child.output(), child.status]);
const stdout = new TextDecoder().decode(o.stdout);
const stderr = new TextDecoder().decode(o.stderr);
await Deno.writeTextFile(`${out}.log`, stdout + stderr).catch(() => {});

/** A number from time -v's report. */
function timeField(label: string): number {
  const m = new RegExp(`${label}: ([0-9:.]+)`).exec(stderr);
  if (!m) return NaN;
  // wall clock reads h:mm:ss or m:ss.ss
  return m[1]!.split(":").reduce((a, p) => 60 * a + Number(p), 0);
}

const lines = (await Deno.readTextFile(`${out}/metrics.jsonl`).catch(() => ""))
  .split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
const epochs = lines.filter((l) => typeof l.validAccuracy === "number");
const best = epochs.reduce(
  (b, l) => (b === null || l.validAccuracy > b.validAccuracy ? l : b),
  null,
);
const final = lines.find((l) => typeof l.test_accuracy === "number");
const result = {
  name,
  flags: flags.join(" "),
  started,
  exit: status.code,
  epochs: epochs.length,
  bestEpoch: best?.epoch ?? null,
  validAccuracy: best?.validAccuracy ?? null,
  validCurve: epochs.map((l) => l.validAccuracy),
  testAccuracy: final?.test_accuracy ?? null,
  testMacroF1: final?.test_macro_f1 ?? null,
  wallSeconds: timeField("Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)"),
  userSeconds: timeField("User time \\(seconds\\)"),
  sysSeconds: timeField("System time \\(seconds\\)"),
  peakRssMiB: Math.round(
    timeField("Maximum resident set size \\(kbytes\\)") / 1024,
  ),
  load: (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3),
};
await Deno.writeTextFile(
  "bench/quality/results.jsonl",
  JSON.stringify(result) + "\n",
  { append: true },
);
console.log(JSON.stringify(result));
if (status.code !== 0) console.error(stderr.slice(-2000));
