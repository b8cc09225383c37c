/**
 * A training run's output folder (`--out`): an exclusive lock, writes that
 * never go through symbolic links and are atomic, clean-up of temporaries a
 * killed run left, a metrics log kept consistent with the checkpoint, and
 * `run.json` read as untrusted input.
 *
 * Folder layout: `checkpoint.safetensors`, `run.json`, `metrics.jsonl`,
 * `attention.svg`, `run.lock` while a run holds it, and hidden
 * `.<name>.<uuid>.tmp` files only while a write is under way.
 *
 * @example Lock, write, read back
 * ```ts
 * import { lockRunDir, readRunJson, writeRunJson } from "./run_dir.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using _lock = await lockRunDir(dir, { command: "train" });
 * await writeRunJson(dir, { task: "classify", data: null, seed: 1 });
 * assertEquals((await readRunJson(dir))?.seed, 1);
 * ```
 *
 * @module
 */

import {
  appendLine,
  checkRunDir,
  ensureRunDir,
  readTextSafe,
  RunDirError,
  type SafeOptions,
  safeTarget,
  writeFileAtomic,
} from "./_safe_fs.ts";
import { checkRunInfo, type RunInfo } from "./_safe_run_json.ts";
import { type LockOptions, lockRunDir, type RunLock } from "./_safe_lock.ts";

export {
  appendLine,
  checkRunDir,
  defaultRoot,
  ensureRunDir,
  readTextSafe,
  RunDirError,
  type SafeOptions,
  safeTarget,
  writeFileAtomic,
} from "./_safe_fs.ts";
export {
  LOCK_NAME,
  type LockHolder,
  type LockOptions,
  lockRunDir,
  type RunLock,
  RunLockedError,
} from "./_safe_lock.ts";
export { checkRunInfo, type RunInfo } from "./_safe_run_json.ts";

// `.<name>.<uuid>.tmp`, the temporaries of saveCheckpoint and writeFileAtomic
const TEMP =
  /^\..+\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

/** What {@link cleanStaleTemps} removed. */
export interface CleanReport {
  /** The names removed. */
  readonly removed: readonly string[];
  /** Their total size in bytes. */
  readonly bytes: number;
}

/**
 * Removes the hidden temporaries (`.<name>.<uuid>.tmp`) that a killed run
 * left in `dir`. Call it only while holding the folder's lock, since a live
 * run's temporary looks the same. Other `*.tmp` files are the user's and
 * stay.
 *
 * @example
 * ```ts
 * import { cleanStaleTemps } from "./run_dir.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * const tmp = `.checkpoint.safetensors.${crypto.randomUUID()}.tmp`;
 * await Deno.writeTextFile(`${dir}/${tmp}`, "partial");
 * assertEquals(await cleanStaleTemps(dir), { removed: [tmp], bytes: 7 });
 * ```
 */
export async function cleanStaleTemps(
  dir: string,
  opts: SafeOptions = {},
): Promise<CleanReport> {
  await checkRunDir(dir, opts);
  const removed: string[] = [];
  let bytes = 0;
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !TEMP.test(e.name)) continue; // links and folders stay
    const path = `${dir}/${e.name}`;
    try {
      const info = await Deno.lstat(path);
      await Deno.remove(path);
      removed.push(e.name);
      bytes += info.size;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return { removed: removed.sort(), bytes };
}

/** A run folder opened by {@link openRun}: its lock and what opening did. */
export interface OpenRun extends AsyncDisposable {
  /** The held lock (released with the run). */
  readonly lock: RunLock;
  /** One-line notices for the user: a stale lock taken over, temporaries removed. */
  readonly notices: readonly string[];
}

/**
 * Starts a run in `dir`: creates the folder without creating anything
 * outside its root through a link ({@link SafeOptions.root}), takes its lock ({@link lockRunDir}) and removes
 * the temporaries a killed run left ({@link cleanStaleTemps}). Call it once
 * the inputs have been read and checked, and hold it for the whole run
 * (`await using run = await openRun(out)`).
 *
 * @example
 * ```ts
 * import { openRun } from "./run_dir.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = `${await Deno.makeTempDir()}/x`;
 * await Deno.mkdir(dir);
 * await Deno.writeTextFile(`${dir}/.run.json.${crypto.randomUUID()}.tmp`, "{");
 * await using run = await openRun(dir, { command: "train --out x" });
 * assertEquals(run.notices, [`${dir}: removed 1 temporary file (1 bytes) left by a run that was stopped`]);
 * ```
 */
export async function openRun(
  dir: string,
  opts: LockOptions = {},
): Promise<OpenRun> {
  await ensureRunDir(dir, opts);
  const lock = await lockRunDir(dir, opts);
  try {
    const notices = lock.notice === null ? [] : [lock.notice];
    const { removed, bytes } = await cleanStaleTemps(dir, opts);
    if (removed.length > 0) {
      notices.push(
        `${dir}: removed ${removed.length} temporary file${
          removed.length > 1 ? "s" : ""
        } (${bytes} bytes) left by a run that was stopped`,
      );
    }
    return { lock, notices, [Symbol.asyncDispose]: () => lock.release() };
  } catch (e) {
    await lock.release();
    throw e;
  }
}

/** What {@link truncateMetricsTo} kept and dropped. */
export interface TruncateReport {
  /** Epoch lines kept (one per epoch, 1..epoch). */
  readonly kept: number;
  /** Lines dropped: later epochs, duplicates, summaries, torn lines. */
  readonly dropped: number;
}

/** Options of {@link truncateMetricsTo}. */
export interface TruncateOptions extends SafeOptions {
  /** The log's name in the folder (default `metrics.jsonl`). */
  readonly name?: string;
}

/**
 * Makes the metrics log agree with a checkpoint saved after `epoch`: keeps
 * one line per epoch 1..epoch (the last one written, which is the one the
 * checkpoint saw) in epoch order, and drops later epochs, summary lines,
 * torn or non-JSON lines. Rewrites atomically, and only if anything changes.
 * Call it on `--resume` before appending (with 0 when there is no
 * checkpoint yet).
 *
 * @example A killed epoch 3 logged twice
 * ```ts
 * import { truncateMetricsTo } from "./run_dir.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * const log = ['{"epoch":1}', '{"epoch":2}', '{"epoch":3,"v":0}', '{"epoch":3,"v":1}', '{"epo'];
 * await Deno.writeTextFile(`${dir}/metrics.jsonl`, log.join("\n"));
 * assertEquals(await truncateMetricsTo(dir, 3), { kept: 3, dropped: 2 });
 * assertEquals(
 *   await Deno.readTextFile(`${dir}/metrics.jsonl`),
 *   '{"epoch":1}\n{"epoch":2}\n{"epoch":3,"v":1}\n',
 * );
 * ```
 */
export async function truncateMetricsTo(
  dir: string,
  epoch: number,
  opts: TruncateOptions = {},
): Promise<TruncateReport> {
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new RangeError(
      `truncateMetricsTo: epoch must be a non-negative integer, got ${epoch}`,
    );
  }
  const name = opts.name ?? "metrics.jsonl";
  const text = await readTextSafe(dir, name, opts);
  if (text === null) return { kept: 0, dropped: 0 };
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const byEpoch = new Map<number, string>();
  for (const line of lines) {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      continue; // torn
    }
    const e = (v as { epoch?: unknown } | null)?.epoch;
    if (
      typeof v === "object" && !Array.isArray(v) &&
      typeof e === "number" && Number.isSafeInteger(e) && e >= 1 && e <= epoch
    ) byEpoch.set(e, line);
  }
  const kept = [...byEpoch.keys()].sort((a, b) => a - b).map((e) =>
    byEpoch.get(e)!
  );
  const out = kept.map((l) => `${l}\n`).join("");
  if (out !== text) await writeFileAtomic(dir, name, out, opts);
  return { kept: kept.length, dropped: lines.length - kept.length };
}

/** Appends one metrics record as a JSON line to `dir/metrics.jsonl`. */
export async function appendMetrics(
  dir: string,
  record: Readonly<Record<string, unknown>>,
  opts: TruncateOptions = {},
): Promise<void> {
  await appendLine(
    dir,
    opts.name ?? "metrics.jsonl",
    JSON.stringify(record),
    opts,
  );
}

/**
 * Writes `dir/run.json` atomically, after checking `info` against the
 * schema (a programming error is a TypeError naming the field). Write it
 * only once the run has really started (inputs read, lock held), so a
 * failed start leaves the previous run's records alone.
 */
export async function writeRunJson(
  dir: string,
  info: RunInfo,
  opts: SafeOptions = {},
): Promise<void> {
  const problem = checkRunInfo(info);
  if (problem !== null) throw new TypeError(`writeRunJson: ${problem}`);
  await writeFileAtomic(
    dir,
    "run.json",
    JSON.stringify(info, null, 2) + "\n",
    opts,
  );
}

/**
 * Reads `dir/run.json` as untrusted input: refuses a link or a file over
 * 64 KiB, checks every field's type, and never quotes the file in an error
 * (it names the field). Null when the file does not exist.
 */
export async function readRunJson(
  dir: string,
  opts: SafeOptions = {},
): Promise<RunInfo | null> {
  const text = await readTextSafe(dir, "run.json", {
    ...opts,
    maxBytes: 65536,
  });
  if (text === null) return null;
  const { path } = await safeTarget(dir, "run.json", opts);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new RunDirError(path, `${path} is not valid JSON`);
  }
  const problem = checkRunInfo(v);
  if (problem !== null) throw new RunDirError(path, `${path}: ${problem}`);
  return v as RunInfo;
}
