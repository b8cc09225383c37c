/**
 * `bench:peers --jit`: heed jit against heed eager, jax-js jit and tfjs,
 * interleaved. Every (round, workload, column) is a fresh process that
 * runs one cell; within a round the columns of a workload run back to
 * back, in an order rotated each round, so a change of load on a shared
 * machine hits every column alike. Times are the median of all timed calls
 * of all rounds; ratios are ratios of those medians, with the range of the
 * per-round ratios beside them. One process per cell makes each peak
 * resident set that cell's own.
 *
 * @module
 */

import {
  type CellResult,
  type Command,
  compareChecksums,
  type Event,
  label,
  type LibraryInfo,
  median,
  MLP,
  workload,
} from "./_workloads.ts";

/** A library × backend, as the driver knows it. */
export interface JitColumn {
  key: string;
  label: string;
  library: "heed" | "tfjs" | "jax-js";
  backend: string;
  jit: boolean;
  device: string;
}

/** What one process measured for one cell. */
export interface JitCellRun {
  result: CellResult | null;
  peakRssMiB: number | null;
  info: LibraryInfo | null;
}

/** Runs one cell of one column in a fresh process. */
export type RunCell = (col: JitColumn, id: string) => Promise<JitCellRun>;

/** A library script started with `--serve`, answering commands. */
export interface Server {
  /** What `init` reported. */
  readonly info: LibraryInfo;
  /** Sends a command; the answer, or null when none came in time (the process is then killed). */
  request(cmd: Command, timeoutMs: number): Promise<Event | null>;
  /** Ends the process. */
  close(): Promise<void>;
}

/** Starts a column's script with `--serve`; a string says why it did not start. */
export type Serve = (col: JitColumn) => Promise<Server | string>;

/** The role of a column in the jit table. */
type Role = "eager" | "jit" | "jaxjit" | "tfjs";
const ROLES: readonly Role[] = ["eager", "jit", "jaxjit", "tfjs"];
const ROLE_LABEL: Record<Role, string> = {
  eager: "heed eager",
  jit: "heed jit",
  jaxjit: "jax-js jit",
  tfjs: "tfjs",
};

/** Which columns and workloads each device compares. */
export interface JitGroup {
  device: string;
  columns: Record<Role, string | null>;
  workloads: string[];
}

/** The comparison: wasm (the default here) in full, WebGPU small. */
export function jitGroups(quick: boolean): JitGroup[] {
  return [
    {
      device: "wasm",
      columns: {
        eager: "heed:wasm",
        jit: "heed:wasm-jit",
        jaxjit: "jax-js:wasm-jit",
        tfjs: "tfjs:wasm",
      },
      workloads: quick
        ? ["mlp-step", "attn-fwdbwd-128"]
        : ["mlp-step", "attn-fwd-128", "attn-fwdbwd-128", "attn-fwdbwd-512"],
    },
    {
      device: "webgpu",
      columns: {
        eager: "heed:webgpu",
        jit: "heed:webgpu-jit",
        jaxjit: "jax-js:webgpu-jit",
        // tfjs webgpu's first MLP step compiles for about 20 s here.
        tfjs: quick ? null : "tfjs:webgpu",
      },
      workloads: quick ? ["mlp-step"] : ["mlp-step", "attn-fwdbwd-128"],
    },
  ];
}

/** Options of {@link runJitMode}. */
export interface JitModeOptions {
  quick: boolean;
  rounds: number;
  /** Every column the driver can run. */
  columns: readonly JitColumn[];
  /** Whether the user asked for a column (`--columns`). */
  wanted: (c: JitColumn) => boolean;
  /** `--workloads`, if given. */
  workloads: readonly string[] | null;
  runCell: RunCell;
  /**
   * When given, every workload's columns run side by side, one `--serve`
   * process each, and alternate call by call ({@link runRowByCalls});
   * else each round runs a fresh process per cell.
   */
  serve?: Serve;
  /** Timed calls per column per round, when serving. */
  repsPerRound: number;
  /** A cold call slower than this fails the column, when serving. */
  coldBudgetMs: number;
  tol: number;
  log: (msg: string) => void;
}

/** What {@link runJitMode} hands back to the driver. */
export interface JitReport {
  /** Markdown: goals, the table, the compile table, notes. */
  body: string;
  /** The load average read before each round. */
  loads: string[];
  /** heed cells that failed or disagree. */
  heedFailures: string[];
}

interface Row {
  group: JitGroup;
  id: string;
  cols: Partial<Record<Role, JitColumn>>;
  runs: Partial<Record<Role, JitCellRun[]>>;
}

/** The 1-minute load average, from /proc/loadavg. */
export function loadAvg(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3)
      .join(" ");
  } catch {
    return "unknown";
  }
}

/** Runs the interleaved comparison and formats it. */
export async function runJitMode(o: JitModeOptions): Promise<JitReport> {
  const byKey = new Map(o.columns.map((c) => [c.key, c]));
  const rows: Row[] = [];
  for (const group of jitGroups(o.quick)) {
    const cols: Partial<Record<Role, JitColumn>> = {};
    for (const role of ROLES) {
      const key = group.columns[role];
      const c = key ? byKey.get(key) : undefined;
      if (c && o.wanted(c)) cols[role] = c;
    }
    if (Object.keys(cols).length === 0) continue;
    for (const id of group.workloads) {
      if (o.workloads && !o.workloads.includes(id)) continue;
      rows.push({ group, id, cols, runs: {} });
    }
  }
  const loads: string[] = [];
  if (o.serve) {
    for (const row of rows) {
      loads.push(loadAvg());
      o.log(`${row.group.device} ${row.id} (load average ${loads.at(-1)})`);
      await runRowByCalls(row, o, o.serve);
    }
    loads.push(loadAvg());
    return format(rows, o, loads);
  }
  for (let r = 0; r < o.rounds; r++) {
    loads.push(loadAvg());
    o.log(`round ${r + 1}/${o.rounds} (load average ${loads.at(-1)})`);
    for (const row of rows) {
      const roles = ROLES.filter((x) => row.cols[x]);
      const order = roles.map((_, i) => roles[(i + r) % roles.length]!);
      for (const role of order) {
        const run = await o.runCell(row.cols[role]!, row.id);
        (row.runs[role] ??= []).push(run);
      }
    }
  }
  loads.push(loadAvg());
  return format(rows, o, loads);
}

/**
 * One row, its columns alternating call by call: every column's process
 * starts and makes its cold and warm-up calls; then in each round every
 * column makes `repsPerRound` timed calls, in an order rotated each round,
 * while the others wait idle; then each reports its cell and exits.
 */
async function runRowByCalls(
  row: Row,
  o: JitModeOptions,
  serve: Serve,
): Promise<void> {
  const roles = ROLES.filter((x) => row.cols[x]);
  const live = new Map<Role, Server>();
  const ready = new Map<Role, Extract<Event, { event: "ready" }>>();
  const times = new Map<Role, number[][]>();
  const failed = new Map<Role, string>();
  const why = (e: Event | null, what: string): string =>
    e === null
      ? `no answer to ${what} in time (killed)`
      : e.event === "result"
      ? `${what}: ${e.note ?? e.status}`
      : e.event === "fatal"
      ? `${what}: ${e.message}`
      : `${what}: unexpected ${e.event}`;
  const drop = async (role: Role, reason: string) => {
    failed.set(role, reason);
    o.log(`  [${row.cols[role]!.label}] ${row.id}: ${reason}`);
    await live.get(role)?.close();
    live.delete(role);
  };
  for (const role of roles) {
    const s = await serve(row.cols[role]!);
    if (typeof s === "string") {
      failed.set(role, s);
      continue;
    }
    live.set(role, s);
    const e = await s.request(
      { cmd: "prepare", id: row.id },
      o.coldBudgetMs + 30_000,
    );
    if (e?.event !== "ready") {
      await drop(role, why(e, "prepare"));
      continue;
    }
    ready.set(role, e);
    times.set(role, []);
    o.log(
      `  [${row.cols[role]!.label}] ${row.id}: cold ${e.coldMs.toFixed(1)} ms`,
    );
  }
  for (let r = 0; r < o.rounds; r++) {
    const order = roles.map((_, i) => roles[(i + r) % roles.length]!);
    for (const role of order) {
      const s = live.get(role);
      if (!s) continue;
      const est = Math.min(...ready.get(role)!.warmupMs);
      const e = await s.request(
        { cmd: "reps", n: o.repsPerRound },
        Math.max(60_000, 20 * est * o.repsPerRound),
      );
      if (e?.event !== "reps") await drop(role, why(e, "timed calls"));
      else times.get(role)!.push(e.timesMs);
    }
  }
  for (const role of roles) {
    const col = row.cols[role]!;
    const s = live.get(role);
    let result: CellResult | null = null;
    if (s) {
      const e = await s.request({ cmd: "finish" }, 120_000);
      if (e?.event === "result") result = e;
      else failed.set(role, why(e, "finish"));
      await s.request({ cmd: "exit" }, 10_000);
      await s.close();
    }
    const reason = failed.get(role);
    if (reason !== undefined || result === null || result.status !== "ok") {
      row.runs[role] = [{
        result: {
          event: "result",
          id: row.id,
          status: "error",
          note: reason ?? result?.note ?? "no result",
        },
        peakRssMiB: null,
        info: s?.info ?? null,
      }];
      continue;
    }
    o.log(
      `  [${col.label}] ${row.id}: median ${result.medianMs!.toFixed(2)} ms, ${
        result.peakRssMiB?.toFixed(0)
      } MiB`,
    );
    row.runs[role] = times.get(role)!.map((ts) => ({
      result: {
        ...result!,
        timesMs: ts,
        medianMs: median(ts),
        minMs: Math.min(...ts),
        maxMs: Math.max(...ts),
      },
      peakRssMiB: result!.peakRssMiB ?? null,
      info: s!.info,
    }));
  }
}

// ------------------------------------------------------------------ stats

interface Stats {
  /** Median of every timed call of every round. */
  ms: number;
  /** Per-round medians, in round order (NaN where a round failed). */
  rounds: number[];
  coldMs: number | null;
  peakRssMiB: number | null;
  ok: number;
  notes: string[];
}

function stats(runs: readonly JitCellRun[] | undefined): Stats | null {
  if (!runs || runs.length === 0) return null;
  const all: number[] = [];
  const rounds: number[] = [];
  const colds: number[] = [];
  const notes: string[] = [];
  let peak: number | null = null;
  let ok = 0;
  for (const r of runs) {
    const c = r.result;
    if (c?.coldMs !== undefined) colds.push(c.coldMs);
    const rss = c?.peakRssMiB ?? r.peakRssMiB;
    if (rss) peak = Math.max(peak ?? 0, rss);
    if (c?.status === "ok" && c.timesMs) {
      all.push(...c.timesMs);
      rounds.push(c.medianMs!);
      ok++;
    } else {
      rounds.push(NaN);
      notes.push(c ? `${c.status}: ${c.note ?? ""}` : "no result");
    }
    if (c?.note && c.status === "ok") notes.push(c.note);
  }
  if (all.length === 0) {
    return { ms: NaN, rounds, coldMs: null, peakRssMiB: peak, ok, notes };
  }
  return {
    ms: median(all),
    rounds,
    coldMs: colds.length ? median(colds) : null,
    peakRssMiB: peak,
    ok,
    notes,
  };
}

function fmtMs(ms: number): string {
  if (ms >= 1000) return Math.round(ms).toLocaleString("en-US");
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

function fmtX(x: number): string {
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
}

/** `a / b` of the medians, with the range of the per-round ratios. */
function ratio(a: Stats | null, b: Stats | null): string {
  if (!a || !b || !Number.isFinite(a.ms) || !Number.isFinite(b.ms)) {
    return "—";
  }
  const per = a.rounds.map((x, i) => x / b.rounds[i]!).filter(Number.isFinite);
  const range = per.length > 1
    ? ` [${fmtX(Math.min(...per))}–${fmtX(Math.max(...per))}]`
    : "";
  return `**${fmtX(a.ms / b.ms)}**${range}`;
}

// ----------------------------------------------------------------- format

function format(rows: Row[], o: JitModeOptions, loads: string[]): JitReport {
  const notes: string[] = [];
  const ref = (text: string): string => {
    let i = notes.indexOf(text);
    if (i < 0) i = notes.push(text) - 1;
    return `[${i + 1}]`;
  };
  const heedFailures: string[] = [];
  const goals: string[] = [];
  const table = [
    "| backend | workload | heed eager | heed jit | jax-js jit | tfjs | heed jit speed-up over heed eager | heed jit speed-up over jax-js jit | kernels per call, eager → jit |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const cold = [
    "| backend | workload | heed eager: first call | heed jit: first call / cached call | heed jit: trace + plan of a fresh `jit(f)` | jax-js jit: first call / cached call | tfjs: first call |",
    "|---|---|---:|---:|---:|---:|---:|",
  ];
  for (const row of rows) {
    const st: Partial<Record<Role, Stats | null>> = {};
    for (const role of ROLES) st[role] = stats(row.runs[role]);
    const bad = crossCheck(row, o.tol);
    const cell = (role: Role): string => {
      const s = st[role];
      const col = row.cols[role];
      if (!s || !col) return "";
      const flag = bad.get(role);
      const warn = flag ? `**⚠ MISMATCH** ${ref(flag)} ` : "";
      const rss = s.peakRssMiB ? ` · ${s.peakRssMiB.toFixed(0)} MiB` : "";
      if (!Number.isFinite(s.ms)) {
        return `${warn}— ${
          ref(`${col.label}, ${row.id}: ${s.notes.join("; ")}`)
        }${rss}`;
      }
      const fin = s.rounds.filter(Number.isFinite);
      const spread = fin.length > 1
        ? ` [${fmtMs(Math.min(...fin))}–${fmtMs(Math.max(...fin))}]`
        : "";
      const rate = row.id === "mlp-step"
        ? ` · ${(1000 / s.ms).toFixed(0)} steps/s`
        : "";
      const partial = s.ok < s.rounds.length
        ? ` ${ref(`${col.label}, ${row.id}: ${s.notes.join("; ")}`)}`
        : "";
      return `${warn}${fmtMs(s.ms)} ms${spread}${rate}${rss}${partial}`;
    };
    const okFor = (role: Role): Stats | null =>
      bad.has(role) ? null : st[role] ?? null;
    const extra = (role: Role) =>
      row.runs[role]?.map((r) => r.result?.extra).find((e) => e);
    const ex = extra("jit") ?? extra("eager");
    const kernels = ex?.eagerKernels !== undefined
      ? `${ex.eagerKernels} → ${ex.jitKernels}`
      : "—";
    const name = label(workload(row.id));
    table.push(
      `| ${row.group.device} | ${name} | ${cell("eager")} | ${cell("jit")} | ${
        cell("jaxjit")
      } | ${cell("tfjs")} | ${ratio(okFor("eager"), okFor("jit"))} | ${
        ratio(okFor("jaxjit"), okFor("jit"))
      } | ${kernels} |`,
    );
    const coldOf = (role: Role, cached: boolean): string => {
      const s = st[role];
      if (!s || s.coldMs === null) return row.cols[role] ? "—" : "";
      if (!cached || !Number.isFinite(s.ms)) return `${fmtMs(s.coldMs)} ms`;
      return `${fmtMs(s.coldMs)} / ${fmtMs(s.ms)} ms (${
        fmtX(s.coldMs / s.ms)
      })`;
    };
    const traces = row.runs.jit?.map((r) => r.result?.extra?.traceMs)
      .filter((x): x is number => x !== undefined) ?? [];
    cold.push(
      `| ${row.group.device} | ${name} | ${coldOf("eager", false)} | ${
        coldOf("jit", true)
      } | ${traces.length ? `${fmtMs(median(traces))} ms` : "—"} | ${
        coldOf("jaxjit", true)
      } | ${coldOf("tfjs", false)} |`,
    );
    for (const role of ["eager", "jit"] as const) {
      const s = st[role];
      const col = row.cols[role];
      if (!col) continue;
      if (!s || s.ok < s.rounds.length) {
        heedFailures.push(
          `${col.label}, ${row.id}: ${s?.notes.join("; ") ?? "no result"}`,
        );
      }
      const m = bad.get(role);
      if (m) heedFailures.push(m);
    }
    if (row.id === "mlp-step") {
      goals.push(
        ...goalLines(
          row.group.device,
          okFor("eager"),
          okFor("jit"),
          okFor("jaxjit"),
        ),
      );
    }
  }
  const body = [
    "Goals (issue 15), MLP " +
    `${MLP.inputs}-${MLP.hidden}-${MLP.classes} batch ${MLP.batch} SGD step:`,
    "",
    ...goals.map((g) => `- ${g}`),
    "",
    "Times: median of every timed call of every round, [range of the per-round medians], " +
    "then the peak resident set of that cell's process. Speed-ups: the other column's median / " +
    "heed jit's median (above 1: heed jit is faster), [range of the same ratio per round].",
    "",
    ...table,
    "",
    "Compile cost: the first call of a fresh process (tracing, fusion planning, code " +
    "generation, shader compilation, and the process's own warm-up" +
    (o.serve ? "" : "; median over rounds") +
    ") against a cached call (the median above). Trace + plan: `jit(f).lower(...)` on a " +
    "fresh `jit(f)` after the timed calls (no kernel runs; the process is warm, so this is " +
    "a floor).",
    "",
    ...cold,
    "",
    ...(notes.length
      ? ["Notes:", "", ...notes.map((n, i) => `- [${i + 1}] ${n}`), ""]
      : []),
  ].join("\n");
  return { body, loads, heedFailures };
}

function goalLines(
  device: string,
  eager: Stats | null | undefined,
  jit: Stats | null | undefined,
  jax: Stats | null | undefined,
): string[] {
  const line = (
    what: string,
    other: Stats | null | undefined,
    want: number,
  ): string => {
    if (
      !jit || !other || !Number.isFinite(jit.ms) || !Number.isFinite(other.ms)
    ) {
      return `${device}: heed jit ≥ ${want}× ${what}: not measured`;
    }
    const x = other.ms / jit.ms;
    return `${device}: heed jit ≥ ${want}× ${what}: ${fmtX(x)} — ${
      x >= want
        ? "**met**"
        : `**missed** (needs ${fmtMs(other.ms / want)} ms per step, has ${
          fmtMs(jit.ms)
        } ms)`
    }`;
  };
  const out = [line("heed eager", eager, device === "webgpu" ? 3 : 1.5)];
  if (device === "wasm") out.push(line("jax-js jit", jax, 3));
  return out;
}

/**
 * Checks every column's first checksums against heed eager's (or the
 * first column that has some): role → why it disagrees.
 */
function crossCheck(row: Row, tol: number): Map<Role, string> {
  const bad = new Map<Role, string>();
  const first = (role: Role) =>
    row.runs[role]?.find((r) => r.result?.checksums)?.result?.checksums;
  const refRole = ROLES.find((r) => first(r));
  if (!refRole) return bad;
  const ref = first(refRole)!;
  for (const role of ROLES) {
    const c = first(role);
    if (!c || role === refRole) continue;
    const why = compareChecksums(c, ref, tol);
    if (why) {
      bad.set(
        role,
        `${ROLE_LABEL[role]} disagrees with ${
          ROLE_LABEL[refRole]
        } on ${row.group.device} ${row.id}: ${why}`,
      );
    }
  }
  return bad;
}
