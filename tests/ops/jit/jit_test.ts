// jit: the cache (one trace per signature), static arguments, the errors
// for reading traced values, memory, and composition with the transforms.

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import * as h from "../../../mod.ts";
import type { Tensor } from "../../../mod.ts";
import { jit } from "../../../ops/jit/jit.ts";
import { assertAllClose, randomTensor } from "../../_helpers.ts";

/** `f` with a counter of how often it runs (how often jit traces it). */
function counted<A extends unknown[], R>(f: (...a: A) => R) {
  const c = { calls: 0, f: (...a: A): R => (c.calls++, f(...a)) };
  return c;
}

Deno.test("jit() traces once per signature and reruns without calling f", async () => {
  const c = counted((x: Tensor, y: Tensor) => h.add(h.mul(x, y), 1));
  const f = jit(c.f);
  assertEquals(await f(h.tensor([1, 2]), h.tensor([3, 4])).array(), [4, 9]);
  assertEquals(await f(h.tensor([5, 6]), h.tensor([7, 8])).array(), [36, 49]);
  assertEquals(await f(h.tensor([0, 1]), h.tensor([0, 1])).array(), [1, 2]);
  assertEquals(c.calls, 1);
  assertEquals(f.cacheSize, 1);
});

Deno.test("jit() traces again for a new shape, dtype, structure or static value", async () => {
  const c = counted((p: { x: Tensor }, n: number, s: string) =>
    s === "twice" ? h.mul(p.x, n * 2) : h.mul(p.x, n)
  );
  const f = jit(c.f, { staticArgnums: [2] });
  const x2 = h.tensor([1, 2]);
  await f({ x: x2 }, 3, "once");
  await f({ x: h.tensor([4, 5]) }, 3, "once");
  assertEquals(c.calls, 1);
  await f({ x: h.tensor([1, 2, 3]) }, 3, "once"); // new shape
  assertEquals(c.calls, 2);
  await f({ x: h.tensor([1, 2], { dtype: "int32" }) }, 3, "once"); // new dtype
  assertEquals(c.calls, 3);
  assertEquals(await f({ x: x2 }, 3, "twice").array(), [6, 12]); // static value
  assertEquals(c.calls, 4);
  assertEquals(await f({ x: x2 }, 4, "once").array(), [4, 8]); // number leaf
  assertEquals(c.calls, 5);
  await f({ x: x2 }, 3, "twice");
  await f({ x: x2 }, 4, "once");
  assertEquals(c.calls, 5);
  assertEquals(f.cacheSize, 5);
});

Deno.test("jit() keys the cache by backend", async () => {
  const c = counted((x: Tensor) => h.add(x, 1));
  const f = jit(c.f);
  const onCpu = await h.toBackend(h.tensor([1, 2]), "cpu");
  const onWasm = await h.toBackend(h.tensor([1, 2]), "wasm");
  const y = f(onWasm);
  assertEquals(y.backend.name, "wasm");
  assertEquals(await y.array(), [2, 3]);
  assertEquals(await f(onCpu).array(), [2, 3]);
  assertEquals(c.calls, 2);
});

Deno.test("jit() keeps the structure of pytree inputs and outputs", async () => {
  const f = jit((p: { w: Tensor; b: Tensor }, xs: Tensor[]) => ({
    y: h.add(h.mul(xs[0]!, p.w), p.b),
    parts: [xs[1]!, 7],
  }));
  const out = f({ w: h.tensor([2]), b: h.tensor([1]) }, [
    h.tensor([3]),
    h.tensor([4]),
  ]);
  assertEquals(await out.y.array(), [7]);
  assertEquals(await (out.parts[0] as Tensor).array(), [4]);
  assertEquals(out.parts[1], 7);
});

Deno.test("jit() rejects unknown options and bad staticArgnums", () => {
  const f = (x: Tensor) => x;
  assertThrows(
    () => jit(f, { staticArgnum: [0] } as never),
    TypeError,
    'jit: unknown option "staticArgnum" (known: staticArgnums, donateArgnums)',
  );
  assertThrows(
    () => jit(f, { staticArgnums: [-1] }),
    RangeError,
    "staticArgnums",
  );
  assertThrows(
    () => jit(f, { staticArgnums: [3] })(h.tensor(1)),
    RangeError,
    "staticArgnums 3 is out of range for 1 argument(s)",
  );
  assertThrows(() => jit(3 as never), TypeError, "expected a function");
});

Deno.test("reading a traced value inside jit is an error that names jit and staticArgnums", async () => {
  let read: Promise<unknown> | null = null;
  jit((x: Tensor) => {
    read = x.data();
    return x;
  })(h.tensor([1, 2]));
  await assertRejects(
    () => read!,
    TypeError,
    "jit: cannot read a traced value (float32[2])",
  );
  await assertRejects(() => read!, TypeError, "staticArgnums");
  jit((x: Tensor) => {
    read = x.item();
    return x;
  })(h.tensor(1));
  await assertRejects(() => read!, TypeError, "staticArgnums");
  jit((x: Tensor) => {
    read = x.array();
    return x;
  })(h.tensor(1));
  await assertRejects(() => read!, TypeError, "staticArgnums");
  // A JS branch on a value read back: the function must await, so jit
  // refuses the Promise and says why.
  const branchy = async (x: Tensor) =>
    (await h.greater(h.sum(x), 0).item()) ? x : h.neg(x);
  assertThrows(
    () => jit(branchy)(h.tensor([1])),
    TypeError,
    "jit: the function returned a Promise",
  );
  assertThrows(() => jit(branchy)(h.tensor([1])), TypeError, "staticArgnums");
});

Deno.test("jit() with a static argument runs a JS branch on it", async () => {
  const f = jit((x: Tensor, positive: boolean) => positive ? x : h.neg(x), {
    staticArgnums: 1,
  });
  assertEquals(await f(h.tensor([1]), true).array(), [1]);
  assertEquals(await f(h.tensor([1]), false).array(), [-1]);
});

Deno.test("a traced value that escapes jit is an error when used", () => {
  let kept: Tensor | null = null;
  jit((x: Tensor) => {
    kept = h.exp(x);
    return x;
  })(h.tensor([1]));
  assertThrows(() => h.add(kept!, 1), TypeError, "escaped");
});

Deno.test("jit() frees its intermediates and keeps its outputs", async () => {
  const name = h.defaultBackend();
  const f = jit((x: Tensor) => h.sum(h.exp(h.mul(h.add(x, 1), x))));
  const x = h.tensor([1, 2, 3]);
  await f(x).item(); // traces and compiles
  const live = () => h.memory()[name]!.liveBuffers;
  const before = live();
  const y = f(x);
  assertEquals(live(), before + 1);
  assertEquals(
    await y.item(),
    await h.sum(h.exp(h.mul(h.add(x, 1), x))).item(),
  );
});

Deno.test("constants a trace creates outlive the caller's scope", async () => {
  const f = jit((x: Tensor) => h.add(x, h.tensor([10, 20])));
  const first = h.scope(() => f(h.tensor([1, 2])));
  assertEquals(await first.array(), [11, 22]);
  assertEquals(await f(h.tensor([3, 4])).array(), [13, 24]);
});

Deno.test("jit() of a function without tensor arguments", async () => {
  const f = jit((n: number) => h.mul(h.arange(n), 2));
  assertEquals(await f(3).array(), [0, 2, 4]);
  assertEquals(await f(2).array(), [0, 2]);
});

const smooth = (x: Tensor, y: Tensor) =>
  h.sum(h.mul(h.tanh(h.matmul(x, y)), h.sin(x)));

Deno.test("grad(jit(f)) and jit(grad(f)) equal grad(f)", async () => {
  const x = randomTensor([2, 2], 1), y = randomTensor([2, 2], 2);
  const g = h.grad(smooth, { argnums: [0, 1] });
  const expected = g(x, y);
  const viaJitInside = h.grad(jit(smooth), { argnums: [0, 1] })(x, y);
  const viaJitOutside = jit(g)(x, y);
  for (let i = 0; i < 2; i++) {
    await assertAllClose(viaJitInside[i], expected[i], {
      rtol: 1e-6,
      atol: 1e-7,
    });
    await assertAllClose(viaJitOutside[i], expected[i], { rtol: 0, atol: 0 });
  }
});

Deno.test("jvp(jit(f)), vjp(jit(f)) and hessian(jit(f)) equal those of f", async () => {
  const f = (x: Tensor) => h.sum(h.mul(h.exp(x), h.sin(x)));
  const x = randomTensor([3], 3), t = randomTensor([3], 4);
  const [y1, d1] = h.jvp(jit(f), [x], [t]);
  const [y0, d0] = h.jvp(f, [x], [t]);
  await assertAllClose(y1, y0, { rtol: 0, atol: 0 });
  await assertAllClose(d1, d0, { rtol: 1e-6, atol: 1e-7 });
  const [, back1] = h.vjp(jit(f), x);
  const [, back0] = h.vjp(f, x);
  await assertAllClose(back1(h.tensor(2)), back0(h.tensor(2)), { rtol: 1e-6 });
  await assertAllClose(h.hessian(jit(f))(x), h.hessian(f)(x), { rtol: 1e-5 });
  await assertAllClose(jit(h.hessian(f))(x), h.hessian(f)(x), { rtol: 1e-6 });
});

Deno.test("nested jit() inlines the inner program into the outer one", async () => {
  const c = counted((x: Tensor) => h.exp(x));
  const inner = jit(c.f);
  const outer = jit((x: Tensor) => h.add(inner(x), inner(h.neg(x))));
  const x = h.tensor([0, 1]);
  await assertAllClose(outer(x), h.add(h.exp(x), h.exp(h.neg(x))));
  assertEquals(c.calls, 1); // both inner calls share one signature
  const prims = outer.program(x).eqns.map((e) => e.prim);
  assertEquals(prims, ["exp", "neg", "exp", "add"]);
  await assertAllClose(jit(outer)(x), outer(x), { rtol: 0, atol: 0 });
});

Deno.test("jit() inside grad may close over the differentiated value", async () => {
  // The program captures an outer tracer, so it is not cached.
  const g = h.grad((x: Tensor) => {
    const scaled = jit((y: Tensor) => h.mul(y, x));
    return h.sum(scaled(h.sin(x)));
  });
  const x = randomTensor([3], 5);
  const expected = h.grad((x: Tensor) => h.sum(h.mul(h.sin(x), x)))(x);
  await assertAllClose(g(x), expected, { rtol: 1e-6, atol: 1e-7 });
});

Deno.test("jit(grad(f)) uses a customVjp rule inside f", async () => {
  const clip = h.customVjp(
    (x: Tensor) => x,
    (x: Tensor) => [x, null],
    (_r, ct: Tensor) => [h.mul(ct, 0)],
  );
  const g = jit(h.grad((x: Tensor) => h.sum(h.mul(clip(x), 3))));
  assertEquals(await g(h.tensor([1, 2])).array(), [0, 0]);
});

Deno.test("grad(jit(f)) and jvp(jit(f)) use a custom rule inside f, also after a cached call", async () => {
  // Regression: the cached program held f's plain primitives, so grad
  // through it silently ignored the rule (gradient 3 instead of 0).
  const clip = h.customVjp(
    (x: Tensor) => x,
    (x: Tensor) => [x, null],
    (_r, ct: Tensor) => [h.mul(ct, 0)],
  );
  const f = jit((x: Tensor) => h.sum(h.mul(clip(x), 3)));
  const x = h.tensor([1, 2]);
  assertEquals(await f(x).item(), 9); // compiled and cached at the top level
  assertEquals(await h.grad(f)(x).array(), [0, 0]);
  const lin = h.customJvp(
    (x: Tensor) => h.sin(x),
    ([x]: [Tensor], [t]: [Tensor]) => [h.sin(x), h.mul(t, 5)],
  );
  const fj = jit((x: Tensor) => lin(x));
  fj(x);
  const [, tangent] = h.jvp(fj, [x], [h.tensor([1, 1])]);
  assertEquals(await tangent.array(), [5, 5]);
});

Deno.test("jit() runs on every backend with numbers on the inputs' backend", async () => {
  for (const name of h.backends()) {
    const x = await h.toBackend(h.tensor([1, 2]), name);
    const y = jit((x: Tensor) => h.mul(h.add(x, 1), 2))(x);
    assertEquals(y.backend.name, name);
    assertEquals(await y.array(), [4, 6]);
  }
});

Deno.test("a jitted step under carry keeps memory flat", async () => {
  const name = h.defaultBackend();
  const step = jit((s: { w: Tensor; x: Tensor }) => {
    const g = h.grad((w: Tensor) => h.sum(h.square(h.matmul(s.x, w))))(s.w);
    return { w: h.sub(s.w, h.mul(g, 0.01)), x: s.x };
  });
  let state = { w: randomTensor([3, 2], 7), x: randomTensor([4, 3], 8) };
  state = h.carry(state, step); // traces and compiles
  const live = () => h.memory()[name]!.liveBuffers;
  const before = live();
  for (let i = 0; i < 5; i++) state = h.carry(state, step);
  assertEquals(live(), before);
  assertEquals(step.cacheSize, 1);
  await state.w.data();
});
