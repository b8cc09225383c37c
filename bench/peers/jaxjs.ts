/**
 * jax-js 0.1.25's side of the side-by-side benchmark: backends `wasm` and
 * `webgpu`, eager or with `--jit`.
 *
 * jax-js consumes every array argument: inputs are passed as `.ref` so they
 * survive the call, and `data()` frees the output it reads. Ops are lazy, so
 * each call ends with a readback.
 *
 * Run by `run.ts`; alone:
 * `deno run --allow-read --allow-env bench/peers/jaxjs.ts --backend wasm --jit --workloads matmul-256`
 *
 * @module
 */

import {
  defaultDevice,
  type Device,
  grad,
  init,
  jit,
  nn,
  numpy as np,
  tree,
} from "npm:@jax-js/jax@0.1.25";
import {
  attentionInputs,
  type Cell,
  type Library,
  LR,
  main,
  matmulInputs,
  MLP,
  mlpInputs,
  type Workload,
} from "./_workloads.ts";

type Params = { w1: np.Array; b1: np.Array; w2: np.Array; b2: np.Array };

let useJit = false;

/** Wraps `f` in `jit` when the script runs with `--jit`. */
// deno-lint-ignore no-explicit-any
function maybeJit<F extends (...args: any[]) => any>(f: F): F {
  // deno-lint-ignore no-explicit-any
  return useJit ? (jit(f) as any as F) : f;
}

/** Reads every output back (the wait); `data()` consumes the array. */
async function readAll(ts: readonly np.Array[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) out.push(Float32Array.from(await t.data()));
  return out;
}

/**
 * jax-js's own fixed attention, `nn.dotProductAttention` (scale 1/√d by
 * default). It takes `[L, N, H]`; our `[32, T, 64]` is N = 32 heads, so the
 * first two axes swap on the way in and out.
 */
function attention(q: np.Array, k: np.Array, v: np.Array): np.Array {
  const t = (x: np.Array) => np.transpose(x, [1, 0, 2]);
  return t(nn.dotProductAttention(t(q), t(k), t(v)));
}

function mlpLoss(p: Params, x: np.Array, y: np.Array): np.Array {
  const hidden = nn.relu(np.matmul(x, p.w1).add(p.b1));
  const logits = np.matmul(hidden, p.w2).add(p.b2);
  const logp = nn.logSoftmax(logits, -1);
  return np.mean(np.sum(logp.mul(y), -1)).mul(-1);
}

const jaxjs: Library = {
  async init(backend, opts) {
    useJit = opts.jit;
    const available = await init();
    if (!(available as string[]).includes(backend)) {
      throw new Error(
        `jax-js: backend "${backend}" unavailable (have: ${
          available.join(", ")
        })`,
      );
    }
    defaultDevice(backend as Device);
    const probe = np.array(new Float32Array([1, 2]));
    const device = probe.device;
    probe.dispose();
    if (device !== backend) {
      throw new Error(`jax-js: asked for ${backend}, arrays are on ${device}`);
    }
    const notes = [
      `jax-js ${backend}${useJit ? " jit" : ""}: ${
        useJit ? "jit" : "eager"
      } ops`,
    ];
    if (backend === "wasm") {
      notes.push(
        `jax-js wasm: navigator.hardwareConcurrency = ${navigator.hardwareConcurrency}`,
      );
    }
    return { library: "jax-js 0.1.25", backend: device, notes };
  },

  prepare(w: Workload): Promise<Cell> {
    switch (w.kind) {
      case "matmul": {
        const { a, b } = matmulInputs(w.n);
        const ta = np.array(a, { shape: [w.n, w.n] });
        const tb = np.array(b, { shape: [w.n, w.n] });
        const mm = maybeJit((a: np.Array, b: np.Array) => np.matmul(a, b));
        return Promise.resolve({
          run: () => readAll([mm(ta.ref, tb.ref)]),
          dispose: () => {
            ta.dispose();
            tb.dispose();
          },
        });
      }
      case "attention": {
        const { q, k, v, shape } = attentionInputs(w.t);
        const [tq, tk, tv] = [q, k, v].map((x) => np.array(x, { shape })) as [
          np.Array,
          np.Array,
          np.Array,
        ];
        const dispose = () => tree.dispose([tq, tk, tv]);
        if (!w.backward) {
          const f = maybeJit(attention);
          return Promise.resolve({
            run: () => readAll([f(tq.ref, tk.ref, tv.ref)]),
            dispose,
          });
        }
        const g = maybeJit(
          grad(
            (q: np.Array, k: np.Array, v: np.Array) =>
              np.sum(attention(q, k, v)),
            { argnums: [0, 1, 2] },
          ),
        );
        return Promise.resolve({
          run: () => readAll(g(tq.ref, tk.ref, tv.ref) as np.Array[]),
          dispose,
        });
      }
      case "mlp": {
        const m = mlpInputs();
        const x = np.array(m.x, { shape: [MLP.batch, MLP.inputs] });
        const y = np.array(m.oneHot, { shape: [MLP.batch, MLP.classes] });
        const params: Params = {
          w1: np.array(m.w1, { shape: [MLP.inputs, MLP.hidden] }),
          b1: np.array(m.b1),
          w2: np.array(m.w2, { shape: [MLP.hidden, MLP.classes] }),
          b2: np.array(m.b2),
        };
        const step = maybeJit((p: Params, x: np.Array, y: np.Array): Params => {
          const g = grad(mlpLoss)(tree.ref(p), x, y) as Params;
          return tree.map(
            (pi: np.Array, gi: np.Array) => pi.sub(gi.mul(LR)),
            p,
            g,
          ) as Params;
        });
        return Promise.resolve({
          run: () => {
            const n = step(tree.ref(params), x.ref, y.ref);
            return readAll([n.w1, n.b1, n.w2, n.b2]);
          },
          dispose: () => tree.dispose([x, y, params]),
        });
      }
    }
  },
};

if (import.meta.main) {
  await main(jaxjs, Deno.args);
  Deno.exit(0);
}
