// The CPU kernel of every primitive but \`flash_attention\` (cpu.ts adds
// it): the fused-kernel reference runs nodes with these, and the flash
// reference runs on the fused one, so this table imports neither.
// Private to ops/backends/.

import type { Aval, HostArray } from "../dtype.ts";
import type { Params, Primitive } from "../primitives.ts";
import type { CpuKernel, CpuOperand } from "./_cpu_common.ts";
import {
  BINARY_KERNELS,
  convertKernel,
  selectKernel,
  UNARY_KERNELS,
} from "./_cpu_elementwise.ts";
import {
  broadcastInDimKernel,
  concatenateKernel,
  gatherKernel,
  iotaKernel,
  padKernel,
  randomUniformKernel,
  scatterAddKernel,
  sliceKernel,
  transposeKernel,
} from "./_cpu_layout.ts";
import { dotGeneralKernel } from "./_cpu_matmul.ts";
import { ARG_KERNELS, REDUCE_KERNELS } from "./_cpu_reduce.ts";

/** Every primitive with a plain CPU kernel. */
export type PlainPrimitive = Exclude<Primitive, "flash_attention">;

/** The kernel of every plain primitive: a missing entry fails `deno check`. */
export const PLAIN_KERNELS: { [P in PlainPrimitive]: CpuKernel<P> } = {
  ...UNARY_KERNELS,
  ...BINARY_KERNELS,
  select: selectKernel,
  convert_element_type: convertKernel,
  ...REDUCE_KERNELS,
  ...ARG_KERNELS,
  dot_general: dotGeneralKernel,
  reshape: (inputs) => (inputs[0] as CpuOperand).handle,
  transpose: transposeKernel,
  broadcast_in_dim: broadcastInDimKernel,
  slice: sliceKernel,
  pad: padKernel,
  concatenate: concatenateKernel,
  gather: gatherKernel,
  scatter_add: scatterAddKernel,
  iota: iotaKernel,
  random_uniform: randomUniformKernel,
  custom_lin: () => {
    throw new TypeError(
      "custom_lin has no kernel; it only appears in linear programs",
    );
  },
};

/** Runs the CPU kernel of `prim` on host operands (no checks, no tracking). */
export function runPlainKernel<P extends PlainPrimitive>(
  prim: P,
  inputs: readonly CpuOperand[],
  params: Params<P>,
  out: Aval,
): HostArray {
  return (PLAIN_KERNELS[prim] as CpuKernel<P>)(inputs, params, out);
}
