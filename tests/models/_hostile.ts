// Helpers of the hostile-input suite (tests/models/hostile_*_test.ts): the
// real `deno task train|predict|eval` command lines (their permissions read
// from deno.json), run in a sandbox folder that has a `runs/` folder to write
// and an `outside/` folder that no run may touch; tiny data; checks that an
// error is one clear line; snapshots of every file outside a run folder.

import { assert, assertEquals, assertFalse } from "@std/assert";
import {
  decodeSafetensors,
  encodeSafetensors,
  type HostTensor,
} from "../../models/train/checkpoint.ts";
import { contentCrc, CRC_KEY } from "../../models/train/_safetensors_crc.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** What a command printed and how it ended. */
export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A temporary working folder: `runs/` to write, `outside/` to leave alone. */
export interface Sandbox extends AsyncDisposable {
  readonly dir: string;
}

type Task = "train" | "predict" | "eval";

const taskWords = new Map<Task, string[]>();

/**
 * A deno.json task's words after `deno`, with the script made absolute so
 * the command runs from the sandbox (where `runs/` is the sandbox's).
 */
export async function taskCommand(name: Task): Promise<string[]> {
  const cached = taskWords.get(name);
  if (cached) return cached;
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const [deno, ...words] = (config.tasks[name] as string).split(/\s+/);
  assertEquals(deno, "deno");
  assert(words.includes("--no-prompt"), `${name} lacks --no-prompt`);
  const writes = words.filter((w) => w.startsWith("--allow-write"));
  assertEquals(writes, name === "eval" ? [] : ["--allow-write=runs"]);
  assert(
    words.some((w) => w.startsWith("--allow-env=")),
    `${name} allows every environment variable`,
  );
  const script = `models/cli/${name === "eval" ? "eval" : name}.ts`;
  assertEquals(words.at(-1), script);
  const out = [...words.slice(0, -1), `${ROOT}${script}`];
  taskWords.set(name, out);
  return out;
}

/** Runs `deno task <name> <args>` (its real permissions) in the sandbox. */
export async function task(
  sb: Sandbox,
  name: Task,
  args: readonly string[],
): Promise<Ran> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: [...await taskCommand(name), ...args],
    cwd: sb.dir,
    env: { HEED_BACKEND: "cpu", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: o.code,
    stdout: dec.decode(o.stdout),
    stderr: dec.decode(o.stderr),
  };
}

/** Starts `deno task <name> <args>` in the sandbox without waiting. */
export async function spawnTask(
  sb: Sandbox,
  name: Task,
  args: readonly string[],
): Promise<Deno.ChildProcess> {
  return new Deno.Command(Deno.execPath(), {
    args: [...await taskCommand(name), ...args],
    cwd: sb.dir,
    env: { HEED_BACKEND: "cpu", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** A sandbox with `runs/`, `outside/precious.txt` and `outside/secret.csv`. */
export async function sandbox(): Promise<Sandbox> {
  const dir = await Deno.makeTempDir({ prefix: "heed_hostile_" });
  await Deno.mkdir(`${dir}/runs`);
  await Deno.mkdir(`${dir}/outside`);
  await Deno.writeTextFile(`${dir}/outside/precious.txt`, "keep me\n");
  await Deno.writeTextFile(
    `${dir}/outside/secret.csv`,
    `${SECRET},text,category\n${SECRET},hi,greet\n`,
  );
  return {
    dir,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A string no error may echo: it lives only in files outside the runs. */
export const SECRET = "SECRET_TOKEN_hunter2";

const GREET = ["hello there", "hi friend", "good morning", "hey you"];
const LEAVE = ["bye now", "see you later", "good night", "farewell friend"];

/** `rows` labelled rows (half greet, half leave) as CSV text. */
export function tinyCsv(rows = 48, labels = ["greet", "leave"]): string {
  const lines = ["text,category"];
  for (let i = 0; i < rows; i++) {
    const words = i % 2 === 0 ? GREET : LEAVE;
    lines.push(
      `"${words[(i >> 1) % 4]} w${i % 5} x${i % 7}",${labels[i % 2]}`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Train flags of a run of a few tenths of a second. */
export const TINY: readonly string[] = [
  "--epochs",
  "1",
  "--batch-size",
  "8",
  "--backend",
  "cpu",
];

/**
 * Trains a tiny classifier into `runs/<name>` from `<name>.csv` (written
 * here) and returns the folder; `extra` adds train flags.
 */
export async function trainTiny(
  sb: Sandbox,
  name: string,
  extra: readonly string[] = [],
  csv: string = tinyCsv(),
): Promise<string> {
  await Deno.writeTextFile(`${sb.dir}/${name}.csv`, csv);
  const out = `runs/${name}`;
  const r = await task(sb, "train", [
    "--data",
    `${name}.csv`,
    ...TINY,
    ...extra,
    "--out",
    out,
  ]);
  assertEquals(r.code, 0, r.stderr);
  return out;
}

/** Copies run folder `from` to `runs/<to>` (a fresh copy of a trained run). */
export async function copyRun(
  sb: Sandbox,
  from: string,
  to: string,
): Promise<string> {
  const out = `runs/${to}`;
  await Deno.mkdir(`${sb.dir}/${out}`);
  for await (const e of Deno.readDir(`${sb.dir}/${from}`)) {
    if (e.isFile) {
      await Deno.copyFile(
        `${sb.dir}/${from}/${e.name}`,
        `${sb.dir}/${out}/${e.name}`,
      );
    }
  }
  return out;
}

/**
 * Asserts a clear failure of command `cmd`: a non-zero exit, exactly one
 * line on stderr starting `<cmd>: `, no stack frame, no secret, and each
 * of `includes` in the line.
 */
export function assertOneLineError(
  r: Ran,
  cmd: Task,
  ...includes: string[]
): string {
  const why = `exit ${r.code}, stderr:\n${r.stderr}`;
  assert(r.code !== 0, why);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assertEquals(lines.length, 1, why);
  const line = lines[0]!;
  assert(line.startsWith(`${cmd}: `), why);
  assertFalse(/^\s+at |\bat (async )?(file|ext):/m.test(r.stderr), why);
  assertFalse(r.stderr.includes(SECRET) || r.stdout.includes(SECRET), why);
  for (const s of includes) assert(line.includes(s), `"${s}" missing: ${why}`);
  return line;
}

/** Each file's size, mtime and SHA-256 under `dir`, links as their targets. */
export async function snapshot(
  dir: string,
  skip: readonly string[] = [],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string) => {
    for await (const e of Deno.readDir(d)) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (skip.includes(r)) continue;
      const p = `${d}/${e.name}`;
      if (e.isSymlink) out[r] = `link -> ${await Deno.readLink(p)}`;
      else if (e.isDirectory) {
        out[r] = "folder";
        await walk(p, r);
      } else {
        const info = await Deno.lstat(p);
        out[r] = `${info.size} ${info.mtime?.getTime()} ${await sha256(p)}`;
      }
    }
  };
  await walk(dir, "");
  return out;
}

/** Snapshots the sandbox except run folder `out`; call `check()` after. */
export async function outsideOf(
  sb: Sandbox,
  out: string,
): Promise<{ check(): Promise<void> }> {
  const before = await snapshot(sb.dir, [out]);
  return {
    async check() {
      assertEquals(
        await snapshot(sb.dir, [out]),
        before,
        "a file outside --out changed",
      );
    },
  };
}

/** Hex SHA-256 of a file. */
export async function sha256(path: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** The contents of run folder files, to compare before and after. */
export async function records(
  sb: Sandbox,
  out: string,
): Promise<Record<string, string>> {
  const r: Record<string, string> = {};
  for (const n of ["checkpoint.safetensors", "run.json", "metrics.jsonl"]) {
    r[n] = await sha256(`${sb.dir}/${out}/${n}`).catch(() => "absent");
  }
  return r;
}

/** Names in `dir` that are temporaries or a lock left behind. */
export async function leftovers(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.endsWith(".tmp") || e.name === "run.lock") names.push(e.name);
  }
  return names;
}

/**
 * Rewrites a checkpoint consistently (its CRC recomputed), as a buggy or
 * foreign writer would: `edit` changes tensors or metadata in place.
 */
export async function rewriteCheckpoint(
  path: string,
  edit: (
    tensors: Record<string, HostTensor>,
    metadata: Record<string, string>,
  ) => void,
): Promise<void> {
  const { tensors, metadata } = decodeSafetensors(await Deno.readFile(path));
  edit(tensors, metadata);
  delete metadata[CRC_KEY];
  metadata[CRC_KEY] = contentCrc(tensors, metadata);
  await Deno.writeFile(path, encodeSafetensors(tensors, metadata));
}

/** The `fit` progress a checkpoint's metadata records. */
export function fitProgress(
  bytes: Uint8Array,
): { epoch: number; history: { epoch: number; loss: number }[] } {
  return JSON.parse(decodeSafetensors(bytes).metadata.fit!);
}

/** metrics.jsonl as parsed records. */
export async function metricsOf(
  sb: Sandbox,
  out: string,
): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(`${sb.dir}/${out}/metrics.jsonl`);
  assert(text.endsWith("\n"), "metrics.jsonl ends in a torn line");
  return text.trimEnd().split("\n").map((l) => JSON.parse(l));
}

/**
 * Asserts metrics.jsonl holds epochs 1..n once each in order, with the
 * losses the checkpoint's history records (n its last epoch), then one
 * summary line; and that no temporary or lock is left.
 */
export async function assertConsistent(
  sb: Sandbox,
  out: string,
): Promise<void> {
  const lines = await metricsOf(sb, out);
  const epochs = lines.slice(0, -1).map((l) => l.epoch);
  const fit = fitProgress(
    await Deno.readFile(`${sb.dir}/${out}/checkpoint.safetensors`),
  );
  assertEquals(epochs, Array.from({ length: fit.epoch }, (_, i) => i + 1));
  assertEquals(epochs, fit.history.map((h) => h.epoch));
  assertEquals(
    lines.slice(0, -1).map((l) => l.loss),
    fit.history.map((h) => h.loss),
  );
  assertEquals(lines.at(-1)!.epoch, undefined, "no summary line at the end");
  assertEquals(await leftovers(`${sb.dir}/${out}`), []);
}
