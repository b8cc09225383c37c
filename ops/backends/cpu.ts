/**
 * The CPU reference backend: plain typed-array loops, correct first. It is
 * the executable specification that the WebGPU and wasm backends are
 * tested against. A storage handle is the host array itself
 * (`Float32Array`, `Int32Array`, or `Uint8Array` of 0/1 for bool); storage
 * is never mutated after a kernel returns it, so kernels such as `reshape`
 * may hand back their input's storage.
 *
 * @module
 */

import type { Backend, BackendName, MemoryStats, Operand } from "./contract.ts";
import {
  type Aval,
  type DType,
  fmtShape,
  type HostArray,
  sizeOf,
} from "../dtype.ts";
import type { Params, Primitive } from "../primitives.ts";
import type { CpuKernel, CpuOperand } from "./_cpu_common.ts";
import { PLAIN_KERNELS } from "./_cpu_kernels.ts";
import { runFlashReference } from "./flash_reference.ts";
import type { FlashParams } from "./flash.ts";

export type { CpuKernel, CpuOperand } from "./_cpu_common.ts";

/** The kernel of every primitive: a missing entry fails `deno check`. */
const KERNELS: { [P in Primitive]: CpuKernel<P> } = {
  ...PLAIN_KERNELS,
  flash_attention: (inputs, params) =>
    runFlashReference(params as FlashParams, inputs.map((x) => x.handle)),
};

const ARRAY_TYPES: {
  [D in DType]: { new (n: number): HostArray; name: string };
} = {
  float32: Float32Array,
  int32: Int32Array,
  bool: Uint8Array,
};

/** Checks that `handle` is a host array of the right type and length for `aval`. */
function hostOf(op: string, handle: unknown, aval: Aval): HostArray {
  const type = ARRAY_TYPES[aval.dtype];
  if (!(handle instanceof type) || handle.length !== sizeOf(aval.shape)) {
    const got = ArrayBuffer.isView(handle)
      ? `${handle.constructor.name}(${(handle as HostArray).length})`
      : typeof handle;
    throw new TypeError(
      `cpu ${op}: expected a ${type.name} of ${
        sizeOf(aval.shape)
      } elements for ${aval.dtype}${fmtShape(aval.shape)}, got ${got}`,
    );
  }
  return handle;
}

/**
 * The CPU reference backend.
 *
 * @example Adding two vectors
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CpuBackend } from "./cpu.ts";
 *
 * const cpu = new CpuBackend();
 * const aval = { shape: [3], dtype: "float32" } as const;
 * const x = cpu.upload(new Float32Array([1, 2, 3]), aval);
 * const y = cpu.run("add", [{ handle: x, aval }, { handle: x, aval }], {}, aval);
 * assertEquals(await cpu.read(y, aval), new Float32Array([2, 4, 6]));
 * ```
 */
export class CpuBackend implements Backend {
  /** This backend's name, as `HEED_BACKEND` spells it. */
  readonly name: BackendName = "cpu";
  #tracked = new WeakSet<HostArray>();
  #liveBuffers = 0;
  #liveBytes = 0;
  #registry = new FinalizationRegistry<number>((bytes) => {
    this.#liveBuffers--;
    this.#liveBytes -= bytes;
  });

  /** Counts storage until the garbage collector reclaims it. */
  #track(a: HostArray): HostArray {
    if (!this.#tracked.has(a)) {
      this.#tracked.add(a);
      this.#liveBuffers++;
      this.#liveBytes += a.byteLength;
      this.#registry.register(a, a.byteLength);
    }
    return a;
  }

  /** Live storage buffers and bytes (reclaimed ones leave when the GC runs). */
  memory(): MemoryStats {
    return {
      liveBuffers: this.#liveBuffers,
      liveBytes: this.#liveBytes,
      pooledBytes: 0,
    };
  }

  /** Copies `data` into new storage; `data` must match `aval`'s dtype and size. */
  upload(data: HostArray, aval: Aval): HostArray {
    return this.#track(hostOf("upload", data, aval).slice());
  }

  /** Returns a fresh copy of the storage. */
  read(handle: unknown, aval: Aval): Promise<HostArray> {
    return Promise.resolve(hostOf("read", handle, aval).slice());
  }

  /** Returns a fresh copy of the storage, synchronously. */
  readSync(handle: unknown, aval: Aval): HostArray {
    return hostOf("read", handle, aval).slice();
  }

  /** Runs primitive `prim` on `inputs`, returning new storage for `out`. */
  run<P extends Primitive>(
    prim: P,
    inputs: readonly Operand[],
    params: Params<P>,
    out: Aval,
  ): HostArray {
    if (!Object.hasOwn(KERNELS, prim)) {
      throw new TypeError(`cpu: unknown primitive "${String(prim)}"`);
    }
    const kernel = KERNELS[prim] as CpuKernel<P>;
    const operands: CpuOperand[] = inputs.map((x) => ({
      handle: hostOf(prim, x.handle, x.aval),
      aval: x.aval,
    }));
    return this.#track(kernel(operands, params, out));
  }

  /** A no-op: the garbage collector owns CPU memory. */
  free(_handle: unknown): void {}
}
