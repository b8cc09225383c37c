/**
 * `assertAllClose`: elementwise closeness of tensors, numbers and (nested or
 * typed) arrays, as `numpy.testing.assert_allclose`.
 *
 * @module
 */

import { checkOptions } from "../ops/_options.ts";
import { Tensor } from "../ops/mod.ts";
import { CheckFailure } from "./check_failure.ts";

/** Options of {@link assertAllClose}. */
export interface AllCloseOptions {
  /** Relative tolerance (default 1e-5). */
  readonly rtol?: number;
  /** Absolute tolerance (default 1e-6). */
  readonly atol?: number;
  /** Put before the failure's message, to say what was compared. */
  readonly msg?: string;
}

const KNOWN = ["rtol", "atol", "msg"];

/** The values of a tensor, number, boolean or (nested, typed) array. */
async function valuesOf(x: unknown, what: string): Promise<number[]> {
  if (x instanceof Tensor) return Array.from(await x.data(), Number);
  if (typeof x === "number" || typeof x === "boolean") return [Number(x)];
  if (ArrayBuffer.isView(x) && !(x instanceof DataView)) {
    return Array.from(x as unknown as ArrayLike<number>, Number);
  }
  if (Array.isArray(x)) return (x as unknown[]).flat(Infinity).map(Number);
  throw new TypeError(
    `assertAllClose: cannot compare ${what} ${
      String(x)
    }: give a tensor, a number or an array`,
  );
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise. NaN
 * equals NaN, an infinity only equals itself, and when both sides are
 * tensors their shapes must be equal; otherwise values are compared in
 * row-major order. Throws a {@link CheckFailure} that names the first
 * element out of tolerance. Reads tensors back, so it is async.
 *
 * Note: like NumPy's `assert_allclose`, the tolerance is not symmetric:
 * `rtol` scales with `expected`.
 *
 * @example
 * ```ts
 * import { assertAllClose } from "@heed/heed/testing";
 * import { exp, log, tensor } from "@heed/heed/ops";
 * import { assertRejects } from "@std/assert";
 *
 * await assertAllClose(exp(log(tensor([1, 2, 3]))), [1, 2, 3], { rtol: 1e-6 });
 * await assertAllClose(tensor([0, NaN]), [1e-7, NaN]); // within atol 1e-6
 * await assertRejects(
 *   () => assertAllClose(tensor([1, 2]), [1, 2.1], { rtol: 1e-2, msg: "y" }),
 *   Error,
 *   "y: element 1 is 2, expected 2.1",
 * );
 * ```
 */
export async function assertAllClose(
  actual: unknown,
  expected: unknown,
  opts: AllCloseOptions = {},
): Promise<void> {
  checkOptions("assertAllClose", opts, KNOWN);
  const rtol = opts.rtol ?? 1e-5, atol = opts.atol ?? 1e-6;
  if (!(rtol >= 0 && atol >= 0)) {
    throw new RangeError(
      `assertAllClose: rtol and atol must be ≥ 0, got rtol ${rtol}, atol ${atol}`,
    );
  }
  const prefix = opts.msg ? `${opts.msg}: ` : "";
  if (actual instanceof Tensor && expected instanceof Tensor) {
    const [a, e] = [actual.shape, expected.shape];
    if (a.length !== e.length || a.some((n, i) => n !== e[i])) {
      throw new CheckFailure(`${prefix}shapes differ: [${a}] vs [${e}]`);
    }
  }
  const [a, e] = await Promise.all([
    valuesOf(actual, "actual"),
    valuesOf(expected, "expected"),
  ]);
  if (a.length !== e.length) {
    throw new CheckFailure(
      `${prefix}sizes differ: ${a.length} values, expected ${e.length}`,
    );
  }
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = e[i]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const bound = atol + rtol * Math.abs(y);
    const finite = Number.isFinite(x) && Number.isFinite(y);
    if (!(finite && Math.abs(x - y) <= bound)) {
      throw new CheckFailure(
        `${prefix}element ${i} is ${x}, expected ${y} (|diff| ${
          Math.abs(x - y)
        } > ${bound} = atol + rtol·|expected|)\n` +
          `actual:   ${a.slice(0, 12).join(", ")}${
            a.length > 12 ? ", ..." : ""
          }\n` +
          `expected: ${e.slice(0, 12).join(", ")}${
            e.length > 12 ? ", ..." : ""
          }`,
      );
    }
  }
}
