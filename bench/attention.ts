/**
 * Times heed's attention specs, forward and forward+backward, at
 * batch×heads 32 (4 × 8), T 128 and 512, d 64, on the current backend, and
 * prints a markdown table with each spec's time as a ratio of the plain
 * `scaledDot + softmax` reference (the peers' fixed attention; the
 * side-by-side peer comparison lives in bench/peers/).
 *
 * Run: `deno run --allow-read --allow-env bench/attention.ts [options]`
 *
 *   --backend=cpu|webgpu   backend to use (default: heed's default)
 *   --t=128,512            sequence lengths (default both)
 *   --specs=a,b            only specs whose name contains one of these
 *   --reps=N               timed repetitions after one warm-up (default 3)
 *   --quick                T 128 only, one repetition
 *
 * Each timing ends with a readback, so a GPU has finished its work.
 *
 * @module
 */

import {
  additive,
  alibi,
  attention,
  bilinear,
  causal,
  cosine,
  identityNormaliser,
  padding,
  relativePositionBias,
  scaledDot,
  seedRatio,
  sigmoidNormaliser,
  slidingWindow,
  sparsemaxNormaliser,
  type Spec,
} from "../attention/mod.ts";
import {
  add,
  type BackendName,
  defaultBackend,
  grad,
  key,
  mul,
  normal,
  scope,
  setBackend,
  split,
  sum,
  type Tensor,
} from "../ops/mod.ts";

const B = 4, H = 8, D = 64; // batch × heads = 32

interface Bench {
  readonly name: string;
  readonly spec: () => Spec;
  /** Largest T it is run at (the O(T²·h) and O(T³) pieces run only at 128). */
  readonly maxT: number;
  /** Whether the spec reads `lengths` (attention refuses data no piece reads). */
  readonly padded?: boolean;
}

const k = split(key(0), 8);
const param = (i: number, shape: number[], scale: number) =>
  mul(normal(k[i]!, shape), scale);

const BENCHES: readonly Bench[] = [
  {
    name: "scaledDot + softmax (reference)",
    spec: () => ({ score: scaledDot() }),
    maxT: 512,
  },
  {
    name: "causal + ALiBi",
    spec: () => ({ score: scaledDot(), mods: [alibi(H)], masks: [causal()] }),
    maxT: 512,
  },
  {
    name: "sliding window 64 + padding",
    spec: () => ({
      score: scaledDot(),
      masks: [slidingWindow(63, 0), padding()],
    }),
    padded: true,
    maxT: 512,
  },
  {
    name: "T5 relative bias (32 buckets)",
    spec: () => ({
      score: scaledDot(),
      mods: [relativePositionBias(param(0, [H, 32], 0.1))],
    }),
    maxT: 512,
  },
  {
    name: "bilinear W",
    spec: () => ({ score: bilinear(param(1, [D, D], 0.02)) }),
    maxT: 512,
  },
  { name: "cosine (scale 10)", spec: () => ({ score: cosine(10) }), maxT: 512 },
  {
    name: "seedRatio + identity",
    spec: () => ({
      score: seedRatio(param(2, [D, D], 0.02)),
      normalise: identityNormaliser(),
    }),
    maxT: 512,
  },
  {
    name: "scaledDot + sigmoid",
    spec: () => ({ score: scaledDot(), normalise: sigmoidNormaliser() }),
    maxT: 512,
  },
  {
    name: "scaledDot + sparsemax",
    spec: () => ({ score: scaledDot(), normalise: sparsemaxNormaliser() }),
    maxT: 128,
  },
  {
    name: "additive (h 64)",
    spec: () => ({
      score: additive({
        w1: param(3, [D, D], 0.1),
        w2: param(4, [D, D], 0.1),
        v: param(5, [D], 0.1),
      }),
    }),
    maxT: 128,
  },
];

function flag(name: string): string | undefined {
  const a = Deno.args.find((x) =>
    x === `--${name}` || x.startsWith(`--${name}=`)
  );
  return a === undefined ? undefined : a.split("=")[1] ?? "";
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median ms of `fn` (one warm-up); each run ends with a readback. */
async function time(fn: () => Tensor, reps: number): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    const r = scope(() => sum(fn())); // frees the intermediates
    await r.data();
    return performance.now() - t0;
  };
  await once();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) ts.push(await once());
  return median(ts);
}

const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

async function run(): Promise<void> {
  const backend = flag("backend");
  if (backend) await setBackend(backend as BackendName);
  const quick = flag("quick") !== undefined;
  const ts = quick ? [128] : (flag("t") ?? "128,512").split(",").map(Number);
  const reps = quick ? 1 : Number(flag("reps") ?? 3);
  const only = flag("specs")?.split(",");
  const benches = BENCHES.filter((b) =>
    b === BENCHES[0] || !only || only.some((o) => b.name.includes(o))
  );

  const rows: string[] = [];
  const base = new Map<string, number>();
  for (const b of benches) {
    const cells: string[] = [];
    for (const t of ts) {
      if (t > b.maxT) {
        cells.push("—", "—");
        continue;
      }
      const q = normal(k[6]!, [B, H, t, D]), kk = normal(k[7]!, [B, H, t, D]);
      const v = normal(k[5]!, [B, H, t, D]);
      const r = normal(k[4]!, [B, H, t, D]);
      const lengths = Array.from({ length: B }, (_, i) => t - 7 * i);
      const spec = b.spec();
      const attend = attention(spec);
      const opts = b.padded ? { lengths } : {};
      const fwd = () => attend(q, kk, v, opts).output;
      const loss = (a: Tensor, c: Tensor, e: Tensor) =>
        sum(mul(attend(a, c, e, opts).output, r));
      const bwd = () => {
        const [ga, gc, ge] = grad(loss, { argnums: [0, 1, 2] })(q, kk, v);
        return add(add(sum(ga), sum(gc)), sum(ge));
      };
      for (const [mode, fn] of [["fwd", fwd], ["fwd+bwd", bwd]] as const) {
        const ms = await time(fn, reps);
        const id = `${mode}-${t}`;
        if (b === benches[0]) base.set(id, ms);
        const ratio = ms / base.get(id)!;
        cells.push(`${fmtMs(ms)} (${ratio.toFixed(2)}×)`);
      }
    }
    rows.push(`| ${b.name} | ${cells.join(" | ")} |`);
    console.error(`done: ${b.name}`);
  }
  const head = ts.flatMap((t) => [`T ${t} fwd ms`, `T ${t} fwd+bwd ms`]);
  console.log(
    `\nheed attention on ${defaultBackend()}: batch×heads ${B}×${H}, d ${D}, median of ${reps} (ratio to the reference)\n`,
  );
  console.log(`| spec | ${head.join(" | ")} |`);
  console.log(`|---|${head.map(() => "---:").join("|")}|`);
  for (const row of rows) console.log(row);
}

if (import.meta.main) await run();
