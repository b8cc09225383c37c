/**
 * `jit`: trace a function once per input signature into a program, keep
 * the optimised program, and run it on later calls without tracing.
 *
 * @module
 */

import { type Backend, getBackend } from "../backend.ts";
import { sharesStorage } from "../backends/contract.ts";
import { nonStagingActive, transformsActive } from "../core.ts";
import { checkOptions } from "../_options.ts";
import { treeUnflatten } from "../pytree.ts";
import type { Tensor } from "../tensor.ts";
import type { AnyFn } from "../transforms/types.ts";
import { evalProgram } from "./eval.ts";
import { compileExecutable, type Executable } from "./executable.ts";
import type { StaticOptions } from "./make_program.ts";
import { optimizeProgram } from "./passes/optimize.ts";
import type { Plan } from "./plan.ts";
import { printPlan } from "./print.ts";
import type { Eqn, Program } from "./program.ts";
import {
  argnumSet,
  type Signature,
  signatureOf,
  staticSet,
} from "./_signature.ts";
import { type Traced, traceFlat } from "./trace.ts";

/** Options of {@link jit}. */
export interface JitOptions extends StaticOptions {
  /**
   * Arguments the caller gives up: at the top level, their tensors are
   * freed during the call, each right after its last use, so the call's
   * new tensors reuse their memory (state through a training step). Under
   * a transform or inside another jit's trace, nothing is donated.
   */
  readonly donateArgnums?: number | readonly number[];
}

/** What a jitted function offers besides being called. */
export interface JitInfo<F extends AnyFn> {
  /** How many programs are cached (one per signature seen). */
  readonly cacheSize: number;
  /** The optimised program that a call with `args` runs (traced if needed). */
  program(...args: Parameters<F>): Program;
  /**
   * How a top-level call with `args` runs on their backend: the fused plan
   * (traced and compiled if needed) and its kernel count beside eager's.
   */
  lower(...args: Parameters<F>): Lowered;
}

/** What {@link JitInfo.lower} reports. */
export interface Lowered {
  /** The steps a call runs: fused kernels and plain equations. */
  readonly plan: Plan;
  /**
   * Kernels one call dispatches: the plan's steps, less those that only
   * relabel their input's storage (a reshape).
   */
  readonly kernels: number;
  /** Kernels an eager call dispatches: the equations `f` binds (before any pass), counted the same way. */
  readonly eagerKernels: number;
  /** Whether the backend runs fused kernels itself (else their equations run one by one). */
  readonly fusedOnBackend: boolean;
  /** The plan as text (`printPlan`). */
  readonly text: string;
}

/** A jitted function: `f` with its cache. */
export type Jitted<F extends AnyFn> = F & JitInfo<F>;

interface Entry {
  readonly traced: Traced;
  program: Program;
  /** Whether constant folding has run (it waits while a transform runs). */
  folded: boolean;
  /** {@link Entry.program} compiled per backend. */
  executables: Map<Backend, Executable>;
}

/** Whether an equation hands back its input's storage (no kernel runs). */
function relabels(e: Eqn): boolean {
  const operands = e.inputs.map((a) => ({ handle: null, aval: a.aval }));
  return sharesStorage(e.prim, operands, e.params, e.outs[0]!.aval);
}

function executableFor(entry: Entry, backend: Backend): Executable {
  let exe = entry.executables.get(backend);
  if (!exe) {
    exe = compileExecutable(entry.program, backend);
    entry.executables.set(backend, exe);
  }
  return exe;
}

/**
 * Compiles `f`: the first call with a new input signature (pytree
 * structure, shapes, dtypes, backends, and the values of static arguments
 * and number leaves) traces `f` into a program, optimises it (dead code,
 * common subexpressions, constant folding) and caches it; calls with that
 * signature run the program without calling `f`. At the top level (no
 * transform running) a call runs the program compiled for the inputs'
 * backend: elementwise chains, broadcasts and casts fused into one kernel,
 * reductions with their producers (see `f.lower(...)`), each intermediate
 * freed right after its last use. Inside another jit's trace, programs run
 * through `bind`, so jit composes with every transform both ways:
 * `grad(jit(f))`, `jit(grad(f))`, `jvp(jit(f))`, nested `jit`.
 *
 * Inside `f`, tensor arguments are traced: reading them (`await x.data()`,
 * `x.item()`) is an error, so is a JS branch on a value read back; pass
 * such arguments in `staticArgnums`. `f` must be pure: side effects happen
 * only when it is traced. Unlike JAX, number leaves are static (each new
 * value traces again) so that they keep their weak dtype.
 *
 * Under differentiation (`grad(jit(f))`, `jvp(jit(f))`), `f` runs directly
 * inside that transform, so custom rules (`customJvp`, `customVjp`) inside
 * `f` are honoured everywhere; compiled programs run at the top level and
 * inside other jitted functions, which is where `jit(grad(f))` puts a
 * training step.
 *
 * @example Tracing once per signature
 * ```ts
 * import { add, jit, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * let traces = 0;
 * const f = jit((x: Tensor, y: Tensor) => {
 *   traces++;
 *   return add(mul(x, y), 1);
 * });
 * assertEquals(await f(tensor([1, 2]), tensor([3, 4])).array(), [4, 9]);
 * assertEquals(await f(tensor([5, 6]), tensor([7, 8])).array(), [36, 49]);
 * assertEquals(traces, 1);
 * ```
 *
 * @example A static argument
 * ```ts
 * import { jit, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const f = jit((x: Tensor, double: boolean) => (double ? mul(x, 2) : x), {
 *   staticArgnums: [1],
 * });
 * assertEquals(await f(tensor([1]), true).array(), [2]);
 * assertEquals(await f(tensor([1]), false).array(), [1]);
 * assertEquals(f.cacheSize, 2);
 * ```
 *
 * `donateArgnums` gives arguments up (as JAX's `donate_argnums`): at the
 * top level each of their tensors is freed during the call right after
 * its last use, so the state a training step replaces makes room for the
 * new state; afterwards they read as freed. A donated tensor that the call
 * returns, that a non-donated argument also holds, or that `f` closes
 * over stays alive. Under a transform or inside another jit's trace
 * nothing is donated.
 *
 * @example Donating the state a step replaces
 * ```ts
 * import { jit, mul, sub, tensor, type Tensor } from "@heed/heed";
 * import { assert, assertEquals } from "@std/assert";
 *
 * const step = jit((p: Tensor, g: Tensor) => sub(p, mul(g, 0.5)), {
 *   donateArgnums: [0],
 * });
 * const p = tensor([1, 2]);
 * const g = tensor([2, 2]);
 * const next = step(p, g);
 * assertEquals(await next.array(), [0, 1]);
 * assert(p.released); // given up: its memory held the call's values
 * assert(!g.released);
 * ```
 *
 * @example Kernels per call
 * ```ts
 * import { jit, softmax, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const f = jit(softmax);
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * const { kernels, eagerKernels, fusedOnBackend } = f.lower(x);
 * assertEquals(eagerKernels, 7);
 * // max then sum of exp in one kernel, then the divide (the CPU reference
 * // copies no group, so exp(x - max) is a kernel of its own: two more)
 * assertEquals(kernels, fusedOnBackend ? 2 : 4);
 * ```
 */
export function jit<F extends AnyFn>(f: F, opts?: JitOptions): Jitted<F> {
  checkOptions("jit", opts, ["staticArgnums", "donateArgnums"]);
  if (typeof f !== "function") {
    throw new TypeError(`jit: expected a function, got ${typeof f}`);
  }
  const statics = staticSet("jit", opts?.staticArgnums);
  const donates = argnumSet("jit", "donateArgnums", opts?.donateArgnums);
  for (const n of donates) {
    if (statics.has(n)) {
      throw new TypeError(
        `jit: argument ${n} is in both staticArgnums and donateArgnums; a static argument is no tensor to donate`,
      );
    }
  }
  const g = f as unknown as (...a: unknown[]) => unknown;
  const cache = new Map<string, Entry>();

  const entryFor = (sig: Signature): Entry => {
    const optimize = (p: Program): Program =>
      optimizeProgram(p, sig.backend ? { backend: sig.backend } : {});
    let entry = cache.get(sig.key);
    if (!entry) {
      const traced = traceFlat(
        "jit",
        (ins) => g(...sig.rebuild(ins)),
        sig.avals,
      );
      // Folding computes, so under a transform it waits for a later call.
      const folded = !transformsActive();
      entry = {
        traced,
        program: optimize(traced.program),
        folded,
        executables: new Map(),
      };
      if (traced.cacheable) cache.set(sig.key, entry);
    } else if (!entry.folded && !transformsActive()) {
      entry.program = optimize(entry.traced.program);
      entry.folded = true;
      entry.executables.clear();
    }
    return entry;
  };

  const jitted = (...args: unknown[]): unknown => {
    // Under differentiation (grad(jit(f)), jvp(jit(f))), f runs directly,
    // so the transform sees f's own operations, custom rules included; a
    // cached program holds only their plain primitives. Inside another
    // jit's trace, the cached program is recorded into the outer one.
    if (nonStagingActive()) return g(...args);
    for (const n of donates) {
      if (n >= args.length) {
        throw new RangeError(
          `jit: donateArgnums ${n} is out of range for ${args.length} argument(s)`,
        );
      }
    }
    const sig = signatureOf("jit", args, statics);
    const entry = entryFor(sig);
    const { traced, program } = entry;
    // At the top level the compiled plan runs (fused kernels); inside an
    // outer jit's trace, the program's equations are recorded into it
    // (and nothing is donated: the outer program still reads them).
    const outs: Tensor[] = transformsActive()
      ? evalProgram(program, sig.tensors, sig.backend)
      : executableFor(entry, sig.backend ?? getBackend()).run(
        sig.tensors,
        donates.size ? sig.argnums.map((n) => donates.has(n)) : undefined,
      );
    let k = 0;
    return treeUnflatten(
      traced.outTree,
      traced.outNumbers.map((n) => n ?? outs[k++]!),
    );
  };
  Object.defineProperties(jitted, {
    cacheSize: { get: () => cache.size },
    program: {
      value: (...args: unknown[]): Program =>
        entryFor(signatureOf("jit", args, statics)).program,
    },
    lower: {
      value: (...args: unknown[]): Lowered => {
        const sig = signatureOf("jit", args, statics);
        const entry = entryFor(sig);
        const exe = executableFor(entry, sig.backend ?? getBackend());
        return {
          plan: exe.plan,
          kernels: exe.plan.steps.filter((s) =>
            s.kind === "kernel" || !relabels(s.eqn)
          ).length,
          eagerKernels: entry.traced.program.eqns.filter((e) =>
            !relabels(e)
          )
            .length,
          fusedOnBackend: "runFused" in exe.backend,
          text: printPlan(exe.plan),
        };
      },
    },
  });
  return jitted as unknown as Jitted<F>;
}
