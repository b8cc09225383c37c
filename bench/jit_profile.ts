/**
 * Where the time of a jitted step goes: the MLP SGD step or attention
 * forward + backward of `bench:peers`, eager and under `jit`, with every
 * kernel the backend runs counted and timed on the host (the backend's
 * `run` and `runFused` wrapped), and the readback of the outputs timed
 * apart from the compute.
 *
 *   deno run -A bench/jit_profile.ts [--backend wasm] [--workload mlp-step] [--reps 30]
 *
 * On wasm a kernel runs while its call lasts, so its host time is its
 * compute time. On WebGPU a call only encodes and submits, so kernel times
 * there are dispatch overhead, and the device's work shows in the wait.
 * Prints a markdown report.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** CPU time of this process (user + system, microsecond resolution), ms. */
function cpuMs(): number {
  const u = cpuUsage();
  return (u.user + u.system) / 1000;
}
import * as h from "../mod.ts";
import { cpuUsage } from "node:process";
import { attentionInputs, median, MLP } from "./peers/_workloads.ts";
import { attention, attentionGrad, mlpStep, mlpTensors } from "./peers/heed.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "wasm" },
    workload: { type: "string", default: "mlp-step" },
    reps: { type: "string", default: "30" },
  },
});
const reps = Number(flags.reps);

await h.init();
await h.setBackend(flags.backend as h.BackendName);
const backend = h.getBackend();

// ------------------------------------------------------ kernel accounting

/** Host time and count of each kernel label in the current call, while `recording`. */
let tally = new Map<string, { n: number; ms: number }>();
let recording = false;

function record(name: string, ms: number): void {
  if (!recording) return;
  const t = tally.get(name) ?? { n: 0, ms: 0 };
  t.n++;
  t.ms += ms;
  tally.set(name, t);
}

/** A label of a plain kernel: dot_general with its contraction and shapes. */
function primLabel(
  prim: string,
  inputs: readonly { aval: { shape: readonly number[] } }[],
  params: Record<string, unknown>,
): string {
  if (prim !== "dot_general") return prim;
  const sh = inputs.map((x) => `[${x.aval.shape.join(",")}]`).join("·");
  return `dot_general ${sh} contract ${JSON.stringify(params.lhsContract)}/${
    JSON.stringify(params.rhsContract)
  }`;
}

/** A short label of a fused kernel (a dot kernel's names its matmul). */
function kernelLabel(k: unknown): string {
  const kk = k as {
    kind?: string;
    nodes?: unknown[];
    lhsShape?: number[];
    rhsShape?: number[];
  };
  const ops =
    (kk.nodes ?? []).filter((n) => (n as { kind?: string }).kind === "op")
      .length;
  if (kk.kind === "dot") {
    return `dot_general+epilogue [${kk.lhsShape}]·[${kk.rhsShape}] (${ops} ops)`;
  }
  return `fused ${kk.kind ?? "?"} (${ops} ops)`;
}

/**
 * How deep in a backend call we are: a dot kernel runs its matmul and its
 * epilogue through the backend's own `run` and `runFused`, and counts once.
 */
let depth = 0;
function nested<T>(name: () => string, f: () => T): T {
  const t0 = performance.now();
  depth++;
  try {
    return f();
  } finally {
    depth--;
    if (depth === 0) record(name(), performance.now() - t0);
  }
}

// deno-lint-ignore no-explicit-any
const b = backend as any;
const run0 = b.run.bind(b);
b.run = (
  prim: string,
  inputs: { aval: { shape: number[] } }[],
  params: Record<string, unknown>,
  out: unknown,
) => {
  return nested(
    () => primLabel(prim, inputs, params),
    () => run0(prim, inputs, params, out),
  );
};
for (const method of ["free", "upload"] as const) {
  const m0 = b[method].bind(b);
  b[method] = (...args: unknown[]) => {
    const aval = args[1] as { shape?: number[]; dtype?: string } | undefined;
    return nested(
      () =>
        method === "upload"
          ? `(upload ${aval?.dtype}[${aval?.shape?.join(",")}])`
          : `(${method})`,
      () => m0(...args),
    );
  };
}
if (typeof b.runFused === "function") {
  const fused0 = b.runFused.bind(b);
  b.runFused = (kernel: unknown, ...rest: unknown[]) =>
    nested(() => kernelLabel(kernel), () => fused0(kernel, ...rest));
}

// ------------------------------------------------------------- workloads

type Step = () => h.Tensor[];

function workload(id: string): { eager: Step; jit: Step; lowered: h.Lowered } {
  if (id === "mlp-step") {
    const { params, x, labels } = mlpTensors();
    const js = h.jit(mlpStep);
    const out = (p: ReturnType<typeof mlpStep>) => [p.w1, p.b1, p.w2, p.b2];
    return {
      eager: () => out(mlpStep(params, x, labels)),
      jit: () => out(js(params, x, labels)),
      lowered: js.lower(params, x, labels),
    };
  }
  const m = /^attn-(fwd|fwdbwd)-(\d+)$/.exec(id);
  if (!m) throw new RangeError(`jit_profile: unknown workload "${id}"`);
  const { q, k, v, shape } = attentionInputs(Number(m[2]));
  const [tq, tk, tv] = [q, k, v].map((a) => h.tensor(a, { shape })) as [
    h.Tensor,
    h.Tensor,
    h.Tensor,
  ];
  if (m[1] === "fwd") {
    const js = h.jit(attention);
    return {
      eager: () => [attention(tq, tk, tv)],
      jit: () => [js(tq, tk, tv)],
      lowered: js.lower(tq, tk, tv),
    };
  }
  const js = h.jit(attentionGrad);
  return {
    eager: () => attentionGrad(tq, tk, tv),
    jit: () => js(tq, tk, tv),
    lowered: js.lower(tq, tk, tv),
  };
}

// ---------------------------------------------------------------- timing

interface Phase {
  /** Compute (kernels issued), ms. */
  compute: number;
  /** Reading the outputs back one after another, ms. */
  readSeq: number;
  /** The whole call as `bench:peers` times it (compute + sequential reads). */
  total: number;
  /** CPU time of the whole call (every thread of the process), ms: on a loaded machine, steadier than wall time. */
  cpu: number;
}

async function timeOnce(f: Step, concurrent: boolean): Promise<Phase> {
  const c0 = cpuMs();
  const t0 = performance.now();
  const outs = h.scope(f);
  const t1 = performance.now();
  if (concurrent) await Promise.all(outs.map((t) => t.data()));
  else for (const t of outs) await t.data();
  const t2 = performance.now();
  const cpu = cpuMs() - c0;
  return { compute: t1 - t0, readSeq: t2 - t1, total: t2 - t0, cpu };
}

type Kernels = Map<string, { n: number; ms: number }>;

/**
 * Times `reps` calls of each variant, alternating call by call (so that
 * load from other users of the machine falls on every variant alike):
 * medians of the phases, and per kernel label the median over calls of
 * its count and host time in one call.
 */
async function profile(
  variants: readonly { f: Step; concurrent: boolean }[],
): Promise<{ med: Phase; kernels: Kernels }[]> {
  for (const v of variants) {
    for (let i = 0; i < 3; i++) await timeOnce(v.f, v.concurrent);
  }
  const ps: Phase[][] = variants.map(() => []);
  const calls: Kernels[][] = variants.map(() => []);
  for (let i = 0; i < reps; i++) {
    for (const [j, v] of variants.entries()) {
      tally = new Map();
      recording = true;
      ps[j]!.push(await timeOnce(v.f, v.concurrent));
      recording = false;
      calls[j]!.push(tally);
    }
  }
  return variants.map((_, j) => {
    const med = {
      compute: median(ps[j]!.map((p) => p.compute)),
      readSeq: median(ps[j]!.map((p) => p.readSeq)),
      total: median(ps[j]!.map((p) => p.total)),
      cpu: median(ps[j]!.map((p) => p.cpu)),
    };
    const labels = new Set(calls[j]!.flatMap((c) => [...c.keys()]));
    const kernels: Kernels = new Map();
    for (const l of labels) {
      kernels.set(l, {
        n: median(calls[j]!.map((c) => c.get(l)?.n ?? 0)),
        ms: median(calls[j]!.map((c) => c.get(l)?.ms ?? 0)),
      });
    }
    return { med, kernels };
  });
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

const id = flags.workload;
const w = workload(id);
const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3)
  .join(" ");
const lines: string[] = [
  `### Profile: ${id} on heed ${backend.name} (${reps} calls each, the four variants alternating call by call; medians; load average ${load})`,
  "",
  `Command: \`deno run -A bench/jit_profile.ts --backend ${backend.name} --workload ${id} --reps ${reps}\``,
  "",
];
const names = ["eager", "eager (reads at once)", "jit", "jit (reads at once)"];
const measured = await profile([
  { f: w.eager, concurrent: false },
  { f: w.eager, concurrent: true },
  { f: w.jit, concurrent: false },
  { f: w.jit, concurrent: true },
]);
const results: Record<string, { med: Phase; kernels: Kernels }> = Object
  .fromEntries(names.map((n, j) => [n, measured[j]!]));
lines.push(
  "| mode | call (as bench:peers times it) | CPU time per call | issuing the kernels | reading the outputs back | kernels per call (counted) | their host time per call (sum of per-kernel medians) |",
  "|---|---:|---:|---:|---:|---:|---:|",
);
for (const [mode, r] of Object.entries(results)) {
  let n = 0, ms = 0;
  for (const [k, t] of r.kernels) {
    if (k.startsWith("(")) continue; // upload, free: no kernel
    n += t.n;
    ms += t.ms;
  }
  lines.push(
    `| ${mode} | ${fmt(r.med.total)} ms | ${fmt(r.med.cpu)} ms | ${
      fmt(r.med.compute)
    } ms | ${fmt(r.med.readSeq)} ms | ${n.toFixed(0)} | ${fmt(ms)} ms |`,
  );
}
lines.push("");
for (const mode of ["eager", "jit"]) {
  const r = results[mode]!;
  const rows = [...r.kernels].sort((a, b) => b[1].ms - a[1].ms);
  const all = rows.reduce((s, [, t]) => s + t.ms, 0);
  lines.push(
    `${mode}: host time by kernel (per call, median over calls; sorted):`,
    "",
    "| kernel | calls | ms | share |",
    "|---|---:|---:|---:|",
    ...rows.map(([k, t]) =>
      `| ${k} | ${t.n.toFixed(0)} | ${fmt(t.ms)} | ${
        (100 * t.ms / all).toFixed(0)
      }% |`
    ),
    "",
  );
}
if (id === "mlp-step" && backend.name !== "webgpu") {
  // x·w1 and its weight gradient (x itself needs none), then the three
  // small products of the second layer.
  const flop = 2 * 2 * MLP.batch * MLP.inputs * MLP.hidden +
    3 * 2 * MLP.batch * MLP.hidden * MLP.classes;
  for (const mode of ["eager", "jit"]) {
    let dots = 0;
    for (const [k, t] of results[mode]!.kernels) {
      if (k.startsWith("dot_general")) dots += t.ms;
    }
    lines.push(
      `${mode}: the step's matmuls (${(flop / 1e6).toFixed(0)} MFLOP) take ${
        fmt(dots)
      } ms, ${(flop / dots / 1e6).toFixed(1)} GFLOP/s.`,
      "",
    );
  }
}
lines.push(
  "The jit plan:",
  "",
  "```",
  w.lowered.text,
  "```",
  "",
);
console.log(lines.join("\n"));
Deno.exit(0);
