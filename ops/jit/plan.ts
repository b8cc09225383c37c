/**
 * Plans: what the fusion pass makes of a program. A plan runs a program as
 * steps in order: fused kernels (one backend dispatch for a whole group of
 * equations) and plain equations.
 *
 * @module
 */

import type { FusedKernel } from "../backends/fused.ts";
import type { Eqn, Program, Var } from "./program.ts";

/** A fused kernel of a plan, with the variables it reads and defines. */
export interface KernelStep {
  /** Tells step kinds apart. */
  readonly kind: "kernel";
  /** The kernel a backend runs (see `ops/backends/fused.ts`). */
  readonly kernel: FusedKernel;
  /** The variable behind each kernel input index. */
  readonly inputs: readonly Var[];
  /** The variables the kernel defines, one per kernel output. */
  readonly outputs: readonly Var[];
  /**
   * The equations the kernel stands for, in program order: a backend
   * without fused kernels runs these one by one instead. An elementwise
   * equation the pass copied into two kernels appears in both.
   */
  readonly eqns: readonly Eqn[];
}

/** A plain equation of a plan, run on its own. */
export interface EqnStep {
  /** Tells step kinds apart. */
  readonly kind: "eqn";
  /** The equation. */
  readonly eqn: Eqn;
}

/** One step of a plan. */
export type Step = KernelStep | EqnStep;

/** A program partitioned into steps, in an order that respects every use. */
export interface Plan {
  /** The program the plan runs. */
  readonly program: Program;
  /** The steps, in execution order: each uses only inputs, constants and earlier steps' variables. */
  readonly steps: readonly Step[];
}

/** The variables a step defines. */
export function stepOutputs(s: Step): readonly Var[] {
  return s.kind === "kernel" ? s.outputs : s.eqn.outs;
}

/** The variables a step reads. */
export function stepInputs(s: Step): readonly Var[] {
  return s.kind === "kernel"
    ? s.inputs
    : s.eqn.inputs.filter((a): a is Var => a.kind === "var");
}
