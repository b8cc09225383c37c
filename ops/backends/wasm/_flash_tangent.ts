/**
 * The tangent mode of flash kernels (forward mode, linear in the
 * tangents), with the helpers of {@link Kit}: per query tile, key tiles in
 * order, `P` recomputed from the saved `lse` and
 * `ts = Σ_k ∂s/∂r_k (tq_k·k + q_k·tk) + Σ_c ∂s/∂c tc[addr]`; softmax:
 * `A = Σ_j (P ts)_j v_j + P_j tv_j`, `tstat = Σ_j P_j ts_j`, then
 * `tO = A − tstat·O`; none: `tO = Σ_j ts_j v_j (visible) + P_j tv_j`.
 *
 * @module
 */

import type { Kit } from "./_flash_grad.ts";
import { BC, tileAt, type TILES } from "./_flash_gen.ts";
import { weighTile } from "./_flash_tile.ts";
import { hsum } from "./_flash_math.ts";

type Tile = keyof typeof TILES;

const TQ: Tile[] = ["TQ0", "TQ1"];
const TK: Tile[] = ["TK0", "TK1"];

/** Emits the items loop of the tangent mode. */
export function emitTangent(t: Kit): void {
  const { g, f, k, set, i32, f32, v128 } = t;
  const { tq, tk, d, dv } = k, nq = k.queries;
  const w = dv + 1;
  const partial = k.score.partials;
  const val = (n: number) => g.score.val[n]!;
  const caps = partial.captured.flatMap((p, c) => p === null ? [] : [c]);
  const deltas = caps.map((c) =>
    set(
      i32(),
      () =>
        f.get(g.op[t.TAN(nq + 2 + c)]!).get(g.op[nq + 2 + c]!).op("i32.sub"),
    )
  );
  g.items(t.item, () => {
    t.queryItem(t.item);
    const qr = t.qRows();
    const tqr = qr.map((_, q) => t.rowPtr(t.TAN(q), tq, g.i0, d));
    const orow = t.rowPtr(t.OUT, tq, g.i0, w);
    const fr = t.rowPtr(t.FWD, tq, g.i0, w);
    t.zero(orow, () => f.get(g.br).i32(4 * w).op("i32.mul"));
    t.forRows(() => {
      g.rowSet("LSE", () => {
        f.get(fr).get(g.r).i32(4 * w).op("i32.mul").op("i32.add");
        f.mem("f32.load", 4 * dv);
      });
      g.rowSet("TST", () => f.f32(0));
    });
    const kr = i32(), vr = i32(), tkr = i32(), tvr = i32();
    t.keyLoop(() => {
      set(kr, () => g.rowAddr(t.KEY, tk, g.j0, d));
      set(vr, () => g.rowAddr(t.VAL, tk, g.j0, dv));
      set(tkr, () => g.rowAddr(t.TAN(t.KEY), tk, g.j0, d));
      set(tvr, () => g.rowAddr(t.TAN(t.VAL), tk, g.j0, dv));
      t.scores(qr, kr);
      t.transposeKeys(tkr, 4 * d, d, 1);
      for (let q = 0; q < nq; q++) {
        t.dotInto(TQ[q]!, tqr[q]!, 4 * d, d, 0);
        t.dotInto(TK[q]!, qr[q]!, 4 * d, d, 1);
      }
      t.forRows(() => {
        const lse = set(v128(), () => {
          g.rowGet("LSE");
          f.simd("f32x4.splat");
        });
        const vs = set(v128(), () => f.f32x4(0));
        const ss = set(f32(), () => f.f32(0));
        g.cells(t.needS, t.needM, (lanes) => {
          const s = val(k.score.value);
          const ts = set(v128(), () => f.f32x4(0));
          for (let q = 0; q < nq; q++) {
            f.get(ts).get(val(partial.dots[q]!));
            t.cellLoad(TQ[q]!, lanes);
            t.cellLoad(TK[q]!, lanes);
            f.simd("f32x4.add").simd("f32x4.mul").simd("f32x4.add").set(ts);
          }
          caps.forEach((c, n) => {
            f.get(ts).get(val(partial.captured[c]!));
            g.score.loadAt(t.capturedLoad(c), lanes, deltas[n]!);
            f.simd("f32x4.mul").simd("f32x4.add").set(ts);
          });
          const p = v128(), wt = v128();
          if (t.softmax) {
            const e = set(v128(), () => t.expDiff(s, lse));
            set(p, () => t.masked(e, 0));
            set(wt, () => f.get(p).get(ts).simd("f32x4.mul"));
            t.accumulate(vs, ss, wt, lanes);
          } else {
            set(p, () => t.masked(s, 0));
            set(wt, () => t.masked(ts, 0));
          }
          g.storeCell(p, lanes, tileAt("P"));
          g.storeCell(wt, lanes, tileAt("W"));
        });
        if (t.softmax) {
          g.rowSet("TST", () => {
            g.rowGet("TST");
            hsum(f, vs);
            f.get(ss).op("f32.add").op("f32.add");
          });
        }
      });
      const common = {
        wx: 4 * BC,
        wy: 4,
        out: orow,
        outStride: 4 * w,
        width: dv,
        xs: g.br,
        ys: g.bc,
      };
      weighTile(f, {
        ...common,
        fma: g.fma,
        w: t.tileBase("W"),
        m: vr,
        mStride: 4 * dv,
      });
      weighTile(f, {
        ...common,
        fma: g.fma,
        w: t.tileBase("P"),
        m: tvr,
        mStride: 4 * dv,
      });
    });
    if (!t.softmax) return;
    // tO = A − tstat·O; the stat column is tstat.
    const x = i32(), op = i32(), fp = i32(), tst = f32();
    t.forRows(() => {
      set(tst, () => g.rowGet("TST"));
      set(
        op,
        () => f.get(orow).get(g.r).i32(4 * w).op("i32.mul").op("i32.add"),
      );
      set(fp, () => f.get(fr).get(g.r).i32(4 * w).op("i32.mul").op("i32.add"));
      g.loop(x, { n: dv }, () => {
        f.get(op).get(op).mem("f32.load").get(tst).get(fp).mem("f32.load");
        f.op("f32.mul").op("f32.sub").mem("f32.store");
        f.inc(op, 4).inc(fp, 4);
      });
      f.get(op).get(tst).mem("f32.store");
    });
  });
}
