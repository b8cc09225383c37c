/**
 * The WebGPU backend: WGSL kernels generated per primitive (shapes and
 * strides travel as uniforms), pipelines cached per device by metadata keys,
 * a size-class buffer pool, batched dispatches, staging-buffer readback, and
 * recovery from device loss.
 *
 * @module
 */

/// <reference types="npm:@webgpu/types@0.1.74" />

import {
  type Aval,
  fmtShape,
  type HostArray,
  hostArray,
  sizeOf,
} from "../../dtype.ts";
import type { Backend, MemoryStats, Operand } from "../contract.ts";
import type { Params, Primitive } from "../../primitives.ts";
import {
  type AdapterInfo,
  describeAdapter,
  requestAdapter,
  requestDevice,
} from "./device.ts";
import type { Dispatch, GpuBuffer } from "./_kernel.ts";
import { ELEMENTWISE, elementwiseDispatch } from "./_elementwise.ts";
import {
  broadcastDispatch,
  concatDispatches,
  gatherDispatch,
  iotaDispatch,
  padDispatch,
  randomDispatch,
  scatterAddDispatch,
  sliceDispatch,
  transposeDispatch,
} from "./_layout.ts";
import { reduceDispatch, type ReduceKind, reduceView } from "./_reduce.ts";
import {
  matmulDispatch,
  matmulPlan,
  type MatmulVariant,
  packPerm,
  tiledMatmulDispatch,
} from "./_matmul.ts";
import { META_WORDS } from "./_wgsl.ts";

const SLOT_BYTES = 256;
const SLOTS_PER_BATCH = 64;
const POOL_CAP_BYTES = 512 * 1024 * 1024;

type In = { buf: GpuBuffer; aval: Aval };

/** Rounds a byte count up to a size class (4 classes per power of two). */
export function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 16);
  const p = 2 ** Math.floor(Math.log2(b));
  for (const f of [1, 1.25, 1.5, 1.75, 2]) {
    const c = Math.ceil((p * f) / 16) * 16;
    if (c >= b) return c;
  }
  return 2 * p;
}

function envVariant(): MatmulVariant | undefined {
  let v: string | undefined;
  try {
    v = Deno.env.get("HEED_WEBGPU_MATMUL");
  } catch {
    return undefined;
  }
  if (v === undefined || v === "") return undefined;
  if (v !== "blocked" && v !== "tiled") {
    throw new RangeError(
      `HEED_WEBGPU_MATMUL="${v}" must be "blocked" or "tiled"`,
    );
  }
  return v;
}

/** Bytes per element as stored on the GPU (bool is a u32). */
function elemBytes(_aval: Aval): number {
  return 4;
}

/** The WebGPU implementation of {@link Backend}. */
export class WebGpuBackend implements Backend {
  /** Backend name. */
  readonly name = "webgpu" as const;
  /** The adapter this backend runs on. */
  readonly info: AdapterInfo;
  #adapter: GPUAdapter;
  #device: GPUDevice;
  #generation = 0;
  #lostReason: string | null = null;
  #pipelines = new Map<string, GPUComputePipeline>();
  #layouts = new Map<string, GPUBindGroupLayout>();
  #pool = new Map<number, GPUBuffer[]>();
  #pooledBytes = 0;
  #liveBuffers = 0;
  #liveBytes = 0;
  #encoder: GPUCommandEncoder | null = null;
  #meta: GPUBuffer | null = null;
  #metaData = new Uint32Array((SLOTS_PER_BATCH * SLOT_BYTES) / 4);
  #slot = 0;
  #metaPool: GPUBuffer[] = [];
  #maxPerDim: number;
  #reacquire: Promise<void> | null = null;
  #recycled = false;
  /** The matmul kernel family in use (by adapter kind, or `HEED_WEBGPU_MATMUL`). */
  matmulVariant: MatmulVariant;
  #validations: Promise<string | null>[] = [];

  private constructor(adapter: GPUAdapter, device: GPUDevice) {
    this.#adapter = adapter;
    this.#device = device;
    this.info = describeAdapter(adapter);
    this.#maxPerDim = this.info.limits.maxComputeWorkgroupsPerDimension ??
      65535;
    this.matmulVariant = envVariant() ??
      (this.info.isSoftware ? "blocked" : "tiled");
    this.#watch(device);
  }

  /**
   * Creates the backend on `adapter` (default: a newly requested one), or
   * returns null when no adapter exists.
   */
  static async create(
    adapter?: GPUAdapter | null,
  ): Promise<WebGpuBackend | null> {
    adapter ??= await requestAdapter();
    if (!adapter) return null;
    const device = await requestDevice(adapter);
    return new WebGpuBackend(adapter, device);
  }

  /** The device (tests use it to simulate loss). */
  get device(): GPUDevice {
    return this.#device;
  }

  #watch(device: GPUDevice): void {
    device.lost.then((info) => {
      if (device !== this.#device) return;
      this.#onLost(info.message || info.reason || "unknown reason");
    });
    device.addEventListener?.("uncapturederror", (e) => {
      // Reported at the next readback or sync, where the caller can catch it.
      const err = (e as GPUUncapturedErrorEvent).error;
      this.#validations.push(Promise.resolve(`webgpu: ${err.message}`));
    });
  }

  #onLost(reason: string): void {
    this.#lostReason = reason;
    this.#generation++;
    this.#pipelines.clear();
    this.#layouts.clear();
    this.#pool.clear();
    this.#pooledBytes = 0;
    this.#liveBuffers = 0;
    this.#liveBytes = 0;
    this.#encoder = null;
    this.#meta = null;
    this.#slot = 0;
    this.#metaPool = [];
    this.#reacquire = (async () => {
      const adapter = (await requestAdapter()) ?? this.#adapter;
      const device = await requestDevice(adapter);
      this.#adapter = adapter;
      this.#device = device;
      this.#lostReason = null;
      this.#watch(device);
    })();
  }

  /** Resolves once the device is usable (after a loss, once it is re-acquired). */
  async ready(): Promise<void> {
    while (this.#reacquire) {
      const p = this.#reacquire;
      await p;
      if (this.#reacquire === p) this.#reacquire = null;
    }
  }

  #checkDevice(op: string): void {
    if (this.#lostReason !== null) {
      throw new Error(
        `webgpu: ${op}: the device was lost (${this.#lostReason}); await ready() before new work`,
      );
    }
  }

  #check(op: string, b: GpuBuffer): void {
    if (b.generation !== this.#generation) {
      throw new Error(
        `webgpu: ${op}: this tensor's storage was lost with the GPU device; recompute it from host data`,
      );
    }
    if (b.refs <= 0) {
      throw new Error(`webgpu: ${op}: this tensor's storage was freed`);
    }
  }

  #alloc(bytes: number): GpuBuffer {
    const cls = sizeClass(bytes);
    const list = this.#pool.get(cls);
    let buffer = list?.pop();
    this.#recycled = buffer !== undefined;
    if (buffer) this.#pooledBytes -= cls;
    else {
      buffer = this.#device.createBuffer({
        size: cls,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
          GPUBufferUsage.COPY_DST,
      });
    }
    this.#liveBuffers++;
    this.#liveBytes += cls;
    return { buffer, bytes, refs: 1, generation: this.#generation };
  }

  #release(b: GpuBuffer): void {
    if (b.generation !== this.#generation) return;
    const cls = b.buffer.size;
    this.#liveBuffers--;
    this.#liveBytes -= cls;
    if (this.#pooledBytes + cls > POOL_CAP_BYTES) {
      this.#flush();
      b.buffer.destroy();
      return;
    }
    let list = this.#pool.get(cls);
    if (!list) this.#pool.set(cls, list = []);
    list.push(b.buffer);
    this.#pooledBytes += cls;
  }

  upload(data: HostArray, aval: Aval): GpuBuffer {
    this.#checkDevice("upload");
    const n = sizeOf(aval.shape);
    if (data.length !== n) {
      throw new TypeError(
        `webgpu: upload of ${data.length} values into ${fmtShape(aval.shape)}`,
      );
    }
    const b = this.#alloc(n * elemBytes(aval));
    if (n > 0) {
      // A recycled buffer may still be used by encoded work: submit that first.
      if (this.#recycled) this.#flush();
      const words = aval.dtype === "bool" ? Uint32Array.from(data) : data;
      this.#device.queue.writeBuffer(
        b.buffer,
        0,
        words.buffer as ArrayBuffer,
        words.byteOffset,
        n * 4,
      );
    }
    return b;
  }

  async read(handle: unknown, aval: Aval): Promise<HostArray> {
    const b = handle as GpuBuffer;
    this.#check("read", b);
    const n = sizeOf(aval.shape);
    const out = hostArray(aval.dtype, n);
    if (n === 0) return out;
    const bytes = n * 4;
    const staging = this.#device.createBuffer({
      size: Math.ceil(bytes / 4) * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.#encoderNow().copyBufferToBuffer(b.buffer, 0, staging, 0, bytes);
    this.#flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } finally {
      await this.#throwKernelErrors().finally(() => {
        if (staging.mapState !== "mapped") staging.destroy();
      });
    }
    const range = staging.getMappedRange(0, bytes);
    if (aval.dtype === "float32") {
      (out as Float32Array).set(new Float32Array(range));
    } else if (aval.dtype === "int32") {
      (out as Int32Array).set(new Int32Array(range));
    } else (out as Uint8Array).set(new Uint32Array(range));
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Whether `handle` still refers to live storage on the current device. */
  isLive(handle: unknown): boolean {
    const b = handle as GpuBuffer;
    return b.refs > 0 && b.generation === this.#generation;
  }

  free(handle: unknown): void {
    const b = handle as GpuBuffer;
    if (b.refs <= 0) return;
    b.refs--;
    if (b.refs === 0) this.#release(b);
  }

  /** Live buffers and bytes, plus what the pool keeps for reuse. */
  memory(): MemoryStats {
    return {
      liveBuffers: this.#liveBuffers,
      liveBytes: this.#liveBytes,
      pooledBytes: this.#pooledBytes,
    };
  }

  /** Submits all encoded work. */
  flush(): void {
    this.#flush();
  }

  /** Resolves when all submitted work has finished on the device. */
  async sync(): Promise<void> {
    this.#flush();
    await this.#device.queue.onSubmittedWorkDone();
    await this.#throwKernelErrors();
  }

  /** Rejects with WGSL line:column messages if a kernel failed validation. */
  async #throwKernelErrors(): Promise<void> {
    if (this.#validations.length === 0) return;
    const pending = this.#validations;
    this.#validations = [];
    const errors = (await Promise.all(pending)).filter((e): e is string =>
      e !== null
    );
    if (errors.length) throw new Error(errors.join("\n"));
  }

  /** Runs a raw dispatch (for kernel authors and tests). */
  runDispatch(d: Dispatch): void {
    this.#checkDevice("runDispatch");
    this.#encode(d);
  }

  /** Allocates a storage buffer of `bytes` (for kernel authors and tests). */
  allocate(bytes: number): GpuBuffer {
    this.#checkDevice("allocate");
    return this.#alloc(bytes);
  }

  #encoderNow(): GPUCommandEncoder {
    if (!this.#encoder) this.#encoder = this.#device.createCommandEncoder();
    return this.#encoder;
  }

  #flush(): void {
    if (!this.#encoder) return;
    if (this.#meta && this.#slot > 0) {
      this.#device.queue.writeBuffer(
        this.#meta,
        0,
        this.#metaData,
        0,
        (this.#slot * SLOT_BYTES) / 4,
      );
    }
    this.#device.queue.submit([this.#encoder.finish()]);
    this.#encoder = null;
    const meta = this.#meta;
    this.#meta = null;
    this.#slot = 0;
    if (meta) {
      const gen = this.#generation;
      this.#device.queue.onSubmittedWorkDone().then(() => {
        if (gen === this.#generation) this.#metaPool.push(meta);
      });
    }
  }

  #layout(nInputs: number): GPUBindGroupLayout {
    const key = String(nInputs);
    let l = this.#layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [
        {
          binding: 0,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: "uniform" },
        },
      ];
      for (let i = 0; i < nInputs; i++) {
        entries.push({
          binding: i + 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: "read-only-storage" },
        });
      }
      entries.push({
        binding: nInputs + 1,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "storage" },
      });
      l = this.#device.createBindGroupLayout({ entries });
      this.#layouts.set(key, l);
    }
    return l;
  }

  #pipeline(d: Dispatch): GPUComputePipeline {
    let p = this.#pipelines.get(d.key);
    if (p) return p;
    const code = d.source();
    const device = this.#device;
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code, label: d.key });
    p = device.createComputePipeline({
      layout: device.createPipelineLayout({
        bindGroupLayouts: [this.#layout(d.inputs.length)],
      }),
      compute: { module, entryPoint: "main" },
      label: d.key,
    });
    this.#validations.push(
      device.popErrorScope().then(async (err) => {
        if (!err) return null;
        const info = await module.getCompilationInfo();
        const where = info.messages
          .filter((msg) => msg.type === "error")
          .map((msg) =>
            `  ${d.key}:${msg.lineNum}:${msg.linePos}: ${msg.message.trim()}`
          )
          .join("\n");
        this.#pipelines.delete(d.key);
        return `webgpu: kernel "${d.key}" is invalid:\n${
          where || "  " + err.message
        }`;
      }),
    );
    this.#pipelines.set(d.key, p);
    return p;
  }

  /** Compiles `d`'s kernel and reports WGSL errors with line:column (for tests and tools). */
  async compileCheck(key: string, code: string): Promise<string[]> {
    const module = this.#device.createShaderModule({ code, label: key });
    const info = await module.getCompilationInfo();
    return info.messages
      .filter((m) => m.type === "error")
      .map((m) => `${key}:${m.lineNum}:${m.linePos}: ${m.message}`);
  }

  #encode(d: Dispatch): void {
    if (d.meta.length > META_WORDS) {
      throw new RangeError(`webgpu: ${d.key}: metadata too long`);
    }
    if (!this.#meta || this.#slot >= SLOTS_PER_BATCH) {
      this.#flush();
      this.#meta = this.#metaPool.pop() ??
        this.#device.createBuffer({
          size: SLOTS_PER_BATCH * SLOT_BYTES,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        });
      this.#metaData.fill(0);
    }
    const slot = this.#slot++;
    this.#metaData.set(d.meta.map((v) => v >>> 0), (slot * SLOT_BYTES) / 4);
    const pipeline = this.#pipeline(d);
    const entries: GPUBindGroupEntry[] = [
      {
        binding: 0,
        resource: {
          buffer: this.#meta,
          offset: slot * SLOT_BYTES,
          size: SLOT_BYTES,
        },
      },
    ];
    d.inputs.forEach((b, i) =>
      entries.push({ binding: i + 1, resource: { buffer: b.buffer } })
    );
    entries.push({
      binding: d.inputs.length + 1,
      resource: { buffer: d.output.buffer },
    });
    const group = this.#device.createBindGroup({
      layout: this.#layout(d.inputs.length),
      entries,
    });
    const pass = this.#encoderNow().beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(d.groups[0], d.groups[1], d.groups[2]);
    pass.end();
  }

  run<P extends Primitive>(
    prim: P,
    inputs: readonly Operand[],
    params: Params<P>,
    out: Aval,
  ): GpuBuffer {
    this.#checkDevice(prim);
    const ins: In[] = inputs.map((x) => {
      const b = x.handle as GpuBuffer;
      this.#check(prim, b);
      return { buf: b, aval: x.aval };
    });
    const size = sizeOf(out.shape);
    // Views that share storage: same bytes, new shape.
    if (
      prim === "reshape" ||
      (prim === "convert_element_type" && ins[0]!.aval.dtype === out.dtype) ||
      ((prim === "reduce_sum" || prim === "reduce_max" ||
        prim === "reduce_min") &&
        (params as Params<"reduce_sum">).axes.length === 0)
    ) {
      ins[0]!.buf.refs++;
      return ins[0]!.buf;
    }
    const outBuf = this.#alloc(size * elemBytes(out));
    if (size === 0) return outBuf;
    for (const d of this.#plan(prim, ins, params, out, outBuf)) this.#encode(d);
    return outBuf;
  }

  /** A temporary buffer holding `x` transposed by `perm`. */
  #transposed(x: In, perm: readonly number[]): In {
    const shape = perm.map((a) => x.aval.shape[a]!);
    const aval = { shape, dtype: x.aval.dtype };
    const buf = this.#alloc(sizeOf(shape) * 4);
    this.#encode(transposeDispatch(x, { perm }, aval, buf, this.#maxPerDim));
    return { buf, aval };
  }

  #plan<P extends Primitive>(
    prim: P,
    ins: In[],
    params: Params<P>,
    out: Aval,
    outBuf: GpuBuffer,
  ): Dispatch[] {
    const mp = this.#maxPerDim;
    if (ELEMENTWISE.has(prim)) {
      return [elementwiseDispatch(prim, ins, params, out, outBuf, mp)];
    }
    const p = params as Params<Primitive>;
    switch (prim) {
      case "transpose":
        return [
          transposeDispatch(ins[0]!, p as Params<"transpose">, out, outBuf, mp),
        ];
      case "broadcast_in_dim":
        return [
          broadcastDispatch(
            ins[0]!,
            p as Params<"broadcast_in_dim">,
            out,
            outBuf,
            mp,
          ),
        ];
      case "slice":
        return [sliceDispatch(ins[0]!, p as Params<"slice">, out, outBuf, mp)];
      case "pad":
        return [padDispatch(ins[0]!, p as Params<"pad">, out, outBuf, mp)];
      case "concatenate":
        return concatDispatches(
          ins,
          p as Params<"concatenate">,
          out,
          outBuf,
          mp,
        );
      case "gather":
        return [
          gatherDispatch(
            ins[0]!,
            ins[1]!,
            p as Params<"gather">,
            out,
            outBuf,
            mp,
          ),
        ];
      case "scatter_add": {
        this.#encoderNow().clearBuffer(
          outBuf.buffer,
          0,
          Math.ceil((sizeOf(out.shape) * 4) / 4) * 4,
        );
        if (sizeOf(ins[0]!.aval.shape) === 0) return [];
        return [
          scatterAddDispatch(
            ins[0]!,
            ins[1]!,
            p as Params<"scatter_add">,
            out,
            outBuf,
            mp,
          ),
        ];
      }
      case "iota":
        return [iotaDispatch(p as Params<"iota">, out, outBuf, mp)];
      case "random_uniform":
        return [randomDispatch(p as Params<"random_uniform">, out, outBuf, mp)];
      case "reduce_sum":
      case "reduce_max":
      case "reduce_min":
      case "argmax":
      case "argmin":
        return this.#planReduce(prim as ReduceKind, ins[0]!, p, out, outBuf);
      case "dot_general":
        return this.#planMatmul(
          ins[0]!,
          ins[1]!,
          p as Params<"dot_general">,
          out,
          outBuf,
        );
      default:
        throw new TypeError(`webgpu: no kernel for ${prim}`);
    }
  }

  #planReduce(
    kind: ReduceKind,
    x: In,
    p: Params<Primitive>,
    out: Aval,
    outBuf: GpuBuffer,
  ): Dispatch[] {
    const axes = kind === "argmax" || kind === "argmin"
      ? [(p as Params<"argmax">).axis]
      : [...(p as Params<"reduce_sum">).axes];
    let src = x;
    let view = reduceView(x.aval.shape, axes);
    let temp: In | null = null;
    if (!view) {
      const kept = x.aval.shape.map((_, i) => i).filter((i) =>
        !axes.includes(i)
      );
      temp = this.#transposed(x, [...kept, ...axes]);
      src = temp;
      view = {
        outer: sizeOf(kept.map((a) => x.aval.shape[a]!)),
        r: sizeOf(axes.map((a) => x.aval.shape[a]!)),
        inner: 1,
      };
    }
    this.#encode(reduceDispatch(kind, src, view, out, outBuf, this.#maxPerDim));
    if (temp) this.free(temp.buf);
    return [];
  }

  #planMatmul(
    lhs: In,
    rhs: In,
    p: Params<"dot_general">,
    out: Aval,
    outBuf: GpuBuffer,
  ): Dispatch[] {
    let a = lhs, b = rhs, params = p;
    let plan = matmulPlan(a.aval, b.aval, params);
    const temps: In[] = [];
    if (!plan) {
      // Pack both operands to [batch, rows, cols] and retry with a canonical layout.
      const nb = p.lhsBatch.length;
      a = this.#transposed(
        lhs,
        packPerm(lhs.aval.shape, p.lhsBatch, p.lhsContract, true),
      );
      b = this.#transposed(
        rhs,
        packPerm(rhs.aval.shape, p.rhsBatch, p.rhsContract, false),
      );
      temps.push(a, b);
      const nc = p.lhsContract.length;
      const aFree = a.aval.shape.length - nb - nc;
      params = {
        lhsBatch: [...Array(nb).keys()],
        rhsBatch: [...Array(nb).keys()],
        lhsContract: [...Array(nc).keys()].map((i) => nb + aFree + i),
        rhsContract: [...Array(nc).keys()].map((i) => nb + i),
      };
      plan = matmulPlan(a.aval, b.aval, params);
      if (!plan) throw new Error("webgpu: dot_general packing failed");
    }
    if (plan.k === 0) {
      this.#encoderNow().clearBuffer(outBuf.buffer, 0, sizeOf(out.shape) * 4);
    } else {
      const make = this.matmulVariant === "tiled"
        ? tiledMatmulDispatch
        : matmulDispatch;
      this.#encode(
        make(a.buf, b.buf, plan, out.dtype, outBuf, this.#maxPerDim),
      );
    }
    for (const t of temps) this.free(t.buf);
    return [];
  }
}
