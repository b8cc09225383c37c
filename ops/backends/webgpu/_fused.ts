// Fused kernels on WebGPU: one WGSL shader per kernel with the whole
// expression inlined (`_fused_expr.ts`, `_fused_reduce.ts`). Shapes,
// strides, offsets and literals are written into the shader text, so the
// compiler folds the index arithmetic; pipelines are cached by the kernel's
// `fusedKey` (with special literals spelled out), which contains them all.
//
// Bindings: every input is read as an array of u32 words (bitcast to its
// dtype), so inputs beyond the device's storage-buffer limit are copied
// into one packed buffer, each at a base offset passed in the uniforms:
// a kernel may have any number of inputs (up to 62 packed ones). The
// outputs of a multi-output kernel are written into one buffer and copied
// out, as the backend's dispatches have one output binding.

/// <reference types="npm:@webgpu/types@0.1.74" />

import { type Aval, sizeOf } from "../../dtype.ts";
import {
  type FusedElementwise,
  type FusedLoad,
  type FusedLoopKernel,
  fusedOutputs,
  type FusedReduce,
  reachable,
  reductionsOf,
} from "../fused.ts";
import { type Dispatch, type GpuBuffer, groups1d } from "./_kernel.ts";
import {
  collapseAxes,
  fromWord,
  FUSED_MATH,
  letStatements,
  name,
  offsetExpr,
  splitIndex,
  toWord,
} from "./_fused_expr.ts";
import {
  combinePartials,
  reduceSizes,
  reduceSource,
  type WordAt,
} from "./_fused_reduce.ts";
import { splitReduce, staged } from "./_fused_split.ts";
import { stagedInOne, stagedSource } from "./_fused_staged.ts";
import { header, MATH, META_WORDS, WG } from "./_wgsl.ts";
import { ZERO_WORD } from "./_wgsl_math.ts";

/** What the fused kernels need from the backend. */
export interface FusedContext {
  /** Workgroups allowed per dispatch dimension. */
  readonly maxPerDim: number;
  /** Storage buffers one shader may bind (inputs and the output). */
  readonly maxStorageBuffers: number;
  /** Bytes one storage binding may span. */
  readonly maxBindingBytes: number;
  /** A new storage buffer of `bytes`. */
  alloc(bytes: number): GpuBuffer;
  /** Releases a temporary. */
  free(b: GpuBuffer): void;
  /** Records a dispatch in the open batch. */
  encode(d: Dispatch): void;
  /** The open command encoder (for copies). */
  encoder(): GPUCommandEncoder;
}

/** A kernel input: its buffer and aval. */
export interface FusedIn {
  /** The input's buffer. */
  readonly buf: GpuBuffer;
  /** Its shape and dtype. */
  readonly aval: Aval;
}

/** Packed inputs at most: their base offsets fill the uniforms below ZERO_WORD. */
export const MAX_PACKED_INPUTS: number = ZERO_WORD - 1;

/** How the inputs a kernel reads are bound. */
export interface Bindings {
  /** Inputs bound one per binding, in binding order. */
  readonly direct: readonly number[];
  /** Inputs copied into one packed buffer (the last binding), in order. */
  readonly packed: readonly number[];
}

function bindingsOf(kernel: FusedLoopKernel, maxStorage: number): Bindings {
  const roots = kernel.kind === "elementwise" ? kernel.outputs : [
    ...reductionsOf(kernel).map((r) => r.value),
    ...(kernel.epilogue ?? []).map((e) => e.node),
  ];
  const used = [
    ...new Set(
      reachable(kernel.nodes, roots).flatMap((n) => {
        const node = kernel.nodes[n]!;
        return node.kind === "load" ? [node.input] : [];
      }),
    ),
  ].sort((a, b) => a - b);
  const slots = maxStorage - 1; // one binding is the output
  if (used.length <= slots) return { direct: used, packed: [] };
  const packed = used.slice(slots - 1);
  if (packed.length > MAX_PACKED_INPUTS) {
    throw new RangeError(
      `webgpu: fused kernel reads ${used.length} inputs; at most ${
        slots - 1 + MAX_PACKED_INPUTS
      } fit (${maxStorage} storage buffers per shader)`,
    );
  }
  return { direct: used.slice(0, slots - 1), packed };
}

/** The WGSL reading a word of a load's input at `idx` (i32). */
function wordReader(b: Bindings): WordAt {
  return (load: FusedLoad, idx: string) => {
    const q = b.direct.indexOf(load.input);
    if (q >= 0) return `in${q}[u32(${idx})]`;
    const p = b.packed.indexOf(load.input);
    return `in${b.direct.length}[m(${p + 1}u) + u32(${idx})]`;
  };
}

/** The body of an elementwise kernel: every output into one buffer. */
function elementwiseSource(k: FusedElementwise, wordAt: WordAt): string {
  const size = sizeOf(k.shape);
  const live = reachable(k.nodes, k.outputs);
  const loads = live.filter((n) => k.nodes[n]!.kind === "load");
  const c = collapseAxes(
    k.shape,
    loads.map((n) => (k.nodes[n] as FusedLoad).strides),
  );
  const strides = new Map(loads.map((n, j) => [n, c.strides[j]!]));
  const lets = letStatements(k.nodes, live, (n) => {
    const node = k.nodes[n] as FusedLoad;
    const idx = offsetExpr(`${node.offset}`, strides.get(n)!, "a");
    return fromWord(node.dtype, wordAt(node, idx));
  });
  const writes = k.outputs.map((n, j) =>
    `  out[${j * size}u + i] = ${toWord(k.nodes[n]!.dtype, name(n))};`
  );
  return `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= ${size}u) { return; }
${splitIndex("i", c.shape, "a")}
${lets}
${writes.join("\n")}
}`;
}

/** The full WGSL of `kernel` bound as `b`. */
export function fusedSource(kernel: FusedLoopKernel, b: Bindings): string {
  const n = b.direct.length + (b.packed.length ? 1 : 0);
  const body = kernel.kind === "elementwise"
    ? elementwiseSource(kernel, wordReader(b))
    : staged(kernel)
    ? stagedSource(kernel, wordReader(b))
    : reduceSource(kernel, wordReader(b));
  return [header(Array(n).fill("u32"), "u32"), MATH, FUSED_MATH, body].join(
    "\n",
  );
}

/** The WGSL of `kernel` on a device with `maxStorage` storage buffers per shader. */
export function fusedWgsl(kernel: FusedLoopKernel, maxStorage = 8): string {
  return fusedSource(kernel, bindingsOf(kernel, maxStorage));
}

function checkKernel(
  kernel: FusedLoopKernel,
  inputs: readonly FusedIn[],
): void {
  const rank = kernel.shape.length;
  kernel.nodes.forEach((node, n) => {
    if (node.kind === "load") {
      const x = inputs[node.input];
      if (!x) {
        throw new RangeError(
          `webgpu: fused kernel node ${n} loads input ${node.input} of ${inputs.length}`,
        );
      }
      if (x.aval.dtype !== node.dtype || node.strides.length !== rank) {
        throw new TypeError(
          `webgpu: fused kernel node ${n} loads ${node.dtype} with ${node.strides.length} strides from a ${x.aval.dtype} input over ${rank} axes`,
        );
      }
    } else if (
      node.kind === "op" && node.args.some((a) => !(a >= 0 && a < n))
    ) {
      throw new RangeError(
        `webgpu: fused kernel node ${n} (${node.prim}) reads nodes [${node.args}] that are not before it`,
      );
    }
  });
}

/**
 * Splits `count` outputs of `bytes` each into groups whose packed buffer
 * fits one binding of `maxBindingBytes` (each group is one dispatch).
 */
export function outputGroups(
  count: number,
  bytes: number,
  maxBindingBytes: number,
): number[][] {
  const per = Math.max(1, Math.floor(maxBindingBytes / Math.max(bytes, 1)));
  const groups: number[][] = [];
  for (let j = 0; j < count; j += per) {
    groups.push(
      Array.from({ length: Math.min(per, count - j) }, (_, i) => j + i),
    );
  }
  return groups;
}

/** What a kernel's dispatches need besides its buffers, computed once per kernel object. */
interface Plan {
  readonly maxStorage: number;
  readonly key: string;
  readonly bindings: Bindings;
  /** Invocations of the (first) dispatch. */
  readonly invocations: number;
  /** A reduction split into chunks: the kernel combining their partial results. */
  readonly second: FusedReduce | null;
}

const plans = new WeakMap<FusedLoopKernel, Plan>();

/**
 * `fusedKey` with NaN, ±∞ and -0 spelled out: its JSON writes the first
 * three as null and -0 as 0, so kernels whose literals differ only there
 * would share a pipeline.
 */
function exactKey(kernel: FusedLoopKernel): string {
  return JSON.stringify(
    kernel,
    (_k, v) =>
      typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))
        ? (Object.is(v, -0) ? "-0" : String(v))
        : v,
  );
}

function planOf(kernel: FusedLoopKernel, maxStorage: number): Plan {
  let p = plans.get(kernel);
  if (p?.maxStorage === maxStorage) return p;
  const bindings = bindingsOf(kernel, maxStorage);
  const sizes = kernel.kind !== "reduce"
    ? null
    : staged(kernel)
    ? { nOut: reduceSizes(kernel).nOut, parts: 1 }
    : reduceSizes(kernel);
  p = {
    maxStorage,
    key: `fused:${bindings.direct.length}+${bindings.packed.length}:${
      exactKey(kernel)
    }`,
    bindings,
    invocations: sizes ? sizes.nOut * sizes.parts : sizeOf(kernel.shape),
    second: sizes && sizes.parts > 1
      ? combinePartials(kernel as FusedReduce)
      : null,
  };
  plans.set(kernel, p);
  return p;
}

/**
 * Runs `kernel` on `inputs` as one dispatch (plus copies when it has
 * several outputs or packed inputs, and a second reduction when a long
 * row was split); returns one new buffer per output.
 */
export function runFusedKernel(
  ctx: FusedContext,
  kernel: FusedLoopKernel,
  inputs: readonly FusedIn[],
): GpuBuffer[] {
  const inOne = kernel.kind === "reduce" && staged(kernel);
  if (inOne && !stagedInOne(kernel)) return runStaged(ctx, kernel, inputs);
  if (inOne) splitReduce(kernel); // checks the reductions' order and the epilogue
  checkKernel(kernel, inputs);
  const size = sizeOf(fusedOutputs(kernel)[0]!.shape);
  const nOut = fusedOutputs(kernel).length;
  if (kernel.kind === "elementwise" && nOut > 1) {
    const groups = outputGroups(nOut, size * 4, ctx.maxBindingBytes);
    if (groups.length > 1) {
      return groups.flatMap((g) =>
        runFusedKernel(ctx, {
          ...kernel,
          outputs: g.map((j) => kernel.outputs[j]!),
        }, inputs)
      );
    }
  }
  if (size === 0) {
    return Array.from({ length: nOut }, () => ctx.alloc(0));
  }
  const plan = planOf(kernel, ctx.maxStorageBuffers);
  const b = plan.bindings;
  const temps: GpuBuffer[] = [];
  const bound = b.direct.map((j) => inputs[j]!.buf);
  const meta = new Array<number>(ZERO_WORD + 1).fill(0);
  if (b.packed.length) {
    const pack = packInputs(ctx, b.packed.map((j) => inputs[j]!), meta);
    bound.push(pack);
    temps.push(pack);
  }
  // Every output, or the partial results, in one buffer.
  const target = ctx.alloc(plan.invocations * nOut * 4);
  ctx.encode({
    key: plan.key,
    source: () => fusedSource(kernel, b),
    inputs: bound,
    output: target,
    meta: meta.slice(0, META_WORDS),
    groups: groups1d(plan.invocations, WG, ctx.maxPerDim),
  });
  let outs = [target];
  if (plan.second) {
    const aval = {
      shape: [plan.invocations],
      dtype: plan.second.nodes[0]!.dtype,
    };
    outs = runFusedKernel(ctx, plan.second, [{ buf: target, aval }]);
    temps.push(target);
  } else if (nOut > 1) {
    outs = Array.from({ length: nOut }, () => ctx.alloc(size * 4));
    const enc = ctx.encoder();
    outs.forEach((o, j) =>
      enc.copyBufferToBuffer(target.buffer, j * size * 4, o.buffer, 0, size * 4)
    );
    temps.push(target);
  }
  for (const t of temps) ctx.free(t);
  return outs;
}

/** A reduce kernel of several reductions or an epilogue whose rows are too long for one shader, one step at a time (`_fused_split.ts`). */
function runStaged(
  ctx: FusedContext,
  kernel: FusedReduce,
  inputs: readonly FusedIn[],
): GpuBuffer[] {
  const avals = fusedOutputs(kernel);
  const outs: GpuBuffer[] = [];
  for (const step of splitReduce(kernel)) {
    const ins = step.inputs.map(([from, i]) => {
      if (from === "in") {
        const x = inputs[i];
        if (!x) {
          throw new RangeError(
            `webgpu: fused kernel loads input ${i} of ${inputs.length}`,
          );
        }
        return x;
      }
      return { buf: outs[i]!, aval: avals[i]! };
    });
    outs.push(...runFusedKernel(ctx, step.kernel, ins));
  }
  return outs;
}

/** Copies `ins` into one new buffer; their word offsets go to `meta[1..]`. */
function packInputs(
  ctx: FusedContext,
  ins: readonly FusedIn[],
  meta: number[],
): GpuBuffer {
  let words = 0;
  ins.forEach((x, p) => {
    meta[p + 1] = words;
    words += sizeOf(x.aval.shape);
  });
  if (words * 4 > ctx.maxBindingBytes) {
    throw new RangeError(
      `webgpu: fused kernel's packed inputs take ${
        words * 4
      } bytes, over the ${ctx.maxBindingBytes} one binding allows`,
    );
  }
  const pack = ctx.alloc(Math.max(words, 1) * 4);
  const enc = ctx.encoder();
  ins.forEach((x, p) => {
    const n = sizeOf(x.aval.shape);
    if (n) {
      enc.copyBufferToBuffer(
        x.buf.buffer,
        0,
        pack.buffer,
        meta[p + 1]! * 4,
        n * 4,
      );
    }
  });
  return pack;
}
