// The transforms: acceptance examples, nesting, pytrees, options, custom
// rules, and the tagged-tracer guarantees.

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { acrossBackends } from "./_backend_pairs.ts";
import {
  arbSeed,
  assertAllClose,
  randomTensor,
  RUNS,
  testEachBackend,
} from "../_helpers.ts";

const cube = (x: Tensor) => h.mul(h.mul(x, x), x);

testEachBackend("grad(grad(x => x·x·x))(2) is 12", async () => {
  assertEquals(await h.grad(h.grad(cube))(2).item(), 12);
  assertEquals(await h.grad(h.grad(h.grad(cube)))(h.tensor(5)).item(), 6);
});

testEachBackend("hessian of sum(x³) is diagonal 6x", async () => {
  const x = h.tensor([1, -2, 0.5, 3]);
  const H: Tensor = h.hessian((x: Tensor) => h.sum(h.pow(x, 3)))(x);
  const expected = [[6, 0, 0, 0], [0, -12, 0, 0], [0, 0, 3, 0], [0, 0, 0, 18]];
  await assertAllClose(H, h.tensor(expected), { rtol: 1e-5, atol: 1e-5 });
});

testEachBackend("jvp(grad(f)) is a Hessian-vector product", async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(1, 2, 3, 5), arbSeed, async (n, seed) => {
      const w = randomTensor([n, n], seed + 9);
      const f = (x: Tensor) => h.sum(h.tanh(h.matmul(w, h.mul(x, x))));
      const x = randomTensor([n], seed), v = randomTensor([n], seed + 1);
      const [, hvp] = h.jvp(h.grad(f), [x], [v]);
      const H: Tensor = h.hessian(f)(x);
      await assertAllClose(hvp, h.matmul(H, v), { rtol: 1e-4, atol: 1e-5 });
    }),
    { numRuns: RUNS },
  );
});

testEachBackend("nested derivatives do not confuse perturbations", async () => {
  // d/dx [x · d/dy (x + y)] = d/dx [x · 1] = 1
  const inner = (x: Tensor) => h.grad((y: Tensor) => h.add(x, y))(h.tensor(1));
  const outer = h.grad((x: Tensor) => h.mul(x, inner(x)));
  assertEquals(await outer(h.tensor(3)).item(), 1);
  // The same in forward mode, nested inside reverse mode.
  const fwdInner = (x: Tensor) =>
    h.jvp((y: Tensor) => h.mul(x, y), [h.tensor(2)], [h.tensor(1)])[1];
  assertEquals(
    await h.grad((x: Tensor) => h.mul(x, fwdInner(x)))(h.tensor(3)).item(),
    6,
  );
});

testEachBackend(
  "jacfwd(jacrev(f)), jacrev(jacfwd(f)) and hessian agree",
  async () => {
    const f = (x: Tensor) => h.sum(h.mul(h.sin(x), h.exp(h.mul(x, 0.5))));
    const x = h.tensor([0.3, -1.2, 2]);
    const a: Tensor = h.jacfwd(h.jacrev(f))(x);
    const b: Tensor = h.jacrev(h.jacfwd(f))(x);
    await assertAllClose(a, b, { rtol: 1e-5, atol: 1e-6 });
    await assertAllClose(a, h.hessian(f)(x), {
      rtol: 1e-5,
      atol: 1e-6,
    });
  },
);

testEachBackend("grad works over pytrees of parameters", async () => {
  const params = {
    w: h.tensor([[1, 2], [3, 4]]),
    b: [h.tensor([0.5, -0.5])],
    name: "layer",
  };
  const x = h.tensor([1, 1]);
  const loss = (p: typeof params, x: Tensor) =>
    h.sum(h.add(h.matmul(p.w, x), p.b[0]!));
  const g = h.grad(loss)(params, x);
  assertEquals(Object.keys(g), ["w", "b", "name"]);
  assertEquals(g.name, "layer");
  await assertAllClose(g.w, h.tensor([[1, 1], [1, 1]]));
  await assertAllClose(g.b[0]!, h.tensor([1, 1]));
});

testEachBackend("grad honours argnums and hasAux", async () => {
  const f = (x: Tensor, y: Tensor, z: Tensor) => h.sum(h.mul(h.mul(x, y), z));
  const [gx, gz] = h.grad(f, { argnums: [0, 2] })(
    h.tensor(2),
    h.tensor(3),
    h.tensor(5),
  );
  assertEquals([await gx.item(), await gz.item()], [15, 6]);
  assertEquals(
    await h.grad(f, { argnums: 1 })(h.tensor(2), h.tensor(3), h.tensor(5))
      .item(),
    10,
  );
  const withAux = (x: Tensor) =>
    [h.mul(x, x), { doubled: h.mul(x, 2) }] as [Tensor, { doubled: Tensor }];
  const [g, aux] = h.grad(withAux, { hasAux: true })(h.tensor(3));
  assertEquals([await g.item(), await aux.doubled.item()], [6, 6]);
  const [[v, aux2], g2] = h.valueAndGrad(withAux, { hasAux: true })(
    h.tensor(4),
  );
  assertEquals([await v.item(), await aux2.doubled.item(), await g2.item()], [
    16,
    8,
    8,
  ]);
  const [v3, g3] = h.valueAndGrad(cube)(h.tensor(2));
  assertEquals([await v3.item(), await g3.item()], [8, 12]);
});

testEachBackend(
  "jvp, linearize and vjp work on pytrees and agree",
  async () => {
    const f = (p: { a: Tensor; b: Tensor[] }) => ({
      s: h.sum(h.mul(p.a, p.b[0]!)),
      t: h.sin(p.a),
    });
    const p = { a: h.tensor([1, 2]), b: [h.tensor([3, 4])] };
    const t = { a: h.tensor([1, 0]), b: [h.tensor([0, 1])] };
    const [y, yDot] = h.jvp(f, [p], [t]);
    const [y2, lin] = h.linearize(f, p);
    await assertAllClose(y.s, y2.s);
    const yDot2 = lin(t);
    await assertAllClose(yDot.s, yDot2.s);
    await assertAllClose(yDot.t, yDot2.t);
    assertEquals(await yDot.s.item(), 3 + 2);
    const [, back] = h.vjp(f, p);
    const [pBar] = back({ s: h.tensor(1), t: h.tensor([0, 0]) });
    await assertAllClose(pBar.a, h.tensor([3, 4]));
    await assertAllClose(pBar.b[0]!, h.tensor([1, 2]));
  },
);

testEachBackend(
  "stopGradient blocks derivatives at every nesting depth",
  async () => {
    const f = (x: Tensor) => h.mul(h.stopGradient(h.mul(x, x)), x);
    assertEquals(await h.grad(f)(h.tensor(3)).item(), 9);
    assertEquals(await h.grad(h.grad(f))(h.tensor(3)).item(), 0);
    const [, t] = h.jvp(f, [h.tensor(3)], [h.tensor(1)]);
    assertEquals(await t.item(), 9);
  },
);

testEachBackend(
  "customJvp replaces the rule in both modes and nests",
  async () => {
    let ruleCalls = 0;
    const softplus = h.customJvp(
      (x: Tensor) => h.log1p(h.exp(x)),
      ([x], [dx]) => {
        ruleCalls++;
        return [h.log1p(h.exp(x)), h.mul(dx, h.sigmoid(x))];
      },
    );
    const x = h.tensor([-30, 0, 2, 50]);
    await assertAllClose(
      h.grad((x: Tensor) => h.sum(softplus(x)))(x),
      h.sigmoid(x),
    );
    const [, t] = h.jvp(softplus, [x], [h.onesLike(x)]);
    await assertAllClose(t, h.sigmoid(x));
    // Second derivative differentiates the rule: σ'(x) = σ(1 - σ).
    const g2 = h.grad(h.grad((x: Tensor) => softplus(x)))(h.tensor(0.3));
    const s = 1 / (1 + Math.exp(-0.3));
    await assertAllClose(g2, s * (1 - s), { rtol: 1e-5 });
    assertEquals(ruleCalls > 0, true);
    // Without transforms, the function itself runs.
    ruleCalls = 0;
    await softplus(h.tensor(1)).data();
    assertEquals(ruleCalls, 0);
  },
);

testEachBackend(
  "customVjp replaces the backward rule and composes with outer jvp",
  async () => {
    const clipGrad = h.customVjp(
      (x: Tensor) => h.mul(x, x),
      (x: Tensor) => [h.mul(x, x), x] as [Tensor, Tensor],
      (x: Tensor, ct: Tensor) => [h.clip(h.mul(h.mul(x, 2), ct), -1, 1)],
    );
    await assertAllClose(
      h.grad((x: Tensor) => h.sum(clipGrad(x)))(h.tensor([0.1, 3])),
      h.tensor([0.2, 1]),
    );
    // Forward mode over the custom backward rule (a Hessian through it).
    const H: Tensor = h.jacfwd(h.grad((x: Tensor) => h.sum(clipGrad(x))))(
      h.tensor([0.1, 3]),
    );
    await assertAllClose(H, h.tensor([[2, 0], [0, 0]]));
    // Forward mode of the function itself is refused, as in JAX.
    assertThrows(
      () => h.jvp(clipGrad, [h.tensor(1)], [h.tensor(1)]),
      TypeError,
      "customVjp",
    );
  },
);

testEachBackend(
  "customVjp with several outputs sums their cotangents",
  async () => {
    const both = h.customVjp(
      (x: Tensor) => [h.mul(x, 2), h.mul(x, 3)] as [Tensor, Tensor],
      (x: Tensor) => [[h.mul(x, 2), h.mul(x, 3)] as [Tensor, Tensor], null],
      (_r: null, [a, b]: [Tensor, Tensor]) => [h.add(h.mul(a, 2), h.mul(b, 3))],
    );
    const g = h.grad((x: Tensor) => {
      const [a, b] = both(x);
      return h.add(h.mul(a, 10), b);
    })(h.tensor(1));
    assertEquals(await g.item(), 23);
  },
);

testEachBackend(
  "a traced value that escapes its transform fails clearly",
  async () => {
    let leaked: Tensor | null = null;
    h.grad((x: Tensor) => {
      leaked = h.mul(x, 2);
      return h.sum(x);
    })(h.tensor(1));
    assertThrows(() => h.add(leaked!, 1), TypeError, "escaped");
    await assertRejects(() => leaked!.data(), TypeError, "traced value");
  },
);

testEachBackend(
  "reading a traced value inside a transform is refused",
  async () => {
    let err: Promise<unknown> | null = null;
    h.grad((x: Tensor) => {
      err = x.data();
      return x;
    })(h.tensor(1));
    await assertRejects(
      () => err as Promise<unknown>,
      TypeError,
      "cannot read a traced value",
    );
  },
);

testEachBackend(
  "gradients of unused and integer-valued paths are zero",
  async () => {
    const f = (x: Tensor, y: Tensor) =>
      h.sum(h.cast(h.argmax(h.mul(x, y)), "float32"));
    const [gx, gy] = h.grad(f, { argnums: [0, 1] })(
      h.tensor([1, 2]),
      h.tensor([3, 1]),
    );
    await assertAllClose(gx, h.tensor([0, 0]));
    await assertAllClose(gy, h.tensor([0, 0]));
    await assertAllClose(
      h.grad((_x: Tensor) => h.tensor(5))(h.tensor(2)),
      h.tensor(0),
    );
  },
);

testEachBackend("jacobians keep the out.shape + in.shape layout", async () => {
  const f = (x: Tensor) => h.matmul(h.reshape(x, [2, 3]), h.ones([3, 4]));
  const x = h.arange(6, undefined, 1, { dtype: "float32" });
  const J1: Tensor = h.jacfwd(f)(x), J2: Tensor = h.jacrev(f)(x);
  assertEquals(J1.shape, [2, 4, 6]);
  await assertAllClose(J1, J2);
});

testEachBackend(
  "customVjp bwd may return a closed-over tensor or a residual",
  async () => {
    // Regression: the backward pass freed such tensors as if bwd had made
    // them, so the next use ("storage was freed by a scope") failed.
    const w = h.tensor([1, 2, 3]);
    const dotW = h.customVjp(
      (x: Tensor) => h.sum(h.mul(x, w)),
      (x: Tensor) => [h.sum(h.mul(x, w)), null],
      // Valid for the cotangent 1 that grad uses.
      (_res: null, _ct: Tensor) => [w],
    );
    // bwd's cotangent flows on through `mul(x, 2)`, whose transpose is
    // where the backward pass used to free it.
    const x = h.tensor([4, 5, 6]);
    const twoW = h.tensor([2, 4, 6]);
    const g = h.grad((x: Tensor) => dotW(h.mul(x, 2)));
    await assertAllClose(g(x), twoW);
    await assertAllClose(g(x), twoW);
    assertEquals(await w.array(), [1, 2, 3]);
    // Two outputs that both equal x·w: every Jacobian row is w, the residual.
    const twice = h.customVjp(
      (x: Tensor) => [h.sum(h.mul(x, w)), h.sum(h.mul(x, w))],
      (x: Tensor) => {
        const y = h.sum(h.mul(x, w));
        return [[y, y], h.mul(w, 1)];
      },
      // Valid for one-hot cotangents, as jacrev passes.
      (res: Tensor, _ct: Tensor[]) => [res],
    );
    const [j0, j1] = h.jacrev((x: Tensor) => twice(h.mul(x, 2)))(x);
    await assertAllClose(j0, twoW);
    await assertAllClose(j1, twoW);
  },
);

testEachBackend(
  "the backward pass frees the cotangents a customVjp bwd created once they are used",
  async () => {
    // bwd's own results are new tensors: an intermediate one (the
    // cotangent the outer call hands to the inner one) is freed as the
    // backward pass goes, like a built-in rule's; the final gradient is kept.
    const made: Tensor[] = [];
    const double = h.customVjp(
      (x: Tensor) => h.mul(x, 2),
      (x: Tensor) => [h.mul(x, 2), null],
      (_res: null, ct: Tensor) => {
        const c = h.mul(ct, 2);
        made.push(c);
        return [c];
      },
    );
    const g = h.grad((x: Tensor) => h.sum(double(double(x))));
    const out = g(h.tensor([1, 2, 3]));
    assertEquals(made.length, 2);
    assertEquals(made[0]!.released, true); // the outer bwd's, used by the inner one
    assertEquals(made[1]!.released, false); // the gradient itself
    await assertAllClose(out, h.tensor([4, 4, 4]));
  },
);

testEachBackend(
  "jacfwd, jacrev and hessian differentiate argnums",
  async () => {
    // Regression: jacfwd(f, { argnums: 1 }) differentiated argument 0.
    const f = (x: Tensor, y: Tensor) => h.mul(h.mul(x, x), y);
    const x = h.tensor([1, 2]), y = h.tensor([3, 4]);
    const diagX = h.tensor([[1, 0], [0, 4]]); // diag(x²) = ∂f/∂y
    await assertAllClose(h.jacfwd(f, { argnums: 1 })(x, y), diagX);
    await assertAllClose(h.jacrev(f, { argnums: 1 })(x, y), diagX);
    // The result types follow argnums: a tensor, or a tuple of them.
    const [jx, jy]: [Tensor, Tensor] = h.jacfwd(f, { argnums: [0, 1] })(x, y);
    const jyOnly: Tensor = h.jacrev(f, { argnums: 1 })(x, y);
    assertEquals(jyOnly.shape, [2, 2]);
    await assertAllClose(jx, h.tensor([[6, 0], [0, 16]])); // diag(2xy)
    await assertAllClose(jy, diagX);
    const g = (x: Tensor, y: Tensor) => h.sum(h.mul(h.mul(x, x), h.mul(y, y)));
    // ∂²/∂y² of Σ x²y² = diag(2x²).
    await assertAllClose(
      h.hessian(g, { argnums: 1 })(x, y),
      h.tensor([[2, 0], [0, 8]]),
    );
    // With a list, the Hessian is a nested tuple of blocks, as in JAX.
    const f2 = (x: Tensor, y: Tensor) => h.sum(h.mul(h.mul(x, x), y));
    const [[hxx, hxy], [hyx, hyy]] = h.hessian(f2, { argnums: [0, 1] })(x, y);
    await assertAllClose(hxx, h.tensor([[6, 0], [0, 8]])); // diag(2y)
    await assertAllClose(hxy, h.tensor([[2, 0], [0, 4]])); // diag(2x)
    await assertAllClose(hyx, hxy);
    await assertAllClose(hyy, h.zeros([2, 2]));
    const gy = h.grad(g, { argnums: 1 })(x, y); // 2x²y
    await assertAllClose(gy, h.tensor([6, 32]));
  },
);

testEachBackend("misspelt transform options are refused", () => {
  const f = (x: Tensor, y: Tensor) => h.sum(h.mul(x, y));
  for (
    const make of [
      () => h.grad(f, { argnum: 1 } as never),
      () => h.valueAndGrad(f, { argnum: 1 } as never),
      () => h.jacfwd(f, { argnum: 1 } as never),
      () => h.jacrev(f, { argnum: 1 } as never),
      () => h.hessian(f, { argnum: 1 } as never),
    ]
  ) {
    assertThrows(make, TypeError, 'unknown option "argnum"');
  }
});

testEachBackend("linearize refuses a tangent of the wrong shape", async () => {
  // Regression: a [] tangent for a [3] primal was broadcast.
  const [, lin] = h.linearize((x: Tensor) => h.mul(x, 2), h.tensor([1, 2, 3]));
  assertThrows(() => lin(h.tensor(1)), TypeError, "linearize: tangent []");
  await assertAllClose(lin(h.tensor([1, 1, 1])), h.tensor([2, 2, 2]));
});

testEachBackend("grad of a non-scalar function suggests sum or jacrev", () => {
  assertThrows(
    () => h.grad((x: Tensor) => h.mul(x, 2))(h.tensor([1, 2])),
    TypeError,
    "with sum or mean), or use jacrev",
  );
});

Deno.test("transforms work on tensors of a backend that is not the default", async () => {
  // Seeds, one-hot bases and zero (co)tangents live on the inputs' backend.
  await acrossBackends(
    () => ({
      x: h.tensor([1, 2]),
      z: h.tensor([[1, 2, 3]]),
      y: h.tensor([1], { dtype: "int32" }),
    }),
    async ({ x, z, y }, home) => {
      const f = (x: Tensor) => h.mul(x, x);
      const g = (x: Tensor, _unused: Tensor) => h.sum(f(x));
      const [gx, gu] = h.grad(g, { argnums: [0, 1] })(x, x);
      const results: Tensor[] = [
        gx,
        gu,
        h.jacfwd(f)(x),
        h.jacrev(f)(x),
        h.hessian((x: Tensor) => h.sum(f(x)))(x),
        h.jvp(f, [x], [x])[1],
        h.vjp(f, x)[1](x)[0],
        h.linearize(f, x)[1](x),
        h.grad((z: Tensor) => h.crossEntropy(z, y))(z),
        h.oneHot(y, 3),
      ];
      for (const r of results) assertEquals(r.backend.name, home);
      await assertAllClose(results[0], [2, 4]);
      await assertAllClose(results[1], [0, 0]);
      await assertAllClose(results[2], [[2, 0], [0, 4]]);
      await assertAllClose(results[3], [[2, 0], [0, 4]]);
      await assertAllClose(results[4], [[2, 0], [0, 2]]);
      await assertAllClose(results[9], [[0, 1, 0]]);
    },
  );
});
