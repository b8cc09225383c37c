/**
 * The wasm backend's `random_uniform` kernel: Threefry-2x32 in counter mode
 * in wasm SIMD, four counters (eight elements) per step, split over the
 * threads like any grid kernel. It computes what the CPU reference does
 * (`fillUniform` in `ops/threefry.ts`): element i is word `i & 1` of
 * `threefry2x32(key, (i >>> 1, 0))`, its top 23 bits times 2^-23.
 *
 * @module
 */

import { Fn, type Local } from "./_asm.ts";
/** Rotation amounts of the 20 rounds, four per block, alternating. */
const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;

/**
 * Emits the 20 rounds of Threefry-2x32 on locals `x0`, `x1` (already
 * holding counter + key), for i32 or i32x4 words. `key(b)` pushes the
 * words injected after block `b`: `ks[(b+1)%3]` then `ks[(b+2)%3] + b + 1`.
 */
function rounds(
  f: Fn,
  x0: Local,
  x1: Local,
  simd: boolean,
  inject: (b: number, word: 0 | 1) => void,
): void {
  const add = () => simd ? f.simd("i32x4.add") : f.op("i32.add");
  for (let b = 0; b < 5; b++) {
    for (let r = 0; r < 4; r++) {
      const rot = ROTATIONS[(b % 2) * 4 + r]!;
      // x0 += x1; x1 = rotl(x1, rot) ^ x0
      f.get(x0).get(x1);
      add();
      f.set(x0);
      if (simd) {
        f.get(x1).i32(rot).simd("i32x4.shl");
        f.get(x1).i32(32 - rot).simd("i32x4.shr_u");
        f.simd("v128.or").get(x0).simd("v128.xor").set(x1);
      } else {
        f.get(x1).i32(rot).op("i32.shl");
        f.get(x1).i32(32 - rot).op("i32.shr_u");
        f.op("i32.or").get(x0).op("i32.xor").set(x1);
      }
    }
    f.get(x0);
    inject(b, 0);
    add();
    f.set(x0);
    f.get(x1);
    inject(b, 1);
    add();
    f.set(x1);
  }
}

/**
 * The run kernel `(n, mode, o, k0, k1)`: `n` floats at `o`, whose first
 * element has index `(o >>> 2) - mode` in the whole output (the caller
 * passes the output's address in elements as `mode`, so units that the
 * threads cut anywhere know their counters).
 */
export function uniformRun(): Fn {
  const f = new Fn(Array(5).fill("i32"), []);
  const [n, mode, o, k0, k1] = [0, 1, 2, 3, 4];
  const k2 = f.local("i32"), e0 = f.local("i32"), t = f.local("i32");
  const e = f.local("i32"), end8 = f.local("i32");
  const x0 = f.local("i32"), x1 = f.local("i32");
  const v0 = f.local("v128"), v1 = f.local("v128");
  const ks = [k0, k1, k2];
  const kv = [0, 1, 2].map(() => f.local("v128"));
  f.i32(0x1bd11bda).get(k0).op("i32.xor").get(k1).op("i32.xor").set(k2);
  ks.forEach((k, i) => f.get(k).simd("i32x4.splat").set(kv[i]!));
  f.get(o).i32(2).op("i32.shr_u").get(mode).op("i32.sub").set(e0);

  // One element at position t, scalar (the unaligned head and the tail).
  const scalar = () => {
    f.get(e0).get(t).op("i32.add").set(e);
    f.get(e).i32(1).op("i32.shr_u").get(k0).op("i32.add").set(x0);
    f.get(k1).set(x1);
    rounds(f, x0, x1, false, (b, w) => {
      if (w === 0) return void f.get(ks[(b + 1) % 3]!);
      f.get(ks[(b + 2) % 3]!).i32(b + 1).op("i32.add");
    });
    f.get(o).get(t).i32(2).op("i32.shl").op("i32.add");
    f.get(x1).get(x0).get(e).i32(1).op("i32.and").op("select");
    f.i32(9).op("i32.shr_u").op("f32.convert_i32_s")
      .f32(1.1920928955078125e-7).op("f32.mul").mem("f32.store");
  };

  // Head: single elements until the index is a multiple of 8.
  f.i32(0).set(t);
  f.block(() =>
    f.loop(() => {
      f.get(t).get(n).op("i32.ge_s").brIf(1);
      f.get(e0).get(t).op("i32.add").i32(7).op("i32.and").op("i32.eqz")
        .brIf(1);
      scalar();
      f.inc(t, 1).br(0);
    })
  );
  // Body: counters c..c+3 in the lanes give elements 2c..2c+7.
  f.get(n).get(t).op("i32.sub").i32(-8).op("i32.and").get(t).op("i32.add")
    .set(end8);
  f.for(t, () => f.get(t), () => f.get(end8), 8, () => {
    f.get(e0).get(t).op("i32.add").i32(1).op("i32.shr_u").simd("i32x4.splat")
      .i32x4(0, 1, 2, 3).simd("i32x4.add").get(kv[0]!).simd("i32x4.add")
      .set(v0);
    f.get(kv[1]!).set(v1);
    rounds(f, v0, v1, true, (b, w) => {
      if (w === 0) return void f.get(kv[(b + 1) % 3]!);
      f.get(kv[(b + 2) % 3]!).i32x4(b + 1).simd("i32x4.add");
    });
    // Interleave (x0, x1) per counter, then bits >>> 9 times 2^-23.
    const store = (lanes: number[], offset: number) => {
      f.get(o).get(t).i32(2).op("i32.shl").op("i32.add");
      f.get(v0).get(v1).shuffle(
        lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]),
      );
      f.i32(9).simd("i32x4.shr_u").simd("f32x4.convert_i32x4_s")
        .f32x4(1.1920928955078125e-7).simd("f32x4.mul")
        .mem("v128.store", offset);
    };
    store([0, 4, 1, 5], 0);
    store([2, 6, 3, 7], 16);
  });
  f.for(t, () => f.get(t), () => f.get(n), 1, scalar);
  return f;
}
