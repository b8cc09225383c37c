/**
 * The modules of fused kernels: each kernel is compiled into its own small
 * module with one function, exported as `g0` (the grid driver's name for
 * kernel 0, see `_grid.ts`), that imports the backend's memory and, where
 * the eager backend runs the CPU reference, the same host functions
 * (`Math.sin`, `Math.cos`, `erf`, `pow`). Modules are cached by
 * {@link kernelKey} for the whole process, so backends share them.
 *
 * @module
 */

import { erf, powFloat, powInt } from "../_cpu_math.ts";
import type { FusedLoopKernel } from "../fused.ts";
import { type Fn, uleb } from "./_asm.ts";
import { generate, type Generated } from "./_fused_codegen.ts";
import { type Plan, planKernel } from "./_fused_plan.ts";

/** The host functions kernels may import, by name (module `m`). */
export const HOST: Record<string, (...xs: number[]) => number> = {
  sin: Math.sin,
  cos: Math.cos,
  erf,
  powf: powFloat,
  powi: powInt,
};

/** Import signatures: parameter and result type codes (f64 0x7c, i32 0x7f). */
const SIGNATURES: Record<string, [number[], number[]]> = {
  sin: [[0x7c], [0x7c]],
  cos: [[0x7c], [0x7c]],
  erf: [[0x7c], [0x7c]],
  powf: [[0x7c, 0x7c], [0x7c]],
  powi: [[0x7f, 0x7f], [0x7f]],
};

function name(s: string): number[] {
  const b = new TextEncoder().encode(s);
  return [...uleb(b.length), ...b];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/**
 * A module of functions `fns` (all of i32 parameters, no results), each
 * exported under its name in `exports`, that imports the host functions
 * `imports` (module `m`, see {@link HOST}) and the memory `env.memory`
 * (shared or not). Fused and flash kernels are assembled by it.
 */
export function assembleModule(
  fns: readonly Fn[],
  exports: readonly string[],
  imports: readonly string[],
  shared: boolean,
): Uint8Array<ArrayBuffer> {
  const sigs = imports.map((n) => SIGNATURES[n]!);
  for (const fn of fns) sigs.push([fn.params.map(() => 0x7f), []]);
  const types = sigs.flatMap(([ps, rs]) => [
    0x60,
    ...uleb(ps.length),
    ...ps,
    ...uleb(rs.length),
    ...rs,
  ]);
  const imp = [...uleb(imports.length + 1)];
  imports.forEach((n, i) => imp.push(...name("m"), ...name(n), 0, i));
  imp.push(...name("env"), ...name("memory"), 0x02, shared ? 3 : 1);
  imp.push(...uleb(1), ...uleb(65536));
  const k = imports.length;
  const exp = [...uleb(fns.length)];
  exports.forEach((n, i) => exp.push(...name(n), 0x00, ...uleb(k + i)));
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [...uleb(sigs.length), ...types]),
    ...section(2, imp),
    ...section(3, [...uleb(fns.length), ...fns.flatMap((_, i) => uleb(k + i))]),
    ...section(7, exp),
    ...section(10, [...uleb(fns.length), ...fns.flatMap((fn) => fn.encode())]),
  ]);
}

/** The module of one fused kernel: one export `g0`. */
function assemble(gen: Generated, shared: boolean): Uint8Array<ArrayBuffer> {
  return assembleModule([gen.fn], ["g0"], gen.imports, shared);
}

/** A compiled kernel: its module, loop plan and host imports. */
export interface Compiled {
  /** The module (imports `env.memory`, and `m.<name>` per import). */
  readonly module: WebAssembly.Module;
  /** How the function iterates, and its pointers. */
  readonly plan: Plan;
  /** The host functions it imports (none: workers can run it too). */
  readonly imports: readonly string[];
}

/** Compiled modules by memory kind and kernel key, least recently used first. */
const MODULES = new Map<string, Compiled>();
/** Most modules (and instances per backend) kept. */
export const MAX_MODULES = 512;
const stats = { modules: 0, ms: 0 };

/** How many fused modules were compiled in this process, and in how many ms. */
export function fusedCompileStats(): { modules: number; ms: number } {
  return { ...stats };
}

/**
 * The cache key of a kernel: `fusedKey` (its JSON), except that numbers
 * JSON cannot print are spelled out: `fusedKey` prints NaN, ±∞ as `null`
 * and -0 as `0`, so literals NaN and ∞ would share a compiled kernel.
 */
export function kernelKey(kernel: FusedLoopKernel): string {
  return JSON.stringify(
    kernel,
    (_k, v) =>
      typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))
        ? `#${Object.is(v, -0) ? "-0" : v}`
        : v,
  );
}

/** Moves `key` to the most recent end; evicts the oldest beyond `max`. */
export function touch<V>(
  map: Map<string, V>,
  key: string,
  v: V,
  max: number,
  evict?: (old: V) => void,
): V {
  map.delete(key);
  map.set(key, v);
  if (map.size > max) {
    const [k, old] = map.entries().next().value!;
    map.delete(k);
    evict?.(old);
  }
  return v;
}

/** The compiled module of `kernel` (cached under `key`) for a memory kind. */
export function compile(
  kernel: FusedLoopKernel,
  key: string,
  shared: boolean,
): Compiled {
  const hit = MODULES.get(key);
  if (hit) return touch(MODULES, key, hit, MAX_MODULES);
  const t0 = performance.now();
  const plan = planKernel(kernel);
  const gen = generate(kernel, plan);
  const module = new WebAssembly.Module(assemble(gen, shared));
  stats.modules++;
  stats.ms += performance.now() - t0;
  const c = { module, plan, imports: gen.imports };
  return touch(MODULES, key, c, MAX_MODULES);
}
