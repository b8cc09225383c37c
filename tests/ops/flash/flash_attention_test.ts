// flashAttention against the composed computation on the CPU backend (the
// flash reference): outputs, gradients (q, k, v and captured tensors),
// jvp, jit and vmap, as fast-check properties over small problems.

import fc from "fast-check";
import { assert, assertEquals } from "@std/assert";
import * as h from "../../../mod.ts";
import type { FlashOptions, Tensor } from "../../../mod.ts";
import {
  assertAllClose,
  checkGradients,
  randomTensor,
  readAll,
  testBackends,
} from "../../_helpers.ts";
import { arbCase, composed, composedWeights } from "./_composed.ts";

const RUNS = 12;
const TOL = { rtol: 2e-4, atol: 2e-5 };

/** Runs `fn` with the CPU backend as the default. */
function onCpu(fn: () => Promise<void>): () => Promise<void> {
  return () => h.withBackend("cpu", fn);
}

Deno.test(
  "flashAttention equals the composed attention (masks, scores, two queries, normalisers)",
  onCpu(async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, async (c) => {
        const o = c.opts(c.bias);
        const y = h.flashAttention(c.q, c.k, c.v, o);
        assertEquals(y.shape, [...c.q.shape.slice(0, -1), c.v.shape.at(-1)!]);
        await assertAllClose(y, composed(c.q, c.k, c.v, o), TOL, c.label);
        const w = h.flashWeights(c.q, c.k, c.v, o);
        await assertAllClose(w, composedWeights(c.q, c.k, o), TOL, c.label);
      }),
      { numRuns: RUNS },
    );
  }),
);

Deno.test(
  "flashAttention's gradients (q, k, v, a captured bias) equal the composed ones",
  onCpu(async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, async (c) => {
        const u = randomTensor(
          [...c.q.shape.slice(0, -1), c.v.shape.at(-1)!],
          9,
        );
        const loss =
          (att: typeof composed) =>
          (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
            h.sum(h.mul(att(q, k, v, c.opts(b)), u));
        const args = [c.q, c.k, c.v, c.bias] as const;
        const argnums = [0, 1, 2, 3];
        const got = h.grad(loss(h.flashAttention), { argnums })(...args);
        const want = h.grad(loss(composed), { argnums })(...args);
        for (let i = 0; i < 4; i++) {
          await assertAllClose(got[i], want[i], TOL, `${c.label} arg ${i}`);
        }
      }),
      { numRuns: RUNS },
    );
  }),
);

Deno.test(
  "flashAttention's jvp equals the composed jvp",
  onCpu(async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, async (c) => {
        const f =
          (att: typeof composed) =>
          (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
            att(q, k, v, c.opts(b));
        const xs: [Tensor, Tensor, Tensor, Tensor] = [c.q, c.k, c.v, c.bias];
        const t = (i: number) => randomTensor(xs[i]!.shape, 50 + i);
        const ts: [Tensor, Tensor, Tensor, Tensor] = [t(0), t(1), t(2), t(3)];
        const [y1, t1] = h.jvp(f(h.flashAttention), xs, ts);
        const [y2, t2] = h.jvp(f(composed), xs, ts);
        await assertAllClose(y1, y2, TOL, c.label);
        await assertAllClose(t1, t2, TOL, c.label);
      }),
      { numRuns: RUNS },
    );
  }),
);

/** A fixed problem with every feature: mask, captured bias, softmax. */
function fixed() {
  const q = randomTensor([2, 3, 2], 1), k = randomTensor([2, 4, 2], 2);
  const v = randomTensor([2, 4, 3], 3), bias = randomTensor([3, 4], 4);
  const mask = () =>
    h.greaterEqual(h.add(h.reshape(h.arange(3), [3, 1]), 1), h.arange(4));
  const opts = (b: Tensor): FlashOptions => ({
    score: ([r]) => h.add(h.mul(h.tanh(r!), 1.5), b),
    mask,
  });
  return { q, k, v, bias, opts };
}

Deno.test(
  "flashAttention's jvp matches finite differences and its vjp",
  onCpu(async () => {
    const { q, k, v, bias, opts } = fixed();
    const f = (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
      h.flashAttention(q, k, v, opts(b));
    await checkGradients(f, [q, k, v, bias], { rtol: 1e-2, atol: 1e-3 });
  }),
);

Deno.test(
  "flashAttention's gradients are bit-identical across two runs",
  onCpu(async () => {
    const { q, k, v, bias, opts } = fixed();
    const g = () =>
      h.grad(
        (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
          h.sum(h.square(h.flashAttention(q, k, v, opts(b)))),
        { argnums: [0, 1, 2, 3] },
      )(q, k, v, bias);
    const [a, b] = [await readAll(g()), await readAll(g())];
    assertEquals(a, b);
  }),
);

Deno.test(
  "a row with no visible key gives zeros and finite gradients, never NaN",
  onCpu(async () => {
    const q = randomTensor([3, 2], 1), k = randomTensor([2, 2], 2);
    const v = randomTensor([2, 2], 3);
    // Row 0 sees no key.
    const mask = () => h.greater(h.reshape(h.arange(3), [3, 1]), h.zeros([2]));
    for (const normaliser of ["softmax", "none"] as const) {
      const o = { mask, normaliser };
      const y = h.flashAttention(q, k, v, o);
      const [rows] = await readAll([y]);
      assertEquals(rows!.slice(0, 2), [0, 0]);
      await assertAllClose(y, composed(q, k, v, o), TOL);
      const g = h.grad((q: Tensor) => h.sum(h.flashAttention(q, k, v, o)))(q);
      const [gs] = await readAll([g]);
      assert(gs!.every(Number.isFinite), `${normaliser}: ${gs}`);
    }
  }),
);

Deno.test(
  "flashAttention with Tq = Tk = 1 and with broadcast batch axes",
  onCpu(async () => {
    const q1 = randomTensor([1, 3], 1), k1 = randomTensor([1, 3], 2);
    const v1 = randomTensor([1, 2], 3);
    await assertAllClose(h.flashAttention(q1, k1, v1), v1, TOL);
    // q has batch [2, 3]; k and v are shared by the heads ([2, 1]) and by all.
    const q = randomTensor([2, 3, 4, 2], 4), k = randomTensor([2, 1, 5, 2], 5);
    const v = randomTensor([5, 3], 6);
    const y = h.flashAttention(q, k, v);
    assertEquals(y.shape, [2, 3, 4, 3]);
    const kb = h.broadcastTo(k, [2, 3, 5, 2]),
      vb = h.broadcastTo(v, [2, 3, 5, 3]);
    await assertAllClose(y, composed(q, kb, vb), TOL);
    const gk = h.grad((k: Tensor) => h.sum(h.flashAttention(q, k, v)))(k);
    const gk2 = h.grad((k: Tensor) =>
      h.sum(composed(q, h.broadcastTo(k, [2, 3, 5, 2]), vb))
    )(k);
    await assertAllClose(gk, gk2, TOL);
  }),
);

Deno.test(
  "jit(flashAttention) equals eager, and its gradients too",
  onCpu(async () => {
    const { q, k, v, bias, opts } = fixed();
    const f = (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
      h.flashAttention(q, k, v, opts(b));
    await assertAllClose(h.jit(f)(q, k, v, bias), f(q, k, v, bias), TOL);
    const loss = (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
      h.sum(h.square(f(q, k, v, b)));
    const argnums = [0, 1, 2, 3];
    const jg = h.jit(h.grad(loss, { argnums }))(q, k, v, bias);
    const eg = h.grad(loss, { argnums })(q, k, v, bias);
    for (let i = 0; i < 4; i++) await assertAllClose(jg[i], eg[i], TOL);
  }),
);

Deno.test(
  "vmap(flashAttention) equals a loop, with the captured bias shared or mapped",
  onCpu(async () => {
    const { q, k, v, bias, opts } = fixed(); // the mapped axis is q's batch
    const f = (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
      h.flashAttention(q, k, v, opts(b));
    const ex = (x: Tensor, i: number) => h.take(x, i, 0);
    const shared = h.vmap(f, { inAxes: [0, 0, 0, null] })(q, k, v, bias);
    const loop = h.stack(
      [0, 1].map((i) => f(ex(q, i), ex(k, i), ex(v, i), bias)),
    );
    await assertAllClose(shared, loop, TOL);
    const biases = h.stack([bias, h.mul(bias, -2)]);
    const mapped = h.vmap(f)(q, k, v, biases);
    const loop2 = h.stack(
      [0, 1].map((i) => f(ex(q, i), ex(k, i), ex(v, i), ex(biases, i))),
    );
    await assertAllClose(mapped, loop2, TOL);
    // Per-example gradients of the shared bias.
    const gb = (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
      h.grad((b: Tensor) => h.sum(h.square(f(q, k, v, b))))(b);
    const per = h.vmap(gb, { inAxes: [0, 0, 0, null] })(q, k, v, bias);
    const loop3 = h.stack(
      [0, 1].map((i) => gb(ex(q, i), ex(k, i), ex(v, i), bias)),
    );
    await assertAllClose(per, loop3, TOL);
  }),
);

Deno.test(
  "under jit, two equal flash calls are one equation after CSE",
  onCpu(() => {
    const { q, k, v, bias } = fixed();
    // The mask's tensors are made once, so both calls read the same ones.
    const rows = h.reshape(h.arange(3), [3, 1]), cols = h.arange(4);
    const opts = (b: Tensor): FlashOptions => ({
      score: ([r]) => h.add(h.mul(h.tanh(r!), 1.5), b),
      mask: () => h.greaterEqual(rows, cols),
    });
    const f = (q: Tensor, b: Tensor) =>
      h.add(
        h.flashAttention(q, k, v, opts(b)),
        h.flashAttention(q, k, v, opts(b)),
      );
    const { program } = h.makeProgram(f)(q, bias);
    const count = (p: typeof program) =>
      p.eqns.filter((e) => e.prim === "flash_attention").length;
    assertEquals(count(program), 2);
    assertEquals(count(h.eliminateCommonSubexpressions(program)), 1);
    return Promise.resolve();
  }),
);

Deno.test(
  "the backward pass is differentiable in its cotangent (vjp of vjp is jvp)",
  onCpu(async () => {
    const { q, k, v, bias, opts } = fixed();
    const f = (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
      h.flashAttention(q, k, v, opts(b));
    const [y, back] = h.vjp(f, q, k, v, bias);
    const u = randomTensor(y.shape, 7);
    const dirs = [q, k, v, bias].map((x, i) => randomTensor(x.shape, 20 + i));
    // ⟨back(u), dirs⟩ is linear in u; its gradient in u is J·dirs.
    const pairing = (u: Tensor) =>
      back(u).map((g, i) => h.sum(h.mul(g, dirs[i]!))).reduce((a, b) =>
        h.add(a, b)
      );
    const viaGrad = h.grad(pairing)(u);
    const [, viaJvp] = h.jvp(
      f,
      [q, k, v, bias],
      dirs as [Tensor, Tensor, Tensor, Tensor],
    );
    await assertAllClose(viaGrad, viaJvp, TOL);
  }),
);

Deno.test(
  "the backward pass of q, k and v binds one grad_qkv; of k alone, grad_kv alone",
  onCpu(async () => {
    const { q, k, v, bias, opts } = fixed();
    const loss = (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
      h.sum(h.square(h.flashAttention(q, k, v, opts(b))));
    const modes = (argnums: number[]) =>
      h.makeProgram(h.grad(loss, { argnums }))(q, k, v, bias).program.eqns
        .filter((e) => e.prim === "flash_attention")
        .map((e) => (e.params as { mode: string }).mode).sort();
    assertEquals(modes([0, 1, 2, 3]), ["forward", "grad_captured", "grad_qkv"]);
    assertEquals(modes([1]), ["forward", "grad_kv"]);
    assertEquals(modes([0]), ["forward", "grad_q"]);
    // grad_qkv's slices are the gradients: equal to the composed ones.
    const argnums = [0, 1, 2];
    const got = h.grad(loss, { argnums })(q, k, v, bias);
    const want = h.grad(
      (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
        h.sum(h.square(composed(q, k, v, opts(b)))),
      { argnums },
    )(q, k, v, bias);
    for (let i = 0; i < 3; i++) await assertAllClose(got[i], want[i], TOL);
  }),
);

// The same laws through each backend's own flash kernels (runFlash); a
// software WebGPU adapter compiles a shader per kernel and mode, so fewer runs.
for (const b of testBackends()) {
  Deno.test(
    `flashAttention and its gradients equal the composed ones [${b}]`,
    () =>
      h.withBackend(b, async () => {
        await fc.assert(
          fc.asyncProperty(arbCase, async (c) => {
            const u = randomTensor(
              [...c.q.shape.slice(0, -1), c.v.shape.at(-1)!],
              9,
            );
            const loss =
              (att: typeof composed) =>
              (q: Tensor, k: Tensor, v: Tensor, b: Tensor) =>
                h.sum(h.mul(att(q, k, v, c.opts(b)), u));
            const args = [c.q, c.k, c.v, c.bias] as const;
            const argnums = [0, 1, 2, 3];
            const o = c.opts(c.bias);
            const tol = { rtol: 1e-3, atol: 1e-4 };
            await assertAllClose(
              h.flashAttention(c.q, c.k, c.v, o),
              composed(c.q, c.k, c.v, o),
              tol,
              c.label,
            );
            const got = h.grad(loss(h.flashAttention), { argnums })(...args);
            const want = h.grad(loss(composed), { argnums })(...args);
            for (let i = 0; i < 4; i++) {
              await assertAllClose(got[i], want[i], tol, `${c.label} arg ${i}`);
            }
          }),
          { numRuns: b === "webgpu" ? 2 : 8 },
        );
      }),
  );
}
