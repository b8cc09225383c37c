/**
 * heed's side of the side-by-side benchmark, through the public API only.
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

type Params = { w1: h.Tensor; b1: h.Tensor; w2: h.Tensor; b2: h.Tensor };

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

function attention(q: h.Tensor, k: h.Tensor, v: h.Tensor): h.Tensor {
  const scores = h.mul(
    h.matmul(q, h.transpose(k, [0, 2, 1])),
    1 / Math.sqrt(ATT_D),
  );
  return h.matmul(h.softmax(scores, { axis: -1 }), v);
}

function mlpLoss(p: Params, x: h.Tensor, labels: h.Tensor): h.Tensor {
  const hidden = h.relu(h.add(h.matmul(x, p.w1), p.b1));
  const logits = h.add(h.matmul(hidden, p.w2), p.b2);
  return h.crossEntropy(logits, labels);
}

const heed: Library = {
  async init(backend) {
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
    return { library: "heed", backend: actual, notes: [] };
  },

  prepare(w: Workload): Promise<Cell> {
    const dispose = () => {}; // heed frees through its own memory model
    switch (w.kind) {
      case "matmul": {
        const { a, b } = matmulInputs(w.n);
        const ta = h.tensor(a, { shape: [w.n, w.n] });
        const tb = h.tensor(b, { shape: [w.n, w.n] });
        return Promise.resolve({
          run: () => call(() => [h.matmul(ta, tb)]),
          dispose,
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
          return Promise.resolve({
            run: () => call(() => [attention(tq, tk, tv)]),
            dispose,
          });
        }
        const g = h.grad(
          (q: h.Tensor, k: h.Tensor, v: h.Tensor) => h.sum(attention(q, k, v)),
          { argnums: [0, 1, 2] },
        );
        return Promise.resolve({
          run: () => call(() => g(tq, tk, tv)),
          dispose,
        });
      }
      case "mlp": {
        const m = mlpInputs();
        const x = h.tensor(m.x, { shape: [MLP.batch, MLP.inputs] });
        const labels = h.tensor(m.labels, { dtype: "int32" });
        const params: Params = {
          w1: h.tensor(m.w1, { shape: [MLP.inputs, MLP.hidden] }),
          b1: h.tensor(m.b1),
          w2: h.tensor(m.w2, { shape: [MLP.hidden, MLP.classes] }),
          b2: h.tensor(m.b2),
        };
        const gradFn = h.grad(mlpLoss);
        const step = (p: Params): Params => {
          const g = gradFn(p, x, labels);
          return h.treeMap<Params>(
            (pi, gi) => h.sub(pi as h.Tensor, h.mul(gi as h.Tensor, LR)),
            p,
            g,
          );
        };
        return Promise.resolve({
          run: () =>
            call(() => {
              const n = step(params);
              return [n.w1, n.b1, n.w2, n.b2];
            }),
          dispose,
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
