/**
 * The one place where data/ builds tensors, so that everything else in
 * batching stays plain host arrays and testable on its own.
 *
 * @module
 */

import { tensor } from "../ops/creation.ts";
import type { Tensor } from "../ops/tensor.ts";

/** An `int32` tensor of `shape` holding `values` (row-major). */
export function int32Tensor(
  values: Int32Array,
  shape: readonly number[],
): Tensor {
  return tensor(values, { dtype: "int32", shape });
}

/** A `bool` tensor of `shape` holding `values` (0 is false, 1 is true). */
export function boolTensor(
  values: Uint8Array,
  shape: readonly number[],
): Tensor {
  return tensor(values, { dtype: "bool", shape });
}
