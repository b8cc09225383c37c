/**
 * Fused wasm kernels against the eager wasm ops, side by side in one run:
 * - a chain of 8 elementwise ops on 1M float32s,
 *   `max(tanh(1.5·x + y) + exp(-(x·x)), 0)`: one fused kernel against 8
 *   eager kernels, each writing a 4 MiB intermediate;
 * - softmax denominators of a [1024, 1024] matrix, `Σ_j exp(x_ij - m_i)`:
 *   one fused reduction against three eager kernels;
 * - a small kernel, `max(x + b, 0)` on [128, 256] (an MLP layer's bias and
 *   ReLU), 100 calls per timing: one fused kernel against two eager ones.
 * Both on one thread and on every thread (`HEED_THREADS`, else one per
 * core). Times are the minimum and median of interleaved runs; ratios are
 * eager / fused (above 1: fused is faster), of minima and of medians.
 * The first fused call's time, which includes compiling, is shown apart.
 *
 * Run: `deno run --allow-read --allow-env bench/wasm_fused.ts [--quick]`.
 *
 * @module
 */

import type { Operand } from "../ops/backends/contract.ts";
import type {
  FusedElementwise,
  FusedKernel,
  FusedNode,
  FusedReduce,
} from "../ops/backends/fused.ts";
import { WasmBackend } from "../ops/backends/wasm/backend.ts";
import type { Aval, DType } from "../ops/dtype.ts";
import type { ElementwisePrimitive } from "../ops/primitives.ts";

const quick = Deno.args.includes("--quick");
const REPS = quick ? 9 : 31;
const N = 1 << 20;

/** Milliseconds: the minimum and the median. */
type Span = [number, number];

/**
 * Times each of `fns` REPS times, round-robin (so a busy machine slows all
 * alike), after two warm-ups each; returns [min, median] ms per function.
 */
function timeAll(fns: (() => void)[]): Span[] {
  for (const fn of fns) fn(), fn();
  const ts: number[][] = fns.map(() => []);
  for (let r = 0; r < REPS; r++) {
    fns.forEach((fn, k) => {
      const t0 = performance.now();
      fn();
      ts[k]!.push(performance.now() - t0);
    });
  }
  return ts.map((t) => {
    const s = [...t].sort((a, b) => a - b);
    return [s[0]!, s[s.length >> 1]!];
  });
}

function data(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 8 - 4;
  });
}

const load = (input: number, strides: number[]): FusedNode => ({
  kind: "load",
  input,
  offset: 0,
  strides,
  dtype: "float32",
});
const lit = (value: number): FusedNode => ({
  kind: "literal",
  value,
  dtype: "float32",
});
const op = (prim: ElementwisePrimitive, args: number[]): FusedNode => ({
  kind: "op",
  prim,
  params: {} as never,
  args,
  dtype: "float32",
});

// max(tanh(1.5·x + y) + exp(-(x·x)), 0): 8 ops.
const CHAIN: FusedElementwise = {
  kind: "elementwise",
  shape: [N],
  nodes: [
    load(0, [1]), // 0 x
    load(1, [1]), // 1 y
    lit(1.5), // 2
    lit(0), // 3
    op("mul", [0, 2]), // 4
    op("add", [4, 1]), // 5
    op("tanh", [5]), // 6
    op("mul", [0, 0]), // 7
    op("neg", [7]), // 8
    op("exp", [8]), // 9
    op("add", [6, 9]), // 10
    op("max", [10, 3]), // 11
  ],
  outputs: [11],
};

const ROWS = 1024, COLS = 1024;
// Σ_j exp(x_ij - m_i) over a [ROWS, COLS] x and an m of [ROWS].
const DENOM: FusedReduce = {
  kind: "reduce",
  op: "sum",
  shape: [ROWS, COLS],
  axes: [1],
  nodes: [
    load(0, [COLS, 1]),
    load(1, [1, 0]),
    op("sub", [0, 1]),
    op("exp", [2]),
  ],
  value: 3,
};

/** Runs the kernel's ops one eager kernel at a time (nodes of shape `shape`). */
function eager(
  b: WasmBackend,
  kernel: FusedElementwise,
  inputs: readonly Operand[],
): void {
  const vals: Operand[] = [];
  const temps: unknown[] = [];
  const aval = (dtype: DType): Aval => ({ shape: kernel.shape, dtype });
  for (const n of kernel.nodes) {
    if (n.kind === "load") vals.push(inputs[n.input]!);
    else if (n.kind === "literal") {
      const s: Aval = { shape: [], dtype: n.dtype };
      const h = b.upload(new Float32Array([n.value]), s);
      temps.push(h);
      vals.push({ handle: h, aval: s });
    } else {
      if (n.kind !== "op") throw new Error("elementwise kernels only");
      const args = n.args.map((a) => vals[a]!);
      const h = b.run(n.prim, args, n.params, aval(n.dtype));
      temps.push(h);
      vals.push({ handle: h, aval: aval(n.dtype) });
    }
  }
  for (const h of temps) b.free(h);
}

async function main(): Promise<void> {
  const one = WasmBackend.createSync({ threads: 1 });
  const all = await WasmBackend.create();
  const up = (b: WasmBackend, x: Float32Array, shape: number[]): Operand => {
    const aval: Aval = { shape, dtype: "float32" };
    return { handle: b.upload(x, aval), aval };
  };
  const fused =
    (b: WasmBackend, k: FusedKernel, ins: Operand[], n = 1) => () => {
      for (let i = 0; i < n; i++) b.free(b.runFused(k, ins)[0]);
    };
  const x = data(N, 1), y = data(N, 2);
  const m = new Float32Array(ROWS).fill(4);
  // Eager softmax denominators: sub (m as [ROWS, 1] broadcasts), exp, sum.
  const eagerDenom = (b: WasmBackend, ins: Operand[]) => () => {
    const full: Aval = { shape: [ROWS, COLS], dtype: "float32" };
    const col: Operand = {
      handle: ins[1]!.handle,
      aval: { shape: [ROWS, 1], dtype: "float32" },
    };
    const s = b.run("sub", [ins[0]!, col], {}, full);
    const e = b.run("exp", [{ handle: s, aval: full }], {}, full);
    const r = b.run("reduce_sum", [{ handle: e, aval: full }], { axes: [1] }, {
      shape: [ROWS],
      dtype: "float32",
    });
    for (const h of [s, e, r]) b.free(h);
  };
  const [R, C] = [128, 256];
  const relu: FusedElementwise = {
    kind: "elementwise",
    shape: [R, C],
    nodes: [
      load(0, [C, 1]),
      load(1, [0, 1]),
      lit(0),
      op("add", [0, 1]),
      op(
        "max",
        [3, 2],
      ),
    ],
    outputs: [4],
  };
  const hundred = (fn: () => void) => () => {
    for (let i = 0; i < 100; i++) fn();
  };
  const cases = [
    {
      name: "8-op chain, 1M",
      kernel: CHAIN as FusedKernel,
      ins: (b: WasmBackend) => [up(b, x, [N]), up(b, y, [N])],
      eager: (b: WasmBackend, ins: Operand[]) => () => eager(b, CHAIN, ins),
    },
    {
      name: "softmax denominators, 1024²",
      kernel: DENOM,
      ins: (b: WasmBackend) => [up(b, x, [ROWS, COLS]), up(b, m, [ROWS])],
      eager: eagerDenom,
    },
    {
      name: "bias + ReLU, [128, 256], 100 calls",
      kernel: relu,
      ins: (b: WasmBackend) => [
        up(b, x.subarray(0, R * C), [R, C]),
        up(b, y.subarray(0, C), [C]),
      ],
      eager: (b: WasmBackend, ins: Operand[]) =>
        hundred(() => eager(b, relu, ins)),
      calls: 100,
    },
  ];
  console.log(
    `wasm fused vs eager: ms, min / median of ${REPS} interleaved runs, ` +
      `on 1 thread and on ${all.threads}`,
  );
  console.log(
    "| kernel | fused first call | fused 1t | eager 1t | fused all | eager all | eager / fused, 1t | eager / fused, all |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  const ms = ([a, b]: Span) => `${a.toFixed(2)} / ${b.toFixed(2)}`;
  const ratio = (e: Span, f: Span) =>
    `${(e[0] / f[0]).toFixed(2)}× / ${(e[1] / f[1]).toFixed(2)}×`;
  for (const c of cases) {
    const ins1 = c.ins(one), insA = c.ins(all);
    const t0 = performance.now();
    fused(one, c.kernel, ins1)();
    const first = performance.now() - t0;
    fused(all, c.kernel, insA)();
    await all.ready(); // the kernel's threads
    const n = "calls" in c ? c.calls : 1;
    const [f1, e1, fA, eA] = timeAll([
      fused(one, c.kernel, ins1, n),
      c.eager(one, ins1),
      fused(all, c.kernel, insA, n),
      c.eager(all, insA),
    ]) as [Span, Span, Span, Span];
    console.log(
      `| ${c.name} | ${first.toFixed(2)} | ${ms(f1)} | ${ms(e1)} | ` +
        `${ms(fA)} | ${ms(eA)} | ${ratio(e1, f1)} | ${ratio(eA, fA)} |`,
    );
  }
  one.close();
  all.close();
}

await main();
