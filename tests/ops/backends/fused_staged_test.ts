// Reduce kernels of several reductions and an epilogue (FusedReduce.more,
// .epilogue, reduced nodes) against their meaning, runFusedReference, on
// wasm (one generated function: one pass per reduction over each row or
// block of columns) and WebGPU (one shader, one invocation per output; rows
// too long for one invocation run split). fast-check builds kernels over
// 1-3 axes of 1-6 elements, any non-empty set of reduced axes, two to
// three chained reductions (max then sum of exp(x - max), mean then sum of
// squared deviations, ...) and an epilogue that mixes reduced values,
// literals and a load that does not vary along the reduced axes.

import { assert, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import {
  type FusedNode,
  fusedOutputs,
  type FusedReduce,
} from "../../../ops/backends/fused.ts";
import { runFusedReference } from "../../../ops/backends/fused_reference.ts";
import { WasmBackend } from "../../../ops/backends/wasm/backend.ts";
import { WebGpuBackend } from "../../../ops/backends/webgpu/backend.ts";
import { fusedWgsl } from "../../../ops/backends/webgpu/_fused.ts";
import { stagedInOne } from "../../../ops/backends/webgpu/_fused_staged.ts";
import {
  type DType,
  type HostArray,
  sizeOf,
  stridesOf,
} from "../../../ops/dtype.ts";
import type { ElementwisePrimitive } from "../../../ops/primitives.ts";

const wasm = await WasmBackend.create({ threads: 1 });
const gpu = await WebGpuBackend.create().catch(() => null);

type Backend = WasmBackend | WebGpuBackend;

async function run(
  b: Backend,
  k: FusedReduce,
  inputs: readonly HostArray[],
): Promise<HostArray[]> {
  const ops = inputs.map((x) => {
    const dtype: DType = x instanceof Float32Array
      ? "float32"
      : x instanceof Int32Array
      ? "int32"
      : "bool";
    const aval = { shape: [x.length], dtype };
    return { handle: b.upload(x, aval), aval };
  });
  const outs = b.runFused(k, ops);
  const got: HostArray[] = [];
  const avals = fusedOutputs(k);
  for (let j = 0; j < outs.length; j++) {
    got.push(await b.read(outs[j], avals[j]!));
    b.free(outs[j]);
  }
  for (const o of ops) b.free(o.handle);
  return got;
}

function close(got: HostArray, want: HostArray, what: string): void {
  assertEquals(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (g === w) continue;
    const tol = 1e-4 * Math.max(1, Math.abs(w));
    if (!(Math.abs(g - w) <= tol)) {
      throw new Error(`${what}: element ${i} is ${g}, expected ${w}`);
    }
  }
}

/** Nodes built in SSA order. */
class Nodes {
  readonly list: FusedNode[] = [];
  add(n: FusedNode): number {
    return this.list.push(n) - 1;
  }
  op(prim: ElementwisePrimitive, ...args: number[]): number {
    return this.add({ kind: "op", prim, params: {}, args, dtype: "float32" });
  }
  lit(value: number): number {
    return this.add({ kind: "literal", value, dtype: "float32" });
  }
  reduced(index: number): number {
    return this.add({ kind: "reduced", index, dtype: "float32" });
  }
}

const OPS = ["sum", "max", "min"] as const;

/** The generated choices of one kernel. */
interface Choice {
  readonly shape: number[];
  readonly axesMask: number;
  readonly ops: ("sum" | "max" | "min")[];
  readonly forms: number[];
  readonly epilogue: number;
  readonly seed: number;
}

const arbKernel: fc.Arbitrary<Choice> = fc.record({
  shape: fc.array(fc.integer({ min: 1, max: 6 }), {
    minLength: 1,
    maxLength: 3,
  }),
  axesMask: fc.integer({ min: 1, max: 7 }),
  ops: fc.array(fc.constantFrom(...OPS), { minLength: 2, maxLength: 3 }),
  // How each later reduction reads the earlier one.
  forms: fc.array(fc.integer({ min: 0, max: 3 }), {
    minLength: 2,
    maxLength: 2,
  }),
  epilogue: fc.integer({ min: 0, max: 3 }),
  seed: fc.integer({ min: 0, max: 1000 }),
});

/** A staged kernel and its inputs from the generated choices. */
function build(c: Choice): {
  kernel: FusedReduce;
  inputs: HostArray[];
} {
  const { shape, ops } = c;
  const rank = shape.length;
  let axes = [...shape.keys()].filter((d) => c.axesMask & (1 << d));
  if (axes.length === 0) axes = [rank - 1];
  const kept = shape.map((n, d) => (axes.includes(d) ? 1 : n));
  const full = stridesOf(shape);
  const keptLoad = stridesOf(kept).map((s, d) => (axes.includes(d) ? 0 : s));
  const n = new Nodes();
  const x = n.add({
    kind: "load",
    input: 0,
    offset: 0,
    strides: full,
    dtype: "float32",
  });
  const y = n.add({
    kind: "load",
    input: 1,
    offset: 0,
    strides: full,
    dtype: "float32",
  });
  const values = [n.op("mul", x, y)];
  for (let j = 1; j < ops.length; j++) {
    const r = n.reduced(j - 1);
    const d = n.op("sub", x, r);
    const form = c.forms[j - 1]!;
    values.push(
      form === 0
        ? n.op("exp", d)
        : form === 1
        ? n.op("mul", d, d)
        : form === 2
        ? n.op("mul", y, r)
        : n.op("max", d, y),
    );
  }
  const last = n.reduced(ops.length - 1);
  const first = n.reduced(0);
  const w = n.add({
    kind: "load",
    input: 2,
    offset: 0,
    strides: keptLoad,
    dtype: "float32",
  });
  const epi = [
    n.op("add", last, n.lit(0.5)),
    n.op("mul", n.op("abs", first), w),
    n.op("add", n.op("log", n.op("abs", last)), first),
    n.op("rsqrt", n.op("add", n.op("abs", last), n.lit(1e-5))),
  ];
  const size = sizeOf(shape), keptSize = sizeOf(kept);
  const data = (len: number, s: number) =>
    Float32Array.from(
      { length: len },
      (_, i) => Math.round(Math.sin(i * 1.3 + s) * 40) / 16,
    );
  const kernel: FusedReduce = {
    kind: "reduce",
    op: ops[0]!,
    shape,
    axes,
    nodes: n.list,
    value: values[0]!,
    more: ops.slice(1).map((op, j) => ({ op, value: values[j + 1]! })),
    epilogue: epi.slice(0, c.epilogue + 1).map((node) => ({
      node,
      shape: kept,
    })),
  };
  return {
    kernel,
    inputs: [data(size, c.seed), data(size, c.seed + 7), data(keptSize, 3)],
  };
}

Deno.test("wasm runs reduce kernels of chained reductions and an epilogue as their meaning", async () => {
  await fc.assert(
    fc.asyncProperty(arbKernel, async (c) => {
      const { kernel, inputs } = build(c);
      const want = runFusedReference(kernel, inputs);
      const got = await run(wasm, kernel, inputs);
      want.forEach((w, j) =>
        close(got[j]!, w, `output ${j} of ${JSON.stringify(c)}`)
      );
    }),
    { numRuns: 150 },
  );
});

Deno.test("WebGPU runs reduce kernels of chained reductions and an epilogue as their meaning", async () => {
  if (!gpu) return; // no adapter here: the property runs where one is
  await fc.assert(
    fc.asyncProperty(arbKernel, async (c) => {
      const { kernel, inputs } = build(c);
      const want = runFusedReference(kernel, inputs);
      const got = await run(gpu, kernel, inputs);
      want.forEach((w, j) =>
        close(got[j]!, w, `output ${j} of ${JSON.stringify(c)}`)
      );
    }),
    { numRuns: 15 },
  );
});

Deno.test("reduce kernels over an empty axis give identities and their epilogue", async () => {
  const c = {
    shape: [3, 0],
    axesMask: 2,
    ops: ["max", "sum"] as ("sum" | "max" | "min")[],
    forms: [0, 0],
    epilogue: 3,
    seed: 1,
  };
  const { kernel, inputs } = build(c);
  const want = runFusedReference(kernel, inputs);
  for (const b of [wasm, gpu]) {
    if (!b) continue;
    const got = await run(b, kernel, inputs);
    want.forEach((w, j) => close(got[j]!, w, `${b.name} output ${j}`));
  }
});

Deno.test("a reduction that reads itself or a later one is refused on every backend", () => {
  const { kernel, inputs } = build({
    shape: [2, 3],
    axesMask: 2,
    ops: ["sum", "sum"],
    forms: [1, 1],
    epilogue: 0,
    seed: 0,
  });
  // The first reduction's value reads reduced node 1.
  const nodes = [...kernel.nodes];
  const r1 = nodes.push({ kind: "reduced", index: 1, dtype: "float32" }) - 1;
  const v = nodes.push({
    kind: "op",
    prim: "add",
    params: {},
    args: [kernel.value, r1],
    dtype: "float32",
  }) - 1;
  const bad: FusedReduce = { ...kernel, nodes, value: v };
  const ops = inputs.map((x) => {
    const aval = { shape: [x.length], dtype: "float32" as const };
    return { aval, x };
  });
  for (const b of [wasm, gpu]) {
    if (!b) continue;
    const handles = ops.map((o) => ({
      handle: b.upload(o.x, o.aval),
      aval: o.aval,
    }));
    assertThrows(() => b.runFused(bad, handles), RangeError, "reduction");
    for (const h of handles) b.free(h.handle);
  }
});

Deno.test("an epilogue that varies along a reduced axis is refused on every backend", () => {
  const { kernel, inputs } = build({
    shape: [2, 3],
    axesMask: 2,
    ops: ["sum", "max"],
    forms: [2, 2],
    epilogue: 0,
    seed: 0,
  });
  const bad: FusedReduce = {
    ...kernel,
    epilogue: [{ node: 0, shape: [2, 1] }], // node 0 loads x along axis 1
  };
  for (const b of [wasm, gpu]) {
    if (!b) continue;
    const handles = inputs.map((x) => {
      const aval = { shape: [x.length], dtype: "float32" as const };
      return { handle: b.upload(x, aval), aval };
    });
    assertThrows(() => b.runFused(bad, handles), RangeError, "reduced axis");
    for (const h of handles) b.free(h.handle);
  }
});

Deno.test("WebGPU compiles chained reductions and their epilogue into one shader", () => {
  const { kernel } = build({
    shape: [3, 5],
    axesMask: 2,
    ops: ["max", "sum", "min"],
    forms: [0, 1],
    epilogue: 2,
    seed: 0,
  });
  const code = fusedWgsl(kernel, 8);
  for (const f of ["fn elem0(", "fn elem1(", "fn elem2("]) {
    assert(code.includes(f), `no ${f} in\n${code}`);
  }
  // Three reductions and three epilogue outputs of 3 elements each.
  for (let j = 0; j < 6; j++) assert(code.includes(`out[${3 * j}u + o]`));
  // A mean of many elements is split over invocations instead.
  const mean = build({
    shape: [4096],
    axesMask: 1,
    ops: ["sum", "sum"],
    forms: [1, 1],
    epilogue: 0,
    seed: 0,
  }).kernel;
  assert(stagedInOne(kernel) && !stagedInOne(mean));
});

Deno.test("WebGPU runs rows it would split over invocations as several kernels, as their meaning", async () => {
  if (!gpu) return;
  // Longer than one invocation's loop (32,768 blocks of 8).
  const { kernel, inputs } = build({
    shape: [2, 262_149],
    axesMask: 2,
    ops: ["max", "sum"],
    forms: [0, 0],
    epilogue: 3,
    seed: 2,
  });
  const want = runFusedReference(kernel, inputs);
  const got = await run(gpu, kernel, inputs);
  want.forEach((w, j) => close(got[j]!, w, `output ${j}`));
});
