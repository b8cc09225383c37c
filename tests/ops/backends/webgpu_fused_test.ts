// Fused kernels on WebGPU (one WGSL shader per kernel, the expression
// inlined) against the reference meaning, runFusedReference. The adapter
// here is llvmpipe, so cases are small and read back in batches.

import { assert, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import { assertAllClose, rng } from "../../_helpers.ts";
import { type DType, type HostArray, sizeOf } from "../../../ops/dtype.ts";
import {
  ELEMENTWISE_PRIMITIVES,
  type ElementwisePrimitive,
} from "../../../ops/primitives.ts";
import {
  type FusedKernel,
  type FusedNode,
  fusedOutputs,
} from "../../../ops/backends/fused.ts";
import { runFusedReference } from "../../../ops/backends/fused_reference.ts";
import { WebGpuBackend } from "../../../ops/backends/webgpu/backend.ts";
import type { GpuBuffer } from "../../../ops/backends/webgpu/_kernel.ts";
import {
  fusedWgsl,
  outputGroups,
} from "../../../ops/backends/webgpu/_fused.ts";

const gpu = await WebGpuBackend.create();
if (!gpu) console.warn("webgpu_fused_test: skipped: no WebGPU adapter");

function hostOf(dtype: DType, values: readonly number[]): HostArray {
  return dtype === "float32"
    ? Float32Array.from(values)
    : dtype === "int32"
    ? Int32Array.from(values)
    : Uint8Array.from(values);
}

/** A kernel with its input arrays. */
interface Case {
  readonly kernel: FusedKernel;
  readonly inputs: readonly HostArray[];
}

/** Runs every case on the GPU, then reads every output back. */
async function runOnGpu(b: WebGpuBackend, cases: readonly Case[]) {
  const pending = cases.map(({ kernel, inputs }) => {
    const ops = inputs.map((x) => {
      const dtype: DType = x instanceof Float32Array
        ? "float32"
        : x instanceof Int32Array
        ? "int32"
        : "bool";
      const aval = { shape: [x.length], dtype };
      return { handle: b.upload(x, aval), aval };
    });
    const outs = b.runFused(kernel, ops);
    return { ops, outs, avals: fusedOutputs(kernel) };
  });
  const results: HostArray[][] = [];
  for (const { ops, outs, avals } of pending) {
    const got: HostArray[] = [];
    for (let j = 0; j < outs.length; j++) {
      got.push(await b.read(outs[j], avals[j]!));
      b.free(outs[j]);
    }
    for (const o of ops) b.free(o.handle);
    results.push(got);
  }
  return results;
}

/** Asserts that every case's GPU outputs equal the reference (floats within tolerance). */
async function checkCases(b: WebGpuBackend, cases: readonly Case[]) {
  const got = await runOnGpu(b, cases);
  for (let c = 0; c < cases.length; c++) {
    const { kernel, inputs } = cases[c]!;
    const want = runFusedReference(kernel, inputs);
    const avals = fusedOutputs(kernel);
    const msg = `case ${c}: ${
      JSON.stringify(
        kernel,
        (_k, v) => typeof v === "number" && !Number.isFinite(v) ? String(v) : v,
      )
    }\ninputs ${
      JSON.stringify(inputs.map((x) => Array.from(x.slice(0, 32), String)))
    }`;
    for (let j = 0; j < want.length; j++) {
      const g = Array.from(got[c]![j]!), w = Array.from(want[j]!);
      if (avals[j]!.dtype === "float32") {
        await assertAllClose(g, w, { rtol: 2e-4, atol: 1e-5 }, msg);
      } else assertEquals(g, w, msg);
    }
  }
}

// ---- generated kernels ----

// WebGPU's sin and cos reduce arguments exactly only up to 8192 (see
// sin_cos_precision_test.ts), so large values stay below that here, and
// sin and cos get their argument clamped (int32 extremes convert to ±2^31).
const FLOAT_SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 4096, -1e-30, 1, -1];
const INT_SPECIALS = [0, 1, -1, 2147483647, -2147483648, 7, -8];

function randomValues(r: () => number, dtype: DType, n: number): HostArray {
  const v = Array.from({ length: n }, () => {
    const special = r() < 0.15;
    if (dtype === "bool") return r() < 0.5 ? 1 : 0;
    if (dtype === "int32") {
      return special
        ? INT_SPECIALS[Math.floor(r() * INT_SPECIALS.length)]!
        : Math.floor(r() * 11) - 5;
    }
    return special
      ? FLOAT_SPECIALS[Math.floor(r() * FLOAT_SPECIALS.length)]!
      : (r() * 6 - 3);
  });
  return hostOf(dtype, v);
}

const UNARY_FLOAT = new Set<ElementwisePrimitive>([
  "exp",
  "log",
  "log1p",
  "sqrt",
  "rsqrt",
  "sin",
  "cos",
  "tanh",
  "logistic",
  "erf",
]);
const NUMERIC_UNARY = new Set<ElementwisePrimitive>(["neg", "abs", "sign"]);
const NUMERIC_BINARY = new Set<ElementwisePrimitive>([
  "add",
  "sub",
  "mul",
  "div",
  "pow",
  "max",
  "min",
]);
const COMPARE = new Set<ElementwisePrimitive>([
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
]);
const DTYPES: readonly DType[] = ["float32", "int32", "bool"];

/** A random kernel (1-12 nodes) over a small shape, from `seed`. */
function randomCase(seed: number): Case {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const dims = [0, 1, 1, 2, 3, 3, 4, 5];
  const rank = int(4);
  const shape = Array.from({ length: rank }, () => dims[int(dims.length)]!);
  // One in ten shapes may be empty; otherwise no zero dims.
  if (r() > 0.1) shape.forEach((d, a) => (shape[a] = d || 2));
  const nodes: FusedNode[] = [];
  const inputs: HostArray[] = [];
  const push = (n: FusedNode) => nodes.push(n) - 1;
  const addLoad = (dtype: DType) => {
    // Strides: a random axis order (transposes), broadcast axes, sometimes
    // a reversed axis, and an offset.
    const order = shape.map((_, a) => a).sort(() => r() - 0.5);
    const strides = shape.map(() => 0);
    let span = 1;
    for (const a of order) {
      if (r() < 0.25) continue; // broadcast
      strides[a] = span;
      span *= shape[a]!;
    }
    let offset = int(3);
    shape.forEach((d, a) => {
      if (r() < 0.15 && d > 1 && strides[a]! > 0) {
        offset += (d - 1) * strides[a]!;
        strides[a] = -strides[a]!;
      }
    });
    const share = inputs.findIndex((x, j) =>
      nodes.some((n) =>
        n.kind === "load" && n.input === j && n.dtype === dtype
      ) && x.length >= offset + span + 2
    );
    let input = share;
    if (share < 0 || r() < 0.5) {
      input = inputs.push(randomValues(r, dtype, offset + span + int(3))) - 1;
    }
    return push({ kind: "load", input, offset, strides, dtype });
  };
  const convert = (from: number, dtype: DType) =>
    push({
      kind: "op",
      prim: "convert_element_type",
      params: { dtype },
      args: [from],
      dtype,
    });
  const pick = (dtype: DType): number => {
    const have = nodes.flatMap((n, i) => n.dtype === dtype ? [i] : []);
    if (have.length && r() < 0.8) return have[int(have.length)]!;
    if (r() < 0.3) return addLoad(dtype);
    if (r() < 0.2) {
      const value = dtype === "float32"
        ? FLOAT_SPECIALS[int(FLOAT_SPECIALS.length)]!
        : dtype === "int32"
        ? INT_SPECIALS[int(INT_SPECIALS.length)]!
        : int(2);
      return push({ kind: "literal", value, dtype });
    }
    return convert(int(nodes.length), dtype);
  };
  addLoad(DTYPES[int(3)]!);
  const target = 1 + int(12);
  while (nodes.length < target) {
    const prim = ELEMENTWISE_PRIMITIVES[int(ELEMENTWISE_PRIMITIVES.length)]!;
    const num: DType = r() < 0.7 ? "float32" : "int32";
    const op = (args: number[], dtype: DType, params = {}) =>
      push({ kind: "op", prim, params, args, dtype });
    if (prim === "sin" || prim === "cos") {
      // Into [-8000, 8000] first (see FLOAT_SPECIALS); NaN stays NaN.
      const lit = (value: number) =>
        push({ kind: "literal", value, dtype: "float32" });
      const clamp = (p: ElementwisePrimitive, args: number[]) =>
        push({ kind: "op", prim: p, params: {}, args, dtype: "float32" });
      const lo = clamp("max", [pick("float32"), lit(-8000)]);
      op([clamp("min", [lo, lit(8000)])], "float32");
    } else if (UNARY_FLOAT.has(prim)) op([pick("float32")], "float32");
    else if (NUMERIC_UNARY.has(prim)) op([pick(num)], num);
    else if (NUMERIC_BINARY.has(prim)) op([pick(num), pick(num)], num);
    else if (COMPARE.has(prim)) {
      const t = DTYPES[int(3)]!;
      op([pick(t), pick(t)], "bool");
    } else if (prim === "and" || prim === "or") {
      op([pick("bool"), pick("bool")], "bool");
    } else if (prim === "not") op([pick("bool")], "bool");
    else if (prim === "select") {
      const t = DTYPES[int(3)]!;
      op([pick("bool"), pick(t), pick(t)], t);
    } else {
      const t = DTYPES[int(3)]!;
      op([int(nodes.length)], t, { dtype: t });
    }
  }
  const last = nodes.length - 1;
  if (r() < 0.4 && rank > 0) {
    const axes = shape.flatMap((_, a) => r() < 0.5 ? [a] : []);
    if (axes.length === 0) axes.push(int(rank));
    const op = (["sum", "max", "min"] as const)[int(3)]!;
    return {
      kernel: { kind: "reduce", op, shape, axes, nodes, value: last },
      inputs,
    };
  }
  const outputs = [last];
  for (let k = int(3); k > 0; k--) outputs.push(int(nodes.length));
  return { kernel: { kind: "elementwise", shape, nodes, outputs }, inputs };
}

Deno.test({
  name: "generated fused kernels match the reference meaning",
  ignore: !gpu,
  fn: async () => {
    // Sampled with a fixed seed, then run together: one batch of dispatches
    // and readbacks instead of one round trip per kernel.
    const seeds = fc.sample(fc.integer({ min: 0, max: 2 ** 31 - 1 }), {
      numRuns: 48,
      seed: 15,
    });
    const cases = seeds.map(randomCase);
    const prims = new Set(
      cases.flatMap((c) =>
        c.kernel.nodes.flatMap((n) => n.kind === "op" ? [n.prim] : [])
      ),
    );
    assert(prims.size >= 25, `only ${prims.size} primitives generated`);
    assert(cases.some((c) => c.kernel.kind === "reduce"));
    assert(cases.some((c) => sizeOf(c.kernel.shape) === 0));
    await checkCases(gpu!, cases);
  },
});

// ---- hand-written kernels ----

// Special values, paired element by element in binary ops. sin and cos
// see F only (their exact range ends at 8192, see sin_cos_precision_test.ts).
// deno-fmt-ignore
const F = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, 2.5, -3.75, 8000, -1e-30, 88.7, -103, 3, 0.1];
// deno-fmt-ignore
const G = [2, -0, NaN, -1, 3, Infinity, 0.5, -2, 1e30, 0, -Infinity, 7, 1, 0.25, -3, NaN];
// deno-fmt-ignore
const I = [0, 1, -1, 2, -2, 7, -8, 2147483647, -2147483648, 3, 31, -5, 100, 65536, 12, -3];
// deno-fmt-ignore
const J = [3, 0, -1, 0, 5, 2, 3, -2, -1, 31, 2, 0, 1, 65536, -12, 30];
// deno-fmt-ignore
const P = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0];
// deno-fmt-ignore
const Q = [0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0];

Deno.test({
  name:
    "every elementwise primitive on every dtype it takes gives the reference's special values",
  ignore: !gpu,
  fn: async () => {
    const n = F.length;
    const nodes: FusedNode[] = [];
    const load = (input: number, dtype: DType) =>
      nodes.push({ kind: "load", input, offset: 0, strides: [1], dtype }) - 1;
    const arg: Record<DType, [number, number]> = {
      float32: [load(0, "float32"), load(1, "float32")],
      int32: [load(2, "int32"), load(3, "int32")],
      bool: [load(4, "bool"), load(5, "bool")],
    };
    const outputs: number[] = [];
    const op = (
      prim: ElementwisePrimitive,
      args: number[],
      dtype: DType,
      params = {},
    ) =>
      outputs.push(nodes.push({ kind: "op", prim, params, args, dtype }) - 1);
    for (const prim of ELEMENTWISE_PRIMITIVES) {
      for (const t of DTYPES) {
        const [x, y] = arg[t];
        if (UNARY_FLOAT.has(prim) && t === "float32") op(prim, [x], t);
        if (NUMERIC_UNARY.has(prim) && t !== "bool") op(prim, [x], t);
        if (NUMERIC_BINARY.has(prim) && t !== "bool") op(prim, [x, y], t);
        if (COMPARE.has(prim)) op(prim, [x, y], "bool");
        if ((prim === "and" || prim === "or") && t === "bool") {
          op(prim, [x, y], t);
        }
        if (prim === "not" && t === "bool") op(prim, [x], t);
        if (prim === "select") op(prim, [arg.bool[0], x, y], t);
        if (prim === "convert_element_type") {
          for (const to of DTYPES) op(prim, [x], to, { dtype: to });
        }
      }
    }
    const used = new Set(nodes.flatMap((n) => n.kind === "op" ? [n.prim] : []));
    assertEquals(used.size, ELEMENTWISE_PRIMITIVES.length);
    await checkCases(gpu!, [{
      kernel: { kind: "elementwise", shape: [n], nodes, outputs },
      inputs: [
        hostOf("float32", F),
        hostOf("float32", G),
        hostOf("int32", I),
        hostOf("int32", J),
        hostOf("bool", P),
        hostOf("bool", Q),
      ],
    }]);
  },
});

/** Loads of input `input` with `strides`, offset 0. */
function ld(
  input: number,
  strides: number[],
  dtype: DType = "float32",
): FusedNode {
  return { kind: "load", input, offset: 0, strides, dtype };
}

function fop(
  prim: ElementwisePrimitive,
  args: number[],
  dtype: DType = "float32",
): FusedNode {
  return { kind: "op", prim, params: {}, args, dtype };
}

Deno.test({
  name:
    "operands the compiler could relate (x - x, x + -x, x · 0, x · -0) keep IEEE special values",
  ignore: !gpu,
  fn: async () => {
    const x = hostOf("float32", [Infinity, -Infinity, NaN, -3, 0, -0]);
    const lit = (value: number): FusedNode => ({
      kind: "literal",
      value,
      dtype: "float32",
    });
    const kernel: FusedKernel = {
      kind: "elementwise",
      shape: [6],
      nodes: [
        ld(0, [1]),
        fop("sub", [0, 0]), // 1: x - x
        fop("neg", [0]),
        fop("add", [0, 2]), // 3: x + -x
        lit(0),
        fop("mul", [0, 4]), // 5: x · 0
        lit(-0),
        fop("mul", [0, 6]), // 7: x · -0
        fop("mul", [1, 0]), // 8: (x - x) · x
      ],
      outputs: [1, 3, 5, 7, 8],
    };
    const [got] = await runOnGpu(gpu!, [{ kernel, inputs: [x] }]);
    const want = runFusedReference(kernel, [x]);
    // Bit for bit: NaN where IEEE says so, and the sign of zero.
    const bits = (a: HostArray) =>
      Array.from(a, (v) => Object.is(v, -0) ? "-0" : String(v));
    assertEquals(got!.map(bits), want.map(bits));
  },
});

Deno.test({
  name:
    "a softmax chain (max, sum of exp, normalise) over transposed rows runs on the device between kernels",
  ignore: !gpu,
  fn: async () => {
    const b = gpu!;
    for (const [rows, len] of [[3, 70], [2, 600]] as const) {
      // x is stored as [len, rows] and read as [rows, len] (a transpose).
      const r = rng(len);
      const x = Float32Array.from({ length: rows * len }, () => r() * 20 - 10);
      const xT = [1, rows];
      const shape = [rows, len];
      const max: FusedKernel = {
        kind: "reduce",
        op: "max",
        shape,
        axes: [1],
        nodes: [ld(0, xT)],
        value: 0,
      };
      // exp(x - m), m broadcast along the row (hoisted out of the loop).
      const expNodes = [
        ld(0, xT),
        ld(1, [1, 0]),
        fop("sub", [0, 1]),
        fop("exp", [2]),
      ];
      const sum: FusedKernel = {
        kind: "reduce",
        op: "sum",
        shape,
        axes: [1],
        nodes: expNodes,
        value: 3,
      };
      const norm: FusedKernel = {
        kind: "elementwise",
        shape,
        nodes: [...expNodes, ld(2, [1, 0]), fop("div", [3, 4])],
        outputs: [5],
      };
      const f = (h: unknown, n: number) => ({
        handle: h,
        aval: { shape: [n], dtype: "float32" as const },
      });
      const hx = b.upload(x, { shape: [rows * len], dtype: "float32" });
      const [hm] = b.runFused(max, [f(hx, rows * len)]);
      const [hs] = b.runFused(sum, [f(hx, rows * len), f(hm, rows)]);
      const [hy] = b.runFused(norm, [
        f(hx, rows * len),
        f(hm, rows),
        f(hs, rows),
      ]);
      const y = await b.read(hy, { shape, dtype: "float32" });
      const [m] = runFusedReference(max, [x]);
      const [s] = runFusedReference(sum, [x, m!]);
      const [want] = runFusedReference(norm, [x, m!, s!]);
      await assertAllClose(Array.from(y), Array.from(want!), {
        rtol: 1e-5,
        atol: 1e-7,
      });
      for (let i = 0; i < rows; i++) {
        let t = 0;
        for (let j = 0; j < len; j++) t += y[i * len + j]!;
        assert(Math.abs(t - 1) < 1e-4, `row ${i} sums to ${t}`);
      }
      for (const h of [hx, hm, hs, hy]) b.free(h);
    }
  },
});

Deno.test({
  name:
    "sum, max and min reduce float32, int32 and bool over split, empty and broadcast axes",
  ignore: !gpu,
  fn: async () => {
    const r = rng(7);
    const cases: Case[] = [];
    for (const op of ["sum", "max", "min"] as const) {
      for (const t of DTYPES) {
        // [3, 4, 5] over the non-neighbouring axes 0 and 2, NaN inside.
        const data = randomValues(r, t, 60);
        if (t === "float32") data[17] = NaN;
        cases.push({
          kernel: {
            kind: "reduce",
            op,
            shape: [3, 4, 5],
            axes: [0, 2],
            nodes: [ld(0, [20, 5, 1], t)],
            value: 0,
          },
          inputs: [data],
        });
        // An empty reduced axis gives the identity; an empty kept axis nothing.
        cases.push({
          kernel: {
            kind: "reduce",
            op,
            shape: [2, 0, 3],
            axes: [1],
            nodes: [ld(0, [0, 3, 1], t)],
            value: 0,
          },
          inputs: [hostOf(t, [])],
        });
        cases.push({
          kernel: {
            kind: "reduce",
            op,
            shape: [0, 4],
            axes: [1],
            nodes: [ld(0, [4, 1], t)],
            value: 0,
          },
          inputs: [hostOf(t, [])],
        });
        // The value does not vary along the reduced axis (hoisted whole).
        cases.push({
          kernel: {
            kind: "reduce",
            op,
            shape: [3, 5],
            axes: [1],
            nodes: [ld(0, [1, 0], t)],
            value: 0,
          },
          inputs: [randomValues(r, t, 3)],
        });
      }
    }
    await checkCases(gpu!, cases);
  },
});

Deno.test({
  name:
    "reductions of more than 65,536 elements per output and of many outputs are complete",
  ignore: !gpu,
  fn: async () => {
    const r = rng(3);
    const big = Float32Array.from({ length: 70_001 }, () => r() * 2 - 1);
    // 2^20 + 3 elements: partial sums of partial sums (three dispatches).
    const huge = Float32Array.from({ length: 2 ** 20 + 3 }, () => r());
    const withNan = big.slice();
    withNan[70_000] = NaN;
    // Integer pow inside the loop, in an outer-product reduction (broadcast
    // loads, so the iteration space is larger than any buffer):
    // Σ_j x_i^(e_j) over [16384, 4096] with x_i = ±1, e_j = 2^30 + (j % 2).
    // MATH's pow_i32 loops once per exponent bit: 31 · 4096 iterations
    // would take each invocation past llvmpipe's 65,535.
    const nOut = 16_384, nR = 4096;
    const signs = Int32Array.from({ length: nOut }, (_, i) => i % 3 ? 1 : -1);
    const exps = Int32Array.from({ length: nR }, (_, j) => 2 ** 30 + j % 2);
    const powSum: FusedKernel = {
      kind: "reduce",
      op: "sum",
      shape: [nOut, nR],
      axes: [1],
      nodes: [
        ld(0, [1, 0], "int32"),
        ld(1, [0, 1], "int32"),
        fop("pow", [0, 1], "int32"),
      ],
      value: 2,
    };
    // Many outputs, one invocation each: [5000, 20] · w[20], w broadcast.
    const rows = Float32Array.from({ length: 100_000 }, () => r());
    const w = Float32Array.from({ length: 20 }, () => r());
    const cases: Case[] = [
      {
        kernel: {
          kind: "reduce",
          op: "sum",
          shape: [2 ** 20 + 3],
          axes: [0],
          nodes: [ld(0, [1])],
          value: 0,
        },
        inputs: [huge],
      },
      {
        kernel: {
          kind: "reduce",
          op: "sum",
          shape: [70_001],
          axes: [0],
          nodes: [ld(0, [1])],
          value: 0,
        },
        inputs: [big],
      },
      {
        kernel: {
          kind: "reduce",
          op: "max",
          shape: [70_001],
          axes: [0],
          nodes: [ld(0, [1])],
          value: 0,
        },
        inputs: [withNan],
      },
      {
        kernel: {
          kind: "reduce",
          op: "min",
          shape: [7, 10_000],
          axes: [0, 1],
          nodes: [ld(0, [10_000, 1])],
          value: 0,
        },
        inputs: [big],
      },
      {
        kernel: {
          kind: "reduce",
          op: "sum",
          shape: [5000, 20],
          axes: [1],
          nodes: [ld(0, [20, 1]), ld(1, [0, 1]), fop("mul", [0, 1])],
          value: 2,
        },
        inputs: [rows, w],
      },
    ];
    await checkCases(gpu!, cases);
    // (The reference would materialise 2^26 elements per node: the sums
    // are known.)
    const aval = (n: number) => ({ shape: [n], dtype: "int32" as const });
    const xs = { handle: gpu!.upload(signs, aval(nOut)), aval: aval(nOut) };
    const es = { handle: gpu!.upload(exps, aval(nR)), aval: aval(nR) };
    const [out] = gpu!.runFused(powSum, [xs, es]);
    const sums = await gpu!.read(out, aval(nOut));
    assertEquals(
      Array.from(sums),
      Array.from(signs, (x) => x === 1 ? nR : 0),
    );
    for (const h of [out, xs.handle, es.handle]) gpu!.free(h);
  },
});

Deno.test({
  name:
    "inputs beyond the device's storage-buffer limit are packed into one binding",
  ignore: !gpu,
  fn: async () => {
    const limit = gpu!.info.limits.maxStorageBuffersPerShaderStage!;
    const count = limit + 4;
    const r = rng(11);
    const nodes: FusedNode[] = [];
    const inputs: HostArray[] = [];
    for (let j = 0; j < count; j++) {
      // Inputs of different lengths and dtypes, read at offsets.
      const t: DType = j % 3 === 1 ? "int32" : "float32";
      inputs.push(randomValues(r, t, 6 + j));
      nodes.push({
        kind: "load",
        input: j,
        offset: j % 4,
        strides: [3, 1],
        dtype: t,
      });
      if (t === "int32") {
        nodes.push({
          kind: "op",
          prim: "convert_element_type",
          params: { dtype: "float32" },
          args: [nodes.length - 1],
          dtype: "float32",
        });
      }
      if (j > 0) {
        nodes.push(
          fop("add", [
            nodes.length - 1,
            nodes.length - 2 - (t === "int32" ? 1 : 0),
          ]),
        );
      }
    }
    const last = nodes.length - 1;
    await checkCases(gpu!, [{
      kernel: {
        kind: "elementwise",
        shape: [2, 3],
        nodes,
        outputs: [last, 0, last - 1],
      },
      inputs,
    }]);
  },
});

Deno.test({
  name: "a kernel's pipeline is built once per key",
  ignore: !gpu,
  fn: async () => {
    const b = gpu!;
    const device = b.device;
    const built: string[] = [];
    const create = device.createShaderModule.bind(device);
    device.createShaderModule = (d) => {
      if (d.label?.startsWith("fused:")) built.push(d.label);
      return create(d);
    };
    try {
      const kernel = (c: number): FusedKernel => ({
        kind: "elementwise",
        shape: [4],
        nodes: [
          ld(0, [1]),
          { kind: "literal", value: c, dtype: "float32" },
          fop("mul", [0, 1]),
        ],
        outputs: [2],
      });
      const x = hostOf("float32", [1, 2, 3, 4]);
      const k = kernel(0.125);
      await checkCases(b, [
        { kernel: k, inputs: [x] },
        { kernel: k, inputs: [x] },
        { kernel: structuredClone(k), inputs: [x] },
        { kernel: kernel(0.125), inputs: [x] },
      ]);
      assertEquals(built.length, 1);
      await checkCases(b, [{ kernel: kernel(0.375), inputs: [x] }]);
      assertEquals(built.length, 2);
      // Literals JSON spells alike (NaN, ±∞ as null; -0 as 0) are
      // different kernels.
      const specials = [NaN, Infinity, -Infinity, -0, 0];
      await checkCases(
        b,
        specials.map((c) => ({ kernel: kernel(c), inputs: [x] })),
      );
      assertEquals(built.length, 2 + specials.length);
      const zeros = await runOnGpu(b, [
        { kernel: kernel(-0), inputs: [x] },
        { kernel: kernel(0), inputs: [x] },
      ]);
      const neg = zeros[0]![0]!, pos = zeros[1]![0]!;
      assert(Object.is(neg![0], -0) && Object.is(pos![0], 0));
    } finally {
      device.createShaderModule = create;
    }
  },
});

Deno.test({
  name: "runFused() rejects loads of missing inputs and of the wrong dtype",
  ignore: !gpu,
  fn: () => {
    const b = gpu!;
    const aval = { shape: [2], dtype: "float32" as const };
    const h = b.upload(hostOf("float32", [1, 2]), aval);
    const k = (input: number, dtype: DType): FusedKernel => ({
      kind: "elementwise",
      shape: [2],
      nodes: [ld(input, [1], dtype)],
      outputs: [0],
    });
    assertThrows(
      () => b.runFused(k(1, "float32"), [{ handle: h, aval }]),
      RangeError,
      "loads input 1 of 1",
    );
    assertThrows(
      () => b.runFused(k(0, "int32"), [{ handle: h, aval }]),
      TypeError,
      "int32",
    );
    b.free(h as GpuBuffer);
  },
});

Deno.test("outputs that would overflow one binding are split into groups that fit", () => {
  assertEquals(outputGroups(3, 16, 1024), [[0, 1, 2]]);
  assertEquals(outputGroups(5, 400, 1024), [[0, 1], [2, 3], [4]]);
  assertEquals(outputGroups(2, 4096, 1024), [[0], [1]]);
});

Deno.test({
  name:
    "on a device with 8 storage buffers, a kernel of 12 inputs packs 6 and compiles",
  ignore: !gpu,
  fn: async () => {
    const nodes: FusedNode[] = [];
    let acc = -1;
    for (let j = 0; j < 12; j++) {
      let v = nodes.push(ld(j, [1], j % 2 ? "int32" : "bool")) - 1;
      if (j % 2 === 0) {
        v = nodes.push({
          kind: "op",
          prim: "convert_element_type",
          params: { dtype: "int32" },
          args: [v],
          dtype: "int32",
        }) - 1;
      }
      acc = acc < 0 ? v : nodes.push(fop("max", [acc, v], "int32")) - 1;
    }
    const kernel: FusedKernel = {
      kind: "reduce",
      op: "max",
      shape: [5],
      axes: [0],
      nodes,
      value: nodes.length - 1,
    };
    const code = fusedWgsl(kernel, 8);
    // 6 direct bindings (in0..in5), the packed one (in6), the output.
    assert(code.includes("var<storage, read> in6") && !code.includes(" in7"));
    assertEquals(await gpu!.compileCheck("fused:packed", code), []);
  },
});
