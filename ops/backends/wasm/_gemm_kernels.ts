/**
 * The float32 matmul kernels of the wasm backend (GotoBLAS's layout):
 *
 * - `pack_b` copies panels of NR columns of B into k-major micro-panels
 *   (`[panel][k][NR]`, zero-padded), so the micro-kernel reads B with
 *   aligned 128-bit loads;
 * - `pack_a` copies an `mc × kc` block of A into MR-row micro-panels
 *   (`[panel][k][MR]`);
 * - `tile` is the register-blocked micro-kernel: an MR × NR block of C held
 *   in MR·NR/4 SIMD registers, one splat of A and NR/4 loads of B per k,
 *   fused multiply-add where the engine has relaxed SIMD;
 * - `macro` walks the micro-panels of one packed block.
 *
 * Operands may have any row and column strides (transposed views cost
 * nothing); C is row-major. Pointers are byte addresses.
 *
 * @module
 */

import { Fn, type Local, type ModuleBuilder } from "./_asm.ts";

/** The shape of the register block. */
export interface GemmShape {
  /** Rows of the micro-tile. */
  readonly mr: number;
  /** Columns of the micro-tile (a multiple of 4). */
  readonly nr: number;
  /** Whether `f32x4.relaxed_madd` validates on this engine. */
  readonly fma: boolean;
}

/** `pack_b(dst, src, K, N, sk, sj, p0, p1)`: panels p0..p1 of B. */
function packB({ nr }: GemmShape): Fn {
  const f = new Fn(Array(8).fill("i32"), []);
  const [dst, src, K, N, sk, sj, p0, p1] = [0, 1, 2, 3, 4, 5, 6, 7];
  const p = f.local("i32"), k = f.local("i32"), j0 = f.local("i32");
  const d = f.local("i32"), s = f.local("i32"), full = f.local("i32");
  f.for(p, () => f.get(p0), () => f.get(p1), 1, () => {
    f.get(p).i32(nr).op("i32.mul").set(j0);
    f.get(dst).get(p).get(K).op("i32.mul").i32(nr * 4).op("i32.mul")
      .op("i32.add").set(d);
    f.get(j0).i32(nr).op("i32.add").get(N).op("i32.le_s")
      .get(sj).i32(1).op("i32.eq").op("i32.and").set(full);
    f.for(k, () => f.i32(0), () => f.get(K), 1, () => {
      f.get(src).get(k).get(sk).op("i32.mul").get(j0).get(sj).op("i32.mul")
        .op("i32.add").i32(2).op("i32.shl").op("i32.add").set(s);
      f.get(full).if(() => {
        for (let v = 0; v < nr / 4; v++) {
          f.get(d).get(s).mem("v128.load", v * 16).mem("v128.store", v * 16);
        }
      }, () => {
        for (let jj = 0; jj < nr; jj++) {
          f.get(j0).i32(jj).op("i32.add").get(N).op("i32.lt_s").if(() => {
            f.get(d).get(s).get(sj).i32(jj * 4).op("i32.mul").op("i32.add")
              .mem("f32.load").mem("f32.store", jj * 4);
          }, () => {
            f.get(d).f32(0).mem("f32.store", jj * 4);
          });
        }
      });
      f.inc(d, nr * 4);
    });
  });
  return f;
}

/** 32-bit lane indices of `i8x16.shuffle` as byte indices. */
function lanes(ls: readonly number[]): number[] {
  return ls.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
}

/**
 * `pack_a(dst, src, mc, kc, si, sk)`: an `mc × kc` block of A into MR-row
 * micro-panels `[panel][k][MR]`. Full panels of a transposed A (`si` = 1)
 * copy MR contiguous floats per k; full panels of a row-major A (`sk` = 1)
 * load four k of every row and transpose them in registers (4 × 4 blocks,
 * and pairs for MR = 6). The rest is packed one element at a time, with
 * zeros past the last row.
 */
function packA({ mr }: GemmShape): Fn {
  const f = new Fn(Array(6).fill("i32"), []);
  const [dst, src, mc, kc, si, sk] = [0, 1, 2, 3, 4, 5];
  const ip = f.local("i32"), k = f.local("i32"), d = f.local("i32");
  const p = f.local("i32"), k4 = f.local("i32"), ld = f.local("i32");
  const v = Array.from({ length: mr }, () => f.local("v128"));
  const t = [0, 1, 2, 3].map(() => f.local("v128"));
  const fast = mr % 2 === 0 && mr <= 8;
  const scalarK = (from: () => void) => {
    f.for(k, from, () => f.get(kc), 1, () => {
      for (let r = 0; r < mr; r++) {
        f.get(ip).i32(r).op("i32.add").get(mc).op("i32.lt_s").if(() => {
          f.get(d).get(src).get(ip).i32(r).op("i32.add").get(si).op("i32.mul")
            .get(k).get(sk).op("i32.mul").op("i32.add").i32(2).op("i32.shl")
            .op("i32.add").mem("f32.load").mem("f32.store", r * 4);
        }, () => {
          f.get(d).f32(0).mem("f32.store", r * 4);
        });
      }
      f.inc(d, mr * 4);
    });
  };
  // Copies MR contiguous floats from p to d.
  const copyRow = () => {
    let off = 0;
    for (; off + 16 <= mr * 4; off += 16) {
      f.get(d).get(p).mem("v128.load", off).mem("v128.store", off);
    }
    if (off < mr * 4) {
      f.get(d).get(p).mem("i64.load", off).mem("i64.store", off);
    }
  };
  // Four k of MR rows starting at p (row stride ld bytes) into d.
  const block4 = () => {
    for (let r = 0; r < mr; r++) {
      f.get(p).mem("v128.load").set(v[r]!);
      f.inc(p, ld, true);
    }
    for (let g = 0; g + 4 <= mr; g += 4) {
      const [a, b, c, e] = [v[g]!, v[g + 1]!, v[g + 2]!, v[g + 3]!];
      f.get(a).get(b).shuffle(lanes([0, 4, 1, 5])).set(t[0]!);
      f.get(c).get(e).shuffle(lanes([0, 4, 1, 5])).set(t[1]!);
      f.get(a).get(b).shuffle(lanes([2, 6, 3, 7])).set(t[2]!);
      f.get(c).get(e).shuffle(lanes([2, 6, 3, 7])).set(t[3]!);
      const out: [number, number, number[]][] = [
        [0, 1, [0, 1, 4, 5]],
        [0, 1, [2, 3, 6, 7]],
        [2, 3, [0, 1, 4, 5]],
        [2, 3, [2, 3, 6, 7]],
      ];
      out.forEach(([x, y, ls], j) => {
        f.get(d).get(t[x]!).get(t[y]!).shuffle(lanes(ls))
          .mem("v128.store", (j * mr + g) * 4);
      });
    }
    if (mr % 4 === 2) {
      const [a, b] = [v[mr - 2]!, v[mr - 1]!];
      f.get(a).get(b).shuffle(lanes([0, 4, 1, 5])).set(t[0]!);
      f.get(a).get(b).shuffle(lanes([2, 6, 3, 7])).set(t[1]!);
      for (let j = 0; j < 4; j++) {
        f.get(d).get(t[j >> 1]!).storeLane64(j & 1, (j * mr + mr - 2) * 4);
      }
    }
  };
  f.get(dst).set(d);
  f.get(kc).i32(-4).op("i32.and").set(k4);
  f.get(si).i32(2).op("i32.shl").set(ld);
  f.for(ip, () => f.i32(0), () => f.get(mc), mr, () => {
    const full = () => f.get(ip).i32(mr).op("i32.add").get(mc).op("i32.le_s");
    if (!fast) return scalarK(() => f.i32(0));
    full().get(si).i32(1).op("i32.eq").op("i32.and").if(() => {
      f.for(k, () => f.i32(0), () => f.get(kc), 1, () => {
        f.get(src).get(ip).get(k).get(sk).op("i32.mul").op("i32.add").i32(2)
          .op("i32.shl").op("i32.add").set(p);
        copyRow();
        f.inc(d, mr * 4);
      });
    }, () =>
      full().get(sk).i32(1).op("i32.eq").op("i32.and").if(() => {
        f.for(k, () => f.i32(0), () => f.get(k4), 4, () => {
          f.get(src).get(ip).get(si).op("i32.mul").get(k).op("i32.add").i32(2)
            .op("i32.shl").op("i32.add").set(p);
          block4();
          f.inc(d, 4 * mr * 4);
        });
        scalarK(() => f.get(k4));
      }, () => scalarK(() => f.i32(0))));
  });
  return f;
}

/**
 * `tile(ap, bp, kc, c, ldc, mr, nr, acc, scratch)`: C[mr×nr] (+)= A·B for
 * one micro-tile; `ldc` in bytes; `acc` 1 adds to C, 0 overwrites it.
 */
function tile({ mr: MR, nr: NR, fma }: GemmShape): Fn {
  const f = new Fn(Array(9).fill("i32"), []);
  const [ap, bp, kc, c, ldc, mr, nr, acc, scratch] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
  ];
  const NV = NR / 4;
  const accs: Local[] = [];
  for (let i = 0; i < MR * NV; i++) accs.push(f.local("v128"));
  const bs: Local[] = [];
  for (let v = 0; v < NV; v++) bs.push(f.local("v128"));
  const a = f.local("v128");
  const k = f.local("i32"), r = f.local("i32"), j = f.local("i32");
  const row = f.local("i32"), t = f.local("f32");
  f.f32(0).simd("f32x4.splat").set(a);
  for (const x of accs) f.get(a).set(x);
  f.for(k, () => f.i32(0), () => f.get(kc), 1, () => {
    for (let v = 0; v < NV; v++) f.get(bp).mem("v128.load", v * 16).set(bs[v]!);
    for (let i = 0; i < MR; i++) {
      f.get(ap).mem("v128.load32_splat", i * 4).set(a);
      for (let v = 0; v < NV; v++) {
        const x = accs[i * NV + v]!;
        if (fma) f.get(a).get(bs[v]!).get(x).simd("f32x4.relaxed_madd");
        else f.get(x).get(a).get(bs[v]!).simd("f32x4.mul").simd("f32x4.add");
        f.set(x);
      }
    }
    f.inc(ap, MR * 4).inc(bp, NR * 4);
  });
  f.get(mr).i32(MR).op("i32.eq").get(nr).i32(NR).op("i32.eq").op("i32.and")
    .if(() => {
      for (let i = 0; i < MR; i++) {
        for (let v = 0; v < NV; v++) {
          const x = accs[i * NV + v]!;
          f.get(acc).if(() => {
            f.get(c).mem("v128.load", v * 16).get(x).simd("f32x4.add").set(x);
          });
          f.get(c).get(x).mem("v128.store", v * 16);
        }
        f.inc(c, ldc, true);
      }
    }, () => {
      for (let i = 0; i < MR; i++) {
        for (let v = 0; v < NV; v++) {
          f.get(scratch).get(accs[i * NV + v]!)
            .mem("v128.store", (i * NR + v * 4) * 4);
        }
      }
      f.for(r, () => f.i32(0), () => f.get(mr), 1, () => {
        f.get(c).get(r).get(ldc).op("i32.mul").op("i32.add").set(row);
        f.for(j, () => f.i32(0), () => f.get(nr), 1, () => {
          f.get(scratch).get(r).i32(NR).op("i32.mul").get(j).op("i32.add")
            .i32(2).op("i32.shl").op("i32.add").mem("f32.load").set(t);
          f.get(acc).if(() => {
            f.get(t).get(row).get(j).i32(2).op("i32.shl").op("i32.add")
              .mem("f32.load").op("f32.add").set(t);
          });
          f.get(row).get(j).i32(2).op("i32.shl").op("i32.add").get(t)
            .mem("f32.store");
        });
      });
    });
  return f;
}

/**
 * `macro(ap, bp, kc, c, ldc, mc, j0, j1, N, panelStride, acc, scratch)`:
 * the micro-tiles of one packed A block against B panels j0..j1.
 */
function macro({ mr: MR, nr: NR }: GemmShape, tileIdx: number): Fn {
  const f = new Fn(Array(12).fill("i32"), []);
  const [ap, bp, kc, c, ldc, mc, j0, j1, N, ps, acc, scratch] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
  ];
  const jp = f.local("i32"), ir = f.local("i32"), nr = f.local("i32");
  const bpp = f.local("i32"), cc = f.local("i32"), mr = f.local("i32");
  const min = (x: () => void, y: () => void) => {
    x();
    y();
    x();
    y();
    f.op("i32.lt_s").op("select");
  };
  f.for(jp, () => f.get(j0), () => f.get(j1), 1, () => {
    min(
      () => f.i32(NR),
      () => f.get(N).get(jp).i32(NR).op("i32.mul").op("i32.sub"),
    );
    f.set(nr);
    f.get(bp).get(jp).get(ps).op("i32.mul").op("i32.add").set(bpp);
    f.get(c).get(jp).i32(NR * 4).op("i32.mul").op("i32.add").set(cc);
    f.for(ir, () => f.i32(0), () => f.get(mc), MR, () => {
      min(() => f.i32(MR), () => f.get(mc).get(ir).op("i32.sub"));
      f.set(mr);
      f.get(ap).get(ir).get(kc).op("i32.mul").i32(2).op("i32.shl")
        .op("i32.add");
      f.get(bpp).get(kc);
      f.get(cc).get(ir).get(ldc).op("i32.mul").op("i32.add");
      f.get(ldc).get(mr).get(nr).get(acc).get(scratch).call(tileIdx);
    });
  });
  return f;
}

/** Adds `pack_a`, `pack_b`, `tile` and `macro` to `m`. */
export function addGemm(m: ModuleBuilder, shape: GemmShape): void {
  m.add("pack_b", packB(shape));
  m.add("pack_a", packA(shape));
  const t = m.add("tile", tile(shape));
  m.add("macro", macro(shape, t));
}
