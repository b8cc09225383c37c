/**
 * jax-js 0.1.25's side of `run.ts`: jit'ed `nn.dotProductAttention`
 * forward+backward on the wasm backend (gradients of `sum(out · ct)` with
 * respect to q, k and v, the same inputs and cotangent as
 * `_heed_attention.ts`), one call per line `round` on stdin, one line
 * `@@attn {json}` per round (CPU ms of every thread of this process, wall
 * ms, a checksum Σ|grad|).
 *
 * jax-js consumes array arguments (inputs go in as `.ref`) and is lazy
 * (the readback is the wait); see bench/peers/jaxjs.ts.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  defaultDevice,
  type Device,
  grad,
  init,
  jit,
  nn,
  numpy as np,
} from "npm:@jax-js/jax@0.1.25";
import { attentionInputs } from "../peers/_workloads.ts";
import { cpuMs, emitLine, peakRssMiB, readLines } from "./_proc.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    t: { type: "string", default: "512" },
    once: { type: "boolean", default: false },
  },
});
const T = Number(flags.t), BH = 32, D = 64;

const available = await init();
if (!(available as string[]).includes("wasm")) {
  throw new Error(`jax-js: no wasm backend (have ${available.join(", ")})`);
}
defaultDevice("wasm" as Device);

const inputs = attentionInputs(T);
const shape = [BH, T, D];
const size = BH * T * D;
const [q, k, v] = [inputs.q, inputs.k, inputs.v].map((x) =>
  np.array(x.subarray(0, size), { shape })
) as [np.Array, np.Array, np.Array];
const ct = np.array(
  Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.37)),
  { shape },
);

/** `nn.dotProductAttention` takes `[L, N, H]`: our `[32, T, 64]` is N = 32 heads. */
function attention(a: np.Array, b: np.Array, c: np.Array): np.Array {
  const t = (x: np.Array) => np.transpose(x, [1, 0, 2]);
  return t(nn.dotProductAttention(t(a), t(b), t(c)));
}

const g = jit(
  grad(
    (a: np.Array, b: np.Array, c: np.Array, r: np.Array) =>
      np.sum(attention(a, b, c).mul(r)),
    { argnums: [0, 1, 2] },
  ),
);

async function round(): Promise<void> {
  const t0 = performance.now(), c0 = cpuMs();
  const gs = g(q.ref, k.ref, v.ref, ct.ref) as np.Array[];
  let check = 0;
  for (const x of gs) for (const y of await x.data()) check += Math.abs(y);
  emitLine("attn", {
    cases: {
      "jaxjs-jit": {
        cpuMs: cpuMs() - c0,
        wallMs: performance.now() - t0,
        check,
      },
    },
    peakRssMiB: peakRssMiB(),
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
