/**
 * TensorFlow.js 4.22.0's side of the side-by-side benchmark: backends `cpu`,
 * `wasm` and `webgpu`.
 *
 * Pitfalls under Deno (see `../../../shared/PEERS.md`): the union package
 * `@tensorflow/tfjs` is imported because tfjs-core's CommonJS build registers
 * no gradients; the wasm binaries are found through the npm cache path; tfjs
 * takes Deno for Node and uses its single-threaded SIMD binary; a failed
 * `setBackend` only warns, so the backend in use is checked.
 *
 * Run by `run.ts`; alone:
 * `deno run --allow-read --allow-env bench/peers/tfjs.ts --backend wasm --workloads matmul-256`
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import * as tfWasm from "npm:@tensorflow/tfjs-backend-wasm@4.22.0";
import "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
import {
  ATT_D,
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

/** Reads every output back (the wait), then frees it. */
async function readAll(ts: readonly tf.Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) {
    out.push(Float32Array.from(await t.data<"float32">()));
    t.dispose();
  }
  return out;
}

function attention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): tf.Tensor {
  const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(ATT_D));
  return tf.matMul(tf.softmax(scores), v);
}

const tfjs: Library = {
  async init(backend) {
    const notes: string[] = [];
    if (backend === "wasm") {
      const wasmUrl = import.meta.resolve(
        "npm:@tensorflow/tfjs-backend-wasm@4.22.0",
      );
      tfWasm.setWasmPaths(new URL("./", wasmUrl).pathname);
    }
    const ok = await tf.setBackend(backend);
    await tf.ready();
    if (!ok || tf.getBackend() !== backend) {
      throw new Error(
        `tfjs: setBackend("${backend}") left backend "${tf.getBackend()}"`,
      );
    }
    if (backend === "wasm") {
      const threaded = tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT");
      const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT");
      notes.push(
        `tfjs wasm: ${simd ? "SIMD" : "no SIMD"}, ${
          threaded ? `${tfWasm.getThreadsCount()} threads` : "one thread"
        } (tfjs takes Deno for Node)`,
      );
    }
    if (backend === "webgpu") {
      notes.push(
        "tfjs webgpu: defaults kept (WEBGPU_CPU_FORWARD: small ops may run on the CPU)",
      );
    }
    return { library: `tfjs ${tf.version.tfjs}`, backend, notes };
  },

  prepare(w: Workload): Promise<Cell> {
    switch (w.kind) {
      case "matmul": {
        const { a, b } = matmulInputs(w.n);
        const ta = tf.tensor2d(a, [w.n, w.n]);
        const tb = tf.tensor2d(b, [w.n, w.n]);
        return Promise.resolve({
          run: () => readAll([tf.matMul(ta, tb)]),
          dispose: () => tf.dispose([ta, tb]),
        });
      }
      case "attention": {
        const { q, k, v, shape } = attentionInputs(w.t);
        const inputs = [q, k, v].map((x) => tf.tensor(x, shape));
        const dispose = () => tf.dispose(inputs);
        if (!w.backward) {
          return Promise.resolve({
            run: () =>
              readAll([
                tf.tidy(() => attention(inputs[0]!, inputs[1]!, inputs[2]!)),
              ]),
            dispose,
          });
        }
        const g = tf.grads((q, k, v) => tf.sum(attention(q!, k!, v!)));
        return Promise.resolve({
          run: () => readAll(tf.tidy(() => g(inputs))),
          dispose,
        });
      }
      case "mlp": {
        const m = mlpInputs();
        const x = tf.tensor2d(m.x, [MLP.batch, MLP.inputs]);
        const y = tf.tensor2d(m.oneHot, [MLP.batch, MLP.classes]);
        const params = [
          tf.tensor2d(m.w1, [MLP.inputs, MLP.hidden]),
          tf.tensor1d(m.b1),
          tf.tensor2d(m.w2, [MLP.hidden, MLP.classes]),
          tf.tensor1d(m.b2),
        ];
        const loss = (
          w1: tf.Tensor,
          b1: tf.Tensor,
          w2: tf.Tensor,
          b2: tf.Tensor,
        ) => {
          const hidden = tf.relu(tf.add(tf.matMul(x, w1), b1));
          const logits = tf.add(tf.matMul(hidden, w2), b2);
          const logp = tf.logSoftmax(logits);
          return tf.neg(tf.mean(tf.sum(tf.mul(y, logp), -1)));
        };
        const g = tf.grads((w1, b1, w2, b2) => loss(w1!, b1!, w2!, b2!));
        return Promise.resolve({
          run: () =>
            readAll(tf.tidy(() => {
              const grads = g(params);
              return params.map((p, i) => tf.sub(p, tf.mul(grads[i]!, LR)));
            })),
          dispose: () => tf.dispose([x, y, ...params]),
        });
      }
    }
  },
};

if (import.meta.main) {
  await main(tfjs, Deno.args);
  Deno.exit(0);
}
