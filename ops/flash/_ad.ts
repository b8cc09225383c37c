// Derivatives of `flash_attention` (maths in backends/flash.ts): the JVP
// of `forward` is the `tangent` mode, linear in its tangent operands; the
// transpose of `tangent` is `grad_qkv` (or `grad_q` or `grad_kv` alone
// when only one side is needed) and `grad_captured`; the grad modes,
// linear in the cotangent, transpose back to `tangent`.
// Private to ops/ (jvp.ts and transpose.ts use the rules).

import { bind } from "../core.ts";
import type { Tensor } from "../tensor.ts";
import type { Params } from "../primitives.ts";
import { zerosFor } from "../_convert.ts";
import { LinearVar } from "../linearize.ts";
import {
  flashFloatInputs,
  type FlashMode,
  type FlashParams,
} from "../backends/flash.ts";

const SECOND_ORDER =
  "flash_attention: second-order derivatives are not fused; use attention with { fused: false }";

/** Operands before the mode's extra ones: q's, k, v, captured. */
function baseArity(p: FlashParams): number {
  return p.kernel.queries + 2 + p.kernel.captured.length;
}

function withMode(p: FlashParams, m: FlashMode, index = 0): FlashParams {
  return { kernel: p.kernel, mode: m, index };
}

/** `x[..., from:to]`. */
function lastSlice(x: Tensor, from: number, to: number): Tensor {
  return bind("slice", [x], {
    start: x.shape.map((_, i) => (i === x.ndim - 1 ? from : 0)),
    limit: x.shape.map((d, i) => (i === x.ndim - 1 ? to : d)),
  });
}

/**
 * grad_qkv's `[..., Tq·nq·d + Tk·(d + dv)]` split into grad_q's
 * `[..., Tq, nq·d]` and grad_kv's `[..., Tk, d + dv]`.
 */
function splitQkv(g: Tensor, p: FlashParams): [Tensor, Tensor] {
  const k = p.kernel, batch = g.shape.slice(0, -1);
  const nq = k.tq * k.queries * k.d;
  const gq = bind("reshape", [lastSlice(g, 0, nq)], {
    shape: [...batch, k.tq, k.queries * k.d],
  });
  const gkv = bind("reshape", [lastSlice(g, nq, g.shape.at(-1)!)], {
    shape: [...batch, k.tk, k.d + k.dv],
  });
  return [gq, gkv];
}

/**
 * The JVP: `forward` → `tangent` (symbolic zeros made explicit); `tangent`
 * and the grad modes are linear in their last operands, so their tangent
 * is the same mode on those operands' tangents. Any other tangent (of the
 * weights, or through q, k, v, captured into a derivative) is second order.
 */
export function flashJvp(
  primals: readonly Tensor[],
  tangents: readonly (Tensor | null)[],
  params: Params<"flash_attention">,
): [Tensor, Tensor | null] {
  const p = params as FlashParams;
  const y = bind("flash_attention", primals, p);
  const base = baseArity(p);
  if (p.mode === "forward") {
    const ts = flashFloatInputs(p.kernel).map((i) =>
      tangents[i] ?? zerosFor(primals[i]!)
    );
    return [
      y,
      bind("flash_attention", [...primals, y, ...ts], withMode(p, "tangent")),
    ];
  }
  // tangent: linear after the forward output; grad modes: in the cotangent.
  const linearFrom = base + 1;
  if (p.mode === "weights") {
    throw new TypeError(
      "flash_attention: the weights (flashWeights) are not differentiable; use attention with { fused: false }",
    );
  }
  if (tangents.some((t, i) => t && i < linearFrom)) {
    throw new TypeError(SECOND_ORDER);
  }
  const lin = tangents.slice(linearFrom).map((t, i) =>
    t ?? zerosFor(primals[linearFrom + i]!)
  );
  return [
    y,
    bind("flash_attention", [...primals.slice(0, linearFrom), ...lin], p),
  ];
}

type Arg = Tensor | LinearVar;
const isLin = (x: Arg | undefined): x is LinearVar => x instanceof LinearVar;

function constants(args: readonly Arg[], n: number): Tensor[] {
  const xs = args.slice(0, n);
  if (xs.some(isLin)) throw new TypeError(SECOND_ORDER);
  return xs as Tensor[];
}

/** Transposes `tangent` (into its tangents) and the grad modes (into the cotangent). */
export function flashTranspose(
  ct: Tensor,
  args: readonly Arg[],
  params: Params<"flash_attention">,
): (Tensor | null)[] {
  const p = params as FlashParams;
  const k = p.kernel, nq = k.queries, base = baseArity(p);
  const ins = constants(args, base + 1); // inputs and the forward output
  const out: (Tensor | null)[] = args.map(() => null);
  const floats = flashFloatInputs(k);
  if (p.mode === "tangent") {
    const lin = (t: number) => isLin(args[base + 1 + t]);
    const grad = (m: FlashMode, index = 0) =>
      bind("flash_attention", [...ins, ct], withMode(p, m, index));
    const wantQ = floats.slice(0, nq).some((_, t) => lin(t));
    const wantKv = lin(nq) || lin(nq + 1);
    // One recomputation of the scores for all three when both sides are needed.
    const both = wantQ && wantKv ? splitQkv(grad("grad_qkv"), p) : null;
    if (wantQ) {
      const gq = both?.[0] ?? grad("grad_q"); // [..., Tq, nq·d]
      for (let n = 0; n < nq; n++) {
        if (lin(n)) out[base + 1 + n] = lastSlice(gq, n * k.d, (n + 1) * k.d);
      }
    }
    if (wantKv) {
      const gkv = both?.[1] ?? grad("grad_kv"); // [..., Tk, d + dv]
      if (lin(nq)) out[base + 1 + nq] = lastSlice(gkv, 0, k.d);
      if (lin(nq + 1)) {
        out[base + 2 + nq] = lastSlice(gkv, k.d, k.d + k.dv);
      }
    }
    floats.forEach((input, t) => {
      if (t >= nq + 2 && lin(t)) {
        out[base + 1 + t] = grad("grad_captured", input - nq - 2);
      }
    });
    return out;
  }
  if (p.mode === "forward" || p.mode === "weights") {
    throw new TypeError(`flash_attention: ${p.mode} is not linear`);
  }
  // ⟨grad_x(g), u⟩ = ⟨g, tangent(t_x = u, other tangents 0)⟩.
  const ts = floats.map((i) => zerosFor(ins[i]!));
  if (p.mode === "grad_captured") ts[floats.indexOf(nq + 2 + p.index)] = ct;
  else {
    const [cq, ckv] = p.mode === "grad_qkv"
      ? splitQkv(ct, p)
      : [p.mode === "grad_q" ? ct : null, p.mode === "grad_kv" ? ct : null];
    if (cq) {
      for (let n = 0; n < nq; n++) {
        ts[n] = lastSlice(cq, n * k.d, (n + 1) * k.d);
      }
    }
    if (ckv) {
      ts[nq] = lastSlice(ckv, 0, k.d);
      ts[nq + 1] = lastSlice(ckv, k.d, k.d + k.dv);
    }
  }
  out[base + 1] = bind(
    "flash_attention",
    [...ins, ...ts],
    withMode(p, "tangent"),
  );
  return out;
}
