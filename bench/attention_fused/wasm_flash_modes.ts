/**
 * CPU time of each mode of a wasm flash kernel (`runFlash`) at batch×heads
 * 32, T 512, d 64 (or `--t=`, `--d=`), `s = (q·k)/8`, softmax, no mask:
 * where the forward and backward time goes (the backward is `grad_q` +
 * `grad_kv`). Minimum of `--reps=` runs after one warm-up (which compiles),
 * in this process's CPU time (`process.cpuUsage`, robust on a shared
 * machine; run with `HEED_THREADS=1`).
 *
 * Run: `HEED_THREADS=1 deno run --allow-read --allow-env bench/attention_fused/wasm_flash_modes.ts`
 *
 * @module
 */

import process from "node:process";
import type { Operand } from "../../ops/backends/contract.ts";
import type { FlashKernel, FlashMode } from "../../ops/backends/flash.ts";
import { WasmBackend } from "../../ops/backends/wasm/backend.ts";

function flag(name: string, dflt: number): number {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : dflt;
}

const T = flag("t", 512), D = flag("d", 64), REPS = flag("reps", 3), BH = 32;
const wasm = await WasmBackend.create();
const kernel: FlashKernel = {
  batch: [BH],
  tq: T,
  tk: T,
  d: D,
  dv: D,
  queries: 1,
  captured: [],
  score: {
    nodes: [
      { kind: "dot", index: 0, dtype: "float32" },
      { kind: "literal", value: 1 / Math.sqrt(D), dtype: "float32" },
      { kind: "op", prim: "mul", params: {}, args: [0, 1], dtype: "float32" },
    ],
    value: 2,
    partials: { dots: [1], captured: [] },
  },
  mask: null,
  normaliser: "softmax",
};
const up = (n: number): Operand => {
  const aval = { shape: [n], dtype: "float32" as const };
  const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  return { handle: wasm.upload(data, aval), aval };
};
const rows = BH * T;
const ins = [up(rows * D), up(rows * D), up(rows * D)];
const fwd: Operand = {
  handle: wasm.runFlash({ kernel, mode: "forward", index: 0 }, ins),
  aval: { shape: [rows * (D + 1)], dtype: "float32" },
};
const extra: Record<string, Operand[]> = {
  forward: [],
  grad_q: [fwd, up(rows * (D + 1))],
  grad_kv: [fwd, up(rows * (D + 1))],
  tangent: [fwd, up(rows * D), up(rows * D), up(rows * D)],
};
console.log(
  `wasm flash modes, batch×heads ${BH}, T ${T}, d ${D}, threads ${wasm.threads}: CPU ms (min of ${REPS})\n`,
);
console.log("| mode | CPU ms |");
console.log("|---|---:|");
for (const mode of Object.keys(extra) as FlashMode[]) {
  const ts: number[] = [];
  for (let r = -1; r < REPS; r++) {
    const u0 = process.cpuUsage();
    const out = wasm.runFlash({ kernel, mode, index: 0 }, [
      ...ins,
      ...extra[mode]!,
    ]);
    const u = process.cpuUsage(u0);
    wasm.free(out);
    if (r >= 0) ts.push((u.user + u.system) / 1000);
  }
  console.log(`| ${mode} | ${Math.min(...ts).toFixed(1)} |`);
}
wasm.close();
