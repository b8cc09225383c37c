/**
 * Flash kernels: attention computed tile by tile, never holding the
 * `[Tq, Tk]` scores, with the score, its modifiers and its mask given as a
 * fused expression. This is the contract between the `flash_attention`
 * primitive and the backends that run it (wasm SIMD, WGSL); the CPU
 * backend runs {@link runFlashReference}, the meaning.
 *
 * ## Inputs of every mode, in order
 *
 * `q_0 [...batch, Tq, d]`, and `q_1` of the same shape when
 * `queries === 2`; `k [...batch, Tk, d]`; `v [...batch, Tk, dv]`; then the
 * captured tensors `c_0 … c_{n-1}` (`kernel.captured`), each a contiguous
 * buffer of any shape and dtype. q, k and v are float32, contiguous, and
 * have exactly the batch shape `kernel.batch` (no broadcasting: the op
 * broadcasts them first).
 *
 * ## The expression
 *
 * Over the iteration space `[...batch, Tq, Tk]` (row-major index
 * `(b…, i, j)`), the nodes of {@link FlashExpr} are evaluated as fused
 * nodes are (`fused.ts`): a `load` reads captured tensor `input` at
 * `offset + Σ_axis index_axis · strides[axis]` (strides over the
 * iteration space, 0 broadcasts), `literal` and `op` nodes are as in
 * fused kernels, and a `dot` node is `r_k(b…, i, j) = Σ_e q_k[b…, i, e] ·
 * k[b…, j, e]` in float32.
 *
 * - `score.value` is the score `s`, float32.
 * - `score.partials.dots[k]` is the node of `∂s/∂r_k`, and
 *   `score.partials.captured[c]` the node of `∂s/∂c` for float32 captured
 *   tensor `c` (null for int32/bool ones, and for float ones s does not
 *   read). A float32 captured tensor is read by one load pattern only
 *   (one offset and one strides list), so each element `(b…, i, j)` reads
 *   one element `addr_c(b…, i, j)` of it and its partial is well defined.
 * - `mask.value`, when there is a mask, is a bool node over captured
 *   tensors only (no `dot` node): key j is visible to query i iff true.
 *
 * ## Weights and modes
 *
 * `P_ij` are the weights: with `normaliser: "softmax"`,
 * `P_ij = exp(s_ij − lse_i)` over visible keys, `lse_i = log Σ_visible
 * exp(s_ij)`, and 0 for hidden keys; with `"none"`, `P_ij = s_ij` where
 * visible and 0 elsewhere. A row with no visible key has `P = 0`, an
 * output of zeros and a stat of 0 (never NaN).
 *
 * - `forward`: `[...batch, Tq, dv + 1]`: `O_i = Σ_j P_ij v_j` in the first
 *   dv columns and the row stat (`lse_i` for softmax, 0 for none) in the
 *   last.
 * - `weights`: `[...batch, Tq, Tk]`, `P` itself (for inspection).
 * - `tangent`: also takes, after the inputs, the forward output, then one
 *   tangent per float input, in input order (`tq_0`, [`tq_1`], `tk`, `tv`,
 *   then one per float32 captured tensor, of its shape). Returns the
 *   tangent of the forward output, `[...batch, Tq, dv + 1]`:
 *   `ts_ij = Σ_k ∂s/∂r_k · (tq_k,i · k_j + q_k,i · tk_j) + Σ_c ∂s/∂c ·
 *   tc[addr_c]`; softmax: `tP_ij = P_ij (ts_ij − Σ_l P_il ts_il)` and
 *   `tstat_i = Σ_j P_ij ts_ij`; none: `tP_ij = ts_ij` where visible, 0
 *   elsewhere, and `tstat = 0`; `tO_i = Σ_j (tP_ij v_j + P_ij tv_j)`.
 *   Linear in the tangents.
 * - `grad_q`, `grad_kv`, `grad_captured`: also take, after the inputs,
 *   the forward output and then its cotangent `g = [gO | gstat]`
 *   (`[...batch, Tq, dv + 1]`). With `dP_ij = gO_i · v_j`, softmax:
 *   `ds_ij = P_ij (dP_ij − gO_i · O_i + gstat_i)`; none: `ds_ij = dP_ij`
 *   where visible, 0 elsewhere; and `dr_k = ds · ∂s/∂r_k`:
 *   - `grad_q`: `[...batch, Tq, queries · d]`, `dq_k,i = Σ_j dr_k,ij k_j`
 *     (q_0's gradient in the first d columns, then q_1's);
 *   - `grad_kv`: `[...batch, Tk, d + dv]`, `dk_j = Σ_i Σ_k dr_k,ij q_k,i`
 *     then `dv_j = Σ_i P_ij gO_i`;
 *   - `grad_qkv`: both at once, flat per batch element:
 *     `[...batch, Tq · queries · d + Tk · (d + dv)]`, grad_q's `[Tq,
 *     queries · d]` block (row-major) then grad_kv's `[Tk, d + dv]` block,
 *     so a backend recomputes the scores once for all three gradients;
 *   - `grad_captured` with `index: c`: captured tensor c's shape, float32:
 *     `dc[a] = Σ over (b…, i, j) with addr_c = a of ds_ij · ∂s/∂c`.
 *   Backends sum in a fixed order, so equal inputs give bit-equal results.
 *   All of them are linear in the cotangent.
 *
 * @module
 */

import type { Aval } from "../dtype.ts";
import type { Operand } from "./contract.ts";
import type { FusedNode } from "./fused.ts";

/** `r_k(b…, i, j) = q_k[b…, i, :] · k[b…, j, :]`, float32. */
export interface FlashDot {
  /** Tells node kinds apart. */
  readonly kind: "dot";
  /** Which query matrix: 0 or 1 (only with `queries: 2`). */
  readonly index: number;
  /** Always float32. */
  readonly dtype: "float32";
}

/**
 * A node of a flash expression: a fused node (loads read captured
 * tensors; no `reduced` nodes) or a dot product of a query and a key.
 */
export type FlashNode = Exclude<FusedNode, { kind: "reduced" }> | FlashDot;

/** The score: its nodes, its value and its partial derivatives. */
export interface FlashScore {
  /** The nodes, in SSA order (arguments before use). */
  readonly nodes: readonly FlashNode[];
  /** The node of `s` (float32). */
  readonly value: number;
  /** Nodes of the partial derivatives of `s`. */
  readonly partials: {
    /** `∂s/∂r_k`, one per query matrix. */
    readonly dots: readonly number[];
    /** `∂s/∂c` per captured tensor; null where c is not float32 or not read. */
    readonly captured: readonly (number | null)[];
  };
}

/** The mask: bool nodes over captured tensors only. */
export interface FlashMask {
  /** The nodes, in SSA order; no `dot` node. */
  readonly nodes: readonly FlashNode[];
  /** The bool node: true where the key is visible. */
  readonly value: number;
}

/** How scores become weights. */
export type FlashNormaliser = "softmax" | "none";

/** One attention computation, as data: equal kernels are equal JSON. */
export interface FlashKernel {
  /** The batch shape of q, k, v and of the iteration space. */
  readonly batch: readonly number[];
  /** Queries. */
  readonly tq: number;
  /** Keys (and values). */
  readonly tk: number;
  /** Width of q and k. */
  readonly d: number;
  /** Width of v. */
  readonly dv: number;
  /** Query matrices: 1 or 2. */
  readonly queries: number;
  /** Shape and dtype of each captured tensor. */
  readonly captured: readonly Aval[];
  /** The score expression. */
  readonly score: FlashScore;
  /** The mask, or null when every key is visible. */
  readonly mask: FlashMask | null;
  /** Softmax over visible keys, or the scores themselves. */
  readonly normaliser: FlashNormaliser;
}

/** What a flash kernel computes; see the module doc. */
export type FlashMode =
  | "forward"
  | "weights"
  | "tangent"
  | "grad_q"
  | "grad_kv"
  | "grad_qkv"
  | "grad_captured";

/** The modes, for iteration in tests. */
export const FLASH_MODES: readonly FlashMode[] = [
  "forward",
  "weights",
  "tangent",
  "grad_q",
  "grad_kv",
  "grad_qkv",
  "grad_captured",
];

/** Params of the `flash_attention` primitive. */
export interface FlashParams {
  /** The computation. */
  readonly kernel: FlashKernel;
  /** Which of its results. */
  readonly mode: FlashMode;
  /** For `grad_captured`: which captured tensor; else 0. */
  readonly index: number;
}

/** The optional part of the backend contract that runs flash kernels. */
export interface FlashBackend {
  /**
   * Runs `params` on its operands (see the module doc for their order),
   * returning new storage of {@link flashOutput}'s aval. Backends cache
   * compiled code by {@link flashKey} of the kernel.
   */
  runFlash(params: FlashParams, inputs: readonly Operand[]): unknown;
}

/** Whether a backend runs flash kernels. */
export function hasFlash(b: object): b is FlashBackend {
  return typeof (b as Partial<FlashBackend>).runFlash === "function";
}

/** A string equal for equal kernels (literals such as NaN and -0 spelt out). */
export function flashKey(kernel: FlashKernel): string {
  return JSON.stringify(
    kernel,
    (_, v) =>
      typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))
        ? `#${Object.is(v, -0) ? "-0" : String(v)}`
        : v,
  );
}

/** The float inputs of a kernel in input order: `[q_0, (q_1), k, v, ...float captured]` as input indices. */
export function flashFloatInputs(kernel: FlashKernel): number[] {
  const n = kernel.queries + 2;
  const out = Array.from({ length: n }, (_, i) => i);
  kernel.captured.forEach((a, c) => {
    if (a.dtype === "float32") out.push(n + c);
  });
  return out;
}

/** The number of operands `mode` takes. */
export function flashArity(kernel: FlashKernel, mode: FlashMode): number {
  const base = kernel.queries + 2 + kernel.captured.length;
  if (mode === "forward" || mode === "weights") return base;
  if (mode === "tangent") return base + 1 + flashFloatInputs(kernel).length;
  return base + 2;
}

/** The aval of `params`'s result. */
export function flashOutput(params: FlashParams): Aval {
  const { kernel: k, mode, index } = params;
  const b = [...k.batch];
  switch (mode) {
    case "forward":
    case "tangent":
      return { shape: [...b, k.tq, k.dv + 1], dtype: "float32" };
    case "weights":
      return { shape: [...b, k.tq, k.tk], dtype: "float32" };
    case "grad_q":
      return { shape: [...b, k.tq, k.queries * k.d], dtype: "float32" };
    case "grad_kv":
      return { shape: [...b, k.tk, k.d + k.dv], dtype: "float32" };
    case "grad_qkv":
      return {
        shape: [...b, k.tq * k.queries * k.d + k.tk * (k.d + k.dv)],
        dtype: "float32",
      };
    case "grad_captured": {
      const c = k.captured[index];
      if (!c || c.dtype !== "float32") {
        throw new RangeError(
          `flash_attention: grad_captured index ${index} is not a float32 captured tensor`,
        );
      }
      return { shape: [...c.shape], dtype: "float32" };
    }
  }
}
