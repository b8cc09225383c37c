// vmap's options: inAxes and outAxes as numbers (negative too), null and
// pytree prefixes, and the errors for bad axes, mismatched sizes, unknown
// keys and structures that do not match.

import { assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { vmap } from "../../ops/transforms/vmap.ts";
import { arbShape, assertAllClose, randomTensor } from "../_helpers.ts";

/** `x` with axis `from` moved to `to`, by the public transpose. */
function moveAxis(x: Tensor, from: number, to: number): Tensor {
  const perm = [...x.shape.keys()].filter((a) => a !== from);
  perm.splice(to, 0, from);
  return h.transpose(x, perm);
}

Deno.test("vmap() moves the batch axis from any inAxes to any outAxes", async () => {
  await fc.assert(
    fc.asyncProperty(
      arbShape(1, 4),
      fc.nat(99),
      fc.nat(99),
      fc.boolean(),
      fc.boolean(),
      async (shape, i, o, negIn, negOut) => {
        const r = shape.length;
        const a = i % r, b = o % r;
        const x = randomTensor(shape, i + 100 * o);
        const y = vmap((t: Tensor) => h.mul(t, 2), {
          inAxes: negIn ? a - r : a,
          outAxes: negOut ? b - r : b,
        })(x);
        await assertAllClose(y, moveAxis(h.mul(x, 2), a, b));
      },
    ),
    { numRuns: 30 },
  );
});

Deno.test("vmap() takes pytree prefixes for inAxes and outAxes", async () => {
  const xs = randomTensor([3, 2], 1), c = randomTensor([2], 2);
  const ys = randomTensor([2, 3], 3);
  const f = (p: { x: Tensor; c: Tensor }, y: Tensor, k: number) => ({
    sum: h.add(h.mul(p.x, k), h.mul(p.c, y)),
    shared: h.mul(p.c, k),
  });
  const out = vmap(f, {
    inAxes: [{ x: 0, c: null }, 1, null],
    outAxes: { sum: -1, shared: null },
  })({ x: xs, c }, ys, 3);
  const expected = h.transpose(h.add(h.mul(xs, 3), h.mul(c, h.transpose(ys))));
  await assertAllClose(out.sum, expected);
  assertEquals(out.shared.shape, [2]);
  await assertAllClose(out.shared, h.mul(c, 3));
});

Deno.test("vmap() repeats an output that no mapped input reaches", async () => {
  const f = vmap((x: Tensor) => [h.sum(x), h.tensor([1, 2]), 5]);
  const [s, t, n] = f(h.tensor([[1, 2], [3, 4], [5, 6]]));
  assertEquals(await s!.array(), [3, 7, 11]);
  assertEquals(await t!.array(), [[1, 2], [1, 2], [1, 2]]);
  assertEquals(await n!.array(), [5, 5, 5]);
  const g = vmap((_x: Tensor) => h.tensor([1, 2]), { outAxes: 1 });
  assertEquals(await g(h.zeros([3])).array(), [[1, 1, 1], [2, 2, 2]]);
});

Deno.test("vmap() names the mapped axes whose sizes differ", () => {
  const f = vmap((x: Tensor, y: Tensor) => h.add(x, y), { inAxes: [0, 1] });
  assertThrows(
    () => f(h.zeros([2, 3]), h.zeros([2, 5])),
    TypeError,
    "vmap: mapped axes have different sizes: args[0] (float32[2,3]) axis 0 has 2, args[1] (float32[2,5]) axis 1 has 5",
  );
});

Deno.test("vmap() rejects axes out of range", () => {
  const id = (x: Tensor) => x;
  assertThrows(
    () => vmap(id, { inAxes: 2 })(h.zeros([2, 3])),
    RangeError,
    "vmap: inAxes 2 is out of range for args[0] (float32[2,3]) (rank 2)",
  );
  assertThrows(
    () => vmap(id, { inAxes: -3 })(h.zeros([2, 3])),
    RangeError,
    "inAxes -3",
  );
  assertThrows(
    () => vmap(id, { outAxes: 3 })(h.zeros([2, 3])),
    RangeError,
    "vmap: outAxes 3 is out of range for output (float32[3] per example) (rank 2)",
  );
  assertThrows(
    () => vmap(id)(h.tensor(1)),
    RangeError,
    "inAxes 0 is out of range",
  );
  assertThrows(
    () => vmap(id)(3 as unknown as Tensor),
    RangeError,
    "vmap: inAxes maps args[0] along axis 0, but it is a number (rank 0); give it inAxes null",
  );
});

Deno.test("vmap() rejects bad options and specs", () => {
  const id = (x: Tensor) => x;
  assertThrows(
    () => vmap(id, { in_axes: 0 } as never),
    TypeError,
    'vmap: unknown option "in_axes" (known: inAxes, outAxes)',
  );
  assertThrows(() => vmap(42 as never), TypeError, "vmap: expected a function");
  assertThrows(
    () => vmap(id, { inAxes: 0.5 }),
    TypeError,
    "vmap: inAxes must be an integer axis or null, got 0.5",
  );
  assertThrows(
    () => vmap(id, { outAxes: [0, "1" as never] }),
    TypeError,
    "vmap: outAxes[1] must be a number, null, an array or an object",
  );
  assertThrows(
    () => vmap(id, { inAxes: [0, 0] })(h.zeros([2])),
    TypeError,
    "vmap: inAxes has 2 entries for 1 argument(s)",
  );
  assertThrows(
    () => vmap(id, { inAxes: { x: 0 } }),
    TypeError,
    "vmap: inAxes must be a number, null or an array with one entry per argument",
  );
  assertThrows(
    () => vmap(id, { inAxes: [[0, 0]] })(h.zeros([2])),
    TypeError,
    "vmap: inAxes has an array of 2 at args[0], where the value is a tensor float32[2]",
  );
  assertThrows(
    () =>
      vmap((p: { a: Tensor }) => p.a, { inAxes: [{ b: 0 }] })({
        a: h.zeros([2]),
      }),
    TypeError,
    "vmap: inAxes has an object {b} at args[0], where the value is an object {a}",
  );
  assertThrows(
    () => vmap(id, { inAxes: null })(h.zeros([2])),
    TypeError,
    "vmap: no argument is mapped",
  );
  assertThrows(
    () => vmap(id, { outAxes: null })(h.zeros([2])),
    TypeError,
    "vmap: outAxes is null at output, but that output differs between examples",
  );
});

Deno.test("vmap() refuses to map PRNG keys, and shares an unmapped one", async () => {
  const f = (k: h.Key, x: Tensor) => h.add(x, h.uniform(k, [2]));
  assertThrows(
    () => vmap(f)(h.key(0), h.zeros([3, 2])),
    TypeError,
    "vmap: inAxes maps args[0], a PRNG key: keys are host values and cannot be batched",
  );
  assertThrows(
    () =>
      vmap((ks: h.Key[], x: Tensor) => f(ks[0]!, x))(
        h.split(h.key(0), 3),
        h.zeros([3, 2]),
      ),
    TypeError,
    "vmap: inAxes maps args[0][0], a PRNG key",
  );
  const y = vmap(f, { inAxes: [null, 0] })(h.key(1), h.zeros([3, 2]));
  const u = h.uniform(h.key(1), [2]);
  await assertAllClose(y, h.stack([u, u, u], 0));
});

Deno.test("vmap() refuses a traced value that escaped it", () => {
  let leaked: Tensor | null = null;
  vmap((x: Tensor) => (leaked = h.mul(x, 2)))(h.zeros([2]));
  assertThrows(() => h.add(leaked!, 1), TypeError, "escaped");
});

Deno.test("vmap() keeps int32 and bool values and their dtypes", async () => {
  const f = vmap((x: Tensor) => [h.argmax(x), h.greater(x, 0)]);
  const [i, b] = f(h.tensor([[1, 3, 2], [-1, -2, 0]]));
  assertEquals([i!.dtype, b!.dtype], ["int32", "bool"]);
  assertEquals(await i!.array(), [1, 2]);
  assertEquals(await b!.array(), [[true, true, true], [false, false, false]]);
});
