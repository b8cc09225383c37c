/**
 * What every transform shares: the checks on functions, leaves, tangents
 * and `argnums`, and the choice of arguments to differentiate. Private to
 * `ops/transforms/`.
 *
 * @module
 */

import { fmtShape, sameShape } from "../dtype.ts";
import { scalar } from "../core.ts";
import { Tensor } from "../tensor.ts";
import { type Leaf, type TreeDef, treeFlatten } from "../pytree.ts";
import type { AnyFn } from "./types.ts";

/** `f` typed as taking and returning anything, for internal calls. */
export function loose(f: AnyFn): (...args: unknown[]) => unknown {
  return f as unknown as (...args: unknown[]) => unknown;
}

/** A leaf as a tensor: numbers become float32 scalars. */
export function toTensor(op: string, x: Leaf): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x === "number") return scalar(x, "float32");
  throw new TypeError(`${op}: leaves must be tensors or numbers`);
}

/** Throws unless `x` is float32 (only float values have derivatives). */
export function checkFloat(op: string, x: Tensor, what: string): void {
  if (x.dtype !== "float32") {
    throw new TypeError(
      `${op}: ${what} must be float32 to be differentiated, got ${x.dtype}${
        fmtShape(x.shape)
      }`,
    );
  }
}

/** Throws unless `f` is a function. */
export function checkFn(op: string, f: unknown): void {
  if (typeof f !== "function") {
    throw new TypeError(`${op}: expected a function, got ${typeof f}`);
  }
}

/**
 * Throws unless tangent (or cotangent) `t` has the shape of `x` and, for a
 * float32 `x`, is float32 too: a mismatch would otherwise broadcast.
 */
export function checkTangent(
  op: string,
  what: string,
  t: Tensor,
  x: Tensor,
): void {
  const other = what === "cotangent" ? "output" : "primal";
  if (!sameShape(t.shape, x.shape)) {
    throw new TypeError(
      `${op}: ${what} ${fmtShape(t.shape)} does not match ${other} ${
        fmtShape(x.shape)
      }`,
    );
  }
  if (x.dtype === "float32" && t.dtype !== "float32") {
    throw new TypeError(
      `${op}: ${what} is ${t.dtype}${
        fmtShape(t.shape)
      }, but the ${other} is float32`,
    );
  }
}

/** Flattens differentiated arguments, checking they are float. */
export function flatArgs(
  op: string,
  args: readonly unknown[],
): [Tensor[], TreeDef] {
  const [leaves, def] = treeFlatten(args);
  return [
    leaves.map((l, i) => {
      const t = toTensor(op, l);
      checkFloat(op, t, `input leaf ${i}`);
      return t;
    }),
    def,
  ];
}

/**
 * The arguments `argnums` selects from `args`: `pick` holds them in order
 * (for a single index, a one-element list), and `call(picked)` calls `f`
 * with those positions replaced.
 */
export interface Selection {
  /** The selected indices. */
  readonly nums: readonly number[];
  /** Whether `argnums` was a list (results are then tuples). */
  readonly many: boolean;
  /** The selected arguments. */
  readonly pick: unknown[];
  /** Calls `f` with the selected arguments replaced by `picked`. */
  readonly call: (picked: readonly unknown[]) => unknown;
}

/** Checks `argnums` against `args` and selects those arguments of `f`. */
export function selectArgs(
  op: string,
  f: AnyFn,
  argnums: number | readonly number[] | undefined,
  args: readonly unknown[],
): Selection {
  const a = argnums ?? 0;
  const many = typeof a !== "number";
  if (many && !Array.isArray(a)) {
    throw new TypeError(
      `${op}: argnums must be a number or an array of numbers, got ${typeof a}`,
    );
  }
  const nums: number[] = many ? [...a] : [a];
  for (const n of nums) {
    if (!Number.isInteger(n) || n < 0 || n >= args.length) {
      throw new RangeError(
        `${op}: argnums ${n} is out of range for ${args.length} argument(s)`,
      );
    }
  }
  if (new Set(nums).size !== nums.length) {
    throw new RangeError(`${op}: argnums [${nums}] repeats an argument`);
  }
  return {
    nums,
    many,
    pick: nums.map((n) => args[n]),
    call: (picked) => {
      const full = [...args];
      nums.forEach((n, j) => (full[n] = picked[j]));
      return loose(f)(...full);
    },
  };
}
