/**
 * The backward and tangent modes of flash kernels (`_flash_codegen.ts`
 * builds the shared helpers, {@link Kit}). `P` is recomputed tile by tile
 * from the saved row statistic (the forward output's last column), never
 * stored whole:
 *
 * - `grad_q`: per query tile, key tiles in order; `ds = P (dP − D)` with
 *   `dP = gO·v`, `D = gO·O − gstat` (softmax) or `ds = dP` where visible
 *   (none); `dq_k += (ds ∂s/∂r_k)·K`.
 * - `grad_kv`: per key tile, query tiles in order; `dk += Σ_k (ds
 *   ∂s/∂r_k)ᵀ·q_k`, `dv += Pᵀ·gO`.
 * - `grad_qkv`: per batch element, key tiles outer and query tiles inner:
 *   grad_kv's dk and dv for the key tile and grad_q's `dq += DR·K` into
 *   the query rows (in key tile order, so equal to grad_q's), from one
 *   recomputation of S, P and dP (five tile products instead of seven).
 * - `grad_captured`: `dc[addr] += ds ∂s/∂c` in (b, i, j) order into the
 *   unit's partial sums (after its scratch), which the caller adds up.
 *
 * The tangent mode is `_flash_tangent.ts`.
 *
 * @module
 */

import type { FlashKernel, FlashMode } from "../flash.ts";
import type { Fn, Local } from "./_asm.ts";
import type { Lanes } from "./_fused_ops.ts";
import { sizeOf } from "../../dtype.ts";
import {
  BC,
  type Gen,
  scratchBytes,
  tileAt,
  type TILES,
} from "./_flash_gen.ts";
import { weighTile } from "./_flash_tile.ts";
import { hsum } from "./_flash_math.ts";

type Tile = keyof typeof TILES;

/** What the modes share, built by `generateFlash`. */
export interface Kit {
  readonly g: Gen;
  readonly f: Fn;
  readonly k: FlashKernel;
  readonly mode: FlashMode;
  readonly index: number;
  /** Operand indices. */
  readonly KEY: number;
  readonly VAL: number;
  readonly FWD: number;
  readonly CT: number;
  readonly OUT: number;
  /** The operand index of input `n`'s tangent. */
  readonly TAN: (input: number) => number;
  readonly softmax: boolean;
  readonly nQT: number;
  readonly nKT: number;
  readonly needS: readonly boolean[];
  readonly needM: readonly boolean[] | null;
  readonly item: Local;
  readonly set: (l: Local, push: () => void) => Local;
  readonly i32: () => Local;
  readonly f32: () => Local;
  readonly v128: () => Local;
  readonly dotInto: (
    t: Tile,
    a: Local,
    aStride: number,
    width: number,
    slot: number,
  ) => void;
  readonly transposeKeys: (
    b: Local,
    bStride: number,
    width: number,
    slot: number,
  ) => void;
  readonly rowPtr: (
    n: number,
    per: number,
    row: Local | null,
    w: number,
  ) => Local;
  readonly qRows: () => Local[];
  readonly scores: (qr: readonly Local[], kr: Local, pre?: boolean) => void;
  readonly tileBase: (t: Tile) => Local;
  readonly masked: (x: Local, fill: number) => void;
  readonly forRows: (body: () => void) => void;
  readonly zero: (p: Local, bytes: () => void) => void;
  readonly expDiff: (x: Local, y: Local) => void;
  readonly accumulate: (vs: Local, ss: Local, p: Local, lanes: Lanes) => void;
  readonly cellLoad: (t: Tile, lanes: Lanes) => void;
  readonly queryItem: (item: Local) => void;
  readonly keyLoop: (body: () => void) => void;
  /** The score load node of captured tensor c. */
  readonly capturedLoad: (c: number) => number;
}

const DR: Tile[] = ["DR0", "DR1"];

/** Emits the items loop of a gradient mode. */
export function emitGrad(t: Kit): void {
  const { g, f, k, mode, set, i32, v128 } = t;
  const { tq, tk, d, dv } = k, nq = k.queries;
  const w = dv + 1;
  const partial = k.score.partials;
  const val = (n: number) => g.score.val[n]!;
  let delta: Local | null = null;
  const load = mode === "grad_captured" ? t.capturedLoad(t.index) : -1;
  const ln = k.score.nodes[load];
  const sj = ln?.kind === "load" ? 4 * ln.strides[k.batch.length + 1]! : 0;
  if (mode === "grad_captured") {
    // This unit's partial sums of dc, after its scratch, start at zero.
    const size = sizeOf(k.captured[t.index]!.shape) * 4;
    const part = set(
      i32(),
      () => f.get(g.scratch).i32(scratchBytes(k)).op("i32.add"),
    );
    f.get(part).i32(0).i32(size).memoryFill();
    delta = set(
      i32(),
      () => f.get(part).get(g.op[k.queries + 2 + t.index]!).op("i32.sub"),
    );
  }
  /** LSE and D − gstat of the query tile's rows. */
  const prepRows = (cr: Local, fr: Local) => {
    if (!t.softmax) return;
    const cp = i32(), fp = i32(), acc = v128();
    t.forRows(() => {
      set(cp, () => f.get(cr).get(g.r).i32(4 * w).op("i32.mul").op("i32.add"));
      set(fp, () => f.get(fr).get(g.r).i32(4 * w).op("i32.mul").op("i32.add"));
      g.rowSet("LSE", () => f.get(fp).mem("f32.load", 4 * dv));
      // D − gstat = Σ_x gO_x·O_x − gstat: four lanes, then the tail.
      f.f32x4(0).set(acc);
      let x = 0;
      for (; x + 4 <= dv; x += 4) {
        f.get(acc).get(cp).mem("v128.load", 4 * x).get(fp)
          .mem("v128.load", 4 * x).simd("f32x4.mul").simd("f32x4.add")
          .set(acc);
      }
      g.rowSet("DD", () => {
        hsum(f, acc);
        for (let e = x; e < dv; e++) {
          f.get(cp).mem("f32.load", 4 * e).get(fp).mem("f32.load", 4 * e);
          f.op("f32.mul").op("f32.add");
        }
        f.get(cp).mem("f32.load", 4 * dv).op("f32.sub");
      });
    });
  };
  /** ds (and what the mode keeps of it) over row r of the tile. */
  const gradRow = () => {
    const lse = set(v128(), () => {
      if (t.softmax) g.rowGet("LSE");
      else f.f32(0);
      f.simd("f32x4.splat");
    });
    const dd = set(v128(), () => {
      if (t.softmax) g.rowGet("DD");
      else f.f32(0);
      f.simd("f32x4.splat");
    });
    g.cells(t.needS, t.needM, (lanes) => {
      const s = val(k.score.value);
      const p = v128(), ds = v128(), dp = v128();
      set(dp, () => t.cellLoad("DP", lanes));
      if (t.softmax) {
        const e = set(v128(), () => t.expDiff(s, lse));
        set(p, () => t.masked(e, 0));
        set(
          ds,
          () => f.get(p).get(dp).get(dd).simd("f32x4.sub").simd("f32x4.mul"),
        );
      } else {
        set(p, () => t.masked(s, 0));
        set(ds, () => t.masked(dp, 0));
      }
      if (mode === "grad_kv" || mode === "grad_qkv") {
        g.storeCell(p, lanes, tileAt("P"));
      }
      if (mode !== "grad_captured") {
        for (let q = 0; q < nq; q++) {
          const dr = set(
            v128(),
            () => f.get(ds).get(val(partial.dots[q]!)).simd("f32x4.mul"),
          );
          g.storeCell(dr, lanes, tileAt(DR[q]!));
        }
        return;
      }
      const dc = set(
        v128(),
        () => f.get(ds).get(val(partial.captured[t.index]!)).simd("f32x4.mul"),
      );
      const a = set(
        i32(),
        () => f.get(g.score.pointer(load)).get(delta!).op("i32.add"),
      );
      for (let lane = 0; lane < lanes; lane++) {
        const at = () => {
          f.get(a);
          if (lane * sj !== 0) f.i32(lane * sj).op("i32.add");
        };
        at();
        at();
        f.mem("f32.load").get(dc).simd("f32x4.extract_lane", lane);
        f.op("f32.add").mem("f32.store");
      }
    });
  };

  const kr = i32(), vr = i32();
  const keyRows = () => {
    set(kr, () => g.rowAddr(t.KEY, tk, g.j0, d));
    set(vr, () => g.rowAddr(t.VAL, tk, g.j0, dv));
  };
  if (mode === "grad_qkv") {
    // One unit per batch element: key tiles outer, query tiles inner; dq
    // rows gather their key tiles in order, as grad_q's do.
    const wq = nq * d, wo = d + dv, per = tq * wq + tk * wo;
    const dq = i32(), kv = i32(), orow = i32(), orowV = i32();
    g.items(t.item, () => {
      f.get(t.item).set(g.b);
      g.setBatch();
      set(dq, () => {
        f.get(g.op[t.OUT]!).get(g.b).i32(4 * per).op("i32.mul");
        f.op("i32.add");
      });
      set(kv, () => f.get(dq).i32(4 * tq * wq).op("i32.add"));
      t.zero(dq, () => f.i32(4 * tq * wq));
      g.loop(g.kt, { n: t.nKT }, () => {
        g.keyTile(g.kt);
        set(orow, () => {
          f.get(kv).get(g.j0).i32(4 * wo).op("i32.mul").op("i32.add");
        });
        set(orowV, () => f.get(orow).i32(4 * d).op("i32.add"));
        t.zero(orow, () => f.get(g.bc).i32(4 * wo).op("i32.mul"));
        keyRows();
        t.transposeKeys(kr, 4 * d, d, 0);
        t.transposeKeys(vr, 4 * dv, dv, 1);
        g.loop(g.qt, { n: t.nQT }, () => {
          g.queryTile(g.qt);
          g.sparse(() => {
            queryTileBody(orow, orowV);
            const qrow = set(i32(), () => {
              f.get(dq).get(g.i0).i32(4 * wq).op("i32.mul").op("i32.add");
            });
            dqTile(qrow);
          });
        });
      });
    });
    return;
  }
  if (mode === "grad_kv") {
    const kt = g.kt, qt = g.qt;
    g.items(t.item, () => {
      f.get(t.item).i32(t.nKT).op("i32.div_u").set(g.b);
      f.get(t.item).get(g.b).i32(t.nKT).op("i32.mul").op("i32.sub").set(kt);
      g.keyTile(kt);
      g.setBatch();
      const wo = d + dv;
      const orow = t.rowPtr(t.OUT, tk, g.j0, wo);
      const orowV = set(i32(), () => f.get(orow).i32(4 * d).op("i32.add"));
      t.zero(orow, () => f.get(g.bc).i32(4 * wo).op("i32.mul"));
      keyRows();
      t.transposeKeys(kr, 4 * d, d, 0);
      t.transposeKeys(vr, 4 * dv, dv, 1);
      g.loop(qt, { n: t.nQT }, () => {
        g.queryTile(qt);
        g.sparse(() => queryTileBody(orow, orowV));
      });
    });
    return;
  }
  /** One query tile of grad_kv: dk and dv rows of the key tile += its share. */
  function queryTileBody(orow: Local, orowV: Local): void {
    const wo = d + dv;
    const qr = t.qRows();
    const cr = t.rowPtr(t.CT, tq, g.i0, w);
    const fr = t.rowPtr(t.FWD, tq, g.i0, w);
    prepRows(cr, fr);
    t.scores(qr, kr, true);
    t.dotInto("DP", cr, 4 * w, dv, 1);
    t.forRows(gradRow);
    const common = { wx: 4, wy: 4 * BC, outStride: 4 * wo };
    for (let q = 0; q < nq; q++) {
      weighTile(f, {
        fma: g.fma,
        ...common,
        w: t.tileBase(DR[q]!),
        m: qr[q]!,
        mStride: 4 * d,
        out: orow,
        width: d,
        xs: g.bc,
        ys: g.br,
      });
    }
    weighTile(f, {
      fma: g.fma,
      ...common,
      w: t.tileBase("P"),
      m: cr,
      mStride: 4 * w,
      out: orowV,
      width: dv,
      xs: g.bc,
      ys: g.br,
    });
  }
  /** dq rows of the query tile (`qrow`, row stride queries·d) += DR·K. */
  function dqTile(qrow: Local): void {
    const wq = nq * d;
    for (let q = 0; q < nq; q++) {
      const out = set(i32(), () => f.get(qrow).i32(4 * q * d).op("i32.add"));
      weighTile(f, {
        fma: g.fma,
        w: t.tileBase(DR[q]!),
        wx: 4 * BC,
        wy: 4,
        m: kr,
        mStride: 4 * d,
        out,
        outStride: 4 * wq,
        width: d,
        xs: g.br,
        ys: g.bc,
      });
    }
  }
  g.items(t.item, () => {
    t.queryItem(t.item);
    const qr = t.qRows();
    const cr = t.rowPtr(t.CT, tq, g.i0, w);
    const fr = t.rowPtr(t.FWD, tq, g.i0, w);
    const wq = nq * d;
    const orow = mode === "grad_q" ? t.rowPtr(t.OUT, tq, g.i0, wq) : null;
    if (orow) t.zero(orow, () => f.get(g.br).i32(4 * wq).op("i32.mul"));
    prepRows(cr, fr);
    t.keyLoop(() => {
      keyRows();
      t.scores(qr, kr);
      t.transposeKeys(vr, 4 * dv, dv, 1);
      t.dotInto("DP", cr, 4 * w, dv, 1);
      t.forRows(gradRow);
      if (orow) dqTile(orow);
    });
  });
}
