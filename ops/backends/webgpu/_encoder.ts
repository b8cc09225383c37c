/**
 * Encoder batching: dispatches are recorded into one command encoder and
 * submitted together (at a readback, a `sync`, or when the uniform slots run
 * out), because one submit per tiny kernel costs more than the kernel. Each
 * dispatch's metadata words go into a 256-byte slot of a shared uniform
 * buffer, written once per batch; uniform buffers are reused once the
 * device has finished the batch that used them.
 *
 * @module
 */

/// <reference types="npm:@webgpu/types@0.1.74" />

import type { Dispatch } from "./_kernel.ts";
import type { PipelineCache } from "./_pipelines.ts";
import { META_WORDS } from "./_wgsl.ts";

/** Bytes of one dispatch's uniform slot (the minimum offset alignment). */
const SLOT_BYTES = 256;
/** Dispatches per batch (uniform slots per buffer). */
const SLOTS_PER_BATCH = 64;

/** The open command encoder of one device and its uniform slots. */
export class EncoderBatch {
  readonly #device: GPUDevice;
  readonly #pipelines: PipelineCache;
  #encoder: GPUCommandEncoder | null = null;
  #meta: GPUBuffer | null = null;
  #metaData = new Uint32Array((SLOTS_PER_BATCH * SLOT_BYTES) / 4);
  #slot = 0;
  #metaPool: GPUBuffer[] = [];

  constructor(device: GPUDevice, pipelines: PipelineCache) {
    this.#device = device;
    this.#pipelines = pipelines;
  }

  /** The open encoder (for copies and clears between dispatches). */
  encoder(): GPUCommandEncoder {
    this.#encoder ??= this.#device.createCommandEncoder();
    return this.#encoder;
  }

  /** Submits all encoded work. */
  flush(): void {
    if (!this.#encoder) return;
    const queue = this.#device.queue;
    if (this.#meta && this.#slot > 0) {
      queue.writeBuffer(
        this.#meta,
        0,
        this.#metaData,
        0,
        (this.#slot * SLOT_BYTES) / 4,
      );
    }
    queue.submit([this.#encoder.finish()]);
    this.#encoder = null;
    const meta = this.#meta;
    this.#meta = null;
    this.#slot = 0;
    if (meta) queue.onSubmittedWorkDone().then(() => this.#metaPool.push(meta));
  }

  /** Records one dispatch: its uniforms, bind group and compute pass. */
  encode(d: Dispatch): void {
    if (d.meta.length > META_WORDS) {
      throw new RangeError(`webgpu: ${d.key}: metadata too long`);
    }
    if (!this.#meta || this.#slot >= SLOTS_PER_BATCH) {
      this.flush();
      this.#meta = this.#metaPool.pop() ??
        this.#device.createBuffer({
          size: SLOTS_PER_BATCH * SLOT_BYTES,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        });
      this.#metaData.fill(0);
    }
    const slot = this.#slot++;
    this.#metaData.set(d.meta.map((v) => v >>> 0), (slot * SLOT_BYTES) / 4);
    const pipeline = this.#pipelines.pipeline(d);
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
      layout: this.#pipelines.layout(d.inputs.length),
      entries,
    });
    const pass = this.encoder().beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(d.groups[0], d.groups[1], d.groups[2]);
    pass.end();
  }
}
