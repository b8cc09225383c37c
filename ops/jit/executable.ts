/**
 * Executables: a program's plan, compiled once per backend, run at the top
 * level (no transform running). Fused kernels go to the backend's
 * `runFused` where it has one; elsewhere (the CPU reference) a kernel's
 * equations run one by one, so results equal the eager ones there. Each
 * intermediate is freed right after its last use, so the backend's pool
 * reuses its memory within the call; so is each donated input that only
 * the call holds (`jit`'s `donateArgnums`).
 *
 * @module
 */

import { fmtShape, sameShape } from "../dtype.ts";
import type { Backend } from "../backend.ts";
import { type FusedBackend, fusedOutputs } from "../backends/fused.ts";
import { bind, scalar } from "../core.ts";
import { releaseNow, scope, track } from "../memory.ts";
import { noteFreed, Tensor } from "../tensor.ts";
import { fuseProgram } from "./passes/fuse.ts";
import { type KernelStep, type Plan, stepInputs, stepOutputs } from "./plan.ts";
import type { Atom, Program, Var } from "./program.ts";

/** A plan bound to a backend, ready to run. */
export interface Executable {
  /** The steps it runs. */
  readonly plan: Plan;
  /** The backend it runs on. */
  readonly backend: Backend;
  /**
   * Runs the program on one tensor per input (on {@link backend}).
   * `donated[i]` says that the caller gives input `i` up: it is freed
   * right after its last use when no other input, constant or output
   * holds the same tensor, else at the end of the call unless an output
   * or a non-donated input is that tensor (then it stays alive).
   */
  run(inputs: readonly Tensor[], donated?: readonly boolean[]): Tensor[];
}

/** Whether `b` runs fused kernels itself. */
function fusedBackend(b: Backend): (Backend & FusedBackend) | null {
  return "runFused" in b ? (b as Backend & FusedBackend) : null;
}

/**
 * Compiles `p` for `backend`: fuses it (`fuseProgram`; copying no group
 * where the backend runs a kernel's equations one by one) and plans when
 * each intermediate is freed. Run it only when no transform is running;
 * under one, programs run through `evalProgram`.
 *
 * @example
 * ```ts
 * import { add, exp, getBackend, makeProgram, mul, tensor, type Tensor } from "@heed/heed";
 * import { compileExecutable } from "./executable.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const f = (x: Tensor) => add(mul(exp(x), 2), 1);
 * const { program } = makeProgram(f)(tensor([0, 0]));
 * const exe = compileExecutable(program, getBackend());
 * assertEquals(exe.plan.steps.length, 1); // one fused kernel
 * const [y] = exe.run([tensor([0, 0])]);
 * assertEquals(await y!.array(), [3, 3]);
 * ```
 */
export function compileExecutable(p: Program, backend: Backend): Executable {
  const fused = fusedBackend(backend);
  // Where kernels run equation by equation, a copied group would run twice.
  const plan = fuseProgram(p, fused ? {} : { maxCopies: 1 });
  const keep = new Set<Var>([...p.inputs, ...p.consts]);
  for (const a of p.outputs) if (a.kind === "var") keep.add(a);
  const lastUse = new Map<Var, number>();
  plan.steps.forEach((s, i) => {
    for (const v of stepInputs(s)) lastUse.set(v, i);
  });
  // freeAfter[i]: intermediates whose last use is step i (or unused ones it defines).
  const freeAfter: Var[][] = plan.steps.map(() => []);
  plan.steps.forEach((s, i) => {
    for (const v of stepOutputs(s)) {
      if (!keep.has(v)) freeAfter[lastUse.get(v) ?? i]!.push(v);
    }
  });
  const returned = new Set(p.outputs);
  const consts = new Set(p.constValues);
  // inputLastUse[i]: the step after which input i can go (-1: none reads it).
  const inputLastUse = p.inputs.map((v) => lastUse.get(v) ?? -1);
  const run = (
    inputs: readonly Tensor[],
    donated: readonly boolean[] | undefined,
  ): Tensor[] => {
    checkInputs(p, inputs);
    const { early, late } = donations(
      inputs,
      donated,
      (i) => returned.has(p.inputs[i]!) ? -1 : inputLastUse[i]!,
      consts,
    );
    const env = new Map<Var, Tensor>();
    p.inputs.forEach((v, i) => env.set(v, inputs[i]!));
    p.consts.forEach((v, i) => env.set(v, p.constValues[i]!));
    const read = (a: Atom): Tensor =>
      a.kind === "literal"
        ? scalar(a.value, a.aval.dtype, backend)
        : env.get(a)!;
    plan.steps.forEach((s, i) => {
      if (s.kind === "eqn") {
        const e = s.eqn;
        env.set(e.outs[0]!, bind(e.prim, e.inputs.map(read), e.params));
      } else {
        const ins = s.inputs.map((v) => env.get(v)!);
        const outs = fused
          ? runKernel(fused, s, ins)
          : runEquations(s, ins, backend);
        s.outputs.forEach((v, k) => env.set(v, outs[k]!));
      }
      for (const v of freeAfter[i]!) {
        releaseNow(env.get(v)!);
        env.delete(v);
      }
      const gone = early.get(i);
      if (gone) giveUp(gone);
    });
    const outs = p.outputs.map(read);
    const kept = new Set(outs);
    giveUp(late.filter((t) => !kept.has(t)));
    return outs;
  };
  return Object.freeze({
    plan,
    backend,
    run: (ins: readonly Tensor[], donated?: readonly boolean[]) =>
      scope(() => run(ins, donated)),
  });
}

/** Frees donated inputs, so that a later read says they were donated. */
function giveUp(ts: readonly Tensor[]): void {
  for (const t of ts) {
    noteFreed(t, "it was donated to a jitted call (donateArgnums)");
    releaseNow(t);
  }
}

/**
 * Which donated inputs a call frees, and when: `early` by step (after
 * their last use), `late` at the end (unless returned). A tensor goes
 * early only when it fills one input slot, which a step reads
 * (`lastUse(i) >= 0`: not returned as it is, not unused); a tensor that
 * is also a constant of the program, or that any non-donated slot holds,
 * is never freed.
 */
function donations(
  inputs: readonly Tensor[],
  donated: readonly boolean[] | undefined,
  lastUse: (i: number) => number,
  consts: ReadonlySet<Tensor>,
): { early: Map<number, Tensor[]>; late: Tensor[] } {
  const early = new Map<number, Tensor[]>();
  const late: Tensor[] = [];
  if (!donated?.some((d) => d)) return { early, late };
  const slots = new Map<Tensor, number[]>();
  inputs.forEach((t, i) => {
    const s = slots.get(t);
    if (s) s.push(i);
    else slots.set(t, [i]);
  });
  for (const [t, is] of slots) {
    if (consts.has(t) || !is.every((i) => donated[i])) continue;
    const step = is.length === 1 ? lastUse(is[0]!) : -1;
    if (step < 0) late.push(t);
    else early.set(step, [...early.get(step) ?? [], t]);
  }
  return { early, late };
}

function checkInputs(p: Program, inputs: readonly Tensor[]): void {
  if (inputs.length !== p.inputs.length) {
    throw new TypeError(
      `jit: the program takes ${p.inputs.length} input(s), got ${inputs.length}`,
    );
  }
  p.inputs.forEach((v, i) => {
    const x = inputs[i]!;
    if (x.dtype !== v.aval.dtype || !sameShape(x.shape, v.aval.shape)) {
      throw new TypeError(
        `jit: input ${i} is ${x.dtype}${
          fmtShape(x.shape)
        }, but the program takes ${v.aval.dtype}${fmtShape(v.aval.shape)}`,
      );
    }
  });
}

/** One fused kernel on a backend that runs them. */
function runKernel(
  b: Backend & FusedBackend,
  s: KernelStep,
  ins: readonly Tensor[],
): Tensor[] {
  for (const x of ins) {
    if (x.backend !== b) {
      throw new TypeError(
        `jit: a fused kernel's operands live on different backends (${b.name} and ${x.backend.name}); move one with toBackend()`,
      );
    }
  }
  const handles = b.runFused(
    s.kernel,
    ins.map((x) => ({ handle: x.handle, aval: x })),
  );
  return fusedOutputs(s.kernel).map((aval, k) =>
    track(new Tensor(aval, b, handles[k]))
  );
}

/** A fused kernel's equations, one by one (the reference meaning). */
function runEquations(
  s: KernelStep,
  ins: readonly Tensor[],
  backend: Backend,
): Tensor[] {
  const local = new Map<Var, Tensor>();
  s.inputs.forEach((v, i) => local.set(v, ins[i]!));
  const read = (a: Atom): Tensor =>
    a.kind === "literal"
      ? scalar(a.value, a.aval.dtype, backend)
      : local.get(a)!;
  const made: Tensor[] = [];
  for (const e of s.eqns) {
    const t = bind(e.prim, e.inputs.map(read), e.params);
    local.set(e.outs[0]!, t);
    made.push(t);
  }
  const outs = s.outputs.map((v) => local.get(v)!);
  const kept = new Set(outs);
  for (const t of made) if (!kept.has(t)) releaseNow(t);
  return outs;
}
