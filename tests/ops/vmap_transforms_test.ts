// vmap with the other transforms, both ways (grad, jvp, jit, vmap itself),
// on random programs of 2-12 ops and on a small MLP's per-example
// gradients, each against a loop over the examples.

import { assertEquals } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { jit } from "../../ops/jit/jit.ts";
import { vmap } from "../../ops/transforms/vmap.ts";
import {
  arbSeed,
  assertAllClose,
  randomTensor,
  testEachBackend,
} from "../_helpers.ts";
import {
  arbProgram,
  build,
  buildLoss,
  type ProgramSpec,
} from "./jit/_random_programs.ts";

const TOL = { rtol: 1e-4, atol: 1e-5 };
const RUNS = 12;

/** Per-example inputs of a random program, stacked along `axes`. */
function batchOf(spec: ProgramSpec, size: number, axes: [number, number]) {
  const ex = spec.shapes.map((s, i) =>
    Array.from({ length: size }, (_, k) => randomTensor(s, spec.seeds[i]! + k))
  );
  return {
    ex: ex as [Tensor[], Tensor[]],
    args: ex.map((e, i) => h.stack(e, axes[i]!)) as [Tensor, Tensor],
  };
}

const arbBatched = fc.record({
  spec: arbProgram,
  size: fc.integer({ min: 1, max: 3 }),
  axes: fc.tuple(fc.nat(3), fc.nat(3)),
});

/** In-axes for the two inputs: `pick` reduced to a valid axis of the batched rank. */
function axesFor(spec: ProgramSpec, pick: [number, number]): [number, number] {
  return [
    pick[0] % (spec.shapes[0].length + 1),
    pick[1] % (spec.shapes[1].length + 1),
  ];
}

async function assertStacked(
  actual: readonly Tensor[],
  perExample: readonly (readonly Tensor[])[],
  what: string,
): Promise<void> {
  for (let j = 0; j < actual.length; j++) {
    const expected = h.stack(perExample.map((o) => o[j]!), 0);
    assertEquals(actual[j]!.shape, expected.shape, what);
    await assertAllClose(actual[j]!, expected, TOL, what);
  }
}

async function assertSame(
  actual: readonly Tensor[],
  expected: readonly Tensor[],
  what: string,
): Promise<void> {
  assertEquals(actual.length, expected.length, what);
  for (let j = 0; j < actual.length; j++) {
    assertEquals(actual[j]!.shape, expected[j]!.shape, what);
    await assertAllClose(actual[j]!, expected[j]!, TOL, what);
  }
}

testEachBackend("vmap(f) equals a loop on random programs", async () => {
  await fc.assert(
    fc.asyncProperty(arbBatched, async ({ spec, size, axes }) => {
      const inAxes = axesFor(spec, axes);
      const { ex, args } = batchOf(spec, size, inAxes);
      const f = build(spec);
      const actual = vmap(f, { inAxes })(...args);
      const loop = ex[0].map((x, k) => f(x, ex[1][k]!));
      await assertStacked(actual, loop, `vmap ${JSON.stringify(inAxes)}`);
    }),
    { numRuns: RUNS },
  );
});

testEachBackend(
  "vmap(grad(f)) gives per-example gradients equal to a loop of grad",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbBatched, async ({ spec, size, axes }) => {
        const inAxes = axesFor(spec, axes);
        const { ex, args } = batchOf(spec, size, inAxes);
        const g = h.grad(buildLoss(spec), { argnums: [0, 1] });
        const actual = vmap(g, { inAxes })(...args);
        const loop = ex[0].map((x, k) => g(x, ex[1][k]!));
        await assertStacked(actual, loop, "vmap(grad)");
      }),
      { numRuns: RUNS },
    );
  },
);

testEachBackend(
  "grad of a vmapped loss equals the sum of per-example gradients",
  async () => {
    await fc.assert(
      fc.asyncProperty(arbBatched, async ({ spec, size }) => {
        const { ex, args } = batchOf(spec, size, [0, 0]);
        const loss = buildLoss(spec);
        // y is shared: its gradient sums over the batch.
        const total = (xs: Tensor, y: Tensor) =>
          h.sum(vmap(loss, { inAxes: [0, null] })(xs, y));
        const [gx, gy] = h.grad(total, { argnums: [0, 1] })(args[0], ex[1][0]!);
        const g = h.grad(loss, { argnums: [0, 1] });
        const loop = ex[0].map((x) => g(x, ex[1][0]!));
        await assertStacked([gx], loop.map((l) => [l[0]]), "grad(vmap) x");
        const sumY = loop.map((l) => l[1]).reduce((a, b) => h.add(a, b));
        await assertAllClose(gy, sumY, TOL, "grad(vmap) y");
      }),
      { numRuns: RUNS },
    );
  },
);

testEachBackend("jvp(vmap(f)) equals a loop of jvp", async () => {
  await fc.assert(
    fc.asyncProperty(arbBatched, arbSeed, async ({ spec, size }, seed) => {
      const { ex, args } = batchOf(spec, size, [0, 0]);
      const dirs = args.map((a, i) => randomTensor(a.shape, seed + i)) as [
        Tensor,
        Tensor,
      ];
      const f = build(spec);
      const [ys, ts] = h.jvp(vmap(f), args, dirs);
      const loop = ex[0].map((x, k) =>
        h.jvp(f, [x, ex[1][k]!], [h.take(dirs[0], k), h.take(dirs[1], k)])
      );
      await assertStacked(ys, loop.map((l) => l[0]), "jvp(vmap) primal");
      await assertStacked(ts, loop.map((l) => l[1]), "jvp(vmap) tangent");
    }),
    { numRuns: RUNS },
  );
});

testEachBackend("vmap(vmap(f)) equals a double loop", async () => {
  await fc.assert(
    fc.asyncProperty(arbProgram, fc.nat(3), async (spec, pick) => {
      // x: [3, 2, ...] mapped by the outer vmap along 0, the inner along
      // `a`; y is mapped by the inner vmap only.
      const [sx, sy] = spec.shapes;
      const a = pick % (sx.length + 1);
      const xs = Array.from({ length: 3 }, (_, i) =>
        Array.from(
          { length: 2 },
          (_, j) => randomTensor(sx, spec.seeds[0] + 10 * i + j),
        ));
      const ys = Array.from(
        { length: 2 },
        (_, j) => randomTensor(sy, spec.seeds[1] + j),
      );
      const f = build(spec);
      const vv = vmap(vmap(f, { inAxes: [a, 0] }), { inAxes: [0, null] });
      const x = h.stack(xs.map((r) => h.stack(r, a)), 0);
      const actual = vv(x, h.stack(ys, 0));
      const loop = xs.map((r) => r.map((xij, j) => f(xij, ys[j]!)));
      for (let o = 0; o < actual.length; o++) {
        const expected = h.stack(
          loop.map((r) => h.stack(r.map((out) => out[o]!), 0)),
          0,
        );
        await assertAllClose(actual[o]!, expected, TOL, "vmap(vmap)");
      }
    }),
    { numRuns: RUNS },
  );
});

testEachBackend("vmap(jit(f)) and jit(vmap(f)) equal vmap(f)", async () => {
  await fc.assert(
    fc.asyncProperty(arbBatched, async ({ spec, size, axes }) => {
      const inAxes = axesFor(spec, axes);
      const { args } = batchOf(spec, size, inAxes);
      const f = build(spec);
      const expected = vmap(f, { inAxes })(...args);
      const jv = jit(vmap(f, { inAxes }));
      await assertSame(jv(...args), expected, "jit(vmap)");
      await assertSame(jv(...args), expected, "jit(vmap), cached");
      assertEquals(jv.cacheSize, 1);
      const vj = vmap(jit(f), { inAxes });
      await assertSame(vj(...args), expected, "vmap(jit)");
    }),
    { numRuns: RUNS },
  );
});

/** A two-layer MLP's loss for one example. */
interface Params {
  w1: Tensor;
  b1: Tensor;
  w2: Tensor;
}
const mlpLoss = (p: Params, x: Tensor, y: Tensor): Tensor => {
  const hid = h.tanh(h.add(h.matmul(x, p.w1), p.b1)); // [H]
  const logits = h.matmul(hid, p.w2); // [C]
  return h.crossEntropy(h.expandDims(logits, 0), h.expandDims(y, 0));
};

testEachBackend(
  "vmap(grad) gives an MLP's per-example gradients, params shared",
  async () => {
    const p: Params = {
      w1: randomTensor([4, 5], 1),
      b1: randomTensor([5], 2),
      w2: randomTensor([5, 3], 3),
    };
    const xs = randomTensor([6, 4], 4);
    const ys = h.tensor([0, 2, 1, 1, 0, 2], { dtype: "int32" });
    const perExample = vmap(h.grad(mlpLoss), { inAxes: [null, 0, 0] });
    const g = perExample(p, xs, ys);
    for (const k of ["w1", "b1", "w2"] as const) {
      const loop = [...Array(6).keys()].map((i) =>
        h.grad(mlpLoss)(p, h.take(xs, i), h.take(ys, i))[k]
      );
      await assertAllClose(g[k], h.stack(loop, 0), TOL, k);
    }
    // Their mean is the batch gradient.
    const batchLoss = (q: Params) =>
      h.mean(vmap(mlpLoss, { inAxes: [null, 0, 0] })(q, xs, ys));
    const gb = h.grad(batchLoss)(p);
    await assertAllClose(gb.w1, h.mean(g.w1, { axis: 0 }), TOL, "batch w1");
  },
);

testEachBackend(
  "vmap() under stopGradient and customVjp keeps their rules",
  async () => {
    const xs = randomTensor([3, 2], 9);
    // d/dx Σ x·stop(x) = stop(x), per example and through grad(vmap).
    const f = (x: Tensor) => h.sum(h.mul(x, h.stopGradient(x)));
    await assertAllClose(vmap(h.grad(f))(xs), xs, TOL, "vmap(grad(stop))");
    const g = h.grad((x: Tensor) => h.sum(vmap(f)(x)))(xs);
    await assertAllClose(g, xs, TOL, "grad(vmap(stop))");
    // A customVjp rule inside vmap(grad(...)) is honoured per example.
    const clip = h.customVjp(
      (x: Tensor) => x,
      (x: Tensor) => [x, null],
      (_res, ct: Tensor) => [h.clip(ct, -0.5, 0.5)],
    );
    const pe = vmap(h.grad((x: Tensor) => h.sum(h.mul(clip(x), 3))))(xs);
    await assertAllClose(pe, h.mul(h.onesLike(xs), 0.5), TOL, "customVjp");
  },
);

testEachBackend(
  "jit(vmap(f)) of a per-example gather reruns its program on new data",
  async () => {
    const f = (x: Tensor, i: Tensor) => h.take(x, i, 1); // x [3,4], i [2]
    const jv = jit(vmap(f));
    for (const seed of [1, 2]) {
      const xs = randomTensor([2, 3, 4], seed);
      const is = h.tensor([[3, 0], [1, -1]], { dtype: "int32" });
      const loop = [0, 1].map((k) => f(h.take(xs, k), h.take(is, k)));
      await assertAllClose(jv(xs, is), h.stack(loop, 0), TOL, `seed ${seed}`);
    }
    assertEquals(jv.cacheSize, 1);
  },
);

testEachBackend(
  "vmap(hessian(f)) and vmap(jacrev(f)) equal loops",
  async () => {
    const f = (x: Tensor) => h.sum(h.mul(h.sin(x), h.mul(x, x)));
    const g = (x: Tensor) =>
      h.tanh(h.matmul(h.reshape(x, [2, 2]), h.slice(x, [0], [2])));
    const xs = randomTensor([3, 2], 6), ys = randomTensor([3, 4], 7);
    const loopH = [0, 1, 2].map((k) => h.hessian(f)(h.take(xs, k)));
    const loopJ = [0, 1, 2].map((k) => h.jacrev(g)(h.take(ys, k)));
    await assertAllClose(vmap(h.hessian(f))(xs), h.stack(loopH, 0), TOL, "H");
    await assertAllClose(vmap(h.jacrev(g))(ys), h.stack(loopJ, 0), TOL, "J");
  },
);
