/**
 * Times a chain of 8 elementwise ops on 1M float32 elements on WebGPU, as
 * one fused kernel (one WGSL shader with the chain inlined) against the
 * same ops run eagerly one kernel each, side by side in one run, and prints
 * the ratio and the compute dispatches each way (counted at
 * `dispatchWorkgroups`); then the same for a row softmax over 1M elements
 * (three fused kernels against five eager ones).
 *
 * Run: `deno run --allow-read --allow-env bench/webgpu_fused.ts [--n=N] [--reps=R]`
 *
 * Every timed repetition waits for the device (`sync`, i.e.
 * `onSubmittedWorkDone`); the results of both ways are read back once at
 * the end and compared.
 *
 * @module
 */

/// <reference types="npm:@webgpu/types@0.1.74" />

import type { Aval } from "../ops/dtype.ts";
import type { ElementwisePrimitive } from "../ops/primitives.ts";
import type { Operand } from "../ops/backends/contract.ts";
import type { FusedKernel, FusedNode } from "../ops/backends/fused.ts";
import { WebGpuBackend } from "../ops/backends/webgpu/backend.ts";

function flag(name: string, fallback: number): number {
  const a = Deno.args.find((s) => s.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : fallback;
}

const n = flag("n", 1 << 20);
const reps = flag("reps", 10);

// y = sqrt(max(exp(tanh(x·1.5 + z)² - x), z)): mul, add, tanh, mul, sub,
// exp, max, sqrt. Operands index the list [x, z, 1.5, t1, t2, ...].
const CHAIN: readonly [ElementwisePrimitive, number[]][] = [
  ["mul", [0, 2]],
  ["add", [3, 1]],
  ["tanh", [4]],
  ["mul", [5, 5]],
  ["sub", [6, 0]],
  ["exp", [7]],
  ["max", [8, 1]],
  ["sqrt", [9]],
];

const gpu = await WebGpuBackend.create();
if (!gpu) {
  console.log("webgpu_fused: no WebGPU adapter on this machine");
  Deno.exit(0);
}
const b = gpu;

let dispatches = 0;
const proto = (globalThis as unknown as {
  GPUComputePassEncoder: { prototype: GPUComputePassEncoder };
}).GPUComputePassEncoder.prototype;
const dispatch = proto.dispatchWorkgroups;
proto.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...a) {
  dispatches++;
  return dispatch.apply(this, a);
};

const vec: Aval = { shape: [n], dtype: "float32" };
const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 2);
const z = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7));
const ins: Operand[] = [
  { handle: b.upload(x, vec), aval: vec },
  { handle: b.upload(z, vec), aval: vec },
];

const nodes: FusedNode[] = [
  { kind: "load", input: 0, offset: 0, strides: [1], dtype: "float32" },
  { kind: "load", input: 1, offset: 0, strides: [1], dtype: "float32" },
  { kind: "literal", value: 1.5, dtype: "float32" },
  ...CHAIN.map(([prim, args]): FusedNode => ({
    kind: "op",
    prim,
    params: {},
    args,
    dtype: "float32",
  })),
];
const kernel: FusedKernel = {
  kind: "elementwise",
  shape: [n],
  nodes,
  outputs: [nodes.length - 1],
};

function fused(): unknown {
  return b.runFused(kernel, ins)[0];
}

const scalar: Aval = { shape: [], dtype: "float32" };
const c = { handle: b.upload(new Float32Array([1.5]), scalar), aval: scalar };
function eager(): unknown {
  const vals: Operand[] = [...ins, c];
  for (const [prim, args] of CHAIN) {
    const out = b.run(prim, args.map((a) => vals[a]!), {}, vec);
    vals.push({ handle: out, aval: vec });
  }
  // Free the intermediates, keep the result.
  for (const v of vals.slice(3, -1)) b.free(v.handle);
  return vals[vals.length - 1]!.handle;
}

async function time(f: () => unknown): Promise<[number, number, unknown]> {
  const d0 = dispatches;
  const t0 = performance.now();
  const out = f();
  await b.sync();
  return [performance.now() - t0, dispatches - d0, out];
}

/** A table row: both ways timed alternately, results compared once at the end. */
async function compare(
  label: string,
  fused: () => unknown,
  eager: () => unknown,
  out: Aval,
): Promise<string> {
  // First calls compile the pipelines.
  const [fusedFirst, , f0] = await time(fused);
  const [eagerFirst, , e0] = await time(eager);
  b.free(f0);
  b.free(e0);
  const ft: number[] = [], et: number[] = [];
  let fd = 0, ed = 0;
  for (let r = 0; r < reps; r++) {
    const [tf, df, of] = await time(fused);
    const [te, de, oe] = await time(eager);
    ft.push(tf);
    et.push(te);
    fd = df;
    ed = de;
    if (r < reps - 1) {
      b.free(of);
      b.free(oe);
      continue;
    }
    const yf = await b.read(of, out), ye = await b.read(oe, out);
    b.free(of);
    b.free(oe);
    let worst = 0;
    for (let i = 0; i < yf.length; i++) {
      const e = ye[i]!, d = Math.abs(yf[i]! - e);
      if (!(d <= 1e-5 + 1e-5 * Math.abs(e))) worst = Math.max(worst, d || 1);
    }
    if (worst > 0) {
      throw new Error(`${label}: fused and eager differ by ${worst}`);
    }
  }
  const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
  const mf = median(ft), me = median(et);
  return `| ${label} | ${me.toFixed(2)} | ${mf.toFixed(2)} | ${
    (me / mf).toFixed(2)
  }x | ${ed} | ${fd} | ${eagerFirst.toFixed(0)} | ${fusedFirst.toFixed(0)} |`;
}

// Softmax over the rows of [rows, n / rows]: eager max, sub, exp, sum, div;
// fused: max, sum of exp(x - m) (m hoisted per row), exp(x - m) / s.
const rows = 1024, len = n / rows;
const mat: Aval = { shape: [rows, len], dtype: "float32" };
const col: Aval = { shape: [rows, 1], dtype: "float32" };
const xm = { handle: ins[0]!.handle, aval: mat };
const load = (input: number, strides: number[]): FusedNode => ({
  kind: "load",
  input,
  offset: 0,
  strides,
  dtype: "float32",
});
const op = (prim: ElementwisePrimitive, args: number[]): FusedNode => ({
  kind: "op",
  prim,
  params: {},
  args,
  dtype: "float32",
});
const expNodes = [load(0, [len, 1]), load(1, [1, 0]), op("sub", [0, 1])];
expNodes.push(op("exp", [2]));
const rowMax: FusedKernel = {
  kind: "reduce",
  op: "max",
  shape: [rows, len],
  axes: [1],
  nodes: [load(0, [len, 1])],
  value: 0,
};
const rowSum: FusedKernel = { ...rowMax, op: "sum", nodes: expNodes, value: 3 };
const normalise: FusedKernel = {
  kind: "elementwise",
  shape: [rows, len],
  nodes: [...expNodes, load(2, [1, 0]), op("div", [3, 4])],
  outputs: [5],
};
const rowVec: Aval = { shape: [rows], dtype: "float32" };
function softmaxFused(): unknown {
  const [m] = b.runFused(rowMax, [ins[0]!]);
  const mo = { handle: m, aval: rowVec };
  const [s] = b.runFused(rowSum, [ins[0]!, mo]);
  const [y] = b.runFused(normalise, [ins[0]!, mo, { handle: s, aval: rowVec }]);
  b.free(m);
  b.free(s);
  return y;
}
function softmaxEager(): unknown {
  const m = b.run("reduce_max", [xm], { axes: [1] }, col);
  const d = b.run("sub", [xm, { handle: m, aval: col }], {}, mat);
  const e = b.run("exp", [{ handle: d, aval: mat }], {}, mat);
  const s = b.run("reduce_sum", [{ handle: e, aval: mat }], { axes: [1] }, col);
  const y = b.run(
    "div",
    [{ handle: e, aval: mat }, { handle: s, aval: col }],
    {},
    mat,
  );
  for (const t of [m, d, e, s]) b.free(t);
  return y;
}

const table = [
  await compare(`${CHAIN.length}-op chain, ${n}`, fused, eager, vec),
  await compare(`softmax [${rows}, ${len}]`, softmaxFused, softmaxEager, mat),
];
console.log(`adapter: ${b.info.description}; ${reps} reps, median ms`);
console.log(
  "| workload | eager ms | fused ms | speed-up | eager dispatches | fused dispatches | eager 1st ms | fused 1st ms |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const row of table) console.log(row);
