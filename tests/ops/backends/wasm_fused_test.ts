// Fused kernels on the wasm backend (generated SIMD functions) against
// their meaning. fast-check builds random kernels: DAGs of 1-12 nodes over
// small shapes (size-1 and size-0 axes, tails of 1-3 elements), loads with
// broadcasting, transposed, padded, offset and negative strides, every elementwise
// primitive on every dtype it takes, and special values. Four properties:
// - every node, given the fused values of its arguments, equals the CPU
//   kernel (exactly; the SIMD transcendental bodies within 3 ulps and
//   exactly at special values);
// - every output equals the eager wasm kernels run node by node, bit for
//   bit (the fused code uses the eager kernels' algorithms);
// - kernels without the six approximated functions equal
//   runFusedReference bit for bit;
// - reductions (sum, max, min over any axes, every dtype) equal the CPU
//   reduction of the fused values (float32 sums within float64-summation
//   rounding), and runFusedReference where the kernel is exact.
// Then hand cases: a softmax chain, each reduce op, errors and the cache.

import { assert, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import { CpuBackend } from "../../../ops/backends/cpu.ts";
import type {
  FusedElementwise,
  FusedKernel,
  FusedLoad,
  FusedNode,
  FusedReduce,
} from "../../../ops/backends/fused.ts";
import { fusedOutputs } from "../../../ops/backends/fused.ts";
import { runFusedReference } from "../../../ops/backends/fused_reference.ts";
import { Arena } from "../../../ops/backends/wasm/_arena.ts";
import {
  fusedCompileStats,
  FusedRunner,
} from "../../../ops/backends/wasm/_fused.ts";
import {
  sharedMemoryUnavailable,
  ThreadPool,
} from "../../../ops/backends/wasm/_threads.ts";
import { WasmBackend } from "../../../ops/backends/wasm/backend.ts";
import {
  type Aval,
  type DType,
  type HostArray,
  hostArray,
  sizeOf,
} from "../../../ops/dtype.ts";
import {
  ELEMENTWISE_PRIMITIVES,
  type ElementwisePrimitive,
  type Primitive,
} from "../../../ops/primitives.ts";
import { rng } from "../../_helpers.ts";

const cpu = new CpuBackend();
const wasm = await WasmBackend.create({ threads: 1 });
// HEED_FUSED_RUNS=5000 searches longer.
const RUNS = Number(Deno.env.get("HEED_FUSED_RUNS") ?? 200);

/** The primitives whose SIMD bodies approximate (within 3 ulps). */
const INEXACT = new Set<Primitive>([
  "exp",
  "log",
  "log1p",
  "tanh",
  "logistic",
  "rsqrt",
]);

const F32_SPECIAL = [
  0,
  -0,
  Infinity,
  -Infinity,
  NaN,
  1,
  -1,
  0.5,
  2,
  3,
  1e-45,
  -1e-40,
  1e-8,
  3.4e38,
  -3.4e38,
  88.72,
  -104,
  0.625,
  -9.1,
  2 ** 31,
];
const I32_SPECIAL = [-2147483648, 2147483647, 0, -1, 1, 2, 65536, -65536];

/** A random value of `dtype`: mostly small, a sixth special. */
function value(r: () => number, dtype: DType): number {
  const special = r() < 0.17;
  if (dtype === "bool") return r() < 0.5 ? 1 : 0;
  if (dtype === "int32") {
    return special
      ? I32_SPECIAL[Math.floor(r() * I32_SPECIAL.length)]!
      : Math.floor(r() * 41) - 20;
  }
  return special
    ? F32_SPECIAL[Math.floor(r() * F32_SPECIAL.length)]!
    : Math.fround(r() * 8 - 4);
}

/** A random kernel with its inputs. */
interface Case {
  kernel: FusedKernel;
  inputs: HostArray[];
}

interface CaseOptions {
  seed: number;
  rank: number;
  size: number;
  reduce: boolean;
  exact: boolean;
}

const EXTENTS = [1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17];

function shapeOf(r: () => number, rank: number): number[] {
  const shape = Array.from(
    { length: rank },
    () => EXTENTS[Math.floor(r() * EXTENTS.length)]!,
  );
  if (rank > 0 && r() < 0.3) shape[rank - 1] = 20 + Math.floor(r() * 50);
  if (rank > 0 && r() < 0.05) shape[Math.floor(r() * rank)] = 0;
  while (sizeOf(shape) > 3000) shape[shape.indexOf(Math.max(...shape))]! >>= 1;
  return shape;
}

/** Builds a kernel from `o.seed`: a typed DAG of about `o.size` nodes. */
function buildCase(o: CaseOptions): Case {
  const r = rng(o.seed);
  const shape = shapeOf(r, o.rank);
  const rank = shape.length;
  const nodes: FusedNode[] = [];
  const inputs: HostArray[] = [];
  const dtypeOf: DType[] = [];
  const pickIn = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;

  /** A new load: a fresh input, or another view of one (or the same view). */
  const addLoad = (dtype: DType): number => {
    const same = nodes.filter((n) => n.kind === "load" && n.dtype === dtype);
    if (same.length > 0 && r() < 0.1) {
      nodes.push({ ...pickIn(same) });
      return nodes.length - 1;
    }
    const perm = [...shape.keys()].sort(() => r() - 0.5);
    const strides = shape.map(() => 0);
    let s = 1;
    for (const a of [...perm].reverse()) {
      if (shape[a] === 1) strides[a] = Math.floor(r() * 3);
      else if (r() < 0.25) strides[a] = 0; // broadcast
      else {
        strides[a] = s;
        s *= shape[a]! + (r() < 0.2 ? 1 + Math.floor(r() * 2) : 0);
      }
    }
    let offset = Math.floor(r() * 4);
    const span = sizeOf(shape) === 0
      ? 0
      : shape.reduce((t, d, a) => t + (d - 1) * strides[a]!, 0) + 1;
    // Now and then an axis runs backwards (a negative stride).
    shape.forEach((d, a) => {
      if (d > 1 && r() < 0.1) {
        offset += (d - 1) * strides[a]!;
        strides[a] = -strides[a]!;
      }
    });
    const n = offset + span + Math.floor(r() * 3);
    // Another view of an input of this dtype that is long enough.
    const reuse = inputs.findIndex((x, i) =>
      x.length >= offset + span && dtypeOf[i] === dtype
    );
    let input = reuse;
    if (reuse < 0 || r() < 0.6) {
      const data = hostArray(dtype, n);
      for (let i = 0; i < n; i++) data[i] = value(r, dtype);
      inputs.push(data);
      dtypeOf.push(dtype);
      input = inputs.length - 1;
    }
    nodes.push({ kind: "load", input, offset, strides, dtype });
    return nodes.length - 1;
  };
  const addLiteral = (dtype: DType): number => {
    nodes.push({ kind: "literal", value: value(r, dtype), dtype });
    return nodes.length - 1;
  };
  /** An existing node of `dtype` (recent ones likelier), or a new leaf. */
  const arg = (dtype: DType): number => {
    const have = nodes.flatMap((n, i) => n.dtype === dtype ? [i] : []);
    if (have.length === 0 || r() < 0.15) {
      return r() < 0.2 ? addLiteral(dtype) : addLoad(dtype);
    }
    return have[have.length - 1 - Math.floor(r() ** 2 * have.length)]!;
  };
  const op = (
    prim: ElementwisePrimitive,
    args: number[],
    dtype: DType,
    params: Record<string, unknown> = {},
  ) => {
    nodes.push({ kind: "op", prim, params: params as never, args, dtype });
  };
  const numeric = () => pickIn(["float32", "int32"] as const);
  const any = () => pickIn(["float32", "int32", "bool"] as const);

  while (nodes.length < o.size) {
    if (nodes.length === 0 || r() < 0.2) {
      if (r() < 0.2) addLiteral(any());
      else addLoad(any());
      continue;
    }
    const prim = pickIn(ELEMENTWISE_PRIMITIVES);
    if (o.exact && INEXACT.has(prim)) continue;
    switch (prim) {
      case "neg":
      case "abs":
      case "sign": {
        const dt = numeric();
        op(prim, [arg(dt)], dt);
        break;
      }
      case "add":
      case "sub":
      case "mul":
      case "div":
      case "pow":
      case "max":
      case "min": {
        const dt = numeric();
        op(prim, [arg(dt), arg(dt)], dt);
        break;
      }
      case "eq":
      case "ne":
      case "lt":
      case "le":
      case "gt":
      case "ge": {
        const dt = any();
        op(prim, [arg(dt), arg(dt)], "bool");
        break;
      }
      case "and":
      case "or":
        op(prim, [arg("bool"), arg("bool")], "bool");
        break;
      case "not":
        op(prim, [arg("bool")], "bool");
        break;
      case "select": {
        const dt = any();
        op(prim, [arg("bool"), arg(dt), arg(dt)], dt);
        break;
      }
      case "convert_element_type": {
        const to = any();
        op(prim, [arg(any())], to, { dtype: to });
        break;
      }
      default:
        op(prim, [arg("float32")], "float32");
    }
  }
  const last = nodes.length - 1;
  if (o.reduce && rank > 0) {
    const axes = [...shape.keys()].filter(() => r() < 0.5);
    if (axes.length === 0) axes.push(Math.floor(r() * rank));
    const kernel: FusedReduce = {
      kind: "reduce",
      op: pickIn(["sum", "max", "min"] as const),
      shape,
      axes,
      nodes,
      value: last,
    };
    return { kernel, inputs };
  }
  const outputs = [
    ...new Set([last, ...nodes.keys()].filter((i) => i === last || r() < 0.2)),
  ];
  return {
    kernel: { kind: "elementwise", shape, nodes, outputs },
    inputs,
  };
}

const arbCase = (reduce: boolean, exact: boolean) =>
  fc.record({
    seed: fc.nat(),
    rank: fc.integer({ min: reduce ? 1 : 0, max: 4 }),
    size: fc.integer({ min: 1, max: 12 }),
  }).map((o) => buildCase({ ...o, reduce, exact }));

/** Runs `kernel` on the wasm backend, reading back every output. */
function runWasm(kernel: FusedKernel, inputs: readonly HostArray[]) {
  const dtypes = new Map<number, DType>();
  for (const n of kernel.nodes) {
    if (n.kind === "load") dtypes.set(n.input, n.dtype);
  }
  const ops = inputs.map((data, i) => {
    const aval: Aval = { shape: [data.length], dtype: dtypes.get(i)! };
    return { handle: wasm.upload(data, aval), aval };
  });
  try {
    const outs = wasm.runFused(kernel, ops);
    return fusedOutputs(kernel).map((aval, k) => {
      const v = wasm.readSync(outs[k], aval);
      wasm.free(outs[k]);
      return v;
    });
  } finally {
    for (const op of ops) wasm.free(op.handle);
  }
}

/** The same kernel as an elementwise one that outputs `outputs`. */
function asElementwise(k: FusedKernel, outputs: number[]): FusedElementwise {
  return { kind: "elementwise", shape: k.shape, nodes: k.nodes, outputs };
}

/** Host strided read of a load over `shape` (as the reference does). */
function gather(
  src: HostArray,
  n: FusedNode & { kind: "load" },
  shape: readonly number[],
) {
  const size = sizeOf(shape), out = hostArray(n.dtype, size);
  const idx = shape.map(() => 0);
  for (let i = 0; i < size; i++) {
    out[i] = src[idx.reduce((t, v, d) => t + v * n.strides[d]!, n.offset)]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** float32 ulps between a and b: 0 for equal bits or two NaNs, ∞ at special mismatches. */
function ulps(a: number, b: number): number {
  if (Object.is(a, b) || (a !== a && b !== b)) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(b) || a === 0 || b === 0) {
    return Infinity;
  }
  const i = new Int32Array(new Float32Array([a, b]).buffer);
  const ord = (x: number) => (x < 0 ? -(x & 0x7fffffff) : x);
  return Math.abs(ord(i[0]!) - ord(i[1]!));
}

function assertUlps(
  got: HostArray,
  want: HostArray,
  max: number,
  what: string,
): void {
  assertEquals(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) {
    const u = ulps(got[i]!, want[i]!);
    if (u > max) {
      throw new Error(
        `${what}: element ${i} is ${got[i]}, expected ${want[i]} (${u} ulps)`,
      );
    }
  }
}

const show = (c: Case) => JSON.stringify(c.kernel);

Deno.test("every fused node equals the cpu kernel on the fused values of its arguments", () => {
  fc.assert(
    fc.property(arbCase(false, false), (c) => {
      const k = c.kernel;
      const all = asElementwise(k, [...k.nodes.keys()]);
      const got = runWasm(all, c.inputs);
      const aval = (dtype: DType) => ({ shape: k.shape, dtype });
      k.nodes.forEach((n, i) => {
        let want: HostArray, max = 0;
        if (n.kind === "load") want = gather(c.inputs[n.input]!, n, k.shape);
        else if (n.kind === "literal") {
          want = hostArray(n.dtype, sizeOf(k.shape)).fill(n.value);
        } else {
          if (n.kind !== "op") throw new Error("elementwise kernels only");
          const args = n.args.map((a) => ({
            handle: got[a]!,
            aval: aval(k.nodes[a]!.dtype),
          }));
          want = cpu.run(n.prim, args, n.params, aval(n.dtype)) as HostArray;
          if (INEXACT.has(n.prim)) max = 3;
        }
        assertUlps(got[i]!, want, max, `node ${i} of ${show(c)}`);
      });
    }),
    { numRuns: RUNS },
  );
});

/** Every node evaluated by the eager wasm kernels, one primitive at a time. */
function eagerWasm(k: FusedKernel, inputs: readonly HostArray[]): HostArray[] {
  const handles: unknown[] = [];
  const aval = (dtype: DType) => ({ shape: k.shape, dtype });
  for (const n of k.nodes) {
    if (n.kind === "load") {
      handles.push(
        wasm.upload(gather(inputs[n.input]!, n, k.shape), aval(n.dtype)),
      );
    } else if (n.kind === "literal") {
      const data = hostArray(n.dtype, sizeOf(k.shape)).fill(n.value);
      handles.push(wasm.upload(data, aval(n.dtype)));
    } else {
      if (n.kind !== "op") throw new Error("elementwise kernels only");
      const args = n.args.map((a) => ({
        handle: handles[a],
        aval: aval(k.nodes[a]!.dtype),
      }));
      handles.push(wasm.run(n.prim, args, n.params, aval(n.dtype)));
    }
  }
  const res = handles.map((h, i) => wasm.readSync(h, aval(k.nodes[i]!.dtype)));
  for (const h of handles) wasm.free(h);
  return res;
}

Deno.test("fused outputs equal the eager wasm kernels bit for bit", () => {
  fc.assert(
    fc.property(arbCase(false, false), (c) => {
      const k = c.kernel as FusedElementwise;
      const got = runWasm(k, c.inputs);
      const eager = eagerWasm(k, c.inputs);
      k.outputs.forEach((n, j) => {
        assertUlps(got[j]!, eager[n]!, 0, `output ${j} of ${show(c)}`);
      });
    }),
    { numRuns: RUNS },
  );
});

Deno.test("kernels of exact primitives equal runFusedReference bit for bit", () => {
  fc.assert(
    fc.property(arbCase(false, true), (c) => {
      const got = runWasm(c.kernel, c.inputs);
      const want = runFusedReference(c.kernel, c.inputs);
      want.forEach((w, j) =>
        assertUlps(got[j]!, w, 0, `output ${j} of ${show(c)}`)
      );
    }),
    { numRuns: RUNS },
  );
});

/** Checks a reduction's result against an expected one of the same kernel. */
function assertReduced(
  k: FusedReduce,
  got: HostArray,
  want: HostArray,
  values: HostArray,
  what: string,
): void {
  const dtype = k.nodes[k.value]!.dtype;
  if (dtype !== "float32") return assertEquals(got, want, what);
  // Sums add in float64 in another order: allow one rounding of the result
  // and float64 error on the sum of magnitudes.
  const abs = values.map(Math.abs) as Float32Array;
  const out = fusedOutputs(k)[0]!;
  const mag = cpu.run(
    "reduce_sum",
    [{ handle: abs, aval: { shape: k.shape, dtype } }],
    { axes: k.axes },
    out,
  ) as Float32Array;
  for (let i = 0; i < got.length; i++) {
    const a = got[i]!, b = want[i]!;
    const ok = k.op === "sum"
      ? ulps(a, b) <= 1 || Math.abs(a - b) <= 1e-12 * mag[i]! ||
        (a === 0 && b === 0)
      : Object.is(a, b) || (a !== a && b !== b) || (a === 0 && b === 0);
    if (!ok) {
      throw new Error(`${what}: element ${i} is ${a}, expected ${b}`);
    }
  }
}

Deno.test("fused reductions equal the cpu reduction of the fused values", () => {
  fc.assert(
    fc.property(arbCase(true, false), fc.boolean(), (c, exactToo) => {
      const k = c.kernel as FusedReduce;
      const [values] = runWasm(asElementwise(k, [k.value]), c.inputs);
      const dtype = k.nodes[k.value]!.dtype;
      const prim = `reduce_${k.op}` as const;
      const out = fusedOutputs(k)[0]!;
      const want = cpu.run(
        prim,
        [{ handle: values!, aval: { shape: k.shape, dtype } }],
        { axes: k.axes },
        out,
      ) as HostArray;
      const [got] = runWasm(k, c.inputs);
      assertReduced(k, got!, want, values!, show(c));
      const exact = k.nodes.every((n) =>
        n.kind !== "op" || !INEXACT.has(n.prim)
      );
      if (exactToo && exact) {
        const [ref] = runFusedReference(k, c.inputs);
        assertReduced(k, got!, ref!, values!, `reference: ${show(c)}`);
      }
    }),
    { numRuns: RUNS },
  );
});

const load = (
  input: number,
  strides: number[],
  dtype: DType = "float32",
  offset = 0,
): FusedNode => ({ kind: "load", input, offset, strides, dtype });
const lit = (value: number, dtype: DType = "float32"): FusedNode => ({
  kind: "literal",
  value,
  dtype,
});
const app = (
  prim: ElementwisePrimitive,
  args: number[],
  dtype: DType = "float32",
): FusedNode => ({ kind: "op", prim, params: {} as never, args, dtype });

Deno.test("a softmax chain runs as two reductions and one elementwise kernel", () => {
  const [rows, cols] = [5, 37]; // [B, T]
  const r = rng(7);
  const x = Float32Array.from({ length: rows * cols }, () => r() * 20 - 10);
  x[3] = -Infinity; // a masked position
  const xs = [cols, 1];
  const max: FusedReduce = {
    kind: "reduce",
    op: "max",
    shape: [rows, cols],
    axes: [1],
    nodes: [load(0, xs)],
    value: 0,
  };
  const [m] = runWasm(max, [x]); // [B]
  // e = exp(x - m[:, None]); s = Σ e; y = e / s[:, None]
  const shifted = [load(0, xs), load(1, [1, 0]), app("sub", [0, 1])];
  const sum: FusedReduce = {
    kind: "reduce",
    op: "sum",
    shape: [rows, cols],
    axes: [1],
    nodes: [...shifted, app("exp", [2])],
    value: 3,
  };
  const [s] = runWasm(sum, [x, m!]);
  const norm: FusedElementwise = {
    kind: "elementwise",
    shape: [rows, cols],
    nodes: [...shifted, app("exp", [2]), load(2, [1, 0]), app("div", [3, 4])],
    outputs: [5],
  };
  const [y] = runWasm(norm, [x, m!, s!]);
  for (
    const [k, ins, got] of [
      [max, [x], m],
      [sum, [x, m!], s],
      [norm, [x, m!, s!], y],
    ] as const
  ) {
    const [want] = runFusedReference(k, ins);
    assertUlps(got!, want!, 4, k.kind);
  }
  for (let i = 0; i < rows; i++) {
    const row = [...x.subarray(i * cols, (i + 1) * cols)];
    const mx = Math.max(...row);
    const e = row.map((v) => Math.exp(v - mx));
    const tot = e.reduce((a, b) => a + b, 0);
    e.forEach((v, j) => {
      assert(Math.abs(y![i * cols + j]! - v / tot) <= 1e-6, `row ${i}`);
    });
  }
});

Deno.test("each reduce op on every dtype, over last, first, middle, split and all axes", () => {
  const r = rng(11);
  const n = 444;
  const data: Record<DType, HostArray> = {
    float32: Float32Array.from({ length: n }, () => value(r, "float32")),
    int32: Int32Array.from({ length: n }, () => value(r, "int32")),
    bool: Uint8Array.from({ length: n }, () => (r() < 0.7 ? 1 : 0)),
  };
  data.float32[17] = NaN; // max and min propagate it
  // [3, 5, 6] contiguous; [3, 4, 37] contiguous and read transposed (its
  // kept last axis of 37 runs blocks of 16 and 4 outputs, then 1).
  const layouts: [number[], number[]][] = [
    [[3, 5, 6], [30, 6, 1]],
    [[3, 4, 37], [148, 37, 1]],
    [[3, 4, 37], [1, 3, 12]],
  ];
  for (const [shape, strides] of layouts) {
    for (const dtype of ["float32", "int32", "bool"] as const) {
      for (const op of ["sum", "max", "min"] as const) {
        for (const axes of [[2], [0], [1], [0, 2], [0, 1, 2], [1, 2]]) {
          const k: FusedReduce = {
            kind: "reduce",
            op,
            shape,
            axes,
            nodes: [load(0, strides, dtype)],
            value: 0,
          };
          const [got] = runWasm(k, [data[dtype]]);
          const [want] = runFusedReference(k, [data[dtype]]);
          const what = `${op} ${dtype} ${shape} ${strides} over ${axes}`;
          const values = gather(data[dtype], k.nodes[0] as FusedLoad, shape);
          assertReduced(k, got!, want!, values, what);
        }
      }
    }
  }
});

Deno.test("reductions over an empty axis give the identity; empty outputs are empty", () => {
  for (const op of ["sum", "max", "min"] as const) {
    for (const dtype of ["float32", "int32", "bool"] as const) {
      const k: FusedReduce = {
        kind: "reduce",
        op,
        shape: [4, 0],
        axes: [1],
        nodes: [load(0, [0, 1], dtype)],
        value: 0,
      };
      const [got] = runWasm(k, [hostArray(dtype, 0)]);
      assertEquals(got, runFusedReference(k, [hostArray(dtype, 0)])[0]);
    }
  }
  const k: FusedElementwise = {
    kind: "elementwise",
    shape: [0, 3],
    nodes: [load(0, [3, 1]), app("exp", [0])],
    outputs: [1],
  };
  assertEquals(runWasm(k, [new Float32Array(0)]), [new Float32Array(0)]);
});

Deno.test("a large kernel with a transposed, a broadcast and a contiguous load", () => {
  const [n, m] = [300, 257];
  const r = rng(3);
  const a = Float32Array.from({ length: n * m }, () => r() * 4 - 2);
  const b = Float32Array.from({ length: m }, () => r() * 4 - 2);
  const k: FusedElementwise = {
    kind: "elementwise",
    shape: [n, m],
    nodes: [
      load(0, [m, 1]),
      load(0, [1, n]), // a read as the transpose of an [m, n] matrix
      load(1, [0, 1]),
      app("mul", [0, 2]),
      app("tanh", [3]),
      app("add", [4, 1]),
    ],
    outputs: [5, 3],
  };
  const got = runWasm(k, [a, b]);
  const want = runFusedReference(k, [a, b]);
  assertUlps(got[1]!, want[1]!, 0, "mul");
  const eager = eagerWasm(k, [a, b]);
  assertUlps(got[0]!, eager[5]!, 0, "tanh + add");
});

Deno.test("runFused rejects bad kernels with errors that name the problem", () => {
  const x = new Float32Array(6);
  const k = (nodes: FusedNode[], shape = [2, 3]): FusedElementwise => ({
    kind: "elementwise",
    shape,
    nodes,
    outputs: [nodes.length - 1],
  });
  assertThrows(
    () => runWasm(k([load(0, [3, 1]), app("exp", [0], "int32")]), [x]),
    TypeError,
    "exp (node 1) gives float32, not int32",
  );
  assertThrows(
    () =>
      runWasm(k([load(0, [3, 1], "int32"), app("exp", [0], "int32")]), [
        new Int32Array(6),
      ]),
    TypeError,
    "exp is not defined on int32",
  );
  assertThrows(
    () => runWasm(k([load(0, [3, 2])]), [x]),
    RangeError,
    "loads of input 0 reach elements 0..7, outside its 6",
  );
  assertThrows(
    () => runWasm(k([app("neg", [1]), load(0, [3, 1])]), [x]),
    RangeError,
    "node 0 reads node 1, which is not before it",
  );
  for (const axes of [[], [2], [1, 0], [0, 0]]) {
    const r: FusedReduce = {
      kind: "reduce",
      op: "sum",
      shape: [2, 3],
      axes,
      nodes: [load(0, [3, 1])],
      value: 0,
    };
    assertThrows(
      () => runWasm(r, [x]),
      RangeError,
      `reduce axes [${axes}] must be sorted, unique and within 2 axes`,
    );
  }
  // A kernel object's checks run on every call, not only on its first.
  const once = k([load(0, [3, 1]), app("neg", [0])]);
  assertEquals(runWasm(once, [x])[0], new Float32Array(6).fill(-0));
  assertThrows(
    () => runWasm(once, [new Float32Array(5)]),
    RangeError,
    "loads of input 0 reach elements 0..5, outside its 5",
  );
  const ins = [{
    handle: wasm.upload(x, { shape: [6], dtype: "float32" }),
    aval: { shape: [6], dtype: "int32" as const },
  }];
  assertThrows(
    () => wasm.runFused(k([load(0, [3, 1])]), ins),
    TypeError,
    "load 0 reads input 0 as float32, but it is int32",
  );
  wasm.free(ins[0]!.handle);
  assertEquals(wasm.memory().liveBuffers, 0);
});

Deno.test("a kernel compiles once per key, and backends share the compiled module", async () => {
  const k = (c: number): FusedElementwise => ({
    kind: "elementwise",
    shape: [9],
    nodes: [load(0, [1]), lit(c), app("mul", [0, 1])],
    outputs: [2],
  });
  const x = Float32Array.from({ length: 9 }, (_, i) => i);
  const before = fusedCompileStats().modules;
  assertEquals(runWasm(k(1.25), [x]), runWasm(k(1.25), [x]));
  assertEquals(fusedCompileStats().modules, before + 1);
  runWasm(k(2.5), [x]); // another literal is another kernel
  assertEquals(fusedCompileStats().modules, before + 2);
  const other = await WasmBackend.create({ threads: 1 });
  const h = other.upload(x, { shape: [9], dtype: "float32" });
  const [o] = other.runFused(k(1.25), [{
    handle: h,
    aval: { shape: [9], dtype: "float32" },
  }]);
  assertEquals(other.readSync(o, { shape: [9], dtype: "float32" })[4], 5);
  assertEquals(fusedCompileStats().modules, before + 2);
  other.close();
});

Deno.test("literals NaN, ∞, -∞, 0 and -0 make different kernels (JSON would print null, null, null, 0, 0)", () => {
  const x = new Float32Array([1, 2]);
  for (const order of [[NaN, Infinity, -Infinity, 0, -0], [-0, 0, -Infinity]]) {
    for (const c of order) {
      const k: FusedElementwise = {
        kind: "elementwise",
        shape: [2],
        nodes: [load(0, [1]), lit(c), app("mul", [0, 1])],
        outputs: [2],
      };
      assertUlps(runWasm(k, [x])[0]!, new Float32Array([c, 2 * c]), 0, `${c}`);
    }
  }
});

Deno.test("large kernels split over threads give the bits of one thread, and workers take part", async () => {
  const arena = new Arena(256, sharedMemoryUnavailable() === null);
  const one = new FusedRunner(arena, 1), three = new FusedRunner(arena, 3);
  const r = rng(5);
  const put = (n: number) => {
    const b = arena.alloc(4 * n);
    for (let i = 0; i < n; i++) arena.f32[b.ptr / 4 + i] = r() * 6 - 3;
    return { ptr: b.ptr, aval: { shape: [n], dtype: "float32" as const } };
  };
  const x = put(4 * 300 * 257), y = put(257);
  const chain = [load(0, [257, 1]), load(1, [0, 1]), app("mul", [0, 1])];
  const kernels: FusedKernel[] = [
    // elementwise, split over rows
    {
      kind: "elementwise",
      shape: [300, 257],
      nodes: [...chain, app("tanh", [2])],
      outputs: [3, 2],
    },
    // elementwise on one merged axis, split along the vector loop
    {
      kind: "elementwise",
      shape: [70001],
      nodes: [load(0, [1]), app("exp", [0])],
      outputs: [1],
    },
    // row sums, split over rows; column max, split along columns
    {
      kind: "reduce",
      op: "sum",
      shape: [300, 257],
      axes: [1],
      nodes: chain,
      value: 2,
    },
    {
      kind: "reduce",
      op: "max",
      shape: [300, 257],
      axes: [0],
      nodes: chain,
      value: 2,
    },
    // column sums with an outer axis, split over it
    {
      kind: "reduce",
      op: "sum",
      shape: [4, 300, 257],
      axes: [1],
      nodes: [load(0, [77100, 257, 1])],
      value: 0,
    },
    // a max then a sum of exp(x - max) and log(sum) + max, over rows and
    // over columns (each thread runs every pass over its rows or columns)
    ...[1, 0].map((axis): FusedKernel => ({
      kind: "reduce",
      op: "max",
      shape: [300, 257],
      axes: [axis],
      nodes: [
        ...chain,
        { kind: "reduced", index: 0, dtype: "float32" },
        app("sub", [2, 3]),
        app("exp", [4]),
        { kind: "reduced", index: 1, dtype: "float32" },
        app("log", [6]),
        app("add", [7, 3]),
      ],
      value: 2,
      more: [{ op: "sum", value: 5 }],
      epilogue: [{ node: 8, shape: [axis === 1 ? 300 : 257] }],
    })),
    // host functions keep a kernel on the caller
    {
      kind: "elementwise",
      shape: [300, 257],
      nodes: [...chain, app("sin", [2])],
      outputs: [3],
    },
  ];
  const read = (k: FusedKernel, blocks: { ptr: number }[]) =>
    fusedOutputs(k).map((o, i) =>
      arena.f32.slice(blocks[i]!.ptr / 4, blocks[i]!.ptr / 4 + sizeOf(o.shape))
    );
  for (const k of kernels) three.run(k, [x, y]); // attaches the workers
  await three.ready();
  const claims = ThreadPool.workerClaims();
  for (const k of kernels) {
    const want = read(k, one.run(k, [x, y]));
    const got = read(k, three.run(k, [x, y]));
    got.forEach((g, i) => assertUlps(g, want[i]!, 0, `${k.kind} ${k.shape}`));
  }
  if (sharedMemoryUnavailable() === null) {
    // On a loaded machine the caller may take every unit before a worker
    // wakes: run the threaded kernels again (at most 20 rounds) until one does.
    for (let r = 0; r < 20 && ThreadPool.workerClaims() === claims; r++) {
      await new Promise((ok) => setTimeout(ok, 10));
      for (const k of kernels) three.run(k, [x, y]);
    }
    assert(ThreadPool.workerClaims() > claims, "no worker took a unit");
  }
  three.close();
});

Deno.test("a kernel the instance map forgot keeps its threads (programs with more kernels than the map holds stay threaded)", async () => {
  if (sharedMemoryUnavailable() !== null) return;
  const arena = new Arena(256, true);
  const runner = new FusedRunner(arena, 3, 1); // the map holds one key
  const n = 300 * 257;
  const b = arena.alloc(4 * n);
  arena.f32.fill(0.5, b.ptr / 4, b.ptr / 4 + n);
  const x = { ptr: b.ptr, aval: { shape: [n], dtype: "float32" as const } };
  const kernel = (op: "exp" | "tanh"): FusedKernel => ({
    kind: "elementwise",
    shape: [300, 257],
    nodes: [load(0, [257, 1]), app(op, [0])],
    outputs: [1],
  });
  const first = kernel("exp"), second = kernel("tanh");
  runner.run(first, [x]);
  runner.run(second, [x]); // the map forgets `first`
  await runner.ready();
  const claims = ThreadPool.workerClaims();
  for (let r = 0; r < 20 && ThreadPool.workerClaims() === claims; r++) {
    await new Promise((ok) => setTimeout(ok, 10));
    runner.run(first, [x]);
  }
  assert(ThreadPool.workerClaims() > claims, "the forgotten kernel ran alone");
  runner.close();
});
