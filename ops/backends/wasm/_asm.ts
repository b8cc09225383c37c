/**
 * A small WebAssembly assembler: LEB128, the module sections heed needs
 * (types, an imported shared memory, functions, exports, code) and a
 * function builder with the scalar and 128-bit SIMD opcodes the kernels use.
 * Kernels are written against {@link Fn} and assembled at run time, so the
 * repository holds no opaque binary.
 *
 * @module
 */

/** A WebAssembly value type. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";

const TYPE_CODE: Record<ValType, number> = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
};

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) ||
      (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function str(s: string): number[] {
  const b = new TextEncoder().encode(s);
  return [...uleb(b.length), ...b];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** A local variable or parameter index. */
export type Local = number;

/** Opcodes of the 0xfd (SIMD) prefix, by name. */
const SIMD = {
  "v128.load": 0x00,
  "v128.load32_splat": 0x09,
  "v128.store": 0x0b,
  "v128.const": 0x0c,
  "i8x16.shuffle": 0x0d,
  "i8x16.splat": 0x0f,
  "i32x4.splat": 0x11,
  "f32x4.splat": 0x13,
  "i8x16.extract_lane_u": 0x16,
  "i8x16.replace_lane": 0x17,
  "i32x4.extract_lane": 0x1b,
  "i32x4.replace_lane": 0x1c,
  "f32x4.extract_lane": 0x1f,
  "f32x4.replace_lane": 0x20,
  "f64x2.extract_lane": 0x21,
  "i8x16.eq": 0x23,
  "i8x16.ne": 0x24,
  "i32x4.eq": 0x37,
  "i32x4.ne": 0x38,
  "i32x4.lt_s": 0x39,
  "i32x4.gt_s": 0x3b,
  "i32x4.le_s": 0x3d,
  "i32x4.ge_s": 0x3f,
  "f32x4.eq": 0x41,
  "f32x4.ne": 0x42,
  "f32x4.lt": 0x43,
  "f32x4.gt": 0x44,
  "f32x4.le": 0x45,
  "f32x4.ge": 0x46,
  "v128.not": 0x4d,
  "v128.and": 0x4e,
  "v128.andnot": 0x4f,
  "v128.or": 0x50,
  "v128.xor": 0x51,
  "v128.bitselect": 0x52,
  "f64x2.promote_low_f32x4": 0x5f,
  "i8x16.abs": 0x60,
  "i8x16.narrow_i16x8_s": 0x65,
  "f32x4.ceil": 0x67,
  "f32x4.floor": 0x68,
  "f32x4.trunc": 0x69,
  "f32x4.nearest": 0x6a,
  "i16x8.narrow_i32x4_s": 0x85,
  "i16x8.extend_low_i8x16_s": 0x87,
  "i16x8.extend_high_i8x16_s": 0x88,
  "i16x8.extend_low_i8x16_u": 0x89,
  "i16x8.extend_high_i8x16_u": 0x8a,
  "i32x4.abs": 0xa0,
  "i32x4.neg": 0xa1,
  "i32x4.extend_low_i16x8_s": 0xa7,
  "i32x4.extend_high_i16x8_s": 0xa8,
  "i32x4.extend_low_i16x8_u": 0xa9,
  "i32x4.extend_high_i16x8_u": 0xaa,
  "i32x4.shl": 0xab,
  "i32x4.shr_s": 0xac,
  "i32x4.shr_u": 0xad,
  "i32x4.add": 0xae,
  "i32x4.sub": 0xb1,
  "i32x4.mul": 0xb5,
  "i32x4.min_s": 0xb6,
  "i32x4.max_s": 0xb8,
  "f32x4.abs": 0xe0,
  "f32x4.neg": 0xe1,
  "f32x4.sqrt": 0xe3,
  "f32x4.add": 0xe4,
  "f32x4.sub": 0xe5,
  "f32x4.mul": 0xe6,
  "f32x4.div": 0xe7,
  "f32x4.min": 0xe8,
  "f32x4.max": 0xe9,
  "f32x4.pmin": 0xea,
  "f32x4.pmax": 0xeb,
  "f64x2.add": 0xf0,
  "i32x4.trunc_sat_f32x4_s": 0xf8,
  "f32x4.convert_i32x4_s": 0xfa,
  "f32x4.relaxed_madd": 0x105,
} as const;

/** A SIMD instruction name. */
export type SimdOp = keyof typeof SIMD;

/** Plain (unprefixed) opcodes, by name. */
const PLAIN = {
  "unreachable": 0x00,
  "return": 0x0f,
  "drop": 0x1a,
  "select": 0x1b,
  "i32.eqz": 0x45,
  "i32.eq": 0x46,
  "i32.ne": 0x47,
  "i32.lt_s": 0x48,
  "i32.lt_u": 0x49,
  "i32.gt_s": 0x4a,
  "i32.gt_u": 0x4b,
  "i32.le_s": 0x4c,
  "i32.ge_s": 0x4e,
  "f32.eq": 0x5b,
  "f32.ne": 0x5c,
  "f32.lt": 0x5d,
  "f32.gt": 0x5e,
  "f32.le": 0x5f,
  "f32.ge": 0x60,
  "i32.add": 0x6a,
  "i32.sub": 0x6b,
  "i32.mul": 0x6c,
  "i32.div_s": 0x6d,
  "i32.div_u": 0x6e,
  "i32.rem_s": 0x6f,
  "i32.rem_u": 0x70,
  "i32.and": 0x71,
  "i32.or": 0x72,
  "i32.shl": 0x74,
  "i32.shr_s": 0x75,
  "i32.shr_u": 0x76,
  "i32.xor": 0x73,
  "f32.abs": 0x8b,
  "f32.neg": 0x8c,
  "f32.sqrt": 0x91,
  "f32.add": 0x92,
  "f32.sub": 0x93,
  "f32.mul": 0x94,
  "f32.div": 0x95,
  "f32.min": 0x96,
  "f32.max": 0x97,
  "f32.copysign": 0x98,
  "f32.ceil": 0x8d,
  "f32.floor": 0x8e,
  "f32.nearest": 0x90,
  "f64.add": 0xa0,
  "f32.convert_i32_s": 0xb2,
  "f32.demote_f64": 0xb6,
  "f64.promote_f32": 0xbb,
  "i32.reinterpret_f32": 0xbc,
  "f32.reinterpret_i32": 0xbe,
} as const;

/** A plain instruction name. */
export type PlainOp = keyof typeof PLAIN;

/** Memory access instructions: opcode (with prefix) and natural alignment. */
const MEM: Record<string, [number[], number]> = {
  "i32.load": [[0x28], 2],
  "i64.load": [[0x29], 3],
  "f32.load": [[0x2a], 2],
  "i32.load8_u": [[0x2d], 0],
  "i32.store": [[0x36], 2],
  "i64.store": [[0x37], 3],
  "f32.store": [[0x38], 2],
  "i32.store8": [[0x3a], 0],
  "v128.load": [[0xfd, ...uleb(SIMD["v128.load"])], 4],
  "v128.load32_splat": [[0xfd, ...uleb(SIMD["v128.load32_splat"])], 2],
  "v128.store": [[0xfd, ...uleb(SIMD["v128.store"])], 4],
  "v128.load32_zero": [[0xfd, ...uleb(0x5c)], 2],
  "v128.load64_zero": [[0xfd, ...uleb(0x5d)], 3],
  "v128.load8_splat": [[0xfd, ...uleb(0x07)], 0],
};

/** A memory instruction name. */
export type MemOp =
  | "i32.load"
  | "i64.load"
  | "i64.store"
  | "f32.load"
  | "i32.load8_u"
  | "i32.store"
  | "f32.store"
  | "i32.store8"
  | "v128.load"
  | "v128.load32_splat"
  | "v128.store"
  | "v128.load32_zero"
  | "v128.load64_zero"
  | "v128.load8_splat";

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

/** Builds a module that imports `env.memory` (shared) and exports functions. */
export class ModuleBuilder {
  #fns: { name: string | null; fn: Fn }[] = [];

  /** Adds a function; returns its index for `call`. */
  add(name: string | null, fn: Fn): number {
    this.#fns.push({ name, fn });
    return this.#fns.length - 1;
  }

  /** Assembles the module; the memory import has limits `min..max` pages. */
  bytes(minPages: number, maxPages: number): Uint8Array<ArrayBuffer> {
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
      0x03, // shared, with maximum
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
