// Flash kernels on WebGPU (runFlash: one WGSL shader per kernel and mode,
// the score and mask inlined) against the reference meaning,
// runFlashReference, in every mode. The adapter here is llvmpipe, so the
// kernels are small and every case's results are read back together.

import { assert, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import { assertAllClose, rng } from "../../_helpers.ts";
import type { DType, HostArray } from "../../../ops/dtype.ts";
import { sizeOf } from "../../../ops/dtype.ts";
import type { ElementwisePrimitive } from "../../../ops/primitives.ts";
import {
  flashFloatInputs,
  type FlashKernel,
  type FlashMode,
  type FlashNode,
  flashOutput,
  type FlashParams,
} from "../../../ops/backends/flash.ts";
import { runFlashReference } from "../../../ops/backends/flash_reference.ts";
import { WebGpuBackend } from "../../../ops/backends/webgpu/backend.ts";
import { preimageOf } from "../../../ops/backends/webgpu/_flash_grad.ts";
import { withFlashSteps } from "../../../ops/backends/webgpu/_flash_dispatch.ts";

const gpu = await WebGpuBackend.create();
if (!gpu) console.warn("webgpu_flash_test: skipped: no WebGPU adapter");

/** A node list under construction; each method returns the new node's index. */
class Nodes {
  readonly list: FlashNode[] = [];
  #push(n: FlashNode): number {
    return this.list.push(n) - 1;
  }
  dot(index: number): number {
    return this.#push({ kind: "dot", index, dtype: "float32" });
  }
  lit(value: number, dtype: DType = "float32"): number {
    return this.#push({ kind: "literal", value, dtype });
  }
  load(input: number, strides: number[], dtype: DType, offset = 0): number {
    return this.#push({ kind: "load", input, offset, strides, dtype });
  }
  op(prim: ElementwisePrimitive, args: number[], dtype?: DType): number {
    const t = dtype ?? this.list[args[0]!]!.dtype;
    const params = prim === "convert_element_type" ? { dtype: t } : {};
    return this.#push({
      kind: "op",
      prim,
      params: params as never,
      args,
      dtype: t,
    });
  }
}

/** What a generated kernel contains. */
interface Shape {
  readonly batch: number[];
  readonly tq: number;
  readonly tk: number;
  readonly d: number;
  readonly dv: number;
  readonly queries: 1 | 2;
  readonly normaliser: "softmax" | "none";
  /** Causal mask from int32 query and key positions. */
  readonly causal: boolean;
  /** Query 0 at position -1: a row with no visible key. */
  readonly hideRow: boolean;
  /** s += slope[h] · (kpos_j − qpos_i), slope per head (last batch axis). */
  readonly slope: boolean;
  /** s *= temperature, a float32 scalar. */
  readonly temperature: boolean;
  /** s += bias[h, i, j]. */
  readonly bias: boolean;
  /** s += rel[i − j + tk − 1] (strides 1 and −1: no unique preimage). */
  readonly relative?: boolean;
  /** The bias is −∞ on query row 0 (all its visible scores) and on key 0. */
  readonly infinite?: boolean;
  /** s = logistic(…) (with normaliser "none", as a sigmoid normaliser). */
  readonly sigmoid: boolean;
  /** Extra scalar offsets added to s (many captured tensors: packed operands). */
  readonly extra?: number;
}

/** A kernel of `sh` with its captured tensors' values. */
function build(sh: Shape, seed: number): {
  kernel: FlashKernel;
  captured: HostArray[];
} {
  const r = rng(seed);
  const { batch, tq, tk } = sh;
  const nb = batch.length, rank = nb + 2;
  const zeros = () => new Array<number>(rank).fill(0);
  const captured: HostArray[] = [];
  const avals: FlashKernel["captured"][number][] = [];
  const capture = (shape: number[], data: HostArray) => {
    avals.push({
      shape,
      dtype: data instanceof Int32Array ? "int32" : "float32",
    });
    captured.push(data);
    return captured.length - 1;
  };
  const heads = nb ? batch[nb - 1]! : 1;
  const headStride = (per: number) => {
    const s = zeros();
    if (nb) s[nb - 1] = per;
    return s;
  };
  const shift = tk - tq;
  const qposData = Int32Array.from(
    { length: tq },
    (_, i) => sh.hideRow && i === 0 ? -1 - shift : i,
  );
  const kposData = Int32Array.from({ length: tk }, (_, j) => j - shift);
  const needPos = sh.causal || sh.slope;
  const qpos = needPos ? capture([tq], qposData) : -1;
  const kpos = needPos ? capture([tk], kposData) : -1;
  const qposStrides = zeros(), kposStrides = zeros();
  qposStrides[nb] = 1;
  kposStrides[nb + 1] = 1;

  const s = new Nodes();
  const scale = 1 / Math.sqrt(sh.d);
  let base = s.op("mul", [s.dot(0), s.lit(scale)]);
  let dBase: number[] = [s.lit(scale)];
  if (sh.queries === 2) {
    base = s.op("add", [base, s.op("mul", [s.dot(1), s.lit(0.7)])]);
    dBase.push(s.lit(0.7));
  }
  const dCap = new Map<number, number>(); // captured → ∂s/∂c before the sigmoid
  if (sh.temperature) {
    const c = capture([], Float32Array.of(0.5 + r()));
    const t = s.load(c, zeros(), "float32");
    dCap.set(c, base);
    base = s.op("mul", [base, t]);
    dBase = dBase.map((x) => s.op("mul", [x, t]));
  }
  if (sh.slope) {
    const c = capture(
      nb ? [heads] : [],
      Float32Array.from({ length: heads }, () => r() - 0.5),
    );
    const dist = s.op("convert_element_type", [
      s.op("sub", [
        s.load(kpos, kposStrides, "int32"),
        s.load(qpos, qposStrides, "int32"),
      ]),
    ], "float32");
    base = s.op("add", [
      base,
      s.op("mul", [s.load(c, headStride(1), "float32"), dist]),
    ]);
    dCap.set(c, dist);
  }
  if (sh.bias) {
    const shape = nb ? [heads, tq, tk] : [tq, tk];
    const st = headStride(tq * tk);
    st[nb] = tk;
    st[nb + 1] = 1;
    const values = Float32Array.from(
      { length: sizeOf(shape) },
      (_, at) =>
        sh.infinite && (Math.floor(at / tk) % tq === 0 || at % tk === 0)
          ? -Infinity
          : r() * 2 - 1,
    );
    const c = capture(shape, values);
    base = s.op("add", [base, s.load(c, st, "float32")]);
    dCap.set(c, s.lit(1));
  }
  if (sh.relative) {
    const n = Math.max(tq + tk - 1, 0);
    const c = capture([n], Float32Array.from({ length: n }, () => r() - 0.5));
    const st = zeros();
    st[nb] = 1;
    st[nb + 1] = -1;
    base = s.op("add", [base, s.load(c, st, "float32", tk - 1)]);
    dCap.set(c, s.lit(1));
  }
  for (let x = 0; x < (sh.extra ?? 0); x++) {
    const c = capture([], Float32Array.of(r() - 0.5));
    base = s.op("add", [base, s.load(c, zeros(), "float32")]);
    dCap.set(c, s.lit(1));
  }
  let value = base;
  let outer = s.lit(1); // ∂s/∂base
  if (sh.sigmoid) {
    value = s.op("logistic", [base]);
    outer = s.op("mul", [value, s.op("sub", [s.lit(1), value])]);
  }
  const chain = (x: number) => s.op("mul", [outer, x]);
  const score = {
    nodes: s.list,
    value,
    partials: {
      dots: dBase.map(chain),
      captured: avals.map((_, c) => dCap.has(c) ? chain(dCap.get(c)!) : null),
    },
  };
  let mask: FlashKernel["mask"] = null;
  if (sh.causal) {
    const m = new Nodes();
    const v = m.op("le", [
      m.load(kpos, kposStrides, "int32"),
      m.load(qpos, qposStrides, "int32"),
    ], "bool");
    mask = { nodes: m.list, value: v };
  }
  const kernel: FlashKernel = {
    batch,
    tq,
    tk,
    d: sh.d,
    dv: sh.dv,
    queries: sh.queries,
    captured: avals,
    score,
    mask,
    normaliser: sh.normaliser,
  };
  return { kernel, captured };
}

function randomFloats(r: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** Every mode's params and host operands for `kernel`. */
function casesOf(
  kernel: FlashKernel,
  captured: readonly HostArray[],
  seed: number,
): { params: FlashParams; inputs: HostArray[] }[] {
  const r = rng(seed);
  const { batch, tq, tk, d, dv } = kernel;
  const nb = sizeOf(batch);
  const base: HostArray[] = [
    ...Array.from(
      { length: kernel.queries },
      () => randomFloats(r, nb * tq * d),
    ),
    randomFloats(r, nb * tk * d),
    randomFloats(r, nb * tk * dv),
    ...captured,
  ];
  const p = (mode: FlashMode, index = 0): FlashParams => ({
    kernel,
    mode,
    index,
  });
  const fwd = runFlashReference(p("forward"), base);
  const ct = randomFloats(r, nb * tq * (dv + 1));
  const tangents = flashFloatInputs(kernel).map((i) =>
    randomFloats(r, base[i]!.length)
  );
  const out = [
    { params: p("forward"), inputs: base },
    { params: p("weights"), inputs: base },
    { params: p("tangent"), inputs: [...base, fwd, ...tangents] },
    { params: p("grad_q"), inputs: [...base, fwd, ct] },
    { params: p("grad_kv"), inputs: [...base, fwd, ct] },
  ];
  kernel.captured.forEach((a, c) => {
    if (a.dtype === "float32") {
      out.push({ params: p("grad_captured", c), inputs: [...base, fwd, ct] });
    }
  });
  return out;
}

function dtypeOf(x: HostArray): DType {
  return x instanceof Float32Array
    ? "float32"
    : x instanceof Int32Array
    ? "int32"
    : "bool";
}

/** Runs every case on the GPU, then reads every result back. */
async function runOnGpu(
  b: WebGpuBackend,
  cases: readonly { params: FlashParams; inputs: HostArray[] }[],
): Promise<HostArray[]> {
  const pending = cases.map(({ params, inputs }) => {
    const ops = inputs.map((x) => {
      const aval = { shape: [x.length], dtype: dtypeOf(x) };
      return { handle: b.upload(x, aval), aval };
    });
    const out = b.runFlash(params, ops);
    for (const o of ops) b.free(o.handle);
    return out;
  });
  const got: HostArray[] = [];
  for (let c = 0; c < cases.length; c++) {
    got.push(await b.read(pending[c], flashOutput(cases[c]!.params)));
    b.free(pending[c]);
  }
  return got;
}

/** Asserts that every mode of every kernel matches the reference. */
async function check(
  b: WebGpuBackend,
  shapes: readonly Shape[],
  seed = 1,
  modes?: readonly FlashMode[],
  tol = { rtol: 2e-4, atol: 2e-5 },
  steps?: number,
) {
  const cases = shapes.flatMap((sh, n) => {
    const { kernel, captured } = build(sh, seed + n);
    return casesOf(kernel, captured, seed * 7 + n)
      .filter((c) => !modes || modes.includes(c.params.mode))
      .map((c) => ({ ...c, sh }));
  });
  // runOnGpu records every dispatch before its first await.
  const got =
    await (steps
      ? withFlashSteps(steps, () => runOnGpu(b, cases))
      : runOnGpu(b, cases));
  for (let c = 0; c < cases.length; c++) {
    const { params, inputs, sh } = cases[c]!;
    const want = runFlashReference(params, inputs);
    // Finite everywhere (rows with no visible key, −∞ scores included), so
    // that NaN equal to NaN cannot pass a case.
    assert(want.every(Number.isFinite), `${params.mode}: reference not finite`);
    await assertAllClose(
      Array.from(got[c]!),
      Array.from(want),
      tol,
      `${params.mode} ${params.index} of ${JSON.stringify(sh)}`,
    );
  }
}

const PLAIN: Shape = {
  batch: [2, 3],
  tq: 5,
  tk: 7,
  d: 4,
  dv: 3,
  queries: 1,
  normaliser: "softmax",
  causal: false,
  hideRow: false,
  slope: false,
  temperature: false,
  bias: false,
  sigmoid: false,
};

Deno.test({
  name: "runFlash matches the reference in every mode on hand-built kernels",
  ignore: !gpu,
  async fn() {
    await check(gpu!, [
      PLAIN,
      { ...PLAIN, queries: 2, tq: 7, tk: 5 },
      { ...PLAIN, causal: true, hideRow: true, slope: true, temperature: true },
      { ...PLAIN, batch: [], tq: 1, tk: 1, d: 1, dv: 1, causal: true },
      { ...PLAIN, batch: [3], tq: 9, tk: 3, causal: true, bias: true },
      { ...PLAIN, tq: 4, bias: true, infinite: true, slope: true },
      { ...PLAIN, batch: [2], tq: 6, causal: true, relative: true },
      {
        ...PLAIN,
        normaliser: "none",
        sigmoid: true,
        causal: true,
        hideRow: true,
      },
      {
        ...PLAIN,
        normaliser: "none",
        queries: 2,
        temperature: true,
        slope: true,
      },
      {
        ...PLAIN,
        batch: [1, 2],
        tq: 3,
        tk: 33,
        d: 9,
        dv: 5,
        bias: true,
        temperature: true,
      },
    ]);
  },
});

Deno.test({
  name: "runFlash matches the reference with no queries or no keys",
  ignore: !gpu,
  async fn() {
    const sh = { ...PLAIN, slope: true, temperature: true, causal: true };
    await check(gpu!, [{ ...sh, tq: 0 }, { ...sh, tk: 0 }, {
      ...sh,
      batch: [2, 0],
    }]);
  },
});

Deno.test({
  name: "runFlash packs operands past the storage-buffer limit",
  ignore: !gpu,
  async fn() {
    // tangent: 2 + 2 + 8 inputs, the forward output, 12 tangents: 25 operands.
    await check(gpu!, [{
      ...PLAIN,
      queries: 2,
      temperature: true,
      slope: true,
      causal: true,
      extra: 5,
    }]);
  },
});

Deno.test({
  name: "runFlash's gradients are bit-equal from run to run",
  ignore: !gpu,
  async fn() {
    const sh = {
      ...PLAIN,
      tq: 40,
      tk: 70,
      temperature: true,
      slope: true,
      causal: true,
    };
    const { kernel, captured } = build(sh, 3);
    const cases = casesOf(kernel, captured, 4).filter((c) =>
      c.params.mode.startsWith("grad")
    );
    const first = await runOnGpu(gpu!, cases);
    const second = await runOnGpu(gpu!, cases);
    first.forEach((x, c) =>
      assertEquals(Array.from(second[c]!), Array.from(x))
    );
  },
});

Deno.test({
  name: "runFlash refuses a wrong number of operands or a wrong operand",
  ignore: !gpu,
  fn() {
    const { kernel } = build(PLAIN, 1);
    assertThrows(
      () => gpu!.runFlash({ kernel, mode: "forward", index: 0 }, []),
      TypeError,
      "forward takes 3 operands, got 0",
    );
    const ops = [[2, 3, 5, 4], [2, 3, 7, 4], [2, 3, 7, 2]].map((shape) => {
      const aval = { shape, dtype: "float32" as const };
      return {
        handle: gpu!.upload(new Float32Array(sizeOf(shape)), aval),
        aval,
      };
    });
    assertThrows(
      () => gpu!.runFlash({ kernel, mode: "forward", index: 0 }, ops),
      TypeError,
      "forward operand 2 is float32 [2,3,7,2], the kernel wants float32 [2,3,7,3]",
    );
    for (const o of ops) gpu!.free(o.handle);
  },
});

Deno.test("preimageOf solves axes a load steps through and loops over the rest", () => {
  const p = preimageOf({ strides: [0, 20, 5, 1] }, [2, 3, 4, 5]);
  assertEquals(p, { solved: [1, 2, 3], looped: [0], compare: false, count: 2 });
  const overlap = preimageOf({ strides: [1, 1] }, [3, 4]);
  assert(overlap.compare);
  assertEquals(overlap.count, 12);
});

Deno.test({
  name: "runFlash matches the reference on generated kernels",
  ignore: !gpu,
  async fn() {
    const shape = fc.record({
      batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
      tq: fc.integer({ min: 1, max: 6 }),
      tk: fc.integer({ min: 1, max: 6 }),
      d: fc.integer({ min: 1, max: 4 }),
      dv: fc.integer({ min: 1, max: 3 }),
      queries: fc.constantFrom(1 as const, 2 as const),
      normaliser: fc.constantFrom("softmax" as const, "none" as const),
      causal: fc.boolean(),
      hideRow: fc.boolean(),
      slope: fc.boolean(),
      temperature: fc.boolean(),
      bias: fc.boolean(),
      sigmoid: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(shape, { minLength: 4, maxLength: 4 }),
        fc.nat(),
        async (shapes, seed) => {
          await check(gpu!, shapes, seed);
        },
      ),
      { numRuns: 4 },
    );
  },
});

Deno.test({
  name: "runFlash matches the reference along many keys or many queries",
  ignore: !gpu,
  async fn() {
    // llvmpipe ends a loop once an invocation has run 65535 iterations of
    // loops in all: loops over d inside the loop over the keys (or
    // queries) would stop early past it, leaving most outputs 0. The
    // kernels write the work over d out without loops (see also the
    // d = 64 tests below).
    const sh = { ...PLAIN, batch: [2], d: 16, dv: 16 };
    const long = [{ ...sh, tq: 8, tk: 1100, slope: true, temperature: true }, {
      ...sh,
      tq: 300,
      tk: 8,
      causal: true,
      bias: true,
    }];
    // Sums over 1100 keys or 300 queries: a looser tolerance.
    const tol = { rtol: 1e-3, atol: 1e-4 };
    await check(gpu!, long, 1, undefined, tol);
    // grad_qkv (grad_q and grad_kv copied together).
    const cases = long.map((s, n) => {
      const { kernel, captured } = build(s, 5 + n);
      const g = casesOf(kernel, captured, 6 + n).find((c) =>
        c.params.mode === "grad_q"
      )!;
      return { ...g, params: { ...g.params, mode: "grad_qkv" as const } };
    });
    const got = await runOnGpu(gpu!, cases);
    for (let c = 0; c < cases.length; c++) {
      await assertAllClose(
        Array.from(got[c]!),
        Array.from(runFlashReference(cases[c]!.params, cases[c]!.inputs)),
        tol,
        `grad_qkv of ${JSON.stringify(long[c])}`,
      );
    }
  },
});

Deno.test({
  name:
    "runFlash matches the reference at d 64 along 256 and 300 keys or queries",
  ignore: !gpu,
  async fn() {
    // Sizes that llvmpipe's loop budget once refused (a RangeError): 256
    // keys and 300 queries at d 64 ran about 560,000 loop iterations per
    // invocation, with loops over d inside the loop over the keys.
    const sh = { ...PLAIN, batch: [1], d: 64, dv: 64 };
    const sizes = [
      { ...sh, tq: 256, tk: 256, causal: true, temperature: true },
      { ...sh, tq: 300, tk: 40, slope: true },
    ];
    const tol = { rtol: 1e-3, atol: 1e-4 };
    await check(gpu!, sizes, 9, undefined, tol);
    // grad_qkv at 300 queries (grad_q and grad_kv copied together).
    const { kernel, captured } = build(sizes[1]!, 10);
    const g = casesOf(kernel, captured, 12).find((c) =>
      c.params.mode === "grad_q"
    )!;
    const qkv = { ...g, params: { ...g.params, mode: "grad_qkv" as const } };
    const [got] = await runOnGpu(gpu!, [qkv]);
    await assertAllClose(
      Array.from(got!),
      Array.from(runFlashReference(qkv.params, qkv.inputs)),
      tol,
      "grad_qkv at 300 queries, d 64",
    );
  },
});

Deno.test({
  name:
    "runFlash runs a long loop as chunks of dispatches that carry its state",
  ignore: !gpu,
  async fn() {
    // Loops of 4 steps per dispatch, as loops of 32,767 keys (or queries)
    // run: 13 keys in 4 chunks, 9 queries in 3 (grad_kv), softmax weights
    // from the forward's lse.
    const sh = { ...PLAIN, tq: 9, tk: 13 };
    const shapes = [
      { ...sh, causal: true, hideRow: true, slope: true, temperature: true },
      { ...sh, normaliser: "none" as const, sigmoid: true, causal: true },
    ];
    await check(gpu!, shapes, 11, undefined, undefined, 4);
    const cases = shapes.map((s, n) => {
      const { kernel, captured } = build(s, 11 + n);
      const g = casesOf(kernel, captured, 77 + n).find((c) =>
        c.params.mode === "grad_q"
      )!;
      return { ...g, params: { ...g.params, mode: "grad_qkv" as const } };
    });
    const got = await withFlashSteps(4, () => runOnGpu(gpu!, cases));
    for (let c = 0; c < cases.length; c++) {
      await assertAllClose(
        Array.from(got[c]!),
        Array.from(runFlashReference(cases[c]!.params, cases[c]!.inputs)),
        { rtol: 2e-4, atol: 2e-5 },
        `grad_qkv of ${JSON.stringify(shapes[c])} in chunks`,
      );
    }
    assertThrows(() => withFlashSteps(0, () => 0), RangeError, "loop steps 0");
  },
});
