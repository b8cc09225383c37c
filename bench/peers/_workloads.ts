/**
 * What every library script of the side-by-side benchmark shares: the
 * workloads, their deterministic inputs, output checksums, the timing
 * protocol and the line protocol that `run.ts` reads.
 *
 * A library script implements {@link Library} and calls {@link main}. It
 * prints one `@@bench {json}` line per event on stdout; any other output
 * (peers print banners) is ignored by the driver.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";

// ---------------------------------------------------------------- workloads

/** Batch × heads of the attention workload. */
export const ATT_BH = 32;
/** Head size of the attention workload. */
export const ATT_D = 64;
/** MLP layer sizes and batch. */
export const MLP = { inputs: 784, hidden: 256, classes: 10, batch: 128 };
/** SGD learning rate of the MLP step. */
export const LR = 0.1;

/** A float32 array backed by a plain (not shared) buffer. */
export type F32 = Float32Array<ArrayBuffer>;

/** One row of the table. */
export type Workload =
  | { readonly id: string; readonly kind: "matmul"; readonly n: number }
  | {
    readonly id: string;
    readonly kind: "attention";
    readonly t: number;
    readonly backward: boolean;
  }
  | { readonly id: string; readonly kind: "mlp" };

/** All workloads, in table order. */
export const WORKLOADS: readonly Workload[] = [
  ...[256, 512, 1024, 2048].map((n) => ({
    id: `matmul-${n}`,
    kind: "matmul" as const,
    n,
  })),
  ...[false, true].flatMap((backward) =>
    [128, 512].map((t) => ({
      id: `attn-${backward ? "fwdbwd" : "fwd"}-${t}`,
      kind: "attention" as const,
      t,
      backward,
    }))
  ),
  { id: "mlp-step", kind: "mlp" as const },
];

/** The workloads of a `--quick` run. */
export const QUICK_WORKLOADS: readonly string[] = [
  "matmul-256",
  "matmul-512",
  "attn-fwd-128",
  "attn-fwdbwd-128",
  "mlp-step",
];

/** Looks a workload up by id. */
export function workload(id: string): Workload {
  const w = WORKLOADS.find((x) => x.id === id);
  if (!w) {
    throw new RangeError(
      `unknown workload "${id}" (known: ${WORKLOADS.map((x) => x.id)})`,
    );
  }
  return w;
}

/** A human label for the table. */
export function label(w: Workload): string {
  switch (w.kind) {
    case "matmul":
      return `f32 matmul ${w.n}×${w.n}`;
    case "attention":
      return `attention ${
        w.backward ? "fwd+bwd" : "fwd"
      } [${ATT_BH},${w.t},${ATT_D}]`;
    case "mlp":
      return `MLP ${MLP.inputs}-${MLP.hidden}-${MLP.classes} b${MLP.batch} SGD step`;
  }
}

/** Floating-point operations of one call, where the table shows a rate. */
export function flops(w: Workload): number | null {
  return w.kind === "matmul" ? 2 * w.n ** 3 : null;
}

// ------------------------------------------------------------------- inputs

/** FNV-1a hash of a string, as a 32-bit seed. */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * `size` float32 values, uniform on `[lo, hi)`, from a xorshift32 stream
 * seeded by `name`. Every value is a multiple of 2^-24 of the range, so every
 * library receives bit-identical inputs.
 */
export function uniform(
  name: string,
  size: number,
  lo = -1,
  hi = 1,
): F32 {
  let s = seedOf(name) || 1;
  const out = new Float32Array(size);
  const scale = (hi - lo) / 16777216;
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = lo + ((s >>> 8) & 0xffffff) * scale;
  }
  return out;
}

/** Inputs of a matmul: `a @ b`, both `[n, n]`. */
export function matmulInputs(n: number): { a: F32; b: F32 } {
  return {
    a: uniform(`matmul-a-${n}`, n * n),
    b: uniform(`matmul-b-${n}`, n * n),
  };
}

/** Inputs of the attention workload: q, k, v of shape `[32, t, 64]`. */
export function attentionInputs(
  t: number,
): { q: F32; k: F32; v: F32; shape: number[] } {
  const size = ATT_BH * t * ATT_D;
  return {
    q: uniform(`attn-q-${t}`, size),
    k: uniform(`attn-k-${t}`, size),
    v: uniform(`attn-v-${t}`, size),
    shape: [ATT_BH, t, ATT_D],
  };
}

/** Inputs and initial parameters of the MLP step. */
export interface MlpInputs {
  /** `[batch, inputs]`, uniform on [0, 1). */
  x: F32;
  /** `[batch]` class ids. */
  labels: Int32Array<ArrayBuffer>;
  /** `[batch, classes]` one-hot of `labels`, for libraries that want it. */
  oneHot: F32;
  /** `[inputs, hidden]`. */
  w1: F32;
  /** `[hidden]`. */
  b1: F32;
  /** `[hidden, classes]`. */
  w2: F32;
  /** `[classes]`. */
  b2: F32;
}

/** The MLP step's inputs (the same for every library). */
export function mlpInputs(): MlpInputs {
  const { inputs, hidden, classes, batch } = MLP;
  const labels = new Int32Array(batch);
  const oneHot = new Float32Array(batch * classes);
  const u = uniform("mlp-labels", batch, 0, classes);
  for (let i = 0; i < batch; i++) {
    labels[i] = Math.floor(u[i]!);
    oneHot[i * classes + labels[i]!] = 1;
  }
  const a1 = Math.sqrt(6 / (inputs + hidden));
  const a2 = Math.sqrt(6 / (hidden + classes));
  return {
    x: uniform("mlp-x", batch * inputs, 0, 1),
    labels,
    oneHot,
    w1: uniform("mlp-w1", inputs * hidden, -a1, a1),
    b1: uniform("mlp-b1", hidden, -0.01, 0.01),
    w2: uniform("mlp-w2", hidden * classes, -a2, a2),
    b2: uniform("mlp-b2", classes, -0.01, 0.01),
  };
}

// ---------------------------------------------------------------- checksums

/** A summary of one output array that another library's output must match. */
export interface Checksum {
  /** Number of elements. */
  n: number;
  /** Elements that are NaN or infinite. */
  nonFinite: number;
  /** Σ x. */
  sum: number;
  /** Σ |x|. */
  abs: number;
  /** Σ x². */
  sq: number;
  /** Σ ±x, with signs pseudo-random by position (catches permutations). */
  signed: number;
}

/** The checksum of one output, accumulated in float64. */
export function checksum(x: ArrayLike<number>): Checksum {
  let sum = 0, abs = 0, sq = 0, signed = 0, nonFinite = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    sum += v;
    abs += Math.abs(v);
    sq += v * v;
    const m = Math.imul(i ^ (i >>> 15), 0x2c1b3c6d);
    signed += ((m ^ (m >>> 12)) & 0x800) ? -v : v;
  }
  return { n: x.length, nonFinite, sum, abs, sq, signed };
}

/**
 * Why two lists of checksums disagree, or null if they agree within
 * `tol`, relative to Σ|x| (Σx² for the squares).
 */
export function compareChecksums(
  a: readonly Checksum[],
  b: readonly Checksum[],
  tol: number,
): string | null {
  if (a.length !== b.length) return `${a.length} vs ${b.length} outputs`;
  for (let j = 0; j < a.length; j++) {
    const x = a[j]!, y = b[j]!;
    if (x.n !== y.n) return `output ${j}: ${x.n} vs ${y.n} elements`;
    if (x.nonFinite || y.nonFinite) {
      return `output ${j}: ${x.nonFinite} vs ${y.nonFinite} non-finite values`;
    }
    const scale = Math.max(x.abs, y.abs, 1e-30);
    for (const key of ["sum", "signed", "abs"] as const) {
      const d = Math.abs(x[key] - y[key]) / scale;
      if (d > tol) {
        return `output ${j}: ${key} ${fmtNum(x[key])} vs ${
          fmtNum(y[key])
        } (rel. diff ${d.toExponential(1)} of Σ|x|)`;
      }
    }
    const dsq = Math.abs(x.sq - y.sq) / Math.max(x.sq, y.sq, 1e-30);
    if (dsq > 2 * tol) {
      return `output ${j}: Σx² ${fmtNum(x.sq)} vs ${fmtNum(y.sq)}`;
    }
  }
  return null;
}

function fmtNum(v: number): string {
  return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3)
    ? v.toExponential(5)
    : v.toFixed(5);
}

// ------------------------------------------------------------------- timing

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** How long a library may spend on one cell, and how many calls to time. */
export interface TimingOptions {
  /** Timed repetitions when they fit in `repBudgetMs`. */
  reps: number;
  /** The fewest timed repetitions worth reporting. */
  minReps: number;
  /** Warm-up calls after the cold one (at least one). */
  warmup: number;
  /** A cold call slower than this skips the cell. */
  coldBudgetMs: number;
  /** Time allowed for warm-up calls beyond the first. */
  warmBudgetMs: number;
  /** Time allowed for the timed repetitions. */
  repBudgetMs: number;
}

/** One prepared cell: inputs already on the device. */
export interface Cell {
  /**
   * One complete call: compute, wait for the device, read every output back
   * to the host. Frees what it created.
   */
  run(): Promise<Float32Array[]>;
  /** Frees the inputs. */
  dispose(): void;
  /**
   * Facts about the cell, asked for after its timed calls: kernels per call
   * (jit and eager), time to trace and compile.
   */
  extra?(): CellExtra | Promise<CellExtra>;
}

/** What a library can tell about a cell besides its times. */
export interface CellExtra {
  /** Kernels one call dispatches as run (jit: the fused plan; eager: one per op). */
  kernels?: number;
  /** Kernels the same call dispatches eagerly. */
  eagerKernels?: number;
  /** Kernels the same call dispatches under jit. */
  jitKernels?: number;
  /** Tracing, optimising and planning (no kernel runs), ms, on a fresh jitted function. */
  traceMs?: number;
}

/** A library × backend, as one script implements it. */
export interface Library {
  /** Starts the backend; throws if it is not the one asked for. */
  init(backend: string, opts: { jit: boolean }): Promise<LibraryInfo>;
  /** Uploads the inputs of a workload (not timed). */
  prepare(w: Workload): Promise<Cell>;
}

/** What a library reports about itself after `init`. */
export interface LibraryInfo {
  /** Library name and version. */
  library: string;
  /** Backend actually in use, as the library names it. */
  backend: string;
  /** Facts worth a footnote (threads, fallbacks, jit). */
  notes: string[];
}

/** A line of the protocol between a library script and the driver. */
export type Event =
  | { event: "backends"; backends: string[]; defaultBackend: string | null }
  | { event: "init"; info: LibraryInfo; initMs: number }
  | { event: "start"; id: string }
  | { event: "cold"; id: string; coldMs: number }
  | CellResult
  | { event: "done"; peakRssMiB: number | null }
  | { event: "fatal"; message: string }
  | {
    event: "ready";
    id: string;
    coldMs: number;
    warmupMs: number[];
    checksums: Checksum[];
  }
  | { event: "reps"; id: string; timesMs: number[] };

/**
 * A command to a script started with `--serve` (one JSON line on stdin):
 * `prepare` uploads a workload's inputs and makes the cold call and the
 * warm-up calls (answers `ready`); `reps` times `n` calls (answers
 * `reps`); `finish` answers the cell's `result` and frees it; `exit`
 * answers `done`. Errors answer `result` with status "error".
 */
export type Command =
  | { cmd: "prepare"; id: string }
  | { cmd: "reps"; n: number }
  | { cmd: "finish" }
  | { cmd: "exit" };

/** The measurement of one cell. */
export interface CellResult {
  event: "result";
  id: string;
  status: "ok" | "skipped" | "error";
  /** The first call, with compilation and tracing. */
  coldMs?: number;
  warmupMs?: number[];
  timesMs?: number[];
  medianMs?: number;
  minMs?: number;
  maxMs?: number;
  /** Checksums of the cold call's outputs. */
  checksums?: Checksum[];
  /** Why the cell was skipped or failed, or what changed between calls. */
  note?: string;
  /** Peak resident set of the process after this cell. */
  peakRssMiB?: number | null;
  /** What the library told about the cell ({@link Cell.extra}). */
  extra?: CellExtra;
}

/** The marker that starts every protocol line on stdout. */
export const MARK = "@@bench ";

/** Prints one protocol line. */
export function emit(e: Event): void {
  console.log(MARK + JSON.stringify(e));
}

/** Times one cell by the protocol in PEERS.md. */
export async function measure(
  id: string,
  cell: Cell,
  o: TimingOptions,
): Promise<CellResult> {
  emit({ event: "start", id });
  let t0 = performance.now();
  const first = await cell.run();
  const coldMs = performance.now() - t0;
  const checksums = first.map(checksum);
  emit({ event: "cold", id, coldMs });
  if (coldMs > o.coldBudgetMs) {
    return {
      event: "result",
      id,
      status: "skipped",
      coldMs,
      checksums,
      note: `cold call ${fmtSeconds(coldMs)} > budget ${
        fmtSeconds(o.coldBudgetMs)
      }`,
    };
  }
  const warmupMs: number[] = [];
  const warmStart = performance.now();
  while (
    warmupMs.length < Math.max(1, o.warmup) &&
    (warmupMs.length === 0 ||
      performance.now() - warmStart < o.warmBudgetMs)
  ) {
    t0 = performance.now();
    await cell.run();
    warmupMs.push(performance.now() - t0);
  }
  const estimate = Math.min(...warmupMs);
  if (estimate * o.minReps > o.repBudgetMs) {
    return {
      event: "result",
      id,
      status: "skipped",
      coldMs,
      warmupMs,
      checksums,
      note: `one warm call took ${fmtSeconds(estimate)}; ${o.minReps} reps > ` +
        `budget ${fmtSeconds(o.repBudgetMs)}`,
    };
  }
  const reps = Math.max(
    o.minReps,
    Math.min(o.reps, Math.floor(o.repBudgetMs / estimate)),
  );
  const timesMs: number[] = [];
  let last: Float32Array[] = first;
  for (let r = 0; r < reps; r++) {
    t0 = performance.now();
    last = await cell.run();
    timesMs.push(performance.now() - t0);
  }
  const drift = compareChecksums(checksums, last.map(checksum), 1e-5);
  return {
    event: "result",
    id,
    status: "ok",
    coldMs,
    warmupMs,
    timesMs,
    medianMs: median(timesMs),
    minMs: Math.min(...timesMs),
    maxMs: Math.max(...timesMs),
    checksums,
    ...(drift ? { note: `output changed between calls: ${drift}` } : {}),
  };
}

function fmtSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Peak resident set of this process so far (getrusage's maxrss). */
export function peakRssMiB(): number | null {
  try {
    return process.resourceUsage().maxRSS / 1024;
  } catch {
    return null;
  }
}

/** The command-line flags of a library script. */
export const WORKER_FLAGS = {
  backend: { type: "string" },
  jit: { type: "boolean", default: false },
  workloads: { type: "string" },
  reps: { type: "string", default: "7" },
  "min-reps": { type: "string", default: "5" },
  warmup: { type: "string", default: "2" },
  "cold-budget-s": { type: "string", default: "60" },
  "warm-budget-s": { type: "string", default: "5" },
  "rep-budget-s": { type: "string", default: "90" },
  "list-backends": { type: "boolean", default: false },
  serve: { type: "boolean", default: false },
} as const;

/**
 * The body of a library script: parses flags, starts the backend, then
 * prepares and measures each workload, printing protocol lines.
 */
export async function main(lib: Library, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: WORKER_FLAGS });
  const num = (k: keyof typeof values): number => {
    const v = Number(values[k]);
    if (!Number.isFinite(v) || v < 0) {
      throw new RangeError(`--${k} must be a non-negative number`);
    }
    return v;
  };
  const timing: TimingOptions = {
    reps: num("reps"),
    minReps: num("min-reps"),
    warmup: num("warmup"),
    coldBudgetMs: num("cold-budget-s") * 1000,
    warmBudgetMs: num("warm-budget-s") * 1000,
    repBudgetMs: num("rep-budget-s") * 1000,
  };
  const backend = values.backend;
  if (!backend) throw new TypeError("--backend is required");
  const ids = (values.workloads ?? WORKLOADS.map((w) => w.id).join(","))
    .split(",").filter((s) => s !== "");
  const list = ids.map(workload);
  try {
    const t0 = performance.now();
    const info = await lib.init(backend, { jit: values.jit });
    emit({ event: "init", info, initMs: performance.now() - t0 });
  } catch (e) {
    emit({ event: "fatal", message: errorText(e) });
    return;
  }
  if (values.serve) return await serve(lib, timing);
  for (const w of list) {
    let cell: Cell | null = null;
    try {
      cell = await lib.prepare(w);
      const result = await measure(w.id, cell, timing);
      // Taken before extra(), which may trace and compile.
      const peak = peakRssMiB();
      let extra: CellExtra | undefined;
      try {
        extra = await cell.extra?.();
      } catch (e) {
        result.note = [result.note, `extra(): ${errorText(e)}`]
          .filter((x) => x).join("; ");
      }
      emit({ ...result, peakRssMiB: peak, ...(extra ? { extra } : {}) });
    } catch (e) {
      emit({ event: "result", id: w.id, status: "error", note: errorText(e) });
    } finally {
      try {
        cell?.dispose();
      } catch {
        // a failed cell may leave nothing to free
      }
    }
  }
  emit({ event: "done", peakRssMiB: peakRssMiB() });
}

/** The first line of an error, for a footnote. */
export function errorText(e: unknown): string {
  const s = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return s.split("\n")[0]!.slice(0, 300);
}

/** Reads JSON lines from stdin. */
async function* commands(): AsyncGenerator<Command> {
  let buf = "";
  for await (
    const chunk of Deno.stdin.readable.pipeThrough(
      new TextDecoderStream(),
    )
  ) {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line !== "") yield JSON.parse(line) as Command;
    }
  }
}

/**
 * `--serve`: runs cells on command (see {@link Command}), so that a driver
 * can alternate the timed calls of several processes call by call.
 */
async function serve(lib: Library, o: TimingOptions): Promise<void> {
  let cell: Cell | null = null;
  let id = "";
  let coldMs = 0;
  let first: Checksum[] = [];
  let last: Float32Array[] = [];
  let timesMs: number[] = [];
  let warmupMs: number[] = [];
  const fail = (e: unknown) =>
    emit({ event: "result", id, status: "error", note: errorText(e) });
  for await (const c of commands()) {
    try {
      switch (c.cmd) {
        case "prepare": {
          id = c.id;
          timesMs = [];
          warmupMs = [];
          cell = await lib.prepare(workload(c.id));
          let t0 = performance.now();
          last = await cell.run();
          coldMs = performance.now() - t0;
          first = last.map(checksum);
          for (let i = 0; i < Math.max(1, o.warmup); i++) {
            t0 = performance.now();
            await cell.run();
            warmupMs.push(performance.now() - t0);
          }
          emit({ event: "ready", id, coldMs, warmupMs, checksums: first });
          break;
        }
        case "reps": {
          const ts: number[] = [];
          for (let i = 0; i < c.n; i++) {
            const t0 = performance.now();
            last = await cell!.run();
            ts.push(performance.now() - t0);
          }
          timesMs.push(...ts);
          emit({ event: "reps", id, timesMs: ts });
          break;
        }
        case "finish": {
          const peak = peakRssMiB();
          const drift = compareChecksums(first, last.map(checksum), 1e-5);
          const notes = drift ? [`output changed between calls: ${drift}`] : [];
          let extra: CellExtra | undefined;
          try {
            extra = await cell!.extra?.();
          } catch (e) {
            notes.push(`extra(): ${errorText(e)}`);
          }
          emit({
            event: "result",
            id,
            status: "ok",
            coldMs,
            warmupMs,
            timesMs,
            medianMs: median(timesMs),
            minMs: Math.min(...timesMs),
            maxMs: Math.max(...timesMs),
            checksums: first,
            peakRssMiB: peak,
            ...(notes.length ? { note: notes.join("; ") } : {}),
            ...(extra ? { extra } : {}),
          });
          cell!.dispose();
          cell = null;
          break;
        }
        case "exit":
          emit({ event: "done", peakRssMiB: peakRssMiB() });
          return;
      }
    } catch (e) {
      fail(e);
    }
  }
}
