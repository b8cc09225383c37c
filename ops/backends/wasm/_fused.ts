/**
 * Fused kernels on the wasm backend ({@link FusedRunner}): each kernel is
 * compiled on first use into its own small module (one function, see
 * `_fused_codegen.ts`) that imports the backend's memory and, where the
 * eager backend runs the CPU reference, the same host functions
 * (`Math.sin`, `Math.cos`, `erf`, `pow`). Compiled modules are cached by
 * {@link kernelKey} and shared between backends; each backend keeps its
 * own instances, bound to its memory.
 *
 * Fused kernels run on the calling thread. (Workers instantiate only the
 * backend's own module; threading fused kernels is future work.)
 *
 * @module
 */

import { type Aval, sizeOf } from "../../dtype.ts";
import { erf, INT32_RANGE, powFloat, powInt } from "../_cpu_math.ts";
import { type FusedKernel, fusedOutputs } from "../fused.ts";
import type { Arena, Block } from "./_arena.ts";
import { uleb } from "./_asm.ts";
import { generate, type Generated } from "./_fused_codegen.ts";
import {
  ELEM_BYTES,
  inputCount,
  loadRanges,
  loadsOf,
  planKernel,
} from "./_fused_plan.ts";

/** An input of a fused kernel: its byte address and abstract value. */
export interface FusedInput {
  /** Byte address of element 0. */
  readonly ptr: number;
  /** Shape and dtype. */
  readonly aval: Aval;
}

/** The host functions kernels may import, by name (module `m`). */
const HOST: Record<string, (...xs: number[]) => number> = {
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

/** The module of one kernel: imports (host functions, memory), one export `k`. */
function assemble(gen: Generated, shared: boolean): Uint8Array<ArrayBuffer> {
  const sigs = gen.imports.map((n) => SIGNATURES[n]!);
  sigs.push([gen.fn.params.map(() => 0x7f), []]);
  const types = sigs.flatMap(([ps, rs]) => [
    0x60,
    ...uleb(ps.length),
    ...ps,
    ...uleb(rs.length),
    ...rs,
  ]);
  const imports = [...uleb(gen.imports.length + 1)];
  gen.imports.forEach((n, i) => imports.push(...name("m"), ...name(n), 0, i));
  imports.push(...name("env"), ...name("memory"), 0x02, shared ? 3 : 1);
  imports.push(...uleb(1), ...uleb(65536));
  const k = gen.imports.length;
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
    ...section(2, imports),
    ...section(3, [1, ...uleb(k)]),
    ...section(7, [1, ...name("k"), 0x00, ...uleb(k)]),
    ...section(10, [1, ...gen.fn.encode()]),
  ]);
}

interface Compiled {
  readonly module: WebAssembly.Module;
  readonly params: number;
}

/** Compiled modules by memory kind and kernel key, least recently used first. */
const MODULES = new Map<string, Compiled>();
const MAX_MODULES = 512;
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
export function kernelKey(kernel: FusedKernel): string {
  return JSON.stringify(
    kernel,
    (_k, v) =>
      typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))
        ? `#${Object.is(v, -0) ? "-0" : v}`
        : v,
  );
}

function touch<V>(map: Map<string, V>, key: string, v: V, max: number): V {
  map.delete(key);
  map.set(key, v);
  if (map.size > max) map.delete(map.keys().next().value!);
  return v;
}

function compile(kernel: FusedKernel, key: string, shared: boolean): Compiled {
  const hit = MODULES.get(key);
  if (hit) return touch(MODULES, key, hit, MAX_MODULES);
  const t0 = performance.now();
  const plan = planKernel(kernel);
  const gen = generate(kernel, plan);
  const module = new WebAssembly.Module(assemble(gen, shared));
  stats.modules++;
  stats.ms += performance.now() - t0;
  return touch(MODULES, key, { module, params: plan.params }, MAX_MODULES);
}

/** The value a reduction over no elements gives (the CPU reference's). */
function identity(kernel: FusedKernel & { kind: "reduce" }): number {
  const dt = kernel.nodes[kernel.value]!.dtype;
  if (kernel.op === "sum") return 0;
  if (dt === "float32") return kernel.op === "max" ? -Infinity : Infinity;
  if (dt === "int32") return INT32_RANGE[kernel.op === "max" ? 0 : 1];
  return kernel.op === "max" ? 0 : 1;
}

/** Checks operand count, load dtypes and that every load stays in bounds. */
function validate(kernel: FusedKernel, inputs: readonly FusedInput[]): void {
  const need = inputCount(kernel);
  if (inputs.length < need) {
    throw new TypeError(
      `fused kernel: expected ${need} inputs, got ${inputs.length}`,
    );
  }
  for (const [i, l] of loadsOf(kernel)) {
    const dt = inputs[l.input]!.aval.dtype;
    if (dt !== l.dtype) {
      throw new TypeError(
        `fused kernel: load ${i} reads input ${l.input} as ${l.dtype}, ` +
          `but it is ${dt}`,
      );
    }
  }
  for (const [input, [lo, hi]] of loadRanges(kernel) ?? []) {
    const n = sizeOf(inputs[input]!.aval.shape);
    if (lo < 0 || hi >= n) {
      throw new RangeError(
        `fused kernel: loads of input ${input} reach elements ${lo}..${hi}, ` +
          `outside its ${n}`,
      );
    }
  }
}

/** Compiles, caches and runs fused kernels against one arena's memory. */
export class FusedRunner {
  readonly #arena: Arena;
  readonly #shared: boolean;
  readonly #instances = new Map<string, (...ptrs: number[]) => void>();

  constructor(arena: Arena) {
    this.#arena = arena;
    this.#shared = typeof SharedArrayBuffer !== "undefined" &&
      arena.memory.buffer instanceof SharedArrayBuffer;
  }

  #kernel(kernel: FusedKernel): (...ptrs: number[]) => void {
    const key = `${this.#shared ? "s" : "u"}${kernelKey(kernel)}`;
    const hit = this.#instances.get(key);
    if (hit) return touch(this.#instances, key, hit, MAX_MODULES);
    const c = compile(kernel, key, this.#shared);
    const inst = new WebAssembly.Instance(c.module, {
      env: { memory: this.#arena.memory },
      m: HOST,
    });
    const fn = inst.exports.k as (...ptrs: number[]) => void;
    return touch(this.#instances, key, fn, MAX_MODULES);
  }

  /** Runs `kernel`, returning one new block per output. */
  run(kernel: FusedKernel, inputs: readonly FusedInput[]): Block[] {
    validate(kernel, inputs);
    const outs = fusedOutputs(kernel);
    const empty = outs.some((o) => sizeOf(o.shape) === 0);
    const fn = empty || sizeOf(kernel.shape) === 0
      ? null
      : this.#kernel(kernel);
    const a = this.#arena;
    const blocks = outs.map((o) =>
      a.alloc(sizeOf(o.shape) * ELEM_BYTES[o.dtype])
    );
    if (empty) return blocks;
    if (fn === null) {
      // A reduction over an empty axis: every output is the identity.
      const k = kernel as FusedKernel & { kind: "reduce" };
      const o = outs[0]!, b = blocks[0]!, n = sizeOf(o.shape);
      const v = identity(k);
      if (o.dtype === "float32") a.f32.fill(v, b.ptr / 4, b.ptr / 4 + n);
      else if (o.dtype === "int32") a.i32.fill(v, b.ptr / 4, b.ptr / 4 + n);
      else a.u8.fill(v, b.ptr, b.ptr + n);
      return blocks;
    }
    const ptrs = blocks.map((b) => b.ptr);
    for (let i = 0; i < inputCount(kernel); i++) ptrs.push(inputs[i]!.ptr);
    fn(...ptrs);
    return blocks;
  }
}
