// Hostile input, part 3: two runs in one --out at once, and runs killed
// (SIGKILL) at random points then resumed, through the real `deno task
// train` command line.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  assertConsistent,
  assertOneLineError,
  metricsOf,
  outsideOf,
  type Sandbox,
  sandbox,
  spawnTask,
  task,
  tinyCsv,
} from "./_hostile.ts";

/** A run of a second or so per epoch. */
function slow(csv: string, out: string, epochs: number, more: string[] = []) {
  return [
    "--data",
    csv,
    "--epochs",
    String(epochs),
    "--batch-size",
    "8",
    "--backend",
    "cpu",
    "--out",
    out,
    ...more,
  ];
}

async function waitFor(path: string, ms: number): Promise<void> {
  for (const t0 = Date.now(); Date.now() - t0 < ms;) {
    if (await Deno.lstat(path).then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${path} did not appear within ${ms} ms`);
}

async function finish(
  p: Deno.ChildProcess,
): Promise<[number, string, string]> {
  const [status, out, err] = await Promise.all([
    p.status,
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
  ]);
  return [status.code, err, out];
}

Deno.test("a second run on a folder that a run holds is refused in one line naming the holder; the first run's files are whole", async () => {
  await using sb = await sandbox();
  await Deno.writeTextFile(`${sb.dir}/big.csv`, tinyCsv(300));
  await Deno.writeTextFile(`${sb.dir}/other.csv`, tinyCsv(40));
  const out = "runs/shared";
  const guard = await outsideOf(sb, out);
  const first = await spawnTask(sb, "train", slow("big.csv", out, 3));
  await waitFor(`${sb.dir}/${out}/run.lock`, 30_000);
  for (const more of [[], ["--resume"]]) {
    const second = await task(sb, "train", slow("other.csv", out, 1, more));
    assertOneLineError(
      second,
      "train",
      `${out} is in use by another run: pid ${first.pid}`,
      "--data big.csv",
    );
  }
  const [code, err, stdout] = await finish(first);
  assertEquals(code, 0, err);
  // eval scores the first run's model on the first run's test rows
  const trained = /test accuracy ([\d.]+)%, macro-F1 ([\d.]+)%/.exec(stdout);
  if (trained === null) throw new Error(`no test accuracy in: ${stdout}`);
  const ev = await task(sb, "eval", ["--out", out]);
  assertEquals(ev.code, 0, ev.stderr);
  assertStringIncludes(
    ev.stdout,
    `test accuracy ${trained[1]}%, macro-F1 ${trained[2]}% (60 rows)`,
  );
  const run = JSON.parse(await Deno.readTextFile(`${sb.dir}/${out}/run.json`));
  assertEquals(run.data, "big.csv");
  assertEquals((await metricsOf(sb, out)).length, 4);
  await assertConsistent(sb, out);
  await guard.check();
});

/** Per-epoch losses of metrics.jsonl. */
async function losses(sb: Sandbox, out: string): Promise<unknown[]> {
  return (await metricsOf(sb, out)).slice(0, -1).map((l) => l.loss);
}

Deno.test("runs killed at random points resume to the same result, with one log line per epoch and no leftovers", async () => {
  await using sb = await sandbox();
  await Deno.writeTextFile(`${sb.dir}/big.csv`, tinyCsv(300));
  const whole = await task(sb, "train", slow("big.csv", "runs/whole", 3));
  assertEquals(whole.code, 0, whole.stderr);
  const out = "runs/killed";
  const guard = await outsideOf(sb, out);
  const kills: number[] = [];
  for (let i = 0; i < 3; i++) {
    const p = await spawnTask(
      sb,
      "train",
      slow("big.csv", out, 3, ["--resume"]),
    );
    const ms = Math.round(300 + Math.random() * 3000);
    kills.push(ms);
    await new Promise((r) => setTimeout(r, ms));
    try {
      p.kill("SIGKILL");
    } catch { /* it had already finished */ }
    await finish(p);
  }
  const last = await task(sb, "train", slow("big.csv", out, 3, ["--resume"]));
  const why = `killed after ${kills.join(", ")} ms:\n${last.stderr}`;
  assertEquals(last.code, 0, why);
  assert(last.stdout.includes("test accuracy"), why);
  await assertConsistent(sb, out);
  assertEquals(await losses(sb, out), await losses(sb, "runs/whole"), why);
  const final = (await metricsOf(sb, out)).at(-1)!;
  const wholeFinal = (await metricsOf(sb, "runs/whole")).at(-1)!;
  assertEquals(final.test_accuracy, wholeFinal.test_accuracy, why);
  await guard.check();
});
