/**
 * The WebAssembly encodings the wasm backend's assembler (`_asm.ts`) uses:
 * LEB128 integers, and the opcodes it emits by name (SIMD with the 0xfd
 * prefix, plain, and memory access with natural alignment).
 *
 * @module
 */

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

/** Opcodes of the 0xfd (SIMD) prefix, by name. */
export const SIMD = {
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
export const PLAIN = {
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
export const MEM: Record<string, [number[], number]> = {
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
