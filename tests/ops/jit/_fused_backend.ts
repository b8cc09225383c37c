// A test-only backend: the CPU reference with runFused computing each
// fused kernel by its reference meaning (runFusedReference), so the
// executor's fused path runs without a code generator. It counts its
// storage exactly (the CPU backend leaves that to the garbage collector)
// and records the kernels it ran and the peak of live buffers.

import type { Aval, HostArray } from "../../../ops/dtype.ts";
import type {
  Backend,
  BackendName,
  MemoryStats,
  Operand,
} from "../../../ops/backends/contract.ts";
import { CpuBackend } from "../../../ops/backends/cpu.ts";
import type { FusedKernel } from "../../../ops/backends/fused.ts";
import { runFusedReference } from "../../../ops/backends/fused_reference.ts";
import type { Params, Primitive } from "../../../ops/primitives.ts";
import { fromHost } from "../../../ops/core.ts";
import type { Tensor } from "../../../mod.ts";

/** What a {@link testBackend} has seen. */
export interface Counts {
  /** Plain kernels run (`run`). */
  runs: number;
  /** Fused kernels run (`runFused`). */
  fused: number;
  /** The most buffers live at once since the last {@link TestBackend.resetPeak}. */
  peak: number;
}

/** A backend for tests, with its counters. */
export type TestBackend = Backend & {
  readonly counts: Counts;
  resetPeak(): void;
  tensor(data: number[], shape: number[]): Tensor;
};

/**
 * The CPU reference under its own name (so that its scalars and cache
 * keys are its own), with `runFused` when `fused` is set.
 */
export function testBackend(fused: boolean): TestBackend {
  const cpu = new CpuBackend();
  const refs = new Map<unknown, number>();
  const counts: Counts = { runs: 0, fused: 0, peak: 0 };
  const hold = (h: unknown): unknown => {
    refs.set(h, (refs.get(h) ?? 0) + 1);
    counts.peak = Math.max(counts.peak, refs.size);
    return h;
  };
  const b = {
    name: (fused ? "cpu+fused" : "cpu+counted") as BackendName,
    counts,
    resetPeak: () => void (counts.peak = refs.size),
    upload: (data: HostArray, aval: Aval) => hold(cpu.upload(data, aval)),
    read: (h: unknown, aval: Aval) => cpu.read(h, aval),
    readSync: (h: unknown, aval: Aval) => cpu.readSync(h, aval),
    run<P extends Primitive>(
      prim: P,
      inputs: readonly Operand[],
      params: Params<P>,
      out: Aval,
    ): unknown {
      counts.runs++;
      return hold(cpu.run(prim, inputs, params, out));
    },
    free(h: unknown): void {
      const n = refs.get(h);
      if (n === undefined) throw new Error("test backend: double free");
      if (n === 1) refs.delete(h);
      else refs.set(h, n - 1);
    },
    memory: (): MemoryStats => ({
      liveBuffers: refs.size,
      liveBytes: [...refs.keys()].reduce<number>(
        (s, h) => s + (h as HostArray).byteLength,
        0,
      ),
      pooledBytes: 0,
    }),
    tensor: (data: number[], shape: number[]): Tensor =>
      fromHost(new Float32Array(data), shape, "float32", b),
  };
  if (!fused) return b;
  return Object.assign(b, {
    runFused(kernel: FusedKernel, inputs: readonly Operand[]): unknown[] {
      counts.fused++;
      const outs = runFusedReference(
        kernel,
        inputs.map((x) => x.handle as HostArray),
      );
      // Fresh arrays: an output may be a kernel input's own array.
      return outs.map((o) => hold(o.slice()));
    },
  });
}
