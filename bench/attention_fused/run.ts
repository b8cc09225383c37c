/**
 * Fused attention against the composed path and jax-js, in one run
 * (issue 16, "Speed and memory"). Every library and path runs in child
 * processes; times are CPU time of the whole child (every thread, from
 * /proc/self/stat) as well as wall time, because the machine is shared:
 * run it under `nice -n 19` and read the CPU-time ratios.
 *
 * Parts (`--parts=1,2,3,4,5`, all by default):
 * 1. wasm, B·H 32 (4 × 8), d 64, T 512, forward+backward (gradients of
 *    sum(out · ct) w.r.t. q, k, v): heed fused vs heed composed (eager, and
 *    jit) vs jax-js jit `nn.dotProductAttention`; a heed process and a
 *    jax-js process take turns, round by round, and the heed process
 *    interleaves its cases.
 * 2. the same with causal + ALiBi: fused vs composed, and fused causal +
 *    ALiBi vs fused plain, raw and per visible (query, key) pair.
 * 3. T 4096, causal, forward+backward, B·H 32: peak memory (VmHWM) of one
 *    child per path, and whether the composed path runs out.
 * 4. WebGPU (the adapter there is; llvmpipe here), T 256, B·H 8: fused vs
 *    composed forward+backward.
 * 5. Multi30k Transformer training, jit, the first `--pairs` pairs, one
 *    epoch twice per child (pass 2 measured): default (fused) attention vs
 *    the same spec forced composed, children alternating.
 *
 * ```sh
 * HEED_THREADS=1 nice -n 19 deno run -A bench/attention_fused/run.ts            # full (writes RESULTS.md)
 * HEED_THREADS=1 nice -n 19 deno run -A bench/attention_fused/run.ts --quick    # small sizes, no file
 * ```
 *
 * Flags: `--parts`, `--rounds N` (warm rounds of parts 1-2, 5; the cold
 * first round is reported apart), `--t N` (parts 1-2), `--long-t N` (part
 * 3), `--pairs N`, `--train-rounds N` (children per path in part 5),
 * `--data PATH`, `--out PATH`, `--no-write`, `--quick`; `--rows-out
 * FILE.json` saves this run's rows, and `--merge a.json,b.json` adds saved
 * rows to the report (so parts can run as separate invocations, side by
 * side: CPU-time ratios do not depend on the other processes much).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Child, spawnChild } from "./_spawn.ts";
import { type Row, writeReport } from "./_report.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    parts: { type: "string", default: "1,2,3,4,5" },
    rounds: { type: "string" },
    t: { type: "string" },
    "long-t": { type: "string" },
    pairs: { type: "string" },
    "train-rounds": { type: "string", default: "1" },
    data: { type: "string", default: "/work/shared/data/multi30k" },
    out: { type: "string", default: "bench/attention_fused/RESULTS.md" },
    "no-write": { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    "rows-out": { type: "string" },
    merge: { type: "string" },
  },
});
const quick = flags.quick;
const parts = new Set(
  flags.parts!.split(",").filter((x) => x !== "").map(Number),
);
const ROUNDS = Number(flags.rounds ?? (quick ? 2 : 5));
const T = Number(flags.t ?? (quick ? 128 : 512));
const LONG_T = Number(flags["long-t"] ?? (quick ? 512 : 4096));
const PAIRS = Number(flags.pairs ?? (quick ? 100 : 2000));
const HERE = new URL(".", import.meta.url).pathname;

type Timing = { cpuMs: number; wallMs: number; check: number };
type Round = {
  cases: Record<string, Timing>;
  errors?: Record<string, string>;
  peakRssMiB: number;
};

/** Per case: the cold round and the warm rounds. */
type Series = Map<string, { cold?: Timing; warm: Timing[] }>;

function record(series: Series, round: Round, warm: boolean): void {
  for (const [name, t] of Object.entries(round.cases)) {
    const s = series.get(name) ?? { warm: [] };
    if (warm) s.warm.push(t);
    else s.cold = t;
    series.set(name, s);
  }
}

/** Minimum and median of the warm rounds. */
export function summary(ts: readonly number[]): { min: number; med: number } {
  const s = [...ts].sort((a, b) => a - b);
  return { min: s[0] ?? NaN, med: s[s.length >> 1] ?? NaN };
}

/** Takes turns among children, one round line each, cold round first. */
async function interleave(children: Child[], rounds: number): Promise<Series> {
  const series: Series = new Map();
  for (let r = 0; r <= rounds; r++) {
    for (const c of children) {
      const round = await c.ask("round", "attn") as Round;
      for (const [name, e] of Object.entries(round.errors ?? {})) {
        throw new Error(`run: ${name} failed: ${e}`);
      }
      record(series, round, r > 0);
    }
    console.error(`  round ${r}/${rounds} done`);
  }
  for (const c of children) await c.close();
  return series;
}

const rows: Row[] = [];
const notes: string[] = [];
const cpu = (s: Series, name: string) =>
  summary(s.get(name)!.warm.map((t) => t.cpuMs));
const wall = (s: Series, name: string) =>
  summary(s.get(name)!.warm.map((t) => t.wallMs));

function timeRow(s: Series, name: string, label: string, part: string): Row {
  const c = cpu(s, name), w = wall(s, name);
  return {
    part,
    what: label,
    value: `${c.min.toFixed(0)} (med ${c.med.toFixed(0)})`,
    extra: `${w.min.toFixed(0)} (med ${w.med.toFixed(0)}); cold ${
      s.get(name)!.cold!.cpuMs.toFixed(0)
    } CPU ms`,
  };
}

function ratioRow(
  part: string,
  what: string,
  ratio: number,
  goal: number | null,
  higherIsBetter = true,
): Row {
  const meets = goal === null
    ? "—"
    : (higherIsBetter ? ratio >= goal : ratio <= goal)
    ? `yes (goal ${higherIsBetter ? "≥" : "≤"} ${goal})`
    : `**no** (goal ${higherIsBetter ? "≥" : "≤"} ${goal})`;
  return { part, what, value: `${ratio.toFixed(2)}×`, extra: meets };
}

const attnScript = `${HERE}_heed_attention.ts`;

/** Notes (and prints) cases of the same work whose checksums differ by over 1e-3 relative. */
function agree(s: Series, names: readonly string[]): void {
  const got = names.filter((n) => s.has(n)).map((n) =>
    [n, s.get(n)!.warm[0]!.check] as const
  );
  const [n0, c0] = got[0] ?? ["", 0];
  for (const [n, c] of got.slice(1)) {
    if (!(Math.abs(c - c0) <= 1e-3 * Math.abs(c0))) {
      const msg =
        `**Checksums disagree**: ${n} ${c} vs ${n0} ${c0} (the same gradients).`;
      notes.push(msg);
      console.error(msg);
    }
  }
}

if (parts.has(1) || parts.has(2)) {
  const cases = [
    ...(parts.has(1)
      ? ["plain-fused", "plain-composed", "plain-composed-jit"]
      : []),
    ...(parts.has(2)
      ? [
        "causal-alibi-fused",
        "causal-alibi-composed",
        "causal-fused",
        "plain-fused",
      ]
      : []),
  ].filter((c, i, a) => a.indexOf(c) === i);
  console.error(`parts 1-2: wasm, T ${T}, ${ROUNDS} warm rounds: ${cases}`);
  const children = [
    spawnChild(attnScript, [`--t=${T}`, `--cases=${cases}`]),
    ...(parts.has(1)
      ? [spawnChild(`${HERE}_jaxjs_attention.ts`, [`--t=${T}`])]
      : []),
  ];
  const s = await interleave(children, ROUNDS);
  const checks = [...s.entries()].map(([n, v]) =>
    `${n} ${v.warm[0]!.check.toPrecision(7)}`
  );
  notes.push(`Checksums Σ|∂q|+Σ|∂k|+Σ|∂v| (parts 1-2): ${checks.join(", ")}.`);
  agree(s, [
    "plain-fused",
    "plain-composed",
    "plain-composed-jit",
    "jaxjs-jit",
  ]);
  agree(s, ["causal-alibi-fused", "causal-alibi-composed"]);
  const min = (n: string) => cpu(s, n).min;
  if (parts.has(1)) {
    const p = `1. plain, T ${T}`;
    rows.push(timeRow(s, "plain-fused", "heed fused", p));
    rows.push(timeRow(s, "plain-composed", "heed composed (eager)", p));
    rows.push(timeRow(s, "plain-composed-jit", "heed composed (jit)", p));
    rows.push(timeRow(s, "jaxjs-jit", "jax-js jit nn.dotProductAttention", p));
    const best = Math.min(min("plain-composed"), min("plain-composed-jit"));
    rows.push(
      ratioRow(
        p,
        "composed (best of eager, jit) / fused",
        best / min("plain-fused"),
        3,
      ),
    );
    rows.push(
      ratioRow(
        p,
        "composed eager / fused",
        min("plain-composed") / min("plain-fused"),
        null,
      ),
    );
    rows.push(
      ratioRow(p, "jax-js / fused", min("jaxjs-jit") / min("plain-fused"), 4),
    );
  }
  if (parts.has(2)) {
    const p = `2. causal+ALiBi, T ${T}`;
    rows.push(timeRow(s, "causal-alibi-fused", "heed fused causal+ALiBi", p));
    rows.push(
      timeRow(
        s,
        "causal-alibi-composed",
        "heed composed causal+ALiBi (eager)",
        p,
      ),
    );
    if (!parts.has(1)) {
      rows.push(timeRow(s, "plain-fused", "heed fused plain", p));
    }
    rows.push(timeRow(s, "causal-fused", "heed fused causal (no ALiBi)", p));
    rows.push(
      ratioRow(
        p,
        "composed / fused",
        min("causal-alibi-composed") / min("causal-alibi-fused"),
        5,
      ),
    );
    const raw = min("causal-alibi-fused") / min("plain-fused");
    rows.push(
      ratioRow(p, "fused causal+ALiBi / fused plain (raw time)", raw, null),
    );
    // Causal sees T(T+1)/2 of the T² pairs.
    const perPair = raw * (T * T) / (T * (T + 1) / 2);
    rows.push(
      ratioRow(
        p,
        "fused causal+ALiBi / fused plain, per visible pair",
        perPair,
        1.2,
        false,
      ),
    );
    rows.push(
      ratioRow(
        p,
        "fused causal+ALiBi / fused causal (the cost of ALiBi)",
        min("causal-alibi-fused") / min("causal-fused"),
        null,
      ),
    );
  }
}

if (parts.has(3)) {
  const p = `3. causal, T ${LONG_T}, B·H 32`;
  console.error(`part 3: T ${LONG_T} causal, one child per path`);
  for (const path of ["fused", "composed"]) {
    const c = spawnChild(attnScript, [
      `--t=${LONG_T}`,
      `--cases=causal-${path}`,
      "--once",
    ]);
    const { line, stderr, code } = await c.finish("attn");
    const round = line as Round | null;
    const t = round?.cases[`causal-${path}`];
    const err = round?.errors?.[`causal-${path}`] ??
      (round
        ? null
        : `exit ${code}: ${stderr.trim().split("\n").slice(-2).join(" ")}`);
    rows.push({
      part: p,
      what: `heed ${path}: peak RSS (VmHWM)`,
      value: round ? `${round.peakRssMiB.toFixed(0)} MiB` : "—",
      extra: err
        ? `ran out / failed: ${err.slice(0, 160)}`
        : `ran: ${t!.cpuMs.toFixed(0)} CPU ms, ${
          t!.wallMs.toFixed(0)
        } wall ms` +
          (path === "fused"
            ? round!.peakRssMiB <= 1024
              ? "; yes (goal ≤ 1 GiB)"
              : "; **no** (goal ≤ 1 GiB)"
            : ""),
    });
  }
}

if (parts.has(4)) {
  const p = "4. WebGPU, T 256, B·H 8";
  console.error("part 4: webgpu");
  const cases = ["plain-fused", "plain-composed"];
  const c = spawnChild(attnScript, [
    "--backend=webgpu",
    "--t=256",
    "--b=1",
    "--heads=8",
    `--cases=${cases}`,
  ]);
  try {
    const s = await interleave([c], Math.min(ROUNDS, 3));
    agree(s, ["plain-fused", "plain-composed"]);
    rows.push(timeRow(s, "plain-fused", "heed webgpu fused", p));
    rows.push(timeRow(s, "plain-composed", "heed webgpu composed", p));
    // llvmpipe runs the shaders on this process's threads, so CPU time is
    // the fair measure on a shared machine; on a real GPU, read wall time.
    const w = (n: string) => wall(s, n).min;
    rows.push(
      ratioRow(
        p,
        "composed / fused (wall)",
        w("plain-composed") / w("plain-fused"),
        null,
      ),
    );
    rows.push(
      ratioRow(
        p,
        "composed / fused (CPU; llvmpipe runs in this process)",
        cpu(s, "plain-composed").min / cpu(s, "plain-fused").min,
        3,
      ),
    );
  } catch (e) {
    rows.push({
      part: p,
      what: "webgpu",
      value: "failed",
      extra: String(e).slice(0, 200),
    });
    await c.close();
  }
}

if (parts.has(5)) {
  const p = `5. Multi30k training, ${PAIRS} pairs, jit`;
  const n = Number(flags["train-rounds"]);
  console.error(`part 5: training, ${n} child(ren) per path`);
  const got: Record<string, { tps: number[]; tpc: number[]; loss: number[] }> =
    {};
  for (let r = 0; r < n; r++) {
    for (const path of ["fused", "composed"]) {
      const c = spawnChild(`${HERE}_train_child.ts`, [
        `--pairs=${PAIRS}`,
        `--path=${path}`,
        `--data=${flags.data}`,
      ]);
      const { line, stderr, code } = await c.finish("train");
      if (!line) {
        throw new Error(
          `run: training ${path} exit ${code}: ${stderr.slice(-400)}`,
        );
      }
      const m = line as {
        tokensPerSecond: number;
        tokensPerCpuSecond: number;
        loss: number;
      };
      const g = got[path] ??= { tps: [], tpc: [], loss: [] };
      g.tps.push(m.tokensPerSecond);
      g.tpc.push(m.tokensPerCpuSecond);
      g.loss.push(m.loss);
      console.error(`  ${path}: ${JSON.stringify(line)}`);
    }
  }
  const best = (xs: number[]) => Math.max(...xs);
  for (const path of ["fused", "composed"]) {
    const g = got[path]!;
    rows.push({
      part: p,
      what: `${
        path === "fused" ? "default (fused)" : "composed module (jit alone)"
      }: tokens per CPU s`,
      value: best(g.tpc).toFixed(0),
      extra: `wall tokens/s ${best(g.tps).toFixed(0)}; pass-2 loss ${
        g.loss.map((x) => x.toFixed(3))
      }`,
    });
  }
  rows.push(
    ratioRow(
      p,
      "fused / composed, tokens per CPU s",
      best(got.fused!.tpc) / best(got.composed!.tpc),
      1.3,
    ),
  );
  rows.push(
    ratioRow(
      p,
      "fused / composed, wall tokens/s",
      best(got.fused!.tps) / best(got.composed!.tps),
      null,
    ),
  );
}

if (flags["rows-out"]) {
  Deno.writeTextFileSync(
    flags["rows-out"],
    JSON.stringify({ rows, notes, args: Deno.args }),
  );
}
const merged = (flags.merge ?? "").split(",").filter((x) => x !== "").map((f) =>
  JSON.parse(Deno.readTextFileSync(f)) as {
    rows: Row[];
    notes: string[];
    args: string[];
  }
);
for (const m of merged) {
  rows.push(...m.rows);
  notes.push(
    ...m.notes,
    `Rows of parts run as \`run.ts ${m.args.join(" ")}\` (merged).`,
  );
}
const cmd = `HEED_THREADS=${
  Deno.env.get("HEED_THREADS") ?? "(unset)"
} nice -n 19 deno run -A bench/attention_fused/run.ts ${Deno.args.join(" ")}`;
const text = writeReport({ rows, notes, command: cmd, rounds: ROUNDS });
console.log(text);
if (!flags["no-write"] && !quick) {
  Deno.writeTextFileSync(flags.out!, text);
  console.error(`wrote ${flags.out}`);
}
Deno.exit(0);
