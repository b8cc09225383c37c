/**
 * Creating tensors: from JS values, and `zeros`, `ones`, `full`, `arange`,
 * `linspace`, `eye`.
 *
 * @module
 */

import {
  checkShape,
  type DType,
  fmtShape,
  hostArray,
  sizeOf,
} from "./dtype.ts";
import { bind, fromHost, scalar } from "./core.ts";
import { type BackendName, withBackend } from "./backend.ts";
import { Tensor } from "./tensor.ts";
import { backendOf, castTo } from "./_convert.ts";
import type { Backend } from "./backends/contract.ts";

/** Nested JS arrays of numbers or booleans. */
export type NestedValues = number | boolean | readonly NestedValues[];

/** Values `tensor` accepts. */
export type TensorInput =
  | NestedValues
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint8Array
  | Tensor;

/** Options of {@link tensor}. */
export interface TensorOptions {
  /** Element type (default: bool for booleans, int32 for an Int32Array, else float32). */
  dtype?: DType;
  /** Shape for flat typed-array input (default: one axis). */
  shape?: readonly number[];
}

const DTYPE_NAMES: readonly string[] = ["float32", "int32", "bool"];

function checkDtype(op: string, dtype: DType | undefined): void {
  if (dtype !== undefined && !DTYPE_NAMES.includes(dtype)) {
    throw new TypeError(`${op}: unknown dtype "${String(dtype)}"`);
  }
}

function inferShape(v: NestedValues, path: string): number[] {
  if (!Array.isArray(v)) return [];
  const arr = v as readonly NestedValues[];
  if (arr.length === 0) return [0];
  const inner = inferShape(arr[0]!, `${path}[0]`);
  for (let i = 1; i < arr.length; i++) {
    const s = inferShape(arr[i]!, `${path}[${i}]`);
    if (s.length !== inner.length || s.some((d, j) => d !== inner[j])) {
      throw new TypeError(
        `tensor: ragged nested array: ${path}[0] has shape ${
          fmtShape(inner)
        } but ${path}[${i}] has ${fmtShape(s)}`,
      );
    }
  }
  return [arr.length, ...inner];
}

/**
 * Creates a tensor from nested arrays, a number, or a typed array.
 *
 * @example
 * ```ts
 * import { tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * assertEquals([x.shape, x.dtype], [[2, 3], "float32"]);
 * const ids = tensor(new Int32Array([1, 2, 3, 4]), { shape: [2, 2] });
 * assertEquals(ids.dtype, "int32");
 * ```
 */
export function tensor(values: TensorInput, opts?: TensorOptions): Tensor {
  opts ??= {};
  checkDtype("tensor", opts.dtype);
  if (values instanceof Tensor) {
    return opts.dtype ? castTo(values, opts.dtype) : values;
  }
  if (ArrayBuffer.isView(values)) {
    const shape = opts.shape ?? [values.length];
    checkShape("tensor", shape);
    const dtype = opts.dtype ??
      (values instanceof Int32Array
        ? "int32"
        : values instanceof Uint8Array
        ? "int32"
        : "float32");
    if (sizeOf(shape) !== values.length) {
      throw new TypeError(
        `tensor: ${values.length} values do not fill shape ${fmtShape(shape)}`,
      );
    }
    const data = hostArray(dtype, values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      data[i] = dtype === "bool" ? (v !== 0 ? 1 : 0) : v;
    }
    return fromHost(data, shape, dtype);
  }
  const shape = inferShape(values, "values");
  const flat: (number | boolean)[] = [];
  const walk = (v: NestedValues): void => {
    if (Array.isArray(v)) {
      for (const u of v as readonly NestedValues[]) walk(u);
    } else if (typeof v === "number" || typeof v === "boolean") flat.push(v);
    else {
      throw new TypeError(
        `tensor: expected numbers or booleans, got ${
          v === null ? "null" : typeof v
        }`,
      );
    }
  };
  walk(values);
  const allBool = flat.length > 0 && flat.every((v) => typeof v === "boolean");
  const dtype = opts.dtype ?? (allBool ? "bool" : "float32");
  const data = hostArray(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i]!;
    const n = typeof v === "boolean" ? (v ? 1 : 0) : v;
    data[i] = dtype === "bool" ? (n !== 0 ? 1 : 0) : n;
  }
  if (opts.shape) {
    checkShape("tensor", opts.shape);
    if (sizeOf(opts.shape) !== flat.length) {
      throw new TypeError(
        `tensor: ${flat.length} values do not fill shape ${
          fmtShape(opts.shape)
        }`,
      );
    }
    return fromHost(data, opts.shape, dtype);
  }
  return fromHost(data, shape, dtype);
}

/** Options of the filled constructors. */
export interface DtypeOptions {
  /** Element type (default float32). */
  dtype?: DType;
}

/**
 * A tensor of `shape` filled with `value`.
 *
 * @example
 * ```ts
 * import { full } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(await full([2], 7).array(), [7, 7]);
 * ```
 */
export function full(
  shape: readonly number[],
  value: number | boolean,
  opts?: DtypeOptions,
): Tensor {
  return filled("full", shape, value, opts ?? {});
}

// `full` under the name of the op the user called, for error messages.
function filled(
  op: string,
  shape: readonly number[],
  value: number | boolean,
  opts: DtypeOptions,
  backend?: Backend,
): Tensor {
  checkShape(op, shape);
  checkDtype(op, opts.dtype);
  const dtype = opts.dtype ?? (typeof value === "boolean" ? "bool" : "float32");
  // A number stored as bool is `value != 0`, as `cast` and `tensor` do.
  const v = dtype === "bool" && typeof value === "number" ? value !== 0 : value;
  const s = scalar(v, dtype, backend);
  if (shape.length === 0) return s;
  return bind("broadcast_in_dim", [s], { shape: [...shape], dims: [] });
}

/** A tensor of zeros. */
export function zeros(
  shape: readonly number[],
  opts?: DtypeOptions,
): Tensor {
  return filled("zeros", shape, 0, opts ?? {});
}

/** A tensor of ones. */
export function ones(
  shape: readonly number[],
  opts?: DtypeOptions,
): Tensor {
  return filled("ones", shape, 1, opts ?? {});
}

/** Zeros with the shape and dtype of `x`, on the backend of `x`. */
export function zerosLike(x: Tensor): Tensor {
  return filled("zerosLike", x.shape, 0, { dtype: x.dtype }, backendOf([x]));
}

/** Ones with the shape and dtype of `x`, on the backend of `x`. */
export function onesLike(x: Tensor): Tensor {
  return filled("onesLike", x.shape, 1, { dtype: x.dtype }, backendOf([x]));
}

/**
 * Evenly spaced values in `[start, stop)`: `arange(n)` is `0..n-1`. The dtype
 * is int32 when all arguments are integers (as NumPy and JAX), else float32.
 *
 * @example
 * ```ts
 * import { arange } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(await arange(1, 7, 2).array(), [1, 3, 5]);
 * ```
 */
export function arange(
  start: number,
  stop?: number,
  step?: number,
  opts?: DtypeOptions,
): Tensor {
  step ??= 1;
  opts ??= {};
  checkDtype("arange", opts.dtype);
  const [a, b] = stop === undefined ? [0, start] : [start, stop];
  if (![a, b, step].every(Number.isFinite) || step === 0) {
    throw new RangeError(
      `arange: start, stop and step must be finite and step non-zero, got ${a}, ${b}, ${step}`,
    );
  }
  const n = Math.max(0, Math.ceil((b - a) / step));
  const dtype = opts.dtype ??
    ([a, b, step].every(Number.isInteger) ? "int32" : "float32");
  const data = hostArray(dtype, n);
  for (let i = 0; i < n; i++) data[i] = a + i * step;
  return fromHost(data, [n], dtype);
}

/** `num` evenly spaced float32 values from `start` to `stop`, both included. */
export function linspace(start: number, stop: number, num: number): Tensor {
  if (!Number.isInteger(num) || num < 0) {
    throw new RangeError(
      `linspace: num must be a non-negative integer, got ${num}`,
    );
  }
  const data = new Float32Array(num);
  const step = num > 1 ? (stop - start) / (num - 1) : 0;
  for (let i = 0; i < num; i++) {
    data[i] = i === num - 1 && num > 1 ? stop : start + i * step;
  }
  return fromHost(data, [num], "float32");
}

/** The `n × m` identity matrix (`m` defaults to `n`). */
export function eye(n: number, m?: number, opts?: DtypeOptions): Tensor {
  m ??= n;
  opts ??= {};
  checkShape("eye", [n, m]);
  checkDtype("eye", opts.dtype);
  const dtype = opts.dtype ?? "float32";
  const data = hostArray(dtype, n * m);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return fromHost(data, [n, m], dtype);
}

/**
 * Copies a tensor to another backend (transfers are always explicit).
 *
 * @example
 * ```ts
 * import { tensor, toBackend } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const y = await toBackend(tensor([1, 2]), "cpu");
 * assertEquals([y.backend.name, await y.array()], ["cpu", [1, 2]]);
 * ```
 */
export async function toBackend(x: Tensor, name: BackendName): Promise<Tensor> {
  if (x.backend.name === name) return x;
  const data = await x.data();
  return await withBackend(name, () => fromHost(data, x.shape, x.dtype));
}
