/**
 * Device loss: the current device, a generation number that every buffer
 * carries, and recovery. When the device is lost the generation moves on
 * (so old buffers are recognised as gone and never pooled), the backend
 * drops its caches, and a new device is acquired in the background; work
 * submitted before {@link DeviceKeeper.ready} resolves gets a clear error,
 * and a tensor whose storage was on the lost device says to recompute it.
 *
 * @module
 */

/// <reference types="npm:@webgpu/types@0.1.74" />

import { requestAdapter, requestDevice } from "./device.ts";
import type { GpuBuffer } from "./_kernel.ts";
import type { KernelErrors } from "./_pipelines.ts";

/** What the backend does around a loss. */
export interface LossHandlers {
  /** The device is gone: drop everything that belongs to it. */
  lost(): void;
  /** A new device is ready: build what belongs to it. */
  acquired(device: GPUDevice): void;
}

/** The current device and its generation, re-acquired after a loss. */
export class DeviceKeeper {
  #adapter: GPUAdapter;
  #device: GPUDevice;
  #generation = 0;
  #lostReason: string | null = null;
  #reacquire: Promise<void> | null = null;
  readonly #errors: KernelErrors;
  readonly #handlers: LossHandlers;

  constructor(
    adapter: GPUAdapter,
    device: GPUDevice,
    errors: KernelErrors,
    handlers: LossHandlers,
  ) {
    this.#adapter = adapter;
    this.#device = device;
    this.#errors = errors;
    this.#handlers = handlers;
    this.#watch(device);
  }

  /** The current device. */
  get device(): GPUDevice {
    return this.#device;
  }

  /** Incremented at each loss; buffers of older generations are gone. */
  get generation(): number {
    return this.#generation;
  }

  #watch(device: GPUDevice): void {
    device.lost.then((info) => {
      if (device !== this.#device) return;
      this.#onLost(info.message || info.reason || "unknown reason");
    });
    device.addEventListener?.("uncapturederror", (e) => {
      // Reported at the next readback or sync, where the caller can catch it.
      const err = (e as GPUUncapturedErrorEvent).error;
      this.#errors.push(`webgpu: ${err.message}`);
    });
  }

  #onLost(reason: string): void {
    this.#lostReason = reason;
    this.#generation++;
    this.#handlers.lost();
    this.#reacquire = (async () => {
      const adapter = (await requestAdapter()) ?? this.#adapter;
      const device = await requestDevice(adapter);
      this.#adapter = adapter;
      this.#device = device;
      this.#lostReason = null;
      this.#handlers.acquired(device);
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

  /** Throws if the device is lost and not yet re-acquired. */
  check(op: string): void {
    if (this.#lostReason !== null) {
      throw new Error(
        `webgpu: ${op}: the device was lost (${this.#lostReason}); await ready() before new work`,
      );
    }
  }

  /** Throws if `b` was freed or belongs to a lost device. */
  checkBuffer(op: string, b: GpuBuffer): void {
    if (b.generation !== this.#generation) {
      throw new Error(
        `webgpu: ${op}: this tensor's storage was lost with the GPU device; recompute it from host data`,
      );
    }
    if (b.refs <= 0) {
      throw new Error(`webgpu: ${op}: this tensor's storage was freed`);
    }
  }
}
