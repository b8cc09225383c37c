/**
 * The WebGPU backend: WGSL kernels generated per primitive (shapes and
 * strides travel as uniforms), one file per idea around it:
 *
 * - `_plan.ts`: the exhaustive table of what each primitive dispatches;
 * - `_pool.ts`: the size-class buffer pool;
 * - `_pipelines.ts`: pipelines cached per device by metadata keys, and the
 *   kernel errors WebGPU reports later (with WGSL line:column);
 * - `_encoder.ts`: dispatches batched into one command encoder;
 * - `_device_loss.ts`: the device, its generation, and recovery from loss;
 * - `_fused.ts`: jit's fused kernels, one WGSL shader each (`runFused`).
 * - `_flash.ts`: flash attention kernels, one WGSL shader per kernel and
 *   mode (`runFlash`).
 *
 * This class ties them together behind the {@link Backend} contract, with
 * staging-buffer readback.
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
import {
  type Backend,
  type MemoryStats,
  type Operand,
  readEnv,
  sharesStorage,
} from "../contract.ts";
import type { Params, Primitive } from "../../primitives.ts";
import { type FusedBackend, type FusedKernel, runDotSplit } from "../fused.ts";
import type { FlashBackend, FlashParams } from "../flash.ts";
import {
  type AdapterInfo,
  describeAdapter,
  requestAdapter,
  requestDevice,
} from "./device.ts";
import type { Dispatch, GpuBuffer } from "./_kernel.ts";
import type { MatmulVariant } from "./_matmul.ts";
import { DeviceKeeper } from "./_device_loss.ts";
import { EncoderBatch } from "./_encoder.ts";
import { type FusedContext, runFusedKernel } from "./_fused.ts";
import { runFlashKernel } from "./_flash.ts";
import { runFlashQkv } from "./_flash_qkv.ts";
import { compileErrors, KernelErrors, PipelineCache } from "./_pipelines.ts";
import { type GpuKernel, type In, KERNELS, type PlanContext } from "./_plan.ts";
import { BufferPool } from "./_pool.ts";

export { sizeClass } from "./_pool.ts";

function envVariant(): MatmulVariant | undefined {
  const v = readEnv("HEED_WEBGPU_MATMUL");
  if (v === undefined) return undefined;
  if (v !== "blocked" && v !== "tiled") {
    throw new RangeError(
      `HEED_WEBGPU_MATMUL="${v}" must be "blocked" or "tiled"`,
    );
  }
  return v;
}

/** Bytes per element as stored on the GPU (bool is a u32). */
const ELEM_BYTES = 4;

/** The WebGPU implementation of {@link Backend}. */
export class WebGpuBackend implements Backend, FusedBackend, FlashBackend {
  /** Backend name. */
  readonly name = "webgpu" as const;
  /** The adapter this backend runs on. */
  readonly info: AdapterInfo;
  /** The matmul kernel family in use (by adapter kind, or `HEED_WEBGPU_MATMUL`). */
  matmulVariant: MatmulVariant;
  #errors = new KernelErrors();
  #pool = new BufferPool();
  #keeper: DeviceKeeper;
  #pipelines: PipelineCache;
  #batch: EncoderBatch;
  #plan: PlanContext;
  #fused: FusedContext;

  private constructor(adapter: GPUAdapter, device: GPUDevice) {
    this.info = describeAdapter(adapter);
    this.matmulVariant = envVariant() ??
      (this.info.isSoftware ? "blocked" : "tiled");
    this.#pipelines = new PipelineCache(device, this.#errors);
    this.#batch = new EncoderBatch(device, this.#pipelines);
    this.#keeper = new DeviceKeeper(adapter, device, this.#errors, {
      lost: () => this.#pool.clear(),
      acquired: (d) => {
        this.#pipelines = new PipelineCache(d, this.#errors);
        this.#batch = new EncoderBatch(d, this.#pipelines);
      },
    });
    const maxPerDim = this.info.limits.maxComputeWorkgroupsPerDimension ??
      65535;
    this.#plan = {
      maxPerDim,
      matmulVariant: () => this.matmulVariant,
      alloc: (bytes) => this.#alloc(bytes),
      free: (b) => this.free(b),
      encode: (d) => this.#batch.encode(d),
      encoder: () => this.#batch.encoder(),
      flash: this, // flash_attention calls this.runFlash when there is one
    };
    const limits = this.info.limits;
    this.#fused = {
      ...this.#plan,
      maxStorageBuffers: limits.maxStorageBuffersPerShaderStage ?? 8,
      maxBindingBytes: limits.maxStorageBufferBindingSize ?? 2 ** 27,
    };
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
    return this.#keeper.device;
  }

  /** Resolves once the device is usable (after a loss, once it is re-acquired). */
  ready(): Promise<void> {
    return this.#keeper.ready();
  }

  #alloc(bytes: number): GpuBuffer {
    return this.#pool.alloc(this.device, bytes, this.#keeper.generation);
  }

  /** Copies host data into a new buffer. */
  upload(data: HostArray, aval: Aval): GpuBuffer {
    this.#keeper.check("upload");
    const n = sizeOf(aval.shape);
    if (data.length !== n) {
      throw new TypeError(
        `webgpu: upload of ${data.length} values into ${fmtShape(aval.shape)}`,
      );
    }
    const b = this.#alloc(n * ELEM_BYTES);
    if (n > 0) {
      // A recycled buffer may still be used by encoded work: submit that first.
      if (this.#pool.recycled) this.#batch.flush();
      const words = aval.dtype === "bool" ? Uint32Array.from(data) : data;
      this.device.queue.writeBuffer(
        b.buffer,
        0,
        words.buffer as ArrayBuffer,
        words.byteOffset,
        n * 4,
      );
    }
    return b;
  }

  /** Reads a buffer back through a staging buffer. */
  async read(handle: unknown, aval: Aval): Promise<HostArray> {
    const b = handle as GpuBuffer;
    this.#keeper.checkBuffer("read", b);
    const n = sizeOf(aval.shape);
    const out = hostArray(aval.dtype, n);
    if (n === 0) return out;
    const bytes = n * 4;
    const staging = this.device.createBuffer({
      size: Math.ceil(bytes / 4) * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.#batch.encoder().copyBufferToBuffer(b.buffer, 0, staging, 0, bytes);
    this.#batch.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } finally {
      await this.#errors.raise().finally(() => {
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
    return b.refs > 0 && b.generation === this.#keeper.generation;
  }

  /** Releases one reference; the buffer returns to the pool at zero. */
  free(handle: unknown): void {
    const b = handle as GpuBuffer;
    if (b.refs <= 0) return;
    b.refs--;
    if (b.refs > 0 || b.generation !== this.#keeper.generation) return;
    this.#pool.release(b, () => this.#batch.flush());
  }

  /** Live buffers and bytes, plus what the pool keeps for reuse. */
  memory(): MemoryStats {
    return this.#pool.stats();
  }

  /** Submits all encoded work. */
  flush(): void {
    this.#batch.flush();
  }

  /** Resolves when all submitted work has finished on the device. */
  async sync(): Promise<void> {
    this.#batch.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.#errors.raise();
  }

  /** Runs a raw dispatch (for kernel authors and tests). */
  runDispatch(d: Dispatch): void {
    this.#keeper.check("runDispatch");
    this.#batch.encode(d);
  }

  /** Allocates a storage buffer of `bytes` (for kernel authors and tests). */
  allocate(bytes: number): GpuBuffer {
    this.#keeper.check("allocate");
    return this.#alloc(bytes);
  }

  /** Compiles WGSL `code` and reports its errors with line:column (for tests and tools). */
  compileCheck(key: string, code: string): Promise<string[]> {
    return compileErrors(this.device, key, code);
  }

  /** Runs `prim` by its entry in the kernel table (`_plan.ts`). */
  run<P extends Primitive>(
    prim: P,
    inputs: readonly Operand[],
    params: Params<P>,
    out: Aval,
  ): GpuBuffer {
    this.#keeper.check(prim);
    if (!Object.hasOwn(KERNELS, prim)) {
      throw new TypeError(`webgpu: unknown primitive "${String(prim)}"`);
    }
    const ins: In[] = inputs.map((x) => {
      const b = x.handle as GpuBuffer;
      this.#keeper.checkBuffer(prim, b);
      return { buf: b, aval: x.aval };
    });
    if (sharesStorage(prim, inputs, params, out)) {
      ins[0]!.buf.refs++;
      return ins[0]!.buf;
    }
    const size = sizeOf(out.shape);
    const outBuf = this.#alloc(size * ELEM_BYTES);
    if (size === 0) return outBuf;
    (KERNELS[prim] as GpuKernel<P>)(this.#plan, ins, params, out, outBuf);
    return outBuf;
  }

  /** Runs a fused kernel as one WGSL shader with its whole expression inlined (`_fused.ts`). */
  runFused(kernel: FusedKernel, inputs: readonly Operand[]): GpuBuffer[] {
    if (kernel.kind === "dot") return runDotSplit(this, kernel, inputs);
    this.#keeper.check("runFused");
    const ins = inputs.map((x) => {
      const b = x.handle as GpuBuffer;
      this.#keeper.checkBuffer("runFused", b);
      return { buf: b, aval: x.aval };
    });
    return runFusedKernel(this.#fused, kernel, ins);
  }

  /** Runs a flash kernel: attention row by row with its score inlined (`_flash.ts`). */
  runFlash(params: FlashParams, inputs: readonly Operand[]): GpuBuffer {
    this.#keeper.check("runFlash");
    const ins = inputs.map((x) => {
      const b = x.handle as GpuBuffer;
      this.#keeper.checkBuffer("runFlash", b);
      return { buf: b, aval: x.aval };
    });
    const opts = { software: this.info.isSoftware };
    if (params.mode === "grad_qkv") {
      return runFlashQkv(this.#fused, params, ins, opts);
    }
    return runFlashKernel(this.#fused, params, ins, opts);
  }
}
