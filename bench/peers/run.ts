/**
 * The side-by-side benchmark driver (`deno task bench:peers`).
 *
 * Runs heed on every backend it lists, TensorFlow.js 4.22.0 (wasm, webgpu,
 * cpu) and jax-js 0.1.25 (wasm and webgpu, eager and jit), each
 * library × backend in its own subprocess, one after another. Every script
 * times the same workloads on the same deterministic inputs
 * (`_workloads.ts`) and reports checksums of its outputs, which are
 * cross-checked here. Prints one markdown table (median [min–max] of the
 * timed calls, ratios to heed), then the cold calls, and writes it all to
 * `RESULTS.md` (full runs only, unless `--out` says where).
 *
 * ```sh
 * deno task bench:peers            # full: every size, ≥ 5 reps (about 20 min on 2 cores)
 * deno task bench:peers --quick    # smoke run: small sizes, short budgets (about 1.5 min)
 * deno task bench:peers --columns heed,jax-js:wasm-jit --workloads matmul-1024
 * deno task bench:peers --jit --quick  # heed jit vs eager, jax-js jit, tfjs, interleaved (about 30 s)
 * deno task bench:peers --jit          # more workloads and calls, tfjs webgpu too (about 6 min; RESULTS_jit.md)
 * ```
 *
 * heed runs eager (`heed:wasm`) and under `jit` (`heed:wasm-jit`) on every
 * backend it lists. `--jit` runs the jit comparison instead of the table
 * (see `_jit_mode.ts`) and writes `RESULTS_jit.md`: with `--interleave
 * calls` (the default) every workload's columns run side by side, one
 * process each, taking turns for `--rounds N` (7) rounds of `--reps N`
 * timed calls (quick 2, else 3); with `--interleave processes`, `--rounds`
 * (5) rounds of a fresh process per cell.
 *
 * Flags: `--quick`; `--columns a,b` (library or library:backend[-jit]);
 * `--workloads a,b`; `--reps N` (default 7; quick 5), `--min-reps N` (5),
 * `--warmup N` (2; quick 1); per-cell budgets `--cold-budget-s` (60; quick
 * 10), `--warm-budget-s` (5; quick 2), `--rep-budget-s` (90; quick 10);
 * `--tol X` checksum tolerance relative to Σ|x| (1e-4); `--ratios all` for a
 * ratio column per heed backend × peer; `--out PATH`, `--no-write`;
 * `--no-lock` is passed on to the subprocesses; `--verbose` echoes their
 * stderr; `--shader-cache keep` leaves Mesa's on-disk shader cache as it is
 * (by default each column gets a fresh empty one, so cold calls include
 * every shader compilation).
 *
 * Exit status 1 when a heed cell fails or disagrees with the consensus of
 * the other outputs; peers' failures only show in the table.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type JitCellRun,
  loadAvg,
  runJitMode,
  type Server,
} from "./_jit_mode.ts";
import {
  type CellResult,
  compareChecksums,
  type Event,
  flops,
  label,
  type LibraryInfo,
  MARK,
  median,
  QUICK_WORKLOADS,
  type Workload,
  workload,
  WORKLOADS,
} from "./_workloads.ts";

// ------------------------------------------------------------------ options

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    jit: { type: "boolean", default: false },
    rounds: { type: "string" },
    interleave: { type: "string", default: "calls" },
    columns: { type: "string" },
    workloads: { type: "string" },
    reps: { type: "string" },
    "min-reps": { type: "string" },
    warmup: { type: "string" },
    "cold-budget-s": { type: "string" },
    "warm-budget-s": { type: "string" },
    "rep-budget-s": { type: "string" },
    tol: { type: "string", default: "1e-4" },
    ratios: { type: "string", default: "best" },
    out: { type: "string" },
    "no-write": { type: "boolean", default: false },
    "no-lock": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    "shader-cache": { type: "string", default: "fresh" },
  },
});

const quick = flags.quick;
const settings = {
  reps: flags.reps ?? (quick ? "5" : "7"),
  "min-reps": flags["min-reps"] ?? "5",
  warmup: flags.warmup ?? (quick ? "1" : "2"),
  "cold-budget-s": flags["cold-budget-s"] ?? (quick ? "10" : "60"),
  "warm-budget-s": flags["warm-budget-s"] ?? (quick ? "2" : "5"),
  "rep-budget-s": flags["rep-budget-s"] ?? (quick ? "10" : "90"),
};
const coldBudgetMs = Number(settings["cold-budget-s"]) * 1000;
const warmBudgetMs = Number(settings["warm-budget-s"]) * 1000;
const repBudgetMs = Number(settings["rep-budget-s"]) * 1000;
const tol = Number(flags.tol);
const freshShaderCache = flags["shader-cache"] !== "keep";
const GRACE_MS = quick ? 5_000 : 30_000;
const INIT_TIMEOUT_MS = 180_000;
const PREPARE_TIMEOUT_MS = 120_000;

const workloads: Workload[] =
  (flags.workloads
    ? flags.workloads.split(",").filter((s) => s !== "")
    : quick
    ? [...QUICK_WORKLOADS]
    : WORKLOADS.map((w) => w.id)).map(workload);

// ------------------------------------------------------------------ columns

/** One library × backend: a column of the table and a subprocess. */
interface Column {
  /** `library:backend[-jit]`, as `--columns` spells it. */
  key: string;
  /** Table header. */
  label: string;
  library: "heed" | "tfjs" | "jax-js";
  script: string;
  backend: string;
  jit: boolean;
  /** The kind of device, for same-backend ratios. */
  device: string;
}

const here = new URL(".", import.meta.url);
const scriptPath = (name: string) => new URL(name, here).pathname;

function peerColumns(): Column[] {
  const tfjs = (backend: string): Column => ({
    key: `tfjs:${backend}`,
    label: `tfjs ${backend}`,
    library: "tfjs",
    script: scriptPath("tfjs.ts"),
    backend,
    jit: false,
    device: backend,
  });
  const jax = (backend: string, jit: boolean): Column => ({
    key: `jax-js:${backend}${jit ? "-jit" : ""}`,
    label: `jax-js ${backend}${jit ? " jit" : ""}`,
    library: "jax-js",
    script: scriptPath("jaxjs.ts"),
    backend,
    jit,
    device: backend,
  });
  return [
    tfjs("wasm"),
    jax("wasm", false),
    jax("wasm", true),
    tfjs("webgpu"),
    jax("webgpu", false),
    jax("webgpu", true),
    tfjs("cpu"),
  ];
}

function heedColumn(backend: string, jit: boolean): Column {
  return {
    key: `heed:${backend}${jit ? "-jit" : ""}`,
    label: `heed ${backend}${jit ? " jit" : ""}`,
    library: "heed",
    script: scriptPath("heed.ts"),
    backend,
    jit,
    device: backend,
  };
}

function wanted(c: Pick<Column, "library" | "key">): boolean {
  if (!flags.columns) return true;
  return flags.columns.split(",").some((f) => f === c.library || f === c.key);
}

function denoArgs(script: string, args: string[]): string[] {
  return [
    "run",
    "--allow-read",
    "--allow-env",
    ...(flags["no-lock"] ? ["--no-lock"] : []),
    script,
    ...args,
  ];
}

// --------------------------------------------------------------- subprocess

/** Splits a byte stream into lines. */
async function* lines(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  if (buf !== "") yield buf;
}

/** Keeps the tail of a stream, echoing it when verbose. */
async function drain(
  stream: ReadableStream<Uint8Array>,
  into: { text: string },
  echo: boolean,
): Promise<void> {
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    if (echo) Deno.stderr.writeSync(new TextEncoder().encode(chunk));
    into.text = (into.text + chunk).slice(-4000);
  }
}

const TIMEOUT = Symbol("timeout");

/** Result of one column: a cell result per workload id. */
interface ColumnRun {
  column: Column;
  info: LibraryInfo | null;
  initMs: number | null;
  results: Map<string, CellResult & { killed?: boolean }>;
  peakRssMiB: number | null;
  restarts: number;
  wallMs: number;
}

function log(msg: string): void {
  console.error(msg);
}

function fmtS(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Runs a column's workloads in subprocesses, restarting after a cell that
 * had to be killed for running past its budget.
 */
async function runColumn(col: Column, ids: string[]): Promise<ColumnRun> {
  const run: ColumnRun = {
    column: col,
    info: null,
    initMs: null,
    results: new Map(),
    peakRssMiB: null,
    restarts: 0,
    wallMs: 0,
  };
  const t0 = performance.now();
  // Mesa keeps compiled shaders on disk: a fresh cache per column makes the
  // cold call the first-run cost, whatever ran on this machine before.
  const cacheDir = freshShaderCache
    ? Deno.makeTempDirSync({ prefix: "heed-bench-shaders-" })
    : null;
  const env: Record<string, string> = cacheDir
    ? { MESA_SHADER_CACHE_DIR: cacheDir }
    : {};
  let remaining = [...ids];
  while (remaining.length > 0) {
    const args = [
      "--backend",
      col.backend,
      ...(col.jit ? ["--jit"] : []),
      "--workloads",
      remaining.join(","),
      ...Object.entries(settings).flatMap(([k, v]) => [`--${k}`, v]),
    ];
    const child = new Deno.Command(Deno.execPath(), {
      args: denoArgs(col.script, args),
      env,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const stderr = { text: "" };
    const stderrDone = drain(child.stderr, stderr, flags.verbose);
    const it = lines(child.stdout);
    let current: string | null = null;
    let currentCold: number | undefined;
    let deadline = INIT_TIMEOUT_MS;
    let fatal: string | null = null;
    let killed = false;
    let done = false;
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<typeof TIMEOUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMEOUT), deadline);
      });
      const next = await Promise.race([it.next(), timeout]);
      clearTimeout(timer);
      if (next === TIMEOUT) {
        killed = true;
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
        break;
      }
      if (next.done) break;
      const line = next.value;
      if (!line.startsWith(MARK)) continue;
      const e = JSON.parse(line.slice(MARK.length)) as Event;
      switch (e.event) {
        case "init":
          run.info = e.info;
          run.initMs = e.initMs;
          deadline = PREPARE_TIMEOUT_MS;
          break;
        case "start":
          current = e.id;
          currentCold = undefined;
          deadline = coldBudgetMs + GRACE_MS;
          break;
        case "cold":
          currentCold = e.coldMs;
          log(`  [${col.label}] ${e.id}: cold ${fmtMs(e.coldMs)} ms`);
          deadline = 2 * e.coldMs + warmBudgetMs + 1.5 * repBudgetMs +
            GRACE_MS;
          break;
        case "result":
          run.results.set(e.id, e);
          run.peakRssMiB = Math.max(run.peakRssMiB ?? 0, e.peakRssMiB ?? 0) ||
            null;
          remaining = remaining.filter((id) => id !== e.id);
          current = null;
          deadline = PREPARE_TIMEOUT_MS;
          log(`  [${col.label}] ${e.id}: ${summary(e)}`);
          break;
        case "done":
          done = true;
          run.peakRssMiB = Math.max(run.peakRssMiB ?? 0, e.peakRssMiB ?? 0);
          break;
        case "fatal":
          fatal = e.message;
          break;
        case "backends":
          break;
      }
    }
    await it.return(undefined);
    await child.status;
    await stderrDone;
    if (done) break;
    if (fatal !== null || (current === null && !killed)) {
      // The backend did not start, or the script died between cells.
      const why = fatal ?? `process ended early: ${lastLine(stderr.text)}`;
      for (const id of remaining) {
        run.results.set(id, {
          event: "result",
          id,
          status: "error",
          note: why,
        });
      }
      log(`  [${col.label}] failed: ${why}`);
      break;
    }
    const id = current ?? remaining[0]!;
    const note = !killed
      ? `process died: ${lastLine(stderr.text)}`
      : current === null
      ? `killed: no progress in ${fmtS(deadline)} (start-up or input upload)`
      : currentCold === undefined
      ? `killed: no cold result in ${fmtS(deadline)} (cold budget ${
        fmtS(coldBudgetMs)
      })`
      : `killed: timed calls ran past ${fmtS(deadline)}`;
    run.results.set(id, {
      event: "result",
      id,
      status: killed ? "skipped" : "error",
      ...(current !== null && currentCold !== undefined
        ? { coldMs: currentCold }
        : {}),
      note,
      killed,
    });
    log(`  [${col.label}] ${id}: ${note}`);
    remaining = remaining.filter((x) => x !== id);
    run.restarts++;
  }
  run.wallMs = performance.now() - t0;
  if (cacheDir) Deno.removeSync(cacheDir, { recursive: true });
  return run;
}

function lastLine(text: string): string {
  const ls = text.split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("at ")
  );
  // deno-lint-ignore no-control-regex
  return (ls.at(-1) ?? "no output").replace(/\x1b\[[0-9;]*m/g, "").slice(
    0,
    300,
  );
}

function summary(r: CellResult): string {
  if (r.status !== "ok") return `${r.status}: ${r.note ?? ""}`;
  return `median ${fmtMs(r.medianMs!)} ms [${fmtMs(r.minMs!)}–${
    fmtMs(r.maxMs!)
  }], ${r.timesMs!.length} reps`;
}

/** heed's backends, from a subprocess (so nothing heed loads stays here). */
async function heedBackends(): Promise<
  { backends: string[]; defaultBackend: string | null }
> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: denoArgs(scriptPath("heed.ts"), ["--list-backends"]),
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  for (const line of text.split("\n")) {
    if (!line.startsWith(MARK)) continue;
    const e = JSON.parse(line.slice(MARK.length)) as Event;
    if (e.event === "backends") return e;
  }
  throw new Error(
    `heed --list-backends printed nothing: ${
      lastLine(new TextDecoder().decode(out.stderr))
    }`,
  );
}

// ------------------------------------------------------------------ machine

function cpuModel(): string {
  try {
    const text = Deno.readTextFileSync("/proc/cpuinfo");
    const m = /^model name\s*:\s*(.+)$/m.exec(text);
    return m ? m[1]!.trim() : "unknown CPU";
  } catch {
    return "unknown CPU (no /proc/cpuinfo)";
  }
}

/** Fraction of all cores busy over `ms`, from /proc/stat. */
async function cpuBusy(ms: number): Promise<number | null> {
  const read = () => {
    const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = v[3]! + (v[4] ?? 0);
    return { idle, total: v.reduce((a, b) => a + b, 0) };
  };
  try {
    const a = read();
    await new Promise((r) => setTimeout(r, ms));
    const b = read();
    return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
  } catch {
    return null;
  }
}

/**
 * The adapter's description and limits, and the round trip of an empty
 * readback (a 4-byte copy and `mapAsync`): a floor under every WebGPU cell.
 */
async function adapterText(): Promise<string> {
  try {
    const gpu = (navigator as { gpu?: GPU }).gpu;
    if (!gpu) return "no WebGPU";
    const a = await gpu.requestAdapter();
    if (!a) return "no WebGPU adapter";
    const info = a.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
    const soft = info.isFallbackAdapter
      ? "software (fallback) adapter"
      : "hardware adapter";
    const device = await a.requestDevice();
    const src = device.createBuffer({
      size: 4,
      usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.STORAGE,
    });
    const dst = device.createBuffer({
      size: 4,
      usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
    });
    const trips: number[] = [];
    for (let i = 0; i < 9; i++) {
      const t0 = performance.now();
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(src, 0, dst, 0, 4);
      device.queue.submit([enc.finish()]);
      await dst.mapAsync(GPUMapMode.READ);
      dst.unmap();
      trips.push(performance.now() - t0);
    }
    device.destroy();
    return `${info.description || info.vendor || "unnamed"} — ${soft}; ` +
      `maxComputeWorkgroupsPerDimension ${a.limits.maxComputeWorkgroupsPerDimension}, ` +
      `maxStorageBufferBindingSize ${
        (a.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)
      } MiB; an empty readback (copy 4 bytes + mapAsync) takes ${
        fmtMs(median(trips))
      } ms, a floor under every WebGPU cell`;
  } catch (e) {
    return `WebGPU error: ${e instanceof Error ? e.message : String(e)}`;
  }
}

// ------------------------------------------------------------------- tables

/** Milliseconds to three significant digits. */
function fmtMs(ms: number): string {
  if (ms >= 1000) return Math.round(ms).toLocaleString("en-US");
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

function fmtRate(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function fmtRatio(x: number): string {
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
}

/** Footnotes, numbered in order of first use. */
class Notes {
  readonly list: string[] = [];
  ref(text: string): string {
    let i = this.list.indexOf(text);
    if (i < 0) {
      this.list.push(text);
      i = this.list.length - 1;
    }
    return `[${i + 1}]`;
  }
}

interface Report {
  table: string;
  cold: string;
  footnotes: string[];
  mismatches: string[];
  heedFailures: string[];
}

/**
 * For each workload, the checksums that agree with the most others are the
 * reference (ties prefer heed's first backend); returns, per column key and
 * workload id, why a column disagrees.
 */
function crossCheck(runs: ColumnRun[]): Map<string, string> {
  const bad = new Map<string, string>();
  for (const w of workloads) {
    const have = runs.filter((r) => r.results.get(w.id)?.checksums);
    if (have.length < 2) continue;
    const sums = have.map((r) => r.results.get(w.id)!.checksums!);
    let best = 0, bestVotes = -1;
    sums.forEach((s, i) => {
      const votes = sums.filter((t) => compareChecksums(s, t, tol) === null)
        .length;
      if (votes > bestVotes) {
        best = i;
        bestVotes = votes;
      }
    });
    have.forEach((r, i) => {
      const why = compareChecksums(sums[i]!, sums[best]!, tol);
      if (why) {
        bad.set(
          `${r.column.key}|${w.id}`,
          `${r.column.label} disagrees with ${
            have[best]!.column.label
          } on ${w.id}: ${why}`,
        );
      }
    });
  }
  return bad;
}

function report(runs: ColumnRun[]): Report {
  const notes = new Notes();
  const bad = crossCheck(runs);
  const heeds = runs.filter((r) => r.column.library === "heed");
  const peers = runs.filter((r) => r.column.library !== "heed");
  const usable = (r: ColumnRun, id: string): number | null => {
    const c = r.results.get(id);
    return c?.status === "ok" && !bad.has(`${r.column.key}|${id}`)
      ? c.medianMs!
      : null;
  };
  const bestOf = (
    rs: ColumnRun[],
    id: string,
  ): { run: ColumnRun; ms: number } | null => {
    let best: { run: ColumnRun; ms: number } | null = null;
    for (const r of rs) {
      const ms = usable(r, id);
      if (ms !== null && (best === null || ms < best.ms)) best = { run: r, ms };
    }
    return best;
  };

  type RatioCol = { header: string; cell: (id: string) => string };
  const ratioCols: RatioCol[] = [];
  for (const h of heeds) {
    const ratio = (id: string, rs: ColumnRun[], named: boolean): string => {
      const hm = usable(h, id);
      const b = bestOf(rs, id);
      if (hm === null || b === null) return "—";
      return `${fmtRatio(b.ms / hm)}${named ? ` (${b.run.column.label})` : ""}`;
    };
    if (flags.ratios === "all") {
      for (const p of peers) {
        ratioCols.push({
          header: `${p.column.label} / ${h.column.label}`,
          cell: (id) => ratio(id, [p], false),
        });
      }
    } else {
      ratioCols.push({
        header: `best peer / ${h.column.label}`,
        cell: (id) => ratio(id, peers, true),
      });
      const same = peers.filter((p) => p.column.device === h.column.device);
      if (same.length > 0) {
        ratioCols.push({
          header: `best ${h.column.device} peer / ${h.column.label}`,
          cell: (id) => ratio(id, same, true),
        });
      }
    }
  }

  const cell = (r: ColumnRun, w: Workload): string => {
    const c = r.results.get(w.id);
    if (!c) return "";
    const mismatch = bad.get(`${r.column.key}|${w.id}`);
    const flag = mismatch ? `**⚠ MISMATCH** ${notes.ref(mismatch)} ` : "";
    if (c.status !== "ok") {
      return `${flag}— ${
        notes.ref(`${r.column.label}, ${w.id}: ${c.status}: ${c.note ?? ""}`)
      }`;
    }
    const med = c.medianMs!;
    let text = `${fmtMs(med)} [${fmtMs(c.minMs!)}–${fmtMs(c.maxMs!)}]`;
    const f = flops(w);
    if (f !== null) text += ` · ${fmtRate(f / (med * 1e6))} GFLOP/s`;
    if (w.kind === "mlp") text += ` · ${fmtRate(1000 / med)} steps/s`;
    if (c.note) {
      text += ` ${notes.ref(`${r.column.label}, ${w.id}: ${c.note}`)}`;
    }
    return flag + text;
  };

  const header = [
    "workload (median ms [min–max])",
    ...runs.map((r) => r.column.label),
    ...ratioCols.map((c) => c.header),
  ];
  const rows = [
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
  ];
  for (const w of workloads) {
    rows.push(
      `| ${
        [
          label(w),
          ...runs.map((r) => cell(r, w)),
          ...ratioCols.map((c) => c.cell(w.id)),
        ]
          .join(" | ")
      } |`,
    );
  }
  rows.push(
    `| peak RSS of the process, MiB | ${
      runs.map((r) => (r.peakRssMiB ? r.peakRssMiB.toFixed(0) : "—")).join(
        " | ",
      )
    }${" | ".repeat(ratioCols.length)} |`,
  );

  const coldHeader = [
    "cold call, ms (first call: compile/trace)",
    ...runs.map((r) => r.column.label),
  ];
  const cold = [
    `| ${coldHeader.join(" | ")} |`,
    `|${coldHeader.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
  ];
  for (const w of workloads) {
    cold.push(`| ${label(w)} | ${
      runs.map((r) => {
        const c = r.results.get(w.id);
        if (!c) return "";
        if (c.coldMs !== undefined) return fmtMs(c.coldMs);
        return c.killed ? `> ${fmtS(coldBudgetMs)}` : "—";
      }).join(" | ")
    } |`);
  }

  const heedFailures: string[] = [];
  for (const h of heeds) {
    for (const w of workloads) {
      const c = h.results.get(w.id);
      if (!c || c.status === "error") {
        heedFailures.push(
          `${h.column.label}, ${w.id}: ${c?.note ?? "no result"}`,
        );
      }
      const m = bad.get(`${h.column.key}|${w.id}`);
      if (m) heedFailures.push(m);
    }
  }
  return {
    table: rows.join("\n"),
    cold: cold.join("\n"),
    footnotes: notes.list.map((n, i) => `[${i + 1}] ${n}`),
    mismatches: [...bad.values()],
    heedFailures,
  };
}

// --------------------------------------------------------------------- main

const started = new Date();
const busyBefore = await cpuBusy(1000);
const adapter = await adapterText();
log(`adapter: ${adapter}`);
log(
  `machine busy before the run: ${
    busyBefore === null ? "unknown" : `${(busyBefore * 100).toFixed(0)}%`
  }`,
);

const columns: Column[] = [];
let heedDefault: string | null = null;
let heedListed: string[] = [];
try {
  const hb = await heedBackends();
  heedDefault = hb.defaultBackend;
  heedListed = hb.backends;
  columns.push(
    ...hb.backends.flatMap((b) => [heedColumn(b, false), heedColumn(b, true)]),
  );
} catch (e) {
  log(`cannot list heed's backends: ${e instanceof Error ? e.message : e}`);
}
columns.push(...peerColumns());
if (flags.jit) {
  await jitMain();
  Deno.exit(0);
}
const selected = columns.filter(wanted);
if (selected.length === 0) {
  log("no column selected");
  Deno.exit(1);
}

const runs: ColumnRun[] = [];
for (const col of selected) {
  log(`${col.label} …`);
  runs.push(await runColumn(col, workloads.map((w) => w.id)));
}
const busyAfter = await cpuBusy(1000);
const r = report(runs);

const pct = (
  x: number | null,
) => (x === null ? "unknown" : `${(x * 100).toFixed(0)}%`);
const shared = (busyBefore ?? 0) > 0.1 || (busyAfter ?? 0) > 0.1;
const totalS = runs.reduce((s, x) => s + x.wallMs, 0) / 1000;
const header = [
  `# heed vs peers, side by side${quick ? " (--quick)" : ""}`,
  "",
  `- Date: ${started.toISOString()}`,
  `- Machine: ${cpuModel()}, ${navigator.hardwareConcurrency} logical cores; ` +
  `other load: ${pct(busyBefore)} of all cores busy just before the run, ` +
  `${pct(busyAfter)} just after (load average at the end: ${loadAvg()})` +
  (shared
    ? " — **the machine was shared**: absolute numbers are noisy, ratios less so"
    : " (idle)"),
  `- Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.target}`,
  `- WebGPU adapter: ${adapter}`,
  `- heed backends measured: ${
    runs.filter((x) => x.column.library === "heed").map((x) => x.column.backend)
      .join(", ") || "none"
  } (heed lists ${heedListed.join(", ") || "none"}${
    heedDefault ? `; default here: ${heedDefault}` : ""
  })`,
  `- Peers: TensorFlow.js 4.22.0 (tfjs-core, -backend-cpu/-wasm/-webgpu, and @tensorflow/tfjs for gradients), jax-js 0.1.25`,
  `- Mesa shader cache: ${
    freshShaderCache
      ? "a fresh empty one per column (cold calls include every shader compilation)"
      : "left as found (cold calls may reuse shaders compiled by earlier runs)"
  }`,
  `- Settings: ${
    Object.entries(settings).map(([k, v]) => `${k} ${v}`).join(", ")
  }, checksum tolerance ${tol} of Σ|x|; ${totalS.toFixed(0)} s in all`,
  "",
  "Protocol: each library × backend runs in its own process, one after another, on the same " +
  "deterministic float32 inputs. A call computes and reads every output back to the host " +
  "(that is the wait for the device, the same for every library). The first (cold) call, " +
  "with compilation and tracing, is in the second table; after warm-up calls the table " +
  "shows the median [min–max] of the timed calls in ms. Outputs are cross-checked on the " +
  "host: a cell that disagrees with the consensus is marked **⚠ MISMATCH** and left out of " +
  "the ratios. Cells whose calls ran past their time budget show —.",
  "",
  "**Ratio columns: peer median time / heed median time — above 1 means heed is faster** " +
  "(for matmul the same as heed GFLOP/s / peer GFLOP/s). " +
  "The best peer is the fastest peer column on that row, named in the cell.",
  "",
];
const columnNotes = runs.map((x) => {
  const n = x.info?.notes ?? [];
  return `- ${x.column.label}: ${
    x.info ? `${x.info.library}, backend ${x.info.backend}` : "did not start"
  }` +
    `${x.initMs !== null ? `, init ${fmtMs(x.initMs)} ms` : ""}, ${
      fmtS(x.wallMs)
    } in all` +
    `${
      x.restarts
        ? `, restarted ${x.restarts}× after a cell ran past its budget`
        : ""
    }` +
    `${n.length ? `; ${n.join("; ")}` : ""}`;
});
const doc = [
  ...header,
  ...(r.mismatches.length
    ? [
      `**⚠ ${r.mismatches.length} CHECKSUM MISMATCH${
        r.mismatches.length > 1 ? "ES" : ""
      }: outputs disagree; see the notes under the tables.**`,
      "",
    ]
    : []),
  r.table,
  "",
  r.cold,
  "",
  ...(r.footnotes.length
    ? ["Notes:", "", ...r.footnotes.map((f) => `- ${f}`), ""]
    : []),
  "Processes:",
  "",
  ...columnNotes,
  "",
].join("\n");

console.log(doc);

if (r.mismatches.length > 0) {
  log("\n!!! CHECKSUM MISMATCH !!!");
  for (const m of r.mismatches) log(`!!! ${m}`);
}
const outPath = flags.out ?? (quick ? null : scriptPath("RESULTS.md"));
if (outPath && !flags["no-write"]) {
  Deno.writeTextFileSync(outPath, doc);
  // Wrap and align it as `deno fmt --check` expects of a committed file.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", outPath],
    stdout: "null",
    stderr: "inherit",
  }).output();
  log(`wrote ${outPath}`);
}
if (r.heedFailures.length > 0) {
  log("\nheed failed:");
  for (const m of r.heedFailures) log(`  ${m}`);
  Deno.exit(1);
}

// ----------------------------------------------------------------- --jit

/** `--jit`: the interleaved comparison of heed jit (`_jit_mode.ts`). */
async function jitMain(): Promise<void> {
  const byCalls = flags.interleave !== "processes";
  const rounds = Number(flags.rounds ?? (byCalls ? 7 : 5));
  const repsPerRound = Number(flags.reps ?? (quick ? 2 : 3));
  const t0 = performance.now();
  const infos = new Map<string, string>();
  const rep = await runJitMode({
    quick,
    rounds,
    columns,
    wanted,
    workloads: flags.workloads
      ? flags.workloads.split(",").filter((s) => s !== "")
      : null,
    tol,
    log,
    repsPerRound,
    coldBudgetMs,
    ...(byCalls
      ? {
        serve: async (col) => {
          const s = await serveColumn(col as Column);
          if (typeof s !== "string") {
            infos.set(col.label, infoText(s.info));
          }
          return s;
        },
      }
      : {}),
    runCell: async (col, id): Promise<JitCellRun> => {
      const run = await runColumn(col as Column, [id]);
      if (run.info) infos.set(col.label, infoText(run.info));
      return {
        result: run.results.get(id) ?? null,
        peakRssMiB: run.peakRssMiB,
        info: run.info,
      };
    },
  });
  const busyAfter = await cpuBusy(1000);
  const totalS = (performance.now() - t0) / 1000;
  const pct = (x: number | null) =>
    x === null ? "unknown" : `${(x * 100).toFixed(0)}%`;
  const doc = [
    `# heed jit vs heed eager, jax-js jit and tfjs, interleaved${
      quick ? " (--quick)" : ""
    }`,
    "",
    `- Date: ${started.toISOString()}`,
    `- Command: \`deno task bench:peers --jit${quick ? " --quick" : ""}${
      flags.rounds ? ` --rounds ${flags.rounds}` : ""
    }${flags.reps ? ` --reps ${flags.reps}` : ""}${
      byCalls ? "" : " --interleave processes"
    }${flags.columns ? ` --columns ${flags.columns}` : ""}${
      flags.workloads ? ` --workloads ${flags.workloads}` : ""
    }${flags.out ? ` --out ${flags.out}` : ""}\``,
    `- Machine: ${cpuModel()}, ${navigator.hardwareConcurrency} logical cores; ` +
    `${pct(busyBefore)} of all cores busy just before the run, ${
      pct(busyAfter)
    } just after; load average (1, 5, 15 min): ${rep.loads.join(" → ")}` +
    ((busyBefore ?? 0) > 0.1 || (busyAfter ?? 0) > 0.1
      ? " — **the machine was shared** (other sessions' jobs): absolute times are noisy; the ratios, from columns that take turns within every round, are what counts"
      : " (idle)"),
    `- Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.target}`,
    `- WebGPU adapter: ${adapter}`,
    `- Peers: jax-js 0.1.25 (jit), TensorFlow.js 4.22.0 (no jit)`,
    byCalls
      ? `- Protocol: for each workload, every column's process starts (its own process, so ` +
        `its peak resident set is that cell's own), uploads the inputs and makes one cold call ` +
        `and ${settings.warmup} warm-up calls; then ${rounds} rounds, in each of which every ` +
        `column makes ${repsPerRound} timed calls while the others wait idle, in an order ` +
        `rotated each round, so that load from other users of the machine falls on every ` +
        `column alike. A call computes and reads every output back to the host. Outputs are ` +
        `cross-checked on the host (checksum tolerance ${tol} of Σ|x|). Load average: before ` +
        `each workload, then at the end. ${totalS.toFixed(0)} s in all.`
      : `- Protocol: ${rounds} rounds; in each, every workload runs in every column, one fresh ` +
        `process per cell, columns back to back in an order rotated each round. Per cell: one ` +
        `cold call, then warm-up calls, then timed calls (${
          Object.entries(settings).map(([k, v]) => `${k} ${v}`).join(", ")
        }); a call computes and reads every output back to the host. Outputs are cross-checked ` +
        `on the host (checksum tolerance ${tol} of Σ|x|). Load average: before each round, ` +
        `then at the end. ${totalS.toFixed(0)} s in all.`,
    "- Where the time goes: [PROFILE_jit.md](PROFILE_jit.md) (`bench/jit_profile.ts`: " +
    "kernels counted and timed per call, readback apart). Whole-process peaks over every " +
    "workload in one process, as the issue counted them: " +
    "[RESULTS_jit_whole.md](RESULTS_jit_whole.md) " +
    "(`deno task bench:peers --columns heed:wasm,heed:wasm-jit,jax-js:wasm-jit,tfjs:wasm " +
    "--out bench/peers/RESULTS_jit_whole.md`).",
    "",
    rep.body,
    "Processes:",
    "",
    ...[...infos].map(([k, v]) => `- ${k}: ${v}`),
    "",
  ].join("\n");
  console.log(doc);
  const outPath = flags.out ?? scriptPath("RESULTS_jit.md");
  if (!flags["no-write"]) {
    Deno.writeTextFileSync(outPath, doc);
    await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", outPath],
      stdout: "null",
      stderr: "inherit",
    }).output();
    log(`wrote ${outPath}`);
  }
  if (rep.heedFailures.length > 0) {
    log("\nheed failed:");
    for (const m of rep.heedFailures) log(`  ${m}`);
    Deno.exit(1);
  }
}

function infoText(info: LibraryInfo): string {
  return `${info.library}, backend ${info.backend}${
    info.notes.length ? `; ${info.notes.join("; ")}` : ""
  }`;
}

/** Starts a column's script with `--serve` and waits for its `init`. */
async function serveColumn(col: Column): Promise<Server | string> {
  const cacheDir = freshShaderCache
    ? Deno.makeTempDirSync({ prefix: "heed-bench-shaders-" })
    : null;
  const child = new Deno.Command(Deno.execPath(), {
    args: denoArgs(col.script, [
      "--backend",
      col.backend,
      ...(col.jit ? ["--jit"] : []),
      "--serve",
      ...Object.entries(settings).flatMap(([k, v]) => [`--${k}`, v]),
    ]),
    env: cacheDir ? { MESA_SHADER_CACHE_DIR: cacheDir } : {},
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = { text: "" };
  const stderrDone = drain(child.stderr, stderr, flags.verbose);
  const writer = child.stdin.getWriter();
  const it = lines(child.stdout);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await writer.close();
    } catch {
      // already closed
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 5_000);
    await child.status;
    clearTimeout(timer);
    await it.return(undefined);
    await stderrDone;
    if (cacheDir) Deno.removeSync(cacheDir, { recursive: true });
  };
  const next = async (timeoutMs: number): Promise<Event | null> => {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<typeof TIMEOUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMEOUT), timeoutMs);
      });
      const n = await Promise.race([it.next(), timeout]);
      clearTimeout(timer);
      if (n === TIMEOUT || n.done) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
        return null;
      }
      if (n.value.startsWith(MARK)) {
        return JSON.parse(n.value.slice(MARK.length)) as Event;
      }
    }
  };
  const init = await next(INIT_TIMEOUT_MS);
  if (init?.event !== "init") {
    await close();
    return init?.event === "fatal"
      ? init.message
      : `did not start: ${lastLine(stderr.text)}`;
  }
  return {
    info: init.info,
    async request(cmd, timeoutMs) {
      if (closed) return null;
      try {
        await writer.write(
          new TextEncoder().encode(JSON.stringify(cmd) + "\n"),
        );
      } catch {
        return null;
      }
      const e = await next(timeoutMs);
      if (e === null) {
        log(`  [${col.label}] no answer: ${lastLine(stderr.text)}`);
      }
      return e;
    },
    close,
  };
}
