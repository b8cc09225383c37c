/**
 * Compute pipelines cached per device by the dispatch's metadata key (never
 * by source text), their bind-group layouts, and the kernel errors that
 * WebGPU reports asynchronously: WGSL validation errors come back with
 * line:column and are raised at the next readback or `sync`.
 *
 * @module
 */

/// <reference types="npm:@webgpu/types@0.1.74" />

import type { Dispatch } from "./_kernel.ts";

/** Errors the device reported since they were last raised. */
export class KernelErrors {
  #pending: Promise<string | null>[] = [];

  /** Records an error message, or a promise of one (null: no error). */
  push(error: string | Promise<string | null>): void {
    this.#pending.push(Promise.resolve(error));
  }

  /** Rejects with every recorded message (WGSL line:column included), then forgets them. */
  async raise(): Promise<void> {
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    const errors = (await Promise.all(pending)).filter((e): e is string =>
      e !== null
    );
    if (errors.length) throw new Error(errors.join("\n"));
  }
}

/** The error lines of a shader module: `key:line:column: message`. */
async function errorLines(
  module: GPUShaderModule,
  key: string,
  indent: string,
): Promise<string[]> {
  const info = await module.getCompilationInfo();
  return info.messages
    .filter((m) => m.type === "error")
    .map((m) =>
      `${indent}${key}:${m.lineNum}:${m.linePos}: ${m.message.trim()}`
    );
}

/** Compiles `code` and returns its WGSL errors with line:column (for tests and tools). */
export async function compileErrors(
  device: GPUDevice,
  key: string,
  code: string,
): Promise<string[]> {
  const module = device.createShaderModule({ code, label: key });
  return await errorLines(module, key, "");
}

/** The pipelines and layouts of one device. */
export class PipelineCache {
  readonly #device: GPUDevice;
  readonly #errors: KernelErrors;
  #pipelines = new Map<string, GPUComputePipeline>();
  #layouts = new Map<number, GPUBindGroupLayout>();

  constructor(device: GPUDevice, errors: KernelErrors) {
    this.#device = device;
    this.#errors = errors;
  }

  /** The layout of a kernel with `nInputs` inputs: uniforms at 0, inputs, then the output. */
  layout(nInputs: number): GPUBindGroupLayout {
    let l = this.#layouts.get(nInputs);
    if (l) return l;
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
    this.#layouts.set(nInputs, l);
    return l;
  }

  /**
   * The pipeline of `d`, compiled on a cache miss. A validation error is
   * recorded (and the entry dropped) when WebGPU reports it.
   */
  pipeline(d: Dispatch): GPUComputePipeline {
    let p = this.#pipelines.get(d.key);
    if (p) return p;
    const device = this.#device;
    device.pushErrorScope("validation");
    const module = device.createShaderModule({
      code: d.source(),
      label: d.key,
    });
    p = device.createComputePipeline({
      layout: device.createPipelineLayout({
        bindGroupLayouts: [this.layout(d.inputs.length)],
      }),
      compute: { module, entryPoint: "main" },
      label: d.key,
    });
    this.#errors.push(
      device.popErrorScope().then(async (err) => {
        if (!err) return null;
        const where = (await errorLines(module, d.key, "  ")).join("\n");
        this.#pipelines.delete(d.key);
        return `webgpu: kernel "${d.key}" is invalid:\n${
          where || "  " + err.message
        }`;
      }),
    );
    this.#pipelines.set(d.key, p);
    return p;
  }
}
