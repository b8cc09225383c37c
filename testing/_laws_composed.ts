// The laws that tie a spec to heed's combinators (modules, multiHead), to
// the backends, and to its derivatives. Private to testing/.

import {
  attention,
  concatenate,
  mixture,
  modules,
  multiHead,
} from "../attention/mod.ts";
import {
  add,
  backends,
  expandDims,
  init,
  key,
  matmul,
  reshape,
  type Tensor,
  tensor,
  withBackend,
} from "../ops/mod.ts";
import { drawData } from "./_cases.ts";
import { checkGrads } from "./check_grads.ts";
import { rng, uniformValues } from "./_host.ts";
import { assertClose, type Law, problem, read, run } from "./_law_kit.ts";

/** modules([A]) equals A, concatenated or mixed. */
export const single: Law = async ({ spec, data }) => {
  const sp = spec(data);
  const a = attention(sp);
  const p = problem(sp, data);
  const want = a(p.q, p.k, p.v, p.opts);
  const cat = modules([a], concatenate())(p.q, p.k, p.v, p.opts);
  const mix = modules([a], mixture([1]))(p.q, p.k, p.v, p.opts);
  const [wo, ww, co, cw, mo, mw] = await read(
    want.output,
    want.weights,
    cat.output,
    cat.weights,
    mix.output,
    mix.weights,
  );
  const [os, ws] = [want.output.shape, want.weights.shape];
  assertClose("modules([A], concatenate()).output", co!, wo!, os);
  assertClose("modules([A], concatenate()).weights", cw!, ww!, ws);
  assertClose("modules([A], mixture([1])).output", mo!, wo!, os);
  assertClose("modules([A], mixture([1])).weights", mw!, ww!, ws);
};

/** multiHead with one head equals attention plus the projections. */
export const oneHead: Law = async ({ spec, data, scale }) => {
  if (data.c.heads !== 1) return; // the spec may be tied to more heads
  const c = { ...data.c, tk: data.c.tq }; // self-attention
  const x = drawData(c, scale);
  const s = spec(x);
  const { batch: b, tq: t, d } = c;
  const r = rng(c.seed + 3);
  const rand = (shape: number[]) =>
    tensor(uniformValues(shape.reduce((p, q) => p * q, 1), r), { shape });
  const mha = multiHead(s, { heads: 1, dModel: d });
  const params = {
    ...mha.init(key(c.seed)),
    bq: rand([d]),
    bk: rand([d]),
    bv: rand([d]),
    bo: rand([d]),
  };
  const xs = rand([b, t, d]);
  const opts = problem(s, x).opts;
  const got = mha.apply(params, xs, opts);
  // [B, T, d] -> [B, 1, T, d]: one head.
  const proj = (w: Tensor, bias: Tensor) =>
    expandDims(add(matmul(xs, w), bias), 1);
  const want = attention(s)(
    proj(params.wq, params.bq),
    proj(params.wk, params.bk),
    proj(params.wv, params.bv),
    opts,
  );
  const out = add(
    matmul(reshape(want.output, [b, t, d]), params.wo),
    params.bo,
  );
  const [go, gw, wo, ww] = await read(
    got.output,
    got.weights,
    out,
    want.weights,
  );
  assertClose("multiHead output", go!, wo!, [b, t, d]);
  assertClose("multiHead weights", gw!, ww!, want.weights.shape);
};

/** Every backend agrees with the first one. */
export const agree: Law = async ({ spec, data }) => {
  const results: { name: string; w: number[]; o: number[] }[] = [];
  await init(); // probes the adapter, so that WebGPU is compared where present
  for (const name of backends()) {
    results.push(
      await withBackend(name, async () => {
        const r = run(spec(data), data);
        const [w, o] = await read(r.weights, r.output);
        return { name, w: w!, o: o! };
      }),
    );
  }
  const [first, ...others] = results;
  const { batch: b, heads: h, tq, tk, dv } = data.c;
  const tol = { rtol: 1e-3, atol: 1e-4 };
  for (const other of others) {
    const vs = `${other.name} vs ${first!.name}`;
    assertClose(`${vs} weights`, other.w, first!.w, [b, h, tq, tk], tol);
    assertClose(`${vs} output`, other.o, first!.o, [b, h, tq, dv], tol);
  }
};

/** Derivatives in q, k, v: both modes against finite differences. */
export const grads: Law = async ({ spec, data }) => {
  const sp = spec(data);
  const attend = attention(sp);
  const p = problem(sp, data);
  await checkGrads(
    (q: Tensor, k: Tensor, v: Tensor) => attend(q, k, v, p.opts).output,
    [p.q, p.k, p.v],
    { directions: 1, seed: data.c.seed },
  );
};
