/**
 * The meaning of a flash kernel (see `flash.ts`), computed the plain way:
 * the whole `[...batch, Tq, Tk]` grid of scores is materialised, the
 * expression is evaluated by the fused-kernel reference (the CPU
 * backend's own kernels), and sums run in double precision. The CPU
 * backend runs flash kernels this way; the wasm and WGSL kernels are
 * tested against it.
 *
 * @module
 */

import { type HostArray, sizeOf, stridesOf } from "../dtype.ts";
import type { FusedElementwise, FusedNode } from "./fused.ts";
import { runFusedReference } from "./fused_reference.ts";
import {
  flashArity,
  flashFloatInputs,
  type FlashKernel,
  type FlashNode,
  flashOutput,
  type FlashParams,
} from "./flash.ts";

/** The grid shape of `k`: `[...batch, Tq, Tk]`. */
function gridOf(k: FlashKernel): number[] {
  return [...k.batch, k.tq, k.tk];
}

/** Fused nodes for a flash node list: dot k reads extra input `nCaptured + k`. */
function asFused(
  nodes: readonly FlashNode[],
  nCaptured: number,
  gridStrides: readonly number[],
): FusedNode[] {
  return nodes.map((n): FusedNode =>
    n.kind === "dot"
      ? {
        kind: "load",
        input: nCaptured + n.index,
        offset: 0,
        strides: gridStrides,
        dtype: "float32",
      }
      : n
  );
}

/** The element of captured tensor `c` that grid element `e` reads, per e (null when no load reads c). */
export function capturedAddresses(
  k: FlashKernel,
  c: number,
): Int32Array | null {
  const load = k.score.nodes.find((n) => n.kind === "load" && n.input === c);
  if (!load || load.kind !== "load") return null;
  const grid = gridOf(k);
  const n = sizeOf(grid);
  const out = new Int32Array(n);
  const idx = new Array<number>(grid.length).fill(0);
  for (let e = 0; e < n; e++) {
    let at = load.offset;
    for (let d = 0; d < grid.length; d++) at += idx[d]! * load.strides[d]!;
    out[e] = at;
    for (let d = grid.length - 1; d >= 0; d--) {
      if (++idx[d]! < grid[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Everything the modes share: scores, partials, mask and weights over the grid. */
interface Grid {
  readonly rows: number; // batch elements × Tq
  readonly s: HostArray;
  readonly dDots: HostArray[];
  readonly dCaptured: (HostArray | null)[];
  readonly visible: HostArray | null;
  readonly p: Float64Array;
  readonly stat: Float64Array;
}

function dots(
  k: FlashKernel,
  qs: readonly HostArray[],
  keys: HostArray,
): Float32Array[] {
  const { tq, tk, d } = k;
  const nb = sizeOf(k.batch);
  return qs.map((q) => {
    const r = new Float32Array(nb * tq * tk);
    for (let b = 0; b < nb; b++) {
      for (let i = 0; i < tq; i++) {
        const qi = (b * tq + i) * d;
        for (let j = 0; j < tk; j++) {
          const kj = (b * tk + j) * d;
          let acc = 0;
          for (let e = 0; e < d; e++) acc += q[qi + e]! * keys[kj + e]!;
          r[(b * tq + i) * tk + j] = acc;
        }
      }
    }
    return r;
  });
}

function evaluate(
  k: FlashKernel,
  qs: readonly HostArray[],
  keys: HostArray,
  captured: readonly HostArray[],
): Grid {
  const grid = gridOf(k);
  const strides = stridesOf(grid);
  const nc = k.captured.length;
  const rs = dots(k, qs, keys);
  const partialNodes = [
    ...k.score.partials.dots,
    ...k.score.partials.captured.filter((x): x is number => x !== null),
  ];
  const scoreKernel: FusedElementwise = {
    kind: "elementwise",
    shape: grid,
    nodes: asFused(k.score.nodes, nc, strides),
    outputs: [k.score.value, ...partialNodes],
  };
  const outs = runFusedReference(scoreKernel, [...captured, ...rs]);
  const s = outs[0]!;
  const dDots = k.score.partials.dots.map((_, i) => outs[1 + i]!);
  let at = 1 + k.score.partials.dots.length;
  const dCaptured = k.score.partials.captured.map((x) =>
    x === null ? null : outs[at++]!
  );
  let visible: HostArray | null = null;
  if (k.mask) {
    const maskKernel: FusedElementwise = {
      kind: "elementwise",
      shape: grid,
      nodes: asFused(k.mask.nodes, nc, strides),
      outputs: [k.mask.value],
    };
    visible = runFusedReference(maskKernel, [...captured, ...rs])[0]!;
  }
  const rows = sizeOf(k.batch) * k.tq, tk = k.tk;
  const p = new Float64Array(rows * tk);
  const stat = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * tk;
    const on = (j: number) => !visible || visible[o + j] !== 0;
    if (k.normaliser === "none") {
      for (let j = 0; j < tk; j++) p[o + j] = on(j) ? s[o + j]! : 0;
      continue;
    }
    let m = -Infinity;
    for (let j = 0; j < tk; j++) if (on(j) && s[o + j]! > m) m = s[o + j]!;
    if (m === -Infinity) continue; // no visible key (or all −∞): zeros
    let l = 0;
    for (let j = 0; j < tk; j++) if (on(j)) l += Math.exp(s[o + j]! - m);
    const lse = m + Math.log(l);
    stat[r] = lse;
    for (let j = 0; j < tk; j++) {
      p[o + j] = on(j) ? Math.exp(s[o + j]! - lse) : 0;
    }
  }
  return { rows, s, dDots, dCaptured, visible, p, stat };
}

/** `ts` over the grid: the tangent of the scores (before the mask). */
function scoreTangent(
  k: FlashKernel,
  g: Grid,
  qs: readonly HostArray[],
  keys: HostArray,
  tqs: readonly HostArray[],
  tkeys: HostArray,
  tcaptured: readonly (HostArray | null)[],
): Float64Array {
  const { tq, tk, d } = k;
  const nb = sizeOf(k.batch);
  const ts = new Float64Array(nb * tq * tk);
  for (let b = 0; b < nb; b++) {
    for (let i = 0; i < tq; i++) {
      for (let j = 0; j < tk; j++) {
        const e = (b * tq + i) * tk + j;
        const qi = (b * tq + i) * d, kj = (b * tk + j) * d;
        let acc = 0;
        qs.forEach((q, n) => {
          let dr = 0;
          for (let x = 0; x < d; x++) {
            dr += tqs[n]![qi + x]! * keys[kj + x]! +
              q[qi + x]! * tkeys[kj + x]!;
          }
          acc += g.dDots[n]![e]! * dr;
        });
        ts[e] = acc;
      }
    }
  }
  k.captured.forEach((_, c) => {
    const part = g.dCaptured[c], tc = tcaptured[c];
    if (!part || !tc) return;
    const addr = capturedAddresses(k, c)!;
    for (let e = 0; e < ts.length; e++) ts[e]! += part[e]! * tc[addr[e]!]!;
  });
  return ts;
}

/** `ds` over the grid from the cotangent `ct = [gO | gstat]` and the forward output. */
function scoreCotangent(
  k: FlashKernel,
  g: Grid,
  values: HostArray,
  fwd: HostArray,
  ct: HostArray,
): Float64Array {
  const { tq, tk, dv } = k;
  const nb = sizeOf(k.batch);
  const w = dv + 1;
  const ds = new Float64Array(nb * tq * tk);
  for (let b = 0; b < nb; b++) {
    for (let i = 0; i < tq; i++) {
      const r = b * tq + i;
      let dOdotO = 0;
      for (let x = 0; x < dv; x++) dOdotO += ct[r * w + x]! * fwd[r * w + x]!;
      const gstat = ct[r * w + dv]!;
      for (let j = 0; j < tk; j++) {
        const e = r * tk + j;
        let dp = 0;
        const vj = (b * tk + j) * dv;
        for (let x = 0; x < dv; x++) dp += ct[r * w + x]! * values[vj + x]!;
        if (k.normaliser === "softmax") {
          ds[e] = g.p[e]! * (dp - dOdotO + gstat);
        } else {
          ds[e] = !g.visible || g.visible[e] !== 0 ? dp : 0;
        }
      }
    }
  }
  return ds;
}

/**
 * Runs `params` on host arrays (one per operand, in the order `flash.ts`
 * gives), returning the result as a host array of {@link flashOutput}.
 */
export function runFlashReference(
  params: FlashParams,
  inputs: readonly HostArray[],
): Float32Array {
  const { kernel: k, mode } = params;
  if (mode === "grad_qkv") return gradQkvReference(params, inputs);
  const arity = flashArity(k, mode);
  if (inputs.length !== arity) {
    throw new TypeError(
      `flash_attention: ${mode} takes ${arity} operands, got ${inputs.length}`,
    );
  }
  const nq = k.queries;
  const qs = inputs.slice(0, nq);
  const keys = inputs[nq]!, values = inputs[nq + 1]!;
  const base = nq + 2 + k.captured.length;
  const captured = inputs.slice(nq + 2, base);
  const g = evaluate(k, qs, keys, captured);
  const { tq, tk, d, dv } = k;
  const nb = sizeOf(k.batch);
  const out = new Float32Array(sizeOf(flashOutput(params).shape));
  const w = dv + 1;
  // Σ_j P_ij x_j over the rows of x [..., Tk, dv] into out[r * w + col].
  const weigh = (pp: ArrayLike<number>, dst: Float64Array, stride: number) => {
    for (let b = 0; b < nb; b++) {
      for (let i = 0; i < tq; i++) {
        const r = b * tq + i;
        for (let j = 0; j < tk; j++) {
          const pij = pp[r * tk + j]!;
          if (pij === 0) continue;
          const vj = (b * tk + j) * dv;
          for (let x = 0; x < dv; x++) {
            dst[r * stride + x]! += pij * values[vj + x]!;
          }
        }
      }
    }
  };
  if (mode === "weights") {
    out.set(g.p);
    return out;
  }
  if (mode === "forward") {
    const acc = new Float64Array(out.length);
    weigh(g.p, acc, w);
    for (let r = 0; r < g.rows; r++) acc[r * w + dv] = g.stat[r]!;
    out.set(acc);
    return out;
  }
  const fwd = inputs[base]!;
  if (mode === "tangent") {
    const t = inputs.slice(base + 1);
    const floats = flashFloatInputs(k);
    const tangentOf = (input: number) => {
      const at = floats.indexOf(input);
      return at < 0 ? null : t[at]!;
    };
    const tqs = qs.map((_, n) => tangentOf(n)!);
    const tkeys = tangentOf(nq)!, tvalues = tangentOf(nq + 1)!;
    const tcap = k.captured.map((_, c) => tangentOf(nq + 2 + c));
    const ts = scoreTangent(k, g, qs, keys, tqs, tkeys, tcap);
    const tp = new Float64Array(ts.length);
    const acc = new Float64Array(out.length);
    for (let r = 0; r < g.rows; r++) {
      const o = r * tk;
      if (k.normaliser === "softmax") {
        let mean = 0;
        for (let j = 0; j < tk; j++) mean += g.p[o + j]! * ts[o + j]!;
        for (let j = 0; j < tk; j++) {
          tp[o + j] = g.p[o + j]! * (ts[o + j]! - mean);
        }
        acc[r * w + dv] = mean;
      } else {
        for (let j = 0; j < tk; j++) {
          tp[o + j] = !g.visible || g.visible[o + j] !== 0 ? ts[o + j]! : 0;
        }
      }
    }
    weigh(tp, acc, w);
    // + Σ_j P_ij tv_j
    for (let b = 0; b < nb; b++) {
      for (let i = 0; i < tq; i++) {
        const r = b * tq + i;
        for (let j = 0; j < tk; j++) {
          const pij = g.p[r * tk + j]!;
          const vj = (b * tk + j) * dv;
          for (let x = 0; x < dv; x++) {
            acc[r * w + x]! += pij * tvalues[vj + x]!;
          }
        }
      }
    }
    out.set(acc);
    return out;
  }
  const ct = inputs[base + 1]!;
  const ds = scoreCotangent(k, g, values, fwd, ct);
  const acc = new Float64Array(out.length);
  if (mode === "grad_q") {
    const wq = nq * d;
    for (let b = 0; b < nb; b++) {
      for (let i = 0; i < tq; i++) {
        const e0 = (b * tq + i) * tk;
        for (let j = 0; j < tk; j++) {
          const kj = (b * tk + j) * d;
          for (let n = 0; n < nq; n++) {
            const dr = ds[e0 + j]! * g.dDots[n]![e0 + j]!;
            if (dr === 0) continue;
            const o = (b * tq + i) * wq + n * d;
            for (let x = 0; x < d; x++) acc[o + x]! += dr * keys[kj + x]!;
          }
        }
      }
    }
  } else if (mode === "grad_kv") {
    const wk = d + dv;
    for (let b = 0; b < nb; b++) {
      for (let i = 0; i < tq; i++) {
        const r = b * tq + i;
        for (let j = 0; j < tk; j++) {
          const e = r * tk + j, o = (b * tk + j) * wk;
          for (let n = 0; n < nq; n++) {
            const dr = ds[e]! * g.dDots[n]![e]!;
            if (dr === 0) continue;
            const qi = r * d;
            for (let x = 0; x < d; x++) acc[o + x]! += dr * qs[n]![qi + x]!;
          }
          const pij = g.p[e]!;
          if (pij === 0) continue;
          for (let x = 0; x < dv; x++) acc[o + d + x]! += pij * ct[r * w + x]!;
        }
      }
    }
  } else {
    const c = params.index;
    const part = g.dCaptured[c];
    const addr = capturedAddresses(k, c);
    if (part && addr) {
      for (let e = 0; e < ds.length; e++) acc[addr[e]!]! += ds[e]! * part[e]!;
    }
  }
  out.set(acc);
  return out;
}

/** `grad_qkv`: grad_q's and grad_kv's blocks, one after the other per batch element. */
function gradQkvReference(
  params: FlashParams,
  inputs: readonly HostArray[],
): Float32Array {
  const k = params.kernel;
  const gq = runFlashReference({ ...params, mode: "grad_q" }, inputs);
  const gkv = runFlashReference({ ...params, mode: "grad_kv" }, inputs);
  const nq = k.tq * k.queries * k.d, nkv = k.tk * (k.d + k.dv);
  const nb = sizeOf(k.batch);
  const out = new Float32Array(nb * (nq + nkv));
  for (let b = 0; b < nb; b++) {
    out.set(gq.subarray(b * nq, (b + 1) * nq), b * (nq + nkv));
    out.set(gkv.subarray(b * nkv, (b + 1) * nkv), b * (nq + nkv) + nq);
  }
  return out;
}
