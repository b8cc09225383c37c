/**
 * heed's side of `run.ts`: one process that times fused and composed
 * `attention(spec)` forward+backward (gradients of `sum(out · ct)` with
 * respect to q, k and v), interleaved case by case, one round per line
 * `round` read on stdin (`quit` ends). Each round prints one line
 * `@@attn {json}` with every case's CPU ms (all threads of this process)
 * and wall ms, and a checksum of its gradients.
 *
 * Cases are named `<spec>-<path>[-jit]`: spec `plain` (softmax(q·k/√d)) or
 * `causal-alibi` (ALiBi with 8 heads and a causal mask); path `fused` or
 * `composed` (forced by `spec.fused`).
 *
 * Alone: `echo round | deno run -A bench/attention_fused/_heed_attention.ts --backend=wasm --t=128 --cases=plain-fused,plain-composed`
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as h from "../../mod.ts";
import { alibi, attention, causal, scaledDot } from "../../attention/mod.ts";
import type { Spec } from "../../attention/mod.ts";
import { attentionInputs } from "../peers/_workloads.ts";
import { flashTileStats } from "../../ops/backends/wasm/_flash_classify.ts";
import { cpuMs, emitLine, peakRssMiB, readLines } from "./_proc.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "wasm" },
    t: { type: "string", default: "512" },
    b: { type: "string", default: "4" },
    heads: { type: "string", default: "8" },
    cases: { type: "string", default: "plain-fused,plain-composed" },
    once: { type: "boolean", default: false },
  },
});
const T = Number(flags.t), B = Number(flags.b), H = Number(flags.heads);
const D = 64;

await h.init();
await h.setBackend(flags.backend as h.BackendName);

function specOf(name: string, fused: boolean): Spec {
  if (name === "plain") return { score: scaledDot(), fused };
  if (name === "causal-alibi") {
    return { score: scaledDot(), mods: [alibi(H)], masks: [causal()], fused };
  }
  if (name === "causal") {
    return { score: scaledDot(), masks: [causal()], fused };
  }
  throw new RangeError(`_heed_attention: unknown spec ${name}`);
}

// The peers' deterministic inputs ([32, T, 64] for B·H 32), as [B, H, T, 64].
const inputs = attentionInputs(T);
const shape = [B, H, T, D];
const size = B * H * T * D;
const take = (x: Float32Array) => h.tensor(x.subarray(0, size), { shape });
const q = take(inputs.q), k = take(inputs.k), v = take(inputs.v);
const ct = h.tensor(
  Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.37)),
  { shape },
);

type Case = { name: string; run: () => Promise<number> };

function makeCase(name: string): Case {
  const [spec, path, jit] = [
    name.replace(/-(fused|composed)(-jit)?$/, ""),
    name.includes("-fused") ? "fused" : "composed",
    name.endsWith("-jit"),
  ];
  const attend = attention(specOf(spec, path === "fused"));
  const loss = (a: h.Tensor, b: h.Tensor, c: h.Tensor) =>
    h.sum(h.mul(attend(a, b, c).output, ct));
  const g0 = h.grad(loss, { argnums: [0, 1, 2] }) as (
    a: h.Tensor,
    b: h.Tensor,
    c: h.Tensor,
  ) => h.Tensor[];
  const g = jit ? h.jit(g0) : g0;
  return {
    name,
    run: async () => {
      const gs = h.scope(() => g(q, k, v).map((x) => h.sum(h.abs(x))));
      let sum = 0;
      for (const x of gs) sum += (await x.data())[0]!;
      return sum;
    },
  };
}

const cases = flags.cases!.split(",").filter((s) => s !== "").map(makeCase);

async function round(): Promise<void> {
  const out: Record<string, { cpuMs: number; wallMs: number; check: number }> =
    {};
  const errors: Record<string, string> = {};
  for (const c of cases) {
    const t0 = performance.now(), c0 = cpuMs();
    try {
      const check = await c.run();
      out[c.name] = {
        cpuMs: cpuMs() - c0,
        wallMs: performance.now() - t0,
        check,
      };
    } catch (e) {
      // Running out of memory is a result here (part 3 of run.ts).
      errors[c.name] = `${(e as Error)?.name}: ${(e as Error)?.message ?? e}`
        .slice(0, 300);
    }
  }
  emitLine("attn", {
    cases: out,
    errors,
    peakRssMiB: peakRssMiB(),
    tiles: flashTileStats(), // wasm: (query tile, key tile) classes so far
  });
}

if (flags.once) {
  await round();
} else {
  for await (const line of readLines()) {
    if (line === "quit") break;
    if (line === "round") await round();
  }
}
Deno.exit(0);
