// The fused-kernel contract: keys tell kernels apart exactly, output avals,
// and the reference meaning.

import { assertEquals, assertNotEquals } from "@std/assert";
import {
  type FusedKernel,
  fusedKey,
  fusedOutputs,
} from "../../../ops/backends/fused.ts";
import { runFusedReference } from "../../../ops/backends/fused_reference.ts";

function withLiteral(value: number): FusedKernel {
  return {
    kind: "elementwise",
    shape: [2],
    nodes: [
      { kind: "load", input: 0, offset: 0, strides: [1], dtype: "float32" },
      { kind: "literal", value, dtype: "float32" },
      { kind: "op", prim: "add", params: {}, args: [0, 1], dtype: "float32" },
    ],
    outputs: [2],
  };
}

Deno.test("fusedKey() tells apart literals JSON cannot: NaN, ±Infinity, -0, 0", () => {
  const values = [NaN, Infinity, -Infinity, -0, 0, 1];
  const keys = values.map((v) => fusedKey(withLiteral(v)));
  assertEquals(new Set(keys).size, values.length);
  assertEquals(fusedKey(withLiteral(NaN)), fusedKey(withLiteral(NaN)));
  assertNotEquals(fusedKey(withLiteral(0)), fusedKey(withLiteral(-0)));
});

Deno.test("fusedOutputs() gives each output's shape and dtype", () => {
  assertEquals(fusedOutputs(withLiteral(1)), [{
    shape: [2],
    dtype: "float32",
  }]);
  const reduce: FusedKernel = {
    kind: "reduce",
    op: "max",
    shape: [2, 3, 4],
    axes: [0, 2],
    nodes: [{
      kind: "load",
      input: 0,
      offset: 0,
      strides: [12, 4, 1],
      dtype: "int32",
    }],
    value: 0,
  };
  assertEquals(fusedOutputs(reduce), [{ shape: [3], dtype: "int32" }]);
});

Deno.test("runFusedReference() reads strided, broadcast loads and reduces over any axes", () => {
  const [sum, e] = runFusedReference({
    kind: "elementwise",
    shape: [2, 3],
    nodes: [
      { kind: "load", input: 0, offset: 0, strides: [1, 2], dtype: "float32" },
      { kind: "load", input: 1, offset: 1, strides: [0, 1], dtype: "float32" },
      { kind: "op", prim: "add", params: {}, args: [0, 1], dtype: "float32" },
      { kind: "op", prim: "gt", params: {}, args: [2, 1], dtype: "bool" },
    ],
    outputs: [2, 3],
  }, [new Float32Array([0, 1, 2, 3, 4, 5]), new Float32Array([9, 10, 20, 30])]);
  // x[i][j] = in0[i + 2j]; y[j] = in1[1 + j]
  assertEquals(sum, new Float32Array([10, 22, 34, 11, 23, 35]));
  assertEquals(e, new Uint8Array([0, 1, 1, 1, 1, 1]));
  const [r] = runFusedReference({
    kind: "reduce",
    op: "sum",
    shape: [2, 3],
    axes: [0],
    nodes: [{
      kind: "load",
      input: 0,
      offset: 0,
      strides: [3, 1],
      dtype: "float32",
    }],
    value: 0,
  }, [new Float32Array([0, 1, 2, 3, 4, 5])]);
  assertEquals(r, new Float32Array([3, 5, 7]));
});
