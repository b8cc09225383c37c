/**
 * Times float32 matmul on the CPU reference backend through
 * `run("dot_general", ...)` and prints a markdown table.
 *
 * Run: `deno run bench/cpu_matmul.ts`
 *
 * @module
 */

import { CpuBackend } from "../ops/backends/cpu.ts";
import type { Aval } from "../ops/dtype.ts";

const cpu = new CpuBackend();
const MATMUL = {
  lhsContract: [1],
  rhsContract: [0],
  lhsBatch: [],
  rhsBatch: [],
};

function randomMatrix(n: number): Float32Array {
  const x = new Float32Array(n * n);
  for (let i = 0; i < x.length; i++) x[i] = Math.random() * 2 - 1;
  return x;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median milliseconds of `reps` timed runs after one warm-up. */
function timeMatmul(n: number, reps: number): number {
  const aval: Aval = { shape: [n, n], dtype: "float32" };
  const a = { handle: cpu.upload(randomMatrix(n), aval), aval };
  const b = { handle: cpu.upload(randomMatrix(n), aval), aval };
  cpu.run("dot_general", [a, b], MATMUL, aval); // warm-up
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    cpu.run("dot_general", [a, b], MATMUL, aval);
    times.push(performance.now() - t0);
  }
  return median(times);
}

const rows = ["| n | reps | median ms | GFLOP/s |", "|---:|---:|---:|---:|"];
for (const [n, reps] of [[256, 7], [512, 5], [1024, 3]] as const) {
  const ms = timeMatmul(n, reps);
  const gflops = (2 * n ** 3) / (ms * 1e6);
  rows.push(`| ${n} | ${reps} | ${ms.toFixed(1)} | ${gflops.toFixed(2)} |`);
}
console.log("CPU reference backend, float32 dot_general (2n^3 flops)\n");
console.log(rows.join("\n"));
