/**
 * Flash attention on the wasm backend (`runFlash`: tiled SIMD, online
 * softmax, P recomputed in the backward) against the composed path
 * (`matmul → softmax → matmul` and its gradient through the ops API), side
 * by side in one run, at batch×heads 32 (4 × 8), d 64, T 512 (or
 * `--t=`): forward, and forward + backward (the flash backward is the
 * forward, `grad_q` and `grad_kv`). A causal flash row shows the block
 * sparsity. Times are minima and medians of interleaved repetitions;
 * ratios are composed / flash (above 1: flash is faster).
 *
 * Run: `HEED_THREADS=1 deno run --allow-read --allow-env bench/attention_fused/wasm_flash.ts [--t=512] [--reps=5]`
 *
 * @module
 */

import process from "node:process";
import type { Operand } from "../../ops/backends/contract.ts";
import type { FlashKernel, FlashMode } from "../../ops/backends/flash.ts";
import { ThreadPool } from "../../ops/backends/wasm/_threads.ts";
import { WasmBackend } from "../../ops/backends/wasm/backend.ts";
import {
  grad,
  key,
  matmul,
  mul,
  normal,
  scope,
  setBackend,
  softmax,
  split,
  sum,
  type Tensor,
  transpose,
} from "../../ops/mod.ts";

const B = 4, H = 8, D = 64;

function flag(name: string, dflt: number): number {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : dflt;
}

const T = flag("t", 512), REPS = flag("reps", 5);

/** s = (q·k)/8, optionally causal (key position ≤ query position). */
function kernel(causal: boolean): FlashKernel {
  const rank = 4;
  const pos = (axis: number) => ({
    kind: "load" as const,
    input: axis === 2 ? 0 : 1,
    offset: 0,
    strides: Array.from({ length: rank }, (_, a) => (a === axis ? 1 : 0)),
    dtype: "int32" as const,
  });
  return {
    batch: [B, H],
    tq: T,
    tk: T,
    d: D,
    dv: D,
    queries: 1,
    captured: causal
      ? [{ shape: [T], dtype: "int32" }, { shape: [T], dtype: "int32" }]
      : [],
    score: {
      nodes: [
        { kind: "dot", index: 0, dtype: "float32" },
        { kind: "literal", value: 1 / Math.sqrt(D), dtype: "float32" },
        { kind: "op", prim: "mul", params: {}, args: [0, 1], dtype: "float32" },
      ],
      value: 2,
      partials: { dots: [1], captured: causal ? [null, null] : [] },
    },
    mask: causal
      ? {
        nodes: [pos(2), pos(3), {
          kind: "op",
          prim: "le",
          params: {},
          args: [1, 0],
          dtype: "bool",
        }],
        value: 2,
      }
      : null,
    normaliser: "softmax",
  };
}

function stats(ts: number[]): [number, number] {
  const s = [...ts].sort((a, b) => a - b);
  return [s[0]!, s[s.length >> 1]!];
}

await setBackend("wasm");
const ks = split(key(0), 4);
const shape = [B, H, T, D];
const q = normal(ks[0]!, shape), k = normal(ks[1]!, shape);
const v = normal(ks[2]!, shape), r = normal(ks[3]!, shape);
const attend = (a: Tensor, b: Tensor, c: Tensor) =>
  matmul(softmax(mul(matmul(a, transpose(b, [0, 1, 3, 2])), 1 / 8)), c);
const loss = (a: Tensor, b: Tensor, c: Tensor) => sum(mul(attend(a, b, c), r));
const composedFwd = async () => await scope(() => sum(attend(q, k, v))).data();
const composedBwd = async () => {
  const s = scope(() => {
    const [ga, gb, gc] = grad(loss, { argnums: [0, 1, 2] })(q, k, v);
    return [sum(ga), sum(gb), sum(gc)];
  });
  for (const x of s) await x.data();
};

const wasm = await WasmBackend.create();
const f32 = (t: Tensor) => t.data() as Promise<Float32Array>;
const aval = { shape, dtype: "float32" as const };
const up = async (t: Tensor): Promise<Operand> => ({
  handle: wasm.upload(await f32(t), aval),
  aval,
});
const [fq, fk, fv] = [await up(q), await up(k), await up(v)];
const rowsAval = { shape: [B, H, T, D + 1], dtype: "float32" as const };
const ct: Operand = {
  handle: wasm.upload(
    Float32Array.from({ length: B * H * T * (D + 1) }, (_, i) => Math.sin(i)),
    rowsAval,
  ),
  aval: rowsAval,
};
const posAval = { shape: [T], dtype: "int32" as const };
const posOp: Operand = {
  handle: wasm.upload(Int32Array.from({ length: T }, (_, i) => i), posAval),
  aval: posAval,
};
const flash = (causal: boolean) => {
  const kern = kernel(causal);
  const ins = [fq, fk, fv, ...(causal ? [posOp, posOp] : [])];
  const call = (mode: FlashMode, extra: Operand[]) =>
    wasm.runFlash({ kernel: kern, mode, index: 0 }, [...ins, ...extra]);
  const fwd = () => {
    const o = call("forward", []);
    wasm.free(o);
  };
  const bwd = () => {
    const o = call("forward", []);
    const out: Operand = { handle: o, aval: rowsAval };
    const gq = call("grad_q", [out, ct]), gkv = call("grad_kv", [out, ct]);
    for (const h of [o, gq, gkv]) wasm.free(h);
  };
  return { fwd, bwd };
};

const plain = flash(false), causal = flash(true);
const cases: [string, () => unknown][] = [
  ["composed fwd", composedFwd],
  ["flash fwd", plain.fwd],
  ["flash causal fwd", causal.fwd],
  ["composed fwd+bwd", composedBwd],
  ["flash fwd+bwd", plain.bwd],
  ["flash causal fwd+bwd", causal.bwd],
];
const times = cases.map(() => [] as number[]);
const walls = cases.map(() => [] as number[]);
for (let rep = -1; rep < REPS; rep++) {
  for (let c = 0; c < cases.length; c++) {
    const t0 = performance.now(), u0 = process.cpuUsage();
    await cases[c]![1]();
    const u = process.cpuUsage(u0);
    if (rep < 0) {
      // the first runs attach the flash kernels to the worker threads
      if (c === cases.length - 1) await wasm.ready();
      continue;
    }
    times[c]!.push((u.user + u.system) / 1000);
    walls[c]!.push(performance.now() - t0);
  }
}
console.log(
  `wasm attention, batch×heads ${B}×${H}, T ${T}, d ${D}, threads ${wasm.threads} ` +
    `(units taken by workers: ${ThreadPool.workerClaims()}), ${REPS} reps\n`,
);
console.log(
  "| case | CPU ms min | CPU ms median | wall ms min | composed / this (CPU min) |",
);
console.log("|---|---:|---:|---:|---:|");
cases.forEach(([name], c) => {
  const [mn, md] = stats(times[c]!);
  const base = stats(times[name.includes("bwd") ? 3 : 0]!)[0];
  const wall = stats(walls[c]!)[0];
  console.log(
    `| ${name} | ${mn.toFixed(1)} | ${md.toFixed(1)} | ${wall.toFixed(1)} | ${
      (base / mn).toFixed(2)
    } |`,
  );
});
wasm.close();
