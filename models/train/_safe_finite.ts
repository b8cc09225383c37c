// Whether training stayed finite, decided at epoch end with one readback.
//
// Each float tensor leaf is reduced to one number, sum(x · 0): 0 when every
// element is finite, NaN as soon as one is NaN or ±Infinity (NaN · 0 and
// ∞ · 0 are NaN, and NaN survives the sum). Multiplying first keeps a sum of
// large finite values from overflowing into a false alarm. The per-leaf
// results are stacked and read back together, so the answer also names the
// bad parameter.

import { dispose, mul, scope, stack, sum, Tensor } from "../../ops/mod.ts";

/**
 * The dotted path of the first leaf of `tree` that holds a NaN or an
 * infinity (numbers such as the epoch's loss included), or null when all
 * are finite. Costs one small reduction per float tensor and one readback.
 *
 * @example
 * ```ts
 * import { checkFinite } from "./validate.ts";
 * import { tensor } from "../../ops/mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const params = { a: tensor([1, 2]), b: [tensor([3, NaN])] };
 * assertEquals(await checkFinite({ loss: 0.5, params }), "params.b.0");
 * assertEquals(await checkFinite({ loss: Infinity }), "loss");
 * assertEquals(await checkFinite({ params: { a: tensor([1]) } }), null);
 * ```
 */
export async function checkFinite(tree: unknown): Promise<string | null> {
  const paths: string[] = [];
  const floats: Tensor[] = [];
  let firstBad: string | null = null;
  const walk = (x: unknown, path: string[]): void => {
    if (x instanceof Tensor) {
      if (x.dtype === "float32" && x.size > 0) {
        paths.push(path.join("."));
        floats.push(x);
      }
    } else if (typeof x === "number") {
      if (!Number.isFinite(x) && firstBad === null) firstBad = path.join(".");
    } else if (Array.isArray(x)) {
      x.forEach((c, i) => walk(c, [...path, String(i)]));
    } else if (
      x !== null && typeof x === "object" &&
      [Object.prototype, null].includes(Object.getPrototypeOf(x))
    ) {
      for (const [k, c] of Object.entries(x)) walk(c, [...path, k]);
    }
  };
  walk(tree, []);
  if (firstBad !== null || floats.length === 0) return firstBad;
  const probe = scope(() => stack(floats.map((t) => sum(mul(t, 0))))); // [n]
  try {
    const d = await probe.data();
    const i = d.findIndex((v) => !Number.isFinite(v));
    return i < 0 ? null : paths[i]!;
  } finally {
    dispose(probe);
  }
}
