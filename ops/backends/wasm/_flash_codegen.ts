/**
 * The modes of a flash kernel as one wasm function each (the frame is
 * `_flash_gen.ts`, the tile products `_flash_tile.ts`):
 *
 * - `forward`: per query tile, key tiles in order: scores into a tile,
 *   then per row the online softmax (running max `m` and sum `l`; the
 *   output row is rescaled by `exp(m_old − m_new)`), then `O += P·V`;
 *   finally `O /= l` and `lse = m + log l`. With `"none"`, `P` is the
 *   masked score and `O += P·V`.
 * - `weights`: the same statistics first, then `P` written tile by tile.
 * - `grad_q`, `grad_captured`: per query tile, `P` recomputed from the
 *   saved `lse`, `ds = P (dP − D + gstat)` with `D = gO·O`; `dq_k +=
 *   (ds ∂s/∂r_k)·K`, or `dc[addr] += ds ∂s/∂c` in (b, i, j) order.
 * - `grad_kv`: per key tile, query tiles in order: `dk += (ds ∂s/∂r_k)ᵀ·q_k`
 *   and `dv += Pᵀ·gO`.
 * - `grad_qkv`: per batch element, key tiles outer, query tiles inner:
 *   grad_kv's work plus `dq += (ds ∂s/∂r_k)·K` into the query rows.
 * - `tangent`: per query tile, `A = Σ_j (P ts)_j v_j + P_j tv_j` and
 *   `tstat = Σ_j P_j ts_j`, then `tO = A − tstat·O` (softmax).
 *
 * @module
 */

import type { FlashKernel, FlashMode } from "../flash.ts";
import { flashArity, flashFloatInputs } from "../flash.ts";
import type { Fn, Local } from "./_asm.ts";
import type { ImportName, Lanes } from "./_fused_ops.ts";
import { BC, BR, btAt, Gen, tileAt, type TILES } from "./_flash_gen.ts";
import { dotTile, scaleRow, transposeTile, weighTile } from "./_flash_tile.ts";
import { hmax, hsum, scalar } from "./_flash_math.ts";
import { emitGrad, type Kit } from "./_flash_grad.ts";
import { emitTangent } from "./_flash_tangent.ts";
import * as M from "./_math.ts";

type Tile = keyof typeof TILES;

/** The generated function and its host imports. */
export interface FlashGenerated {
  /** The kernel function. */
  readonly fn: Fn;
  /** Host functions it imports, in order. */
  readonly imports: readonly string[];
}

/** The load node of captured tensor `c` in the score (the one its partial refers to). */
export function capturedLoad(k: FlashKernel, c: number): number {
  return k.score.nodes.findIndex((n) => n.kind === "load" && n.input === c);
}

/** Generates the function of `mode` (and captured `index` for `grad_captured`). */
export function generateFlash(
  k: FlashKernel,
  mode: FlashMode,
  index: number,
  opts: { imports: ImportName[]; fma: boolean },
): FlashGenerated {
  const arity = flashArity(k, mode);
  const g = new Gen(k, arity, opts.imports, opts.fma);
  const f = g.f;
  const { tq, tk, d, dv } = k, nq = k.queries, nc = k.captured.length;
  const KEY = nq, VAL = nq + 1, BASE = nq + 2 + nc, FWD = BASE, CT = BASE + 1;
  const OUT = arity;
  const floats = flashFloatInputs(k);
  const TAN = (input: number) => BASE + 1 + floats.indexOf(input);
  const softmax = k.normaliser === "softmax";
  const nQT = Math.ceil(tq / BR), nKT = Math.ceil(tk / BC);
  const dots = Array.from({ length: nq }, (_, q) => q);
  const dotTiles: Tile[] = ["R0", "R1"];
  const partial = k.score.partials;
  const val = (n: number) => g.score.val[n]!;
  const v128 = () => f.local("v128");
  const i32 = () => f.local("i32");
  const f32 = () => f.local("f32");
  const set = (l: Local, push: () => void) => {
    push();
    f.set(l);
    return l;
  };
  // Which nodes each pass needs.
  const captured = mode === "tangent"
    ? partial.captured.flatMap((p, c) => (p === null ? [] : [c]))
    : mode === "grad_captured"
    ? [index]
    : [];
  const sRoots = [k.score.value];
  if (mode.startsWith("grad") || mode === "tangent") {
    sRoots.push(...partial.dots.slice(0, nq));
  }
  for (const c of captured) {
    const p = partial.captured[c];
    if (p === null || p === undefined) continue;
    sRoots.push(p, capturedLoad(k, c));
  }
  const needS = g.score.need(sRoots);
  const needM = g.mask ? g.mask.need([k.mask!.value]) : null;

  /** A local holding the address of transposed key-side slot `slot`. */
  const bt = (slot: number) =>
    set(i32(), () => f.get(g.scratch).i32(btAt(k, slot)).op("i32.add"));
  /** Transposes the key-side tile at `b` (bc rows) into slot `slot`. */
  const transposeKeys = (
    b: Local,
    bStride: number,
    width: number,
    slot: number,
  ) => transposeTile(f, b, bStride, width, g.bc, bt(slot));
  /** `tile t = A·Bᵀ` with Bᵀ already in slot `slot`. */
  const dotInto = (
    t: Tile,
    a: Local,
    aStride: number,
    width: number,
    slot: number,
  ) => {
    const dst = set(i32(), () => f.get(g.scratch).i32(tileAt(t)).op("i32.add"));
    dotTile(f, {
      a,
      aStride,
      width,
      dst,
      dstStride: 4 * BC,
      rows: g.br,
      cols: g.bc,
      bt: bt(slot),
      fma: g.fma,
    });
  };
  const rowPtr = (n: number, per: number, row: Local | null, w: number) =>
    set(i32(), () => g.rowAddr(n, per, row, w));
  const qRows = () => dots.map((q) => rowPtr(q, tq, g.i0, d));
  /** Scores of the current tiles (Kᵀ into slot 0 first, unless `pre`). */
  const scores = (qr: readonly Local[], kr: Local, pre = false) => {
    if (!pre) transposeKeys(kr, 4 * d, d, 0);
    dots.forEach((q) => dotInto(dotTiles[q]!, qr[q]!, 4 * d, d, 0));
  };
  /** A scratch tile's base, for the weighted sums. */
  const tileBase = (t: Tile) =>
    set(i32(), () => f.get(g.scratch).i32(tileAt(t)).op("i32.add"));
  /** Pushes `x` where visible, else `fill` (a v128 of x on the stack first). */
  const masked = (x: Local, fill: number) => {
    f.get(x);
    if (!g.mask || g.noMask) return;
    f.f32x4(fill);
    g.visible();
    f.simd("v128.bitselect");
  };
  const forRows = (body: () => void) => g.loop(g.r, g.br, body);
  const zero = (p: Local, bytes: () => void) => {
    f.get(p).i32(0);
    bytes();
    f.memoryFill();
  };
  /**
   * `exp(x − y)` of two v128 locals, pushed; results below 2^-126 are 0,
   * so no subnormal weight slows the tile products after it (a far
   * ALiBi bias made the gradient kernel 2× slower).
   */
  const expDiff = (x: Local, y: Local) => {
    const t = set(v128(), () => f.get(x).get(y).simd("f32x4.sub"));
    M.expVec(f, t, { madd: g.fma, flush: true });
  };
  /** Adds v128 `p` to the row sum: four lanes, or lane 0 of a single key. */
  const accumulate = (vs: Local, ss: Local, p: Local, lanes: Lanes) => {
    if (lanes === 4) f.get(vs).get(p).simd("f32x4.add").set(vs);
    else {
      f.get(ss).get(p).simd("f32x4.extract_lane", 0).op("f32.add").set(ss);
    }
  };
  const cellLoad = (t: Tile, lanes: Lanes) =>
    f.get(g.cell).mem(
      lanes === 4 ? "v128.load" : "v128.load32_splat",
      tileAt(t),
    );

  /**
   * The online softmax of row r over the current key tile: masked scores
   * into tile P and their max; then `P = exp(s − m_new)`, `l` and `m`
   * updated; the output row (when given) rescaled.
   */
  const softmaxRow = (orow: Local | null) => {
    const vmax = set(v128(), () => f.f32x4(-Infinity));
    const s = val(k.score.value);
    g.cells(needS, needM, (lanes) => {
      const sm = set(v128(), () => masked(s, -Infinity));
      g.storeCell(sm, lanes, tileAt("P"));
      f.get(vmax).get(sm).simd("f32x4.max").set(vmax);
    });
    const mold = set(f32(), () => g.rowGet("M"));
    const mnew = set(f32(), () => {
      f.get(mold);
      hmax(f, vmax);
      f.op("f32.max");
    });
    // A row with nothing visible yet subtracts 0: its weights stay 0.
    const msub = set(f32(), () => {
      f.f32(0).get(mnew).get(mnew).f32(-Infinity).op("f32.eq").op("select");
    });
    const alpha = set(f32(), () => {
      f.get(mold).get(msub).op("f32.sub");
      scalar(f, M.expBody);
    });
    const mv = set(v128(), () => f.get(msub).simd("f32x4.splat"));
    const vs = set(v128(), () => f.f32x4(0)), ss = set(f32(), () => f.f32(0));
    g.cells(null, null, (lanes) => {
      const x = set(v128(), () => cellLoad("P", lanes));
      const p = set(v128(), () => expDiff(x, mv));
      g.storeCell(p, lanes, tileAt("P"));
      accumulate(vs, ss, p, lanes);
    });
    g.rowSet("L", () => {
      g.rowGet("L");
      f.get(alpha).op("f32.mul");
      hsum(f, vs);
      f.get(ss).op("f32.add").op("f32.add");
    });
    g.rowSet("M", () => f.get(mnew));
    if (orow) {
      const row = set(
        i32(),
        () =>
          f.get(orow).get(g.r).i32(4 * (dv + 1)).op("i32.mul").op("i32.add"),
      );
      // The max rarely moves after the first tiles: skip a scale by 1.
      f.get(alpha).f32(1).op("f32.ne").if(() => scaleRow(f, row, dv, alpha));
    }
  };

  const initStats = () =>
    forRows(() => {
      g.rowSet("M", () => f.f32(-Infinity));
      g.rowSet("L", () => f.f32(0));
    });

  /** Per item of a query-tile mode: b, i0, br from the item index. */
  const queryItem = (item: Local) => {
    f.get(item).i32(nQT).op("i32.div_u").set(g.b);
    f.get(item).get(g.b).i32(nQT).op("i32.mul").op("i32.sub").set(g.qt);
    g.queryTile(g.qt);
    g.setBatch();
  };
  const keyLoop = (body: () => void) => {
    g.loop(g.kt, { n: nKT }, () => {
      g.keyTile(g.kt);
      g.sparse(body);
    });
  };
  const item = i32();

  if (mode === "forward" || mode === "weights") {
    g.items(item, () => {
      queryItem(item);
      const qr = qRows();
      const w = dv + 1;
      const orow = mode === "forward" ? rowPtr(OUT, tq, g.i0, w) : null;
      if (orow) zero(orow, () => f.get(g.br).i32(4 * w).op("i32.mul"));
      if (softmax) initStats();
      const kr = i32(), vr = i32(), pBase = tileBase("P");
      if (mode === "forward" || softmax) {
        keyLoop(() => {
          set(kr, () => g.rowAddr(KEY, tk, g.j0, d));
          scores(qr, kr);
          if (softmax) forRows(() => softmaxRow(orow));
          else {
            forRows(() =>
              g.cells(needS, needM, (lanes) => {
                const p = set(v128(), () => masked(val(k.score.value), 0));
                g.storeCell(p, lanes, tileAt("P"));
              })
            );
          }
          if (!orow) return;
          set(vr, () => g.rowAddr(VAL, tk, g.j0, dv));
          weighTile(f, {
            fma: g.fma,
            w: pBase,
            wx: 4 * BC,
            wy: 4,
            m: vr,
            mStride: 4 * dv,
            out: orow,
            outStride: 4 * w,
            width: dv,
            xs: g.br,
            ys: g.bc,
          });
        });
      }
      if (mode === "forward") {
        if (!softmax || !orow) return;
        forRows(() => {
          const l = set(f32(), () => g.rowGet("L"));
          const row = set(
            i32(),
            () => f.get(orow).get(g.r).i32(4 * w).op("i32.mul").op("i32.add"),
          );
          f.get(l).f32(0).op("f32.gt").if(() => {
            const inv = set(f32(), () => f.f32(1).get(l).op("f32.div"));
            scaleRow(f, row, dv, inv);
            f.get(row);
            g.rowGet("M");
            f.get(l);
            scalar(f, M.logBody);
            f.op("f32.add").mem("f32.store", 4 * dv);
          });
        });
        return;
      }
      // weights: P tile by tile, straight into the output.
      if (softmax) {
        forRows(() =>
          g.rowSet("LSE", () => {
            const l = set(f32(), () => g.rowGet("L"));
            g.rowGet("M");
            f.get(l);
            scalar(f, M.logBody);
            f.op("f32.add").f32(Infinity).get(l).f32(0).op("f32.gt");
            f.op("select");
          })
        );
      }
      keyLoop(() => {
        set(kr, () => g.rowAddr(KEY, tk, g.j0, d));
        scores(qr, kr);
        forRows(() => {
          const wo = set(i32(), () => {
            f.get(g.i0).get(g.r).op("i32.add").set(g.i);
            g.rowAddr(OUT, tq, g.i, tk);
            f.get(g.j0).i32(4).op("i32.mul").op("i32.add");
          });
          const lse = set(v128(), () => {
            if (softmax) g.rowGet("LSE");
            else f.f32(0);
            f.simd("f32x4.splat");
          });
          g.cells(needS, needM, (lanes) => {
            const s = val(k.score.value);
            const p = set(v128(), () => {
              if (softmax) {
                const e = set(v128(), () => expDiff(s, lse));
                masked(e, 0);
              } else masked(s, 0);
            });
            f.get(wo).get(p);
            if (lanes === 4) f.mem("v128.store");
            else f.simd("f32x4.extract_lane", 0).mem("f32.store");
            f.inc(wo, 4 * lanes);
          });
        });
      });
    });
    return { fn: f, imports: g.imports };
  }
  const kit: Kit = {
    g,
    f,
    k,
    mode,
    index,
    KEY,
    VAL,
    FWD,
    CT,
    OUT,
    TAN,
    softmax,
    nQT,
    nKT,
    needS,
    needM,
    item,
    set,
    i32,
    f32,
    v128,
    dotInto,
    transposeKeys,
    rowPtr,
    qRows,
    scores,
    tileBase,
    masked,
    forRows,
    zero,
    expDiff,
    accumulate,
    cellLoad,
    queryItem,
    keyLoop,
    capturedLoad: (c) => capturedLoad(k, c),
  };
  if (mode === "tangent") emitTangent(kit);
  else emitGrad(kit);
  return { fn: f, imports: g.imports };
}
