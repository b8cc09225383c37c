// The `grad_qkv` mode of flash kernels on WebGPU: grad_q's and grad_kv's
// shaders (`_flash.ts`) run as they are, then per batch element their
// blocks are copied one after the other into the flat output
// (`[Tq, queries·d]` then `[Tk, d + dv]`, see `../flash.ts`). The scores
// are recomputed twice here, unlike on wasm; the copies are cheap next to
// the two kernels.

/// <reference types="npm:@webgpu/types@0.1.74" />

import { sizeOf } from "../../dtype.ts";
import type { FlashParams } from "../flash.ts";
import type { FusedContext, FusedIn } from "./_fused.ts";
import type { GpuBuffer } from "./_kernel.ts";
import { type FlashOptions, runFlashKernel } from "./_flash.ts";

/** Runs `grad_qkv` (`params.mode`) as grad_q and grad_kv plus copies; returns the new output buffer. */
export function runFlashQkv(
  ctx: FusedContext,
  params: FlashParams,
  inputs: readonly FusedIn[],
  opts: FlashOptions,
): GpuBuffer {
  const k = params.kernel;
  const part = (mode: "grad_q" | "grad_kv") =>
    runFlashKernel(ctx, { kernel: k, mode, index: 0 }, inputs, opts);
  const gq = part("grad_q"), gkv = part("grad_kv");
  const nb = sizeOf(k.batch);
  const bq = 4 * k.tq * k.queries * k.d, bkv = 4 * k.tk * (k.d + k.dv);
  const out = ctx.alloc(nb * (bq + bkv));
  const enc = ctx.encoder();
  for (let b = 0; b < nb; b++) {
    const at = b * (bq + bkv);
    if (bq) enc.copyBufferToBuffer(gq.buffer, b * bq, out.buffer, at, bq);
    if (bkv) {
      enc.copyBufferToBuffer(gkv.buffer, b * bkv, out.buffer, at + bq, bkv);
    }
  }
  ctx.free(gq);
  ctx.free(gkv);
  return out;
}
