/**
 * Fused wasm kernels against the eager wasm ops, side by side in one run:
 * - a chain of 8 elementwise ops on 1M float32s,
 *   `max(tanh(1.5·x + y) + exp(-(x·x)), 0)`: one fused kernel (on one
 *   thread) against 8 eager kernels, each writing a 4 MiB intermediate
 *   (on one thread, and on every thread);
 * - softmax denominators of a [1024, 1024] matrix, `Σ_j exp(x_ij - m_i)`:
 *   one fused reduction against three eager kernels.
 * Times are the minimum and median of interleaved runs; ratios are eager /
 * fused (above 1: fused is faster), of minima and of medians.
 * The first fused call's time, which includes compiling, is shown apart.
 *
 * Run: `deno run --allow-read --allow-env bench/wasm_fused.ts [--quick]`.
 *
 * @module
 */

import type { Operand } from "../ops/backends/contract.ts";
import type {
  FusedElementwise,
  FusedNode,
  FusedReduce,
} from "../ops/backends/fused.ts";
import { WasmBackend } from "../ops/backends/wasm/backend.ts";
import type { Aval, DType } from "../ops/dtype.ts";
import type { ElementwisePrimitive } from "../ops/primitives.ts";

const quick = Deno.args.includes("--quick");
const REPS = quick ? 9 : 31;
const N = 1 << 20;

/**
 * Times each of `fns` REPS times, round-robin (so a busy machine slows all
 * alike), after two warm-ups each; returns [min, median] ms per function.
 */
function timeAll(
  fns: [() => void, () => void, () => void],
): [[number, number], [number, number], [number, number]] {
  for (const fn of fns) fn(), fn();
  const ts: number[][] = fns.map(() => []);
  for (let r = 0; r < REPS; r++) {
    fns.forEach((fn, k) => {
      const t0 = performance.now();
      fn();
      ts[k]!.push(performance.now() - t0);
    });
  }
  const span = (t: number[]): [number, number] => {
    const s = [...t].sort((a, b) => a - b);
    return [s[0]!, s[s.length >> 1]!];
  };
  return [span(ts[0]!), span(ts[1]!), span(ts[2]!)];
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
      const args = n.args.map((a) => vals[a]!);
      const h = b.run(n.prim, args, n.params, aval(n.dtype));
      temps.push(h);
      vals.push({ handle: h, aval: aval(n.dtype) });
    }
  }
  for (const h of temps) b.free(h);
}

function main(): void {
  const one = WasmBackend.createSync({ threads: 1 });
  const all = WasmBackend.createSync();
  type Span = [number, number];
  const rows: [string, number, Span, Span, Span][] = [];
  const up = (b: WasmBackend, x: Float32Array, shape: number[]): Operand => {
    const aval: Aval = { shape, dtype: "float32" };
    return { handle: b.upload(x, aval), aval };
  };
  const x = data(N, 1), y = data(N, 2);
  const ins1 = [up(one, x, [N]), up(one, y, [N])];
  const insA = [up(all, x, [N]), up(all, y, [N])];
  let t0 = performance.now();
  one.free(one.runFused(CHAIN, ins1)[0]);
  const first = performance.now() - t0;
  rows.push([
    "8-op chain, 1M",
    first,
    ...timeAll([
      () => one.free(one.runFused(CHAIN, ins1)[0]),
      () => eager(one, CHAIN, ins1),
      () => eager(all, CHAIN, insA),
    ]),
  ]);

  const m = new Float32Array(ROWS).fill(4);
  const d1 = [up(one, x, [ROWS, COLS]), up(one, m, [ROWS])];
  const dA = [up(all, x, [ROWS, COLS]), up(all, m, [ROWS])];
  t0 = performance.now();
  one.free(one.runFused(DENOM, d1)[0]);
  const firstR = performance.now() - t0;
  // Eager: sub (m as [ROWS, 1] broadcasts), exp, reduce_sum.
  const eagerR = (b: WasmBackend, ins: Operand[]) => () => {
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
  rows.push([
    "softmax denominators, 1024²",
    firstR,
    ...timeAll([
      () => one.free(one.runFused(DENOM, d1)[0]),
      eagerR(one, d1),
      eagerR(all, dA),
    ]),
  ]);

  console.log(
    `wasm fused vs eager: ms, min / median of ${REPS} interleaved runs; ` +
      `fused on 1 thread, eager on 1 and ${all.threads}`,
  );
  console.log(
    "| kernel | fused first call | fused | eager, 1 thread | eager, all threads | eager 1t / fused | eager all / fused |",
  );
  console.log("|---|---|---|---|---|---|---|");
  const ms = ([a, b]: [number, number]) => `${a.toFixed(2)} / ${b.toFixed(2)}`;
  const ratio = (e: [number, number], f: [number, number]) =>
    `${(e[0] / f[0]).toFixed(2)}× / ${(e[1] / f[1]).toFixed(2)}×`;
  for (const [name, first, f, e1, eA] of rows) {
    console.log(
      `| ${name} | ${first.toFixed(2)} | ${ms(f)} | ${ms(e1)} | ${ms(eA)} | ` +
        `${ratio(e1, f)} | ${ratio(eA, f)} |`,
    );
  }
  one.close();
  all.close();
}

main();
