/**
 * A small WebAssembly assembler: the module sections heed needs (types, an
 * imported shared memory, functions, exports, code) and a function builder
 * with the scalar and 128-bit SIMD opcodes the kernels use (`_opcodes.ts`).
 * Kernels are written against {@link Fn} and assembled at run time, so the
 * repository holds no opaque binary.
 *
 * @module
 */

import {
  MEM,
  type MemOp,
  PLAIN,
  type PlainOp,
  SIMD,
  type SimdOp,
  sleb,
  uleb,
} from "./_opcodes.ts";

export {
  type MemOp,
  type PlainOp,
  type SimdOp,
  sleb,
  uleb,
} from "./_opcodes.ts";

/** A WebAssembly value type. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";

const TYPE_CODE: Record<ValType, number> = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
};

function str(s: string): number[] {
  const b = new TextEncoder().encode(s);
  return [...uleb(b.length), ...b];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** A local variable or parameter index. */
export type Local = number;

/** Builds one function body. Structured control flow is nested callbacks. */
export class Fn {
  /** The body bytes so far (without the locals header). */
  readonly code: number[] = [];
  /** Parameter types. */
  readonly params: readonly ValType[];
  /** Result types. */
  readonly results: readonly ValType[];
  #locals: ValType[] = [];
  #consts = new Map<string, Local>();
  #prologue: number[] = [];

  constructor(params: readonly ValType[], results: readonly ValType[]) {
    this.params = params;
    this.results = results;
  }

  /** Declares a new local of type `t`. */
  local(t: ValType): Local {
    this.#locals.push(t);
    return this.params.length + this.#locals.length - 1;
  }

  /** Emits a plain instruction. */
  op(name: PlainOp): this {
    this.code.push(PLAIN[name]);
    return this;
  }

  /** Emits a SIMD instruction (lane index for extract ops). */
  simd(name: SimdOp, lane?: number): this {
    this.code.push(0xfd, ...uleb(SIMD[name]));
    if (lane !== undefined) this.code.push(lane);
    return this;
  }

  /** `i8x16.shuffle` with 16 lane indices. */
  shuffle(lanes: readonly number[]): this {
    this.code.push(0xfd, ...uleb(SIMD["i8x16.shuffle"]), ...lanes);
    return this;
  }

  /** A load or store with a constant byte offset. */
  mem(name: MemOp, offset = 0): this {
    const [opc, align] = MEM[name]!;
    this.code.push(...opc, align, ...uleb(offset));
    return this;
  }

  /** `v128.store32_lane`: stores lane `lane` of the v128 on the stack. */
  storeLane(lane: number, offset = 0): this {
    this.code.push(0xfd, ...uleb(0x5a), 2, ...uleb(offset), lane);
    return this;
  }

  /** `v128.store64_lane`: stores 64-bit lane `lane` of the v128 on the stack. */
  storeLane64(lane: number, offset = 0): this {
    this.code.push(0xfd, ...uleb(0x5b), 3, ...uleb(offset), lane);
    return this;
  }

  /** `v128.load32_lane`: (addr, v128) → v128 with lane `lane` loaded. */
  loadLane(lane: number, offset = 0): this {
    this.code.push(0xfd, ...uleb(0x56), 2, ...uleb(offset), lane);
    return this;
  }

  /** `i32.trunc_sat_f32_s`: NaN → 0, out-of-range values saturate. */
  truncSat(): this {
    this.code.push(0xfc, 0);
    return this;
  }

  /**
   * A v128 constant, pushed from a local set once at function entry:
   * engines may rebuild a `v128.const` from scalars at every use, which
   * costs more than the arithmetic in a polynomial.
   */
  #v128(bytes: Uint8Array): this {
    const key = bytes.join(",");
    let l = this.#consts.get(key);
    if (l === undefined) {
      l = this.local("v128");
      this.#consts.set(key, l);
      this.#prologue.push(
        0xfd,
        ...uleb(SIMD["v128.const"]),
        ...bytes,
        0x21,
        ...uleb(l),
      );
    }
    return this.get(l);
  }

  /** A v128 constant of four float32 lanes (one value splatted if given one). */
  f32x4(...lanes: number[]): this {
    const v = lanes.length === 1
      ? [lanes[0]!, lanes[0]!, lanes[0]!, lanes[0]!]
      : lanes;
    return this.#v128(new Uint8Array(new Float32Array(v).buffer));
  }

  /** A v128 constant of four int32 lanes (one value splatted if given one). */
  i32x4(...lanes: number[]): this {
    const v = lanes.length === 1
      ? [lanes[0]!, lanes[0]!, lanes[0]!, lanes[0]!]
      : lanes;
    return this.#v128(new Uint8Array(new Int32Array(v).buffer));
  }

  /** `memory.copy` (dst, src, n on the stack). */
  memoryCopy(): this {
    this.code.push(0xfc, 10, 0, 0);
    return this;
  }

  /** `memory.fill` (dst, byte, n on the stack). */
  memoryFill(): this {
    this.code.push(0xfc, 11, 0);
    return this;
  }

  /** `i32.const`. */
  i32(v: number): this {
    this.code.push(0x41, ...sleb(v));
    return this;
  }

  /** `f32.const`. */
  f32(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.code.push(0x43, ...b);
    return this;
  }

  /** `local.get`. */
  get(l: Local): this {
    this.code.push(0x20, ...uleb(l));
    return this;
  }

  /** `local.set`. */
  set(l: Local): this {
    this.code.push(0x21, ...uleb(l));
    return this;
  }

  /** `local.tee`. */
  tee(l: Local): this {
    this.code.push(0x22, ...uleb(l));
    return this;
  }

  /** `call` of function index `i`. */
  call(i: number): this {
    this.code.push(0x10, ...uleb(i));
    return this;
  }

  /** `l += v` for an i32 local. */
  inc(l: Local, v: number | Local, isLocal = false): this {
    this.get(l);
    if (isLocal) this.get(v);
    else this.i32(v);
    return this.op("i32.add").set(l);
  }

  /** A block; `br(0)` inside leaves it. */
  block(body: () => void): this {
    this.code.push(0x02, 0x40);
    body();
    this.code.push(0x0b);
    return this;
  }

  /** A loop; `br(0)` inside repeats it. */
  loop(body: () => void): this {
    this.code.push(0x03, 0x40);
    body();
    this.code.push(0x0b);
    return this;
  }

  /** `if` on the i32 on the stack, with an optional `else`. */
  if(then: () => void, otherwise?: () => void): this {
    this.code.push(0x04, 0x40);
    then();
    if (otherwise) {
      this.code.push(0x05);
      otherwise();
    }
    this.code.push(0x0b);
    return this;
  }

  /** `br depth`. */
  br(depth: number): this {
    this.code.push(0x0c, ...uleb(depth));
    return this;
  }

  /** `br_if depth`. */
  brIf(depth: number): this {
    this.code.push(0x0d, ...uleb(depth));
    return this;
  }

  /**
   * `for (i = from; i < to; i += step) body()`, with `from`/`to` pushed by
   * callbacks. Inside `body`, depth 0 is the loop and depth 1 its exit.
   */
  for(
    i: Local,
    from: () => void,
    to: () => void,
    step: number,
    body: () => void,
  ): this {
    from();
    this.set(i);
    return this.block(() => {
      this.get(i);
      to();
      this.op("i32.ge_s").brIf(0);
      this.loop(() => {
        body();
        this.inc(i, step);
        this.get(i);
        to();
        this.op("i32.lt_s").brIf(0);
      });
    });
  }

  /** The encoded body: locals header, code, `end`. */
  encode(): number[] {
    const groups: number[] = [];
    let count = 0;
    const ls = this.#locals;
    for (let i = 0; i < ls.length;) {
      let j = i;
      while (j < ls.length && ls[j] === ls[i]) j++;
      groups.push(...uleb(j - i), TYPE_CODE[ls[i]!]);
      count++;
      i = j;
    }
    const body = [
      ...uleb(count),
      ...groups,
      ...this.#prologue,
      ...this.code,
      0x0b,
    ];
    return [...uleb(body.length), ...body];
  }
}

/** Builds a module that imports `env.memory` (shared by default) and exports functions. */
export class ModuleBuilder {
  #fns: { name: string | null; fn: Fn }[] = [];

  /** Adds a function; returns its index for `call`. */
  add(name: string | null, fn: Fn): number {
    this.#fns.push({ name, fn });
    return this.#fns.length - 1;
  }

  /**
   * Assembles the module; the memory import has limits `min..max` pages and
   * is shared unless `shared` is false (a page that is not cross-origin
   * isolated cannot share memory with workers).
   */
  bytes(
    minPages: number,
    maxPages: number,
    shared = true,
  ): Uint8Array<ArrayBuffer> {
    const types: number[] = [];
    const typeIdx: number[] = [];
    const seen = new Map<string, number>();
    for (const { fn } of this.#fns) {
      const sig = [
        0x60,
        ...uleb(fn.params.length),
        ...fn.params.map((t) => TYPE_CODE[t]),
        ...uleb(fn.results.length),
        ...fn.results.map((t) => TYPE_CODE[t]),
      ];
      const key = sig.join(",");
      let idx = seen.get(key);
      if (idx === undefined) {
        idx = seen.size;
        seen.set(key, idx);
        types.push(...sig);
      }
      typeIdx.push(idx);
    }
    const imports = [
      1,
      ...str("env"),
      ...str("memory"),
      0x02,
      shared ? 0x03 : 0x01, // (shared,) with maximum
      ...uleb(minPages),
      ...uleb(maxPages),
    ];
    const exports: number[] = [];
    let nExports = 0;
    this.#fns.forEach(({ name }, i) => {
      if (name === null) return;
      exports.push(...str(name), 0x00, ...uleb(i));
      nExports++;
    });
    const code: number[] = [...uleb(this.#fns.length)];
    for (const { fn } of this.#fns) code.push(...fn.encode());
    return new Uint8Array([
      0x00,
      0x61,
      0x73,
      0x6d,
      0x01,
      0x00,
      0x00,
      0x00,
      ...section(1, [...uleb(seen.size), ...types]),
      ...section(2, imports),
      ...section(3, [...uleb(typeIdx.length), ...typeIdx.flatMap(uleb)]),
      ...section(7, [...uleb(nExports), ...exports]),
      ...section(10, code),
    ]);
  }
}
