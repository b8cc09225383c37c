/**
 * Executables: a program's plan, compiled once per backend, run at the top
 * level (no transform running). Fused kernels go to the backend's
 * `runFused` where it has one; elsewhere (the CPU reference) a kernel's
 * equations run one by one, so results equal the eager ones there. Each
 * intermediate is freed right after its last use, so the backend's pool
 * reuses its memory within the call.
 *
 * @module
 */

import { fmtShape, sameShape } from "../dtype.ts";
import type { Backend } from "../backend.ts";
import { type FusedBackend, fusedOutputs } from "../backends/fused.ts";
import { bind, scalar } from "../core.ts";
import { releaseNow, scope, track } from "../memory.ts";
import { Tensor } from "../tensor.ts";
import { fuseProgram } from "./passes/fuse.ts";
import { type KernelStep, type Plan, stepInputs, stepOutputs } from "./plan.ts";
import type { Atom, Program, Var } from "./program.ts";

/** A plan bound to a backend, ready to run. */
export interface Executable {
  /** The steps it runs. */
  readonly plan: Plan;
  /** The backend it runs on. */
  readonly backend: Backend;
  /** Runs the program on one tensor per input (on {@link backend}). */
  run(inputs: readonly Tensor[]): Tensor[];
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
  const run = (inputs: readonly Tensor[]): Tensor[] => {
    checkInputs(p, inputs);
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
    });
    return p.outputs.map(read);
  };
  return Object.freeze({
    plan,
    backend,
    run: (ins: readonly Tensor[]) => scope(() => run(ins)),
  });
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
