/**
 * The WebGPU buffer pool: storage buffers are rounded up to a size class
 * (four per power of two) and kept on a free list per class when their last
 * tensor lets go, up to {@link POOL_CAP_BYTES}. Buffers carry the device
 * generation they were made on, so a buffer from a lost device is never
 * reused or counted.
 *
 * @module
 */

/// <reference types="npm:@webgpu/types@0.1.74" />

import type { MemoryStats } from "../contract.ts";
import type { GpuBuffer } from "./_kernel.ts";

/** Bytes the pool may keep for reuse before it destroys released buffers. */
export const POOL_CAP_BYTES: number = 512 * 1024 * 1024;

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

/** Size-class free lists of storage buffers, with live and pooled byte counts. */
export class BufferPool {
  #free = new Map<number, GPUBuffer[]>();
  #pooledBytes = 0;
  #liveBuffers = 0;
  #liveBytes = 0;
  /** Whether the last {@link BufferPool.alloc} reused a pooled buffer. */
  recycled = false;

  /**
   * A buffer of at least `bytes` on `device` (generation `generation`),
   * from the pool when one of its size class is free.
   */
  alloc(device: GPUDevice, bytes: number, generation: number): GpuBuffer {
    const cls = sizeClass(bytes);
    let buffer = this.#free.get(cls)?.pop();
    this.recycled = buffer !== undefined;
    if (buffer) this.#pooledBytes -= cls;
    else {
      buffer = device.createBuffer({
        size: cls,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
          GPUBufferUsage.COPY_DST,
      });
    }
    this.#liveBuffers++;
    this.#liveBytes += cls;
    return { buffer, bytes, refs: 1, generation };
  }

  /**
   * Takes back a buffer whose last reference went. Over the cap it calls
   * `beforeDestroy` (submit the work that may still use it) and destroys it.
   */
  release(b: GpuBuffer, beforeDestroy: () => void): void {
    const cls = b.buffer.size;
    this.#liveBuffers--;
    this.#liveBytes -= cls;
    if (this.#pooledBytes + cls > POOL_CAP_BYTES) {
      beforeDestroy();
      b.buffer.destroy();
      return;
    }
    let list = this.#free.get(cls);
    if (!list) this.#free.set(cls, list = []);
    list.push(b.buffer);
    this.#pooledBytes += cls;
  }

  /** Forgets every buffer (the device that owned them is gone). */
  clear(): void {
    this.#free.clear();
    this.#pooledBytes = 0;
    this.#liveBuffers = 0;
    this.#liveBytes = 0;
  }

  /** Live buffers and bytes, plus what the pool keeps for reuse. */
  stats(): MemoryStats {
    return {
      liveBuffers: this.#liveBuffers,
      liveBytes: this.#liveBytes,
      pooledBytes: this.#pooledBytes,
    };
  }
}
