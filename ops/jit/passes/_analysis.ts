/**
 * What the fusion pass knows about a program while it builds kernels, in
 * a file of its own so that the pass's parts share it without importing
 * one another in a cycle.
 *
 * @module
 */

import type { Program, Var } from "../program.ts";
import type { Groups } from "./_groups.ts";
import type { View } from "./_views.ts";

/** What the pass knows of a program; `KernelBuilder` reads it. */
export interface Analysis {
  /** The program. */
  readonly program: Program;
  /** Each defined variable's equation index. */
  readonly producer: ReadonlyMap<Var, number>;
  /** The elementwise groups. */
  readonly groups: Groups;
  /** Layout results read through as views. */
  readonly views: ReadonlyMap<Var, View>;
  /** Groups copied into the kernels that read them. */
  readonly copied: ReadonlySet<number>;
}
