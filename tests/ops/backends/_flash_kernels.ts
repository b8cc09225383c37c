// Flash kernels for the backend tests: hand-built score and mask
// expressions (scaled dots, a scalar temperature, an ALiBi-like slope per
// head read with strides, causal and random masks) and random operands for
// every mode, with their reference results.

import type { Aval } from "../../../ops/dtype.ts";
import { sizeOf } from "../../../ops/dtype.ts";
import {
  flashFloatInputs,
  type FlashKernel,
  type FlashMode,
  type FlashNode,
  flashOutput,
} from "../../../ops/backends/flash.ts";
import { runFlashReference } from "../../../ops/backends/flash_reference.ts";
import { rng } from "../../_helpers.ts";

/** What a test kernel holds besides plain scaled dot products. */
export interface KernelSpec {
  readonly batch: readonly number[];
  readonly tq: number;
  readonly tk: number;
  readonly d: number;
  readonly dv: number;
  readonly queries: 1 | 2;
  readonly normaliser: "softmax" | "none";
  /** "causal": k ≤ q from int32 positions; "random": a bool [tq, tk] tensor with row 0 hidden. */
  readonly mask: "none" | "causal" | "random" | "transposed";
  /**
   * "temperature": s = r·t (t a float scalar); "alibi": s = r·scale +
   * slope[h]·(pk − pq); "sin": s = r·scale + sin r (a host function);
   * "bias": s = r·scale + bias, a float [...batch, tk, tq] tensor read
   * transposed with the keys reversed (gathers, a negative stride).
   */
  readonly extra: "none" | "temperature" | "alibi" | "sin" | "bias";
}

/** Strides over [...batch, tq, tk] for a tensor laid out over the given axes (others broadcast). */
function strides(
  rank: number,
  dims: readonly number[],
  axes: readonly number[],
): number[] {
  const s = new Array<number>(rank).fill(0);
  let acc = 1;
  for (let a = axes.length - 1; a >= 0; a--) {
    s[axes[a]!] = acc;
    acc *= dims[axes[a]!]!;
  }
  return s;
}

/** Builds the kernel that `spec` describes. */
export function buildKernel(spec: KernelSpec): FlashKernel {
  const { batch, tq, tk, queries } = spec;
  const rank = batch.length + 2;
  const grid = [...batch, tq, tk];
  const iq = rank - 2, ik = rank - 1;
  const captured: Aval[] = [];
  const nodes: FlashNode[] = [];
  const push = (n: FlashNode) => nodes.push(n) - 1;
  const lit = (value: number) =>
    push({ kind: "literal", value, dtype: "float32" });
  const op = (
    prim: "add" | "mul" | "sub" | "convert_element_type" | "le" | "sin" | "cos",
    args: number[],
    dtype: "float32" | "bool" = "float32",
  ) =>
    push(
      {
        kind: "op",
        prim,
        params: prim === "convert_element_type" ? { dtype } : {},
        args,
        dtype,
      } as FlashNode,
    );
  let r = push({ kind: "dot", index: 0, dtype: "float32" });
  if (queries === 2) {
    const r1 = push({ kind: "dot", index: 1, dtype: "float32" });
    r = op("add", [r, r1]);
  }
  const capPartials: (number | null)[] = [];
  let value: number, dr: number;
  // positions (int32) are captured 0 and 1 when alibi or causal needs them
  const needPos = spec.extra === "alibi" || spec.mask === "causal";
  if (needPos) {
    captured.push({ shape: [tq], dtype: "int32" }, {
      shape: [tk],
      dtype: "int32",
    });
    capPartials.push(null, null);
  }
  const posLoad = (list: FlashNode[], which: 0 | 1) =>
    list.push({
      kind: "load",
      input: which,
      offset: 0,
      strides: strides(rank, grid, [which === 0 ? iq : ik]),
      dtype: "int32",
    }) - 1;
  if (spec.extra === "temperature") {
    const c = captured.push({ shape: [], dtype: "float32" }) - 1;
    const t = push({
      kind: "load",
      input: c,
      offset: 0,
      strides: new Array(rank).fill(0),
      dtype: "float32",
    });
    value = op("mul", [r, t]);
    dr = t;
    capPartials.push(r);
  } else if (spec.extra === "alibi") {
    const h = batch.length - 1; // the last batch axis is the head
    const heads = h >= 0 ? batch[h]! : 1;
    const c = captured.push({ shape: [heads + 1], dtype: "float32" }) - 1;
    const slope = push({
      kind: "load",
      input: c,
      offset: 1, // element 0 is never read
      strides: h >= 0 ? strides(rank, grid, [h]) : new Array(rank).fill(0),
      dtype: "float32",
    });
    const pq = op("convert_element_type", [posLoad(nodes, 0)]);
    const pk = op("convert_element_type", [posLoad(nodes, 1)]);
    const dist = op("sub", [pk, pq]);
    const scale = lit(0.5);
    value = op("add", [op("mul", [r, scale]), op("mul", [slope, dist])]);
    dr = scale;
    capPartials.push(dist);
  } else if (spec.extra === "bias") {
    const c = captured.push({ shape: [...batch, tk, tq], dtype: "float32" }) -
      1;
    const st = strides(rank, grid, [...batch.keys(), ik, iq]);
    // element (b…, j, i) holds the bias of query i, key tk − 1 − j
    const s2 = [...st.slice(0, batch.length), 1, -tq];
    const bias = push({
      kind: "load",
      input: c,
      offset: (tk - 1) * tq,
      strides: s2,
      dtype: "float32",
    });
    const scale = lit(0.7);
    value = op("add", [op("mul", [r, scale]), bias]);
    dr = scale;
    capPartials.push(lit(1));
  } else if (spec.extra === "sin") {
    const scale = lit(0.7);
    value = op("add", [op("mul", [r, scale]), op("sin", [r])]);
    dr = op("add", [scale, op("cos", [r])]);
  } else {
    const scale = lit(0.7);
    value = op("mul", [r, scale]);
    dr = scale;
  }
  let mask: FlashKernel["mask"] = null;
  if (spec.mask === "causal") {
    const m: FlashNode[] = [];
    const pq = posLoad(m, 0), pk = posLoad(m, 1);
    m.push({
      kind: "op",
      prim: "le",
      params: {},
      args: [pk, pq],
      dtype: "bool",
    });
    mask = { nodes: m, value: 2 };
  } else if (spec.mask === "transposed") {
    const c = captured.push({ shape: [tk, tq], dtype: "bool" }) - 1;
    capPartials.push(null);
    const st = new Array<number>(rank).fill(0);
    st[iq] = 1;
    st[ik] = tq;
    mask = {
      nodes: [{
        kind: "load",
        input: c,
        offset: 0,
        strides: st,
        dtype: "bool",
      }],
      value: 0,
    };
  } else if (spec.mask === "random") {
    const c = captured.push({ shape: [tq, tk], dtype: "bool" }) - 1;
    capPartials.push(null);
    mask = {
      nodes: [{
        kind: "load",
        input: c,
        offset: 0,
        strides: strides(rank, grid, [iq, ik]),
        dtype: "bool",
      }],
      value: 0,
    };
  }
  return {
    batch: [...batch],
    tq,
    tk,
    d: spec.d,
    dv: spec.dv,
    queries,
    captured,
    score: {
      nodes,
      value,
      partials: {
        dots: queries === 2 ? [dr, dr] : [dr],
        captured: capPartials,
      },
    },
    mask,
    normaliser: spec.normaliser,
  };
}

/** Random operands of `mode` (the forward output from the reference). */
export function operandsOf(
  k: FlashKernel,
  mode: FlashMode,
  seed: number,
): Float32Array[] | (Float32Array | Int32Array | Uint8Array)[] {
  const rand = rng(seed);
  const nb = sizeOf(k.batch);
  const f = (n: number, s = 1) =>
    Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
  const ins: (Float32Array | Int32Array | Uint8Array)[] = [];
  for (let q = 0; q < k.queries; q++) ins.push(f(nb * k.tq * k.d));
  ins.push(f(nb * k.tk * k.d), f(nb * k.tk * k.dv));
  k.captured.forEach((c, i) => {
    const n = sizeOf(c.shape);
    if (c.dtype === "int32") {
      // positions: queries sit at the end of the keys when tq < tk
      const off = i === 0 ? Math.max(0, k.tk - k.tq) : 0;
      ins.push(Int32Array.from({ length: n }, (_, j) => j + off));
    } else if (c.dtype === "bool") {
      ins.push(
        Uint8Array.from(
          { length: n },
          (_, j) => (j < k.tk ? 0 : rand() < 0.6 ? 1 : 0),
        ),
      );
    } else ins.push(f(n, 0.5));
  });
  if (mode === "forward" || mode === "weights") return ins;
  const fwd = runFlashReference({ kernel: k, mode: "forward", index: 0 }, ins);
  ins.push(fwd);
  if (mode === "tangent") {
    for (const i of flashFloatInputs(k)) ins.push(f(ins[i]!.length));
  } else ins.push(f(fwd.length));
  return ins;
}

/** The reference result of a mode. */
export function referenceOf(
  k: FlashKernel,
  mode: FlashMode,
  index: number,
  ins: readonly (Float32Array | Int32Array | Uint8Array)[],
): Float32Array {
  return runFlashReference({ kernel: k, mode, index }, ins);
}

export { flashOutput };
