/**
 * Data types, abstract values and the small helpers every layer of the core
 * shares.
 *
 * @module
 */

/** The element types a tensor can hold. */
export type DType = "float32" | "int32" | "bool";

/** All dtypes, in promotion order (bool < int32 < float32). */
export const DTYPES: readonly DType[] = ["bool", "int32", "float32"];

/** The host array type that holds each dtype's elements. */
export type HostArray = Float32Array | Int32Array | Uint8Array;

/** Shape and dtype of a value, without its data ("abstract value"). */
export interface Aval {
  /** Extent of each axis. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
}

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Allocates a zeroed host array for `n` elements of `dtype`. */
export function hostArray(dtype: DType, n: number): HostArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(n);
    case "int32":
      return new Int32Array(n);
    case "bool":
      return new Uint8Array(n);
    default:
      return dtype satisfies never;
  }
}

/** Formats a shape for error messages: `[2,3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/** The dtype both operands promote to (bool < int32 < float32). */
export function promote(a: DType, b: DType): DType {
  return DTYPES.indexOf(a) >= DTYPES.indexOf(b) ? a : b;
}

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * NumPy broadcasting of several shapes; throws a `TypeError` naming `op`
 * and all shapes when they are incompatible.
 */
export function broadcastShapes(
  op: string,
  ...shapes: (readonly number[])[]
): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else {
        throw new TypeError(
          `${op}: shapes ${
            shapes.map(fmtShape).join(" and ")
          } cannot be broadcast together`,
        );
      }
    }
  }
  return out;
}

/**
 * Normalises a possibly negative axis for a value of rank `rank`, throwing a
 * `RangeError` that names `op` when it is out of range.
 */
export function normAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    if (!(rank === 0 && (axis === 0 || axis === -1))) {
      throw new RangeError(
        `${op}: axis ${axis} is out of range for rank ${rank}`,
      );
    }
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalises a list of axes (sorted, unique), or all axes when undefined. */
export function normAxes(
  op: string,
  axis: number | readonly number[] | undefined,
  rank: number,
): number[] {
  if (axis === undefined) return [...Array(rank).keys()];
  const list = typeof axis === "number" ? [axis] : axis;
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) {
      throw new RangeError(
        `${op}: axis ${a} is out of range for rank ${rank}`,
      );
    }
    return a < 0 ? a + rank : a;
  });
  if (new Set(out).size !== out.length) {
    throw new RangeError(`${op}: repeated axis in [${list.join(",")}]`);
  }
  return out.sort((x, y) => x - y);
}

/** Checks that `shape` is a list of non-negative integers. */
export function checkShape(op: string, shape: readonly number[]): void {
  if (!Array.isArray(shape)) {
    throw new TypeError(`${op}: shape must be an array of integers`);
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new TypeError(
        `${op}: invalid shape ${
          fmtShape(shape)
        }: dimensions must be non-negative integers`,
      );
    }
  }
}
