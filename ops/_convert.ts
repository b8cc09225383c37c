// Conversion of op operands (tensors and JS numbers) with heed's promotion
// rules. A JS number becomes a scalar on the backend of the op's tensor
// operands, so `add(x, 1)` works for an `x` on any backend, whatever the
// default. Private to ops/.

import { type DType, promote } from "./dtype.ts";
import type { Backend } from "./backend.ts";
import { bind, scalar } from "./core.ts";
import { Tensor, Tracer } from "./tensor.ts";

/** A tensor, or a JS number/boolean that adopts the other operand's dtype. */
export type TensorLike = Tensor | number | boolean;

/** The dtype a JS scalar would have on its own. */
function weakDtype(v: number | boolean): DType {
  if (typeof v === "boolean") return "bool";
  return Number.isInteger(v) ? "int32" : "float32";
}

/**
 * The backend of the first operand that has storage (for a traced value,
 * the value under its perturbations), or `undefined` (then the default).
 */
export function backendOf(xs: readonly unknown[]): Backend | undefined {
  for (const x of xs) {
    let t = x;
    while (t instanceof Tracer) {
      const p = t.dropPerturbation();
      if (p === t) {
        const b = t.storageBackend;
        if (b) return b;
        break;
      }
      t = p;
    }
    if (t instanceof Tensor && !(t instanceof Tracer)) return t.backend;
  }
  return undefined;
}

/** Zeros of `shape` and `dtype` on `backend` (default: the default backend). */
export function zerosOn(
  shape: readonly number[],
  backend?: Backend,
  dtype: DType = "float32",
): Tensor {
  const z = scalar(0, dtype, backend);
  return shape.length === 0
    ? z
    : bind("broadcast_in_dim", [z], { shape: [...shape], dims: [] });
}

/** float32 zeros of `x`'s shape on `x`'s backend (a tangent or cotangent of `x`). */
export function zerosFor(x: Tensor): Tensor {
  return zerosOn(x.shape, backendOf([x]));
}

/** Casts `x` to `dtype` (no-op when it already has it). */
export function castTo(x: Tensor, dtype: DType): Tensor {
  return x.dtype === dtype ? x : bind("convert_element_type", [x], { dtype });
}

/**
 * Converts one operand: a number becomes a float32 scalar unless `dtype`
 * says otherwise, on `backend` (default: the default backend).
 */
export function asTensor(
  op: string,
  x: TensorLike,
  dtype?: DType,
  backend?: Backend,
): Tensor {
  if (x instanceof Tensor) return dtype ? castTo(x, dtype) : x;
  if (typeof x === "number" || typeof x === "boolean") {
    return scalar(
      x,
      dtype ?? (typeof x === "boolean" ? "bool" : "float32"),
      backend,
    );
  }
  throw new TypeError(
    `${op}: expected a Tensor or a number, got ${
      x === null ? "null" : typeof x
    }`,
  );
}

/**
 * Converts several operands to one dtype. Tensors promote (bool < int32 <
 * float32); a JS number is weakly typed: it takes the tensors' dtype unless
 * it needs a wider one (1.5 with an int32 tensor gives float32). Numbers
 * live on the tensors' backend, or on `backend` if there is no tensor.
 */
export function asTensors(
  op: string,
  xs: readonly TensorLike[],
  minDtype?: DType,
  backend?: Backend,
): Tensor[] {
  let strong: DType | null = null;
  let weak: DType | null = null;
  for (const x of xs) {
    if (x instanceof Tensor) {
      strong = strong ? promote(strong, x.dtype) : x.dtype;
    } else if (typeof x === "number" || typeof x === "boolean") {
      const w = weakDtype(x);
      weak = weak ? promote(weak, w) : w;
    } else {
      throw new TypeError(
        `${op}: expected Tensors or numbers, got ${
          x === null ? "null" : typeof x
        }`,
      );
    }
  }
  let dtype: DType = strong === null
    ? (weak === "bool" ? "bool" : "float32")
    : weak === null
    ? strong
    : promote(strong, weak);
  if (minDtype) dtype = promote(dtype, minDtype);
  const home = weak === null ? undefined : backendOf(xs) ?? backend;
  return xs.map((x) => asTensor(op, x, dtype, home));
}
