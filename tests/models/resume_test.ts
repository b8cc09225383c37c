// Killing a real training process and resuming it reaches the same
// parameters as a run that was never interrupted.

import { assert, assertEquals } from "@std/assert";
import { loadCheckpoint } from "../../models/train/checkpoint.ts";
import { type Tensor, treeFlatten } from "../../mod.ts";

const CLI = new URL("../../models/cli/train.ts", import.meta.url).pathname;
const BANKING =
  new URL("../../data/datasets/banking77/train.csv", import.meta.url).pathname;

/** A small real CSV: the first 40 rows of four banking77 intents. */
async function smallCsv(dir: string): Promise<string> {
  const lines = (await Deno.readTextFile(BANKING)).split(/\r?\n/);
  const keep = new Map<string, number>();
  const out = [lines[0]!];
  for (const line of lines.slice(1)) {
    const cat = line.slice(line.lastIndexOf(",") + 1);
    if (
      !line ||
      !["card_arrival", "lost_or_stolen_card", "top_up_failed", "exchange_rate"]
        .includes(cat)
    ) continue;
    const n = keep.get(cat) ?? 0;
    if (n >= 40) continue;
    keep.set(cat, n + 1);
    out.push(line);
  }
  const path = `${dir}/small.csv`;
  await Deno.writeTextFile(path, out.join("\n") + "\n");
  return path;
}

function train(
  csv: string,
  out: string,
  extra: string[] = [],
): Deno.ChildProcess {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      `--allow-write=${out}`,
      "--allow-env",
      CLI,
      "--data",
      csv,
      "--epochs",
      "4",
      "--batch-size",
      "16",
      "--out",
      out,
      ...extra,
    ],
    env: { HEED_BACKEND: "cpu", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
  return cmd.spawn();
}

async function finish(p: Deno.ChildProcess): Promise<string> {
  const { code, stdout, stderr } = await p.output();
  const text = new TextDecoder().decode(stdout) +
    new TextDecoder().decode(stderr);
  assertEquals(code, 0, text);
  return text;
}

async function leaves(path: string): Promise<Float32Array[]> {
  const ck = await loadCheckpoint(path);
  const ts = treeFlatten(ck.params)[0].filter((l): l is Tensor =>
    typeof l !== "number"
  );
  return Promise.all(ts.map((t) => t.data() as Promise<Float32Array>));
}

Deno.test("a training run killed after its first checkpoint resumes to the same parameters", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_resume_" });
  try {
    const csv = await smallCsv(dir);
    // Uninterrupted.
    await finish(train(csv, `${dir}/a`));
    // Interrupted: kill as soon as the first checkpoint exists, then resume.
    const p = train(csv, `${dir}/b`);
    const ckpt = `${dir}/b/checkpoint.safetensors`;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      try {
        await Deno.stat(ckpt);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    p.kill("SIGKILL");
    const status = await p.status;
    assert(
      !status.success,
      "the run finished before it could be killed; make it longer",
    );
    const epochsBefore =
      (await Deno.readTextFile(`${dir}/b/metrics.jsonl`)).trim().split("\n")
        .length;
    assert(epochsBefore < 4, `killed after ${epochsBefore} epochs`);
    const log = await finish(train(csv, `${dir}/b`, ["--resume"]));
    assert(log.includes("test accuracy"), log);
    // The log holds each epoch once, as an uninterrupted run's does.
    const epochs = async (run: string) =>
      (await Deno.readTextFile(`${run}/metrics.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l).epoch ?? "final");
    assertEquals(await epochs(`${dir}/b`), await epochs(`${dir}/a`));
    const [a, b] = await Promise.all([
      leaves(`${dir}/a/checkpoint.safetensors`),
      leaves(ckpt),
    ]);
    assertEquals(a.length, b.length);
    a.forEach((x, i) => assertEquals(b[i], x, `parameter leaf ${i} differs`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
