/**
 * The wasm backend against the CPU reference in one run: float32 matmul
 * GFLOP/s at n = 256, 512, 1024, 2048 (the wasm backend on 1 thread and on
 * all threads, and micro-tile variants), then the MLP 784-256-10 batch-128
 * SGD step in steps/s on both backends through the public API.
 *
 * Run: `deno run --allow-read --allow-env bench/wasm_matmul.ts [--quick]`
 * (`--quick`: fewer sizes and repetitions, for shared machines).
 *
 * @module
 */

import * as h from "../mod.ts";
import type { Backend, Operand } from "../ops/backend.ts";
import { CpuBackend } from "../ops/backends/cpu.ts";
import { WasmBackend } from "../ops/backends/wasm/backend.ts";

const quick = Deno.args.includes("--quick");
const MATMUL = {
  lhsContract: [1],
  rhsContract: [0],
  lhsBatch: [],
  rhsBatch: [],
};

function randomMatrix(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const x = new Float32Array(n * n);
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median ms over `reps` runs after one warm-up, and a checksum of C. */
async function timeMatmul(
  b: Backend,
  n: number,
  reps: number,
): Promise<[number, number]> {
  const aval = { shape: [n, n], dtype: "float32" } as const;
  const x: Operand = { handle: b.upload(randomMatrix(n, 1), aval), aval };
  const y: Operand = { handle: b.upload(randomMatrix(n, 2), aval), aval };
  b.free(b.run("dot_general", [x, y], MATMUL, aval));
  const times: number[] = [];
  let sum = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const c = b.run("dot_general", [x, y], MATMUL, aval);
    times.push(performance.now() - t0);
    if (r === 0) {
      sum = Array.from(await b.read(c, aval), Number).reduce(
        (s, v) => s + v,
        0,
      );
    }
    b.free(c);
  }
  b.free(x.handle);
  b.free(y.handle);
  return [median(times), sum];
}

const cpu = new CpuBackend();
const threads = navigator.hardwareConcurrency || 1;
const columns: [string, Backend][] = [["cpu", cpu]];
// Tile variants run on one thread, so they compare micro-kernels only.
columns.push([
  `wasm 4x8 ${threads}T`,
  await WasmBackend.create({ threads }),
]);
const variants = quick ? [[4, 8]] : [[4, 8], [6, 8], [4, 12]];
for (const [mr, nr] of variants) {
  const w = await WasmBackend.create({
    threads: 1,
    tile: { mr: mr!, nr: nr! },
  });
  columns.push([`wasm ${mr}x${nr} 1T`, w]);
}
const sizes = quick ? [256, 1024] : [256, 512, 1024, 2048];
const rows = [
  `| n | ${columns.map(([c]) => c + " GFLOP/s").join(" | ")} |`,
  `|---:|${columns.map(() => "---:").join("|")}|`,
];
for (const n of sizes) {
  const cells: string[] = [];
  let ref = NaN;
  for (const [name, b] of columns) {
    if (name === "cpu" && n > 1024) {
      cells.push("-");
      continue;
    }
    const reps = n >= 1024 ? 3 : 5;
    const [ms, sum] = await timeMatmul(b, n, quick ? 3 : reps);
    if (Number.isNaN(ref)) ref = sum;
    const ok = Math.abs(sum - ref) <= 1e-3 * Math.abs(ref) + 1
      ? ""
      : " (checksum!)";
    cells.push(((2 * n ** 3) / (ms * 1e6)).toFixed(1) + ok);
  }
  rows.push(`| ${n} | ${cells.join(" | ")} |`);
}
console.log(
  `float32 matmul, median of 3-5 runs (fma: ${
    (columns[1]![1] as WasmBackend).gemm.fma
  }, ${threads} threads; shared machine)\n`,
);
console.log(rows.join("\n"));

// --- MLP 784-256-10, batch 128, one SGD step (forward, backward, update).
type Params = { w1: h.Tensor; b1: h.Tensor; w2: h.Tensor; b2: h.Tensor };

function loss(p: Params, x: h.Tensor, y: h.Tensor): h.Tensor {
  const hidden = h.relu(h.add(h.matmul(x, p.w1), p.b1)); // [128, 256]
  return h.crossEntropy(h.add(h.matmul(hidden, p.w2), p.b2), y);
}

async function mlpStepsPerSecond(backend: h.BackendName): Promise<number> {
  return await h.withBackend(backend, async () => {
    const [k1, k2, k3] = h.split(h.key(0), 3);
    let p: Params = {
      w1: h.mul(h.normal(k1!, [784, 256]), 0.036),
      b1: h.zeros([256]),
      w2: h.mul(h.normal(k2!, [256, 10]), 0.0625),
      b2: h.zeros([10]),
    };
    const x = h.normal(k3!, [128, 784]);
    const y = h.tensor(Int32Array.from({ length: 128 }, (_, i) => i % 10));
    const step = (q: Params) =>
      h.treeMap(
        (w, g) => h.sub(w as h.Tensor, h.mul(g as h.Tensor, 0.01)),
        q,
        h.grad(loss)(q, x, y),
      ) as Params;
    for (let i = 0; i < 3; i++) p = h.carry(p, step);
    await p.b2.data();
    const n = quick ? 10 : 30;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      p = h.carry(p, step);
      await p.b2.data(); // wait for the new parameters
    }
    return n / ((performance.now() - t0) / 1000);
  });
}

const mlp = [
  "| backend | MLP 784-256-10 b128 SGD steps/s |",
  "|---|---:|",
];
for (const b of ["cpu", "wasm"] as const) { // wasm: HEED_THREADS, else one per core
  mlp.push(`| ${b} | ${(await mlpStepsPerSecond(b)).toFixed(1)} |`);
}
console.log("\n" + mlp.join("\n"));
