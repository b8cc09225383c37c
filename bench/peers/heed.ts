/**
 * heed's side of the side-by-side benchmark, through the public API only:
 * eager, or with `--jit` every workload's function wrapped in `jit` (one
 * fused plan per call). Each cell also reports, from `f.lower(...)`, the
 * kernels a call dispatches eagerly and under jit, and how long a fresh
 * `jit(f)` takes to trace and plan.
 *
 * Run by `run.ts`; alone:
 * `deno run --allow-read --allow-env bench/peers/heed.ts --backend cpu --workloads matmul-256`
 * or `--list-backends` to print the backends heed can use here.
 *
 * @module
 */

import * as h from "../../mod.ts";
import {
  ATT_D,
  attentionInputs,
  type Cell,
  type CellExtra,
  emit,
  errorText,
  type Library,
  LR,
  main,
  matmulInputs,
  MLP,
  mlpInputs,
  type Workload,
} from "./_workloads.ts";

/** The MLP's parameters. */
export type Params = { w1: h.Tensor; b1: h.Tensor; w2: h.Tensor; b2: h.Tensor };

// deno-lint-ignore no-explicit-any
type Fn = (...args: any[]) => any;

let useJit = false;

/** `f`, wrapped in `jit` when the script runs with `--jit`. */
function maybeJit<F extends Fn>(f: F): F {
  return useJit ? h.jit(f) : f;
}

/**
 * Kernels per call of `f` on `args`, eager and jit, from a fresh
 * `jit(f).lower(...)`, and the time that lowering takes (trace, passes,
 * fusion plan; no kernel runs, and this process is already warm).
 */
function extraOf<F extends Fn>(f: F, args: Parameters<F>): () => CellExtra {
  return () => {
    const fresh = h.jit(f);
    const t0 = performance.now();
    const low = fresh.lower(...args);
    const traceMs = performance.now() - t0;
    return {
      kernels: useJit ? low.kernels : low.eagerKernels,
      eagerKernels: low.eagerKernels,
      jitKernels: low.kernels,
      traceMs,
    };
  };
}

/**
 * One call: computes in a scope (which frees the intermediates, as tfjs's
 * `tidy` does), then reads every output back, heed's way of waiting for the
 * device. The outputs themselves are left to heed's finaliser.
 */
async function call(f: () => h.Tensor[]): Promise<Float32Array[]> {
  const ts = h.scope(f);
  const out: Float32Array[] = [];
  for (const t of ts) out.push(Float32Array.from(await t.data()));
  return out;
}

/** Attention `softmax(q kᵀ / √d) v` over `[bh, t, d]`. */
export function attention(q: h.Tensor, k: h.Tensor, v: h.Tensor): h.Tensor {
  const scores = h.mul(
    h.matmul(q, h.transpose(k, [0, 2, 1])),
    1 / Math.sqrt(ATT_D),
  );
  return h.matmul(h.softmax(scores, { axis: -1 }), v);
}

/** Gradients of `sum(attention(q, k, v))` with respect to q, k and v. */
export const attentionGrad: (
  q: h.Tensor,
  k: h.Tensor,
  v: h.Tensor,
) => h.Tensor[] = h.grad(
  (q: h.Tensor, k: h.Tensor, v: h.Tensor) => h.sum(attention(q, k, v)),
  { argnums: [0, 1, 2] },
) as (q: h.Tensor, k: h.Tensor, v: h.Tensor) => h.Tensor[];

/** The MLP's mean cross-entropy. */
function mlpLoss(p: Params, x: h.Tensor, labels: h.Tensor): h.Tensor {
  const hidden = h.relu(h.add(h.matmul(x, p.w1), p.b1)); // [128, 256]
  const logits = h.add(h.matmul(hidden, p.w2), p.b2); // [128, 10]
  return h.crossEntropy(logits, labels);
}

const mlpGrad = h.grad(mlpLoss);

/** One SGD step of the MLP: the new parameters. */
export function mlpStep(p: Params, x: h.Tensor, labels: h.Tensor): Params {
  const g = mlpGrad(p, x, labels);
  return h.treeMap<Params>(
    (pi, gi) => h.sub(pi as h.Tensor, h.mul(gi as h.Tensor, LR)),
    p,
    g,
  );
}

/** The MLP step's inputs, on the current backend. */
export function mlpTensors(): {
  params: Params;
  x: h.Tensor;
  labels: h.Tensor;
} {
  const m = mlpInputs();
  return {
    x: h.tensor(m.x, { shape: [MLP.batch, MLP.inputs] }),
    labels: h.tensor(m.labels, { dtype: "int32" }),
    params: {
      w1: h.tensor(m.w1, { shape: [MLP.inputs, MLP.hidden] }),
      b1: h.tensor(m.b1),
      w2: h.tensor(m.w2, { shape: [MLP.hidden, MLP.classes] }),
      b2: h.tensor(m.b2),
    },
  };
}

const heed: Library = {
  async init(backend, opts) {
    useJit = opts.jit;
    await h.init(); // probes the adapter, so that backends() lists WebGPU
    const known: readonly string[] = h.backends();
    if (!known.includes(backend)) {
      throw new RangeError(
        `heed has no backend "${backend}" here (has: ${known.join(", ")})`,
      );
    }
    await h.setBackend(backend as h.BackendName);
    const actual = h.getBackend().name;
    if (actual !== backend) {
      throw new Error(`heed: asked for ${backend}, got ${actual}`);
    }
    const notes = [
      `heed ${actual}${useJit ? " jit" : ""}: ${
        useJit ? "jit (fused kernels)" : "eager ops"
      }`,
    ];
    const threads = h.info().wasmThreads;
    if (actual === "wasm" && threads) {
      notes.push(
        `heed wasm: ${threads.threads} of ${threads.requested} threads${
          threads.reason ? ` (${threads.reason})` : ""
        }`,
      );
    }
    return { library: "heed", backend: actual, notes };
  },

  prepare(w: Workload): Promise<Cell> {
    const dispose = () => {}; // heed frees through its own memory model
    switch (w.kind) {
      case "matmul": {
        const { a, b } = matmulInputs(w.n);
        const ta = h.tensor(a, { shape: [w.n, w.n] });
        const tb = h.tensor(b, { shape: [w.n, w.n] });
        const mm = (a: h.Tensor, b: h.Tensor) => h.matmul(a, b);
        const f = maybeJit(mm);
        return Promise.resolve({
          run: () => call(() => [f(ta, tb)]),
          dispose,
          extra: extraOf(mm, [ta, tb]),
        });
      }
      case "attention": {
        const { q, k, v, shape } = attentionInputs(w.t);
        const [tq, tk, tv] = [q, k, v].map((x) => h.tensor(x, { shape })) as [
          h.Tensor,
          h.Tensor,
          h.Tensor,
        ];
        if (!w.backward) {
          const f = maybeJit(attention);
          return Promise.resolve({
            run: () => call(() => [f(tq, tk, tv)]),
            dispose,
            extra: extraOf(attention, [tq, tk, tv]),
          });
        }
        const f = maybeJit(attentionGrad);
        return Promise.resolve({
          run: () => call(() => f(tq, tk, tv)),
          dispose,
          extra: extraOf(attentionGrad, [tq, tk, tv]),
        });
      }
      case "mlp": {
        const { params, x, labels } = mlpTensors();
        const f = maybeJit(mlpStep);
        return Promise.resolve({
          run: () =>
            call(() => {
              const n = f(params, x, labels);
              return [n.w1, n.b1, n.w2, n.b2];
            }),
          dispose,
          extra: extraOf(mlpStep, [params, x, labels]),
        });
      }
    }
  },
};

if (import.meta.main) {
  if (Deno.args.includes("--list-backends")) {
    await h.init();
    let defaultBackend: string | null = null;
    try {
      const api: { defaultBackend?: () => string } = h;
      defaultBackend = api.defaultBackend?.() ?? h.getBackend().name;
    } catch (e) {
      console.error(errorText(e));
    }
    emit({ event: "backends", backends: h.backends(), defaultBackend });
  } else {
    await main(heed, Deno.args);
  }
  Deno.exit(0);
}
