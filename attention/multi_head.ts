/**
 * Multi-head attention (Vaswani et al.): project x to H heads of queries,
 * keys and values, attend in every head with the same spec, concatenate the
 * heads and project back:
 *
 *     q_h = x W_q[:, h] + b_q[h]          [..., H, Tq, dHead]   (k, v alike)
 *     o_h = attention(spec)(q_h, k_h, v_h)
 *     out = concat_h(o_h) W_o + b_o       [..., Tq, dModel]
 *
 * Parameters are a plain pytree, `{ wq, bq, wk, bk, wv, bv, wo, bo, spec }`,
 * so `grad` reaches every one of them. `spec` holds the parameters of the
 * spec's own learnable pieces; pass a function `(params.spec) -> Spec`, or
 * an {@link AttentionModule} (its `init` makes them), to use them.
 *
 * @module
 */

import {
  add,
  type Key,
  matmul,
  mul,
  normal,
  reshape,
  split,
  Tensor,
  transpose,
  zeros,
} from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import { CALL_OPTIONS } from "./_context.ts";
import { attention } from "./attention.ts";
import type { AttentionModule, ModuleContext } from "./attention_module.ts";
import { isAttentionModule } from "./attention_module.ts";
import {
  type AttentionName,
  checkAttentionName,
  namedSpec,
} from "./named_modules.ts";
import { lastDim } from "./_shape.ts";
import { lazyResult } from "./_fused_forms.ts";
import type {
  AttentionFn,
  AttentionOptions,
  AttentionResult,
  Spec,
} from "./types.ts";

/** Sizes of the heads, as the spec's `init` sees them. */
export interface HeadDims {
  /** Number of heads. */
  readonly heads: number;
  /** Features per head. */
  readonly dHead: number;
}

/** Options of {@link multiHead}. */
export interface MultiHeadOptions<P> {
  /** Number of heads, H. */
  readonly heads: number;
  /** Model width: input and output features. */
  readonly dModel: number;
  /** Features per head (default dModel / heads). */
  readonly dHead?: number;
  /** Initial parameters of the spec's own pieces (default: none; a module's `init`). */
  readonly initSpec?: (key: Key, dims: HeadDims) => P;
  /** The use a module is built for (default: encoder, no masks). */
  readonly context?: ModuleContext;
}

/** The parameters of a multi-head layer; `P` are the spec's own. */
export interface MultiHeadParams<P> {
  /** `[dModel, H·dHead]` */
  readonly wq: Tensor;
  /** `[H·dHead]` */
  readonly bq: Tensor;
  /** `[dModel, H·dHead]` */
  readonly wk: Tensor;
  /** `[H·dHead]` */
  readonly bk: Tensor;
  /** `[dModel, H·dHead]` */
  readonly wv: Tensor;
  /** `[H·dHead]` */
  readonly bv: Tensor;
  /** `[H·dHead, dModel]` */
  readonly wo: Tensor;
  /** `[dModel]` */
  readonly bo: Tensor;
  /** The spec's own parameters. */
  readonly spec: P;
}

/** Projected keys and values, `[..., H, Tk, dHead]` each: a key/value cache. */
export interface KeysValues {
  /** `[..., H, Tk, dHead]` */
  readonly keys: Tensor;
  /** `[..., H, Tk, dHead]` */
  readonly values: Tensor;
}

/** Per-call options of a multi-head layer. */
export interface MultiHeadCallOptions extends AttentionOptions {
  /** Keys and values come from here (cross-attention), `[..., Tk, dModel]`; default x. */
  readonly context?: Tensor;
  /**
   * Keys and values already projected ({@link MultiHead.project}), e.g. a
   * decoder's cache of earlier positions; instead of `context`.
   */
  readonly keysValues?: KeysValues;
}

/** What a multi-head layer returns: a gated module also gives its gate. */
export interface MultiHeadResult extends AttentionResult {
  /** A gated multi-module attention's gate, `[..., H, Tq, K]` (rows sum to 1). */
  readonly gate?: Tensor;
}

/** A multi-head layer: pure `init` and `apply`. */
export interface MultiHead<P> {
  /** Fresh parameters from a PRNG key. */
  init(key: Key): MultiHeadParams<P>;
  /**
   * The keys and values of `src [..., Tk, dModel]`, split into heads: what
   * `apply` attends to, kept for later calls (`keysValues`).
   */
  project(params: MultiHeadParams<P>, src: Tensor): KeysValues;
  /** `x [..., Tq, dModel] -> { output [..., Tq, dModel], weights [..., H, Tq, Tk] }`. */
  apply(
    params: MultiHeadParams<P>,
    x: Tensor,
    opts?: MultiHeadCallOptions,
  ): MultiHeadResult;
}

function checkKeysValues(kv: KeysValues, context: Tensor | undefined): void {
  if (context !== undefined) {
    throw new TypeError(
      "multiHead: give opts.context or opts.keysValues, not both",
    );
  }
  const ok = (t: unknown): t is Tensor => t instanceof Tensor && t.ndim >= 3;
  if (
    typeof kv !== "object" || kv === null || !ok(kv.keys) || !ok(kv.values) ||
    kv.keys.shape.slice(0, -1).join() !== kv.values.shape.slice(0, -1).join()
  ) {
    throw new TypeError(
      "multiHead: opts.keysValues must be { keys, values } of shape [..., H, Tk, dHead] (from project)",
    );
  }
}

/**
 * Builds multi-head attention around `spec`: a Spec, a function of the
 * spec's parameters, an attention module, or a built-in module's name
 * (`"cosine"`, see `ATTENTION_NAMES`).
 *
 * @example Self-attention, then a gradient for every parameter
 * ```ts
 * import { causal, multiHead, scaledDot } from "@heed/heed/attention";
 * import { grad, key, normal, sum, type Tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const mha = multiHead({ score: scaledDot(), masks: [causal()] }, { heads: 2, dModel: 8 });
 * const params = mha.init(key(0));
 * const x = normal(key(1), [3, 5, 8]); // [B, T, dModel]
 * const { output, weights } = mha.apply(params, x);
 * assertEquals(output.shape, [3, 5, 8]);
 * assertEquals(weights.shape, [3, 2, 5, 5]);
 * const g = grad((p: typeof params) => sum(mha.apply(p, x).output))(params);
 * assertEquals(g.wq.shape, [8, 8]);
 * ```
 *
 * @example A key/value cache: project the keys and values once, attend often
 * ```ts
 * import { multiHead } from "@heed/heed/attention";
 * import { key, normal } from "@heed/heed/ops";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const mha = multiHead("scaled-dot", { heads: 2, dModel: 8 });
 * const params = mha.init(key(0));
 * const memory = normal(key(1), [1, 6, 8]), x = normal(key(2), [1, 1, 8]);
 * const cache = mha.project(params, memory);
 * assertEquals(cache.keys.shape, [1, 2, 6, 4]); // [B, H, Tk, dHead]
 * const a = await mha.apply(params, x, { context: memory }).output.data();
 * const b = await mha.apply(params, x, { keysValues: cache }).output.data();
 * a.forEach((v, i) => assertAlmostEquals(v, b[i]!, 1e-6));
 * ```
 */
export function multiHead<P = null>(
  spec:
    | Spec
    | ((params: P) => Spec | AttentionFn)
    | AttentionModule<P>
    | AttentionName,
  opts: MultiHeadOptions<P>,
): MultiHead<P> {
  if (typeof spec === "string") {
    spec = namedSpec(checkAttentionName(spec)) as unknown as AttentionModule<P>;
  }
  checkOptions("multiHead", opts, [
    "heads",
    "dModel",
    "dHead",
    "initSpec",
    "context",
  ]);
  const { heads, dModel } = opts;
  const dHead = opts.dHead ?? dModel / heads;
  for (const [name, n] of [["heads", heads], ["dModel", dModel]] as const) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(
        `multiHead: ${name} must be a positive integer, got ${n}`,
      );
    }
  }
  if (!Number.isInteger(dHead) || dHead < 1) {
    throw new RangeError(
      `multiHead: dModel ${dModel} does not split into ${heads} heads; give dHead`,
    );
  }
  const width = heads * dHead;
  const module = isAttentionModule(spec) ? spec as AttentionModule<P> : null;
  const use: ModuleContext = opts.context ?? { masks: [], role: "encoder" };
  const build: (p: P) => Spec | AttentionFn = module
    ? (p) => module.build(p, use)
    : typeof spec === "function"
    ? spec as (p: P) => Spec | AttentionFn
    : () => spec as Spec;
  const initSpec = opts.initSpec ?? module?.init.bind(module);

  // [..., T, H·dHead] -> [..., H, T, dHead]
  const splitHeads = (x: Tensor): Tensor => {
    const lead = x.shape.slice(0, -2), t = x.shape[x.ndim - 2]!;
    const r = lead.length;
    const y = reshape(x, [...lead, t, heads, dHead]);
    return transpose(y, [...lead.keys(), r + 1, r, r + 2]);
  };
  // [..., H, T, dHead] -> [..., T, H·dHead]
  const mergeHeads = (x: Tensor): Tensor => {
    const lead = x.shape.slice(0, -3), t = x.shape[x.ndim - 2]!;
    const r = lead.length;
    const y = transpose(x, [...lead.keys(), r + 1, r, r + 2]);
    return reshape(y, [...lead, t, width]);
  };

  const project = (params: MultiHeadParams<P>, src: Tensor): KeysValues => {
    if (lastDim("multiHead", src, "src") !== dModel) {
      throw new TypeError(
        `multiHead: keys and values come from [..., Tk, ${dModel}], got [${src.shape}]`,
      );
    }
    return {
      keys: splitHeads(add(matmul(src, params.wk), params.bk)),
      values: splitHeads(add(matmul(src, params.wv), params.bv)),
    };
  };

  return {
    project,
    init(k: Key): MultiHeadParams<P> {
      const [kq, kk, kv, ko, ks] = split(k, 5) as [Key, Key, Key, Key, Key];
      const w = (kx: Key, fanIn: number, fanOut: number) =>
        mul(normal(kx, [fanIn, fanOut]), 1 / Math.sqrt(fanIn));
      const specParams = initSpec ? initSpec(ks, { heads, dHead }) : null as P;
      return {
        wq: w(kq, dModel, width),
        bq: zeros([width]),
        wk: w(kk, dModel, width),
        bk: zeros([width]),
        wv: w(kv, dModel, width),
        bv: zeros([width]),
        wo: w(ko, width, dModel),
        bo: zeros([dModel]),
        spec: specParams,
      };
    },
    apply(params, x, call = {}) {
      checkOptions("multiHead", call, [
        ...CALL_OPTIONS,
        "context",
        "keysValues",
      ]);
      if (lastDim("multiHead", x, "x") !== dModel) {
        throw new TypeError(
          `multiHead: x [${x.shape}] must have dModel = ${dModel} features`,
        );
      }
      const { context, keysValues, ...opts } = call;
      if (
        context !== undefined &&
        (!(context instanceof Tensor) ||
          lastDim("multiHead", context, "context") !== dModel)
      ) {
        throw new TypeError(
          `multiHead: opts.context must be a tensor [..., Tk, ${dModel}], got ${
            context instanceof Tensor ? `[${context.shape}]` : typeof context
          }`,
        );
      }
      if (keysValues !== undefined) checkKeysValues(keysValues, context);
      const q = splitHeads(add(matmul(x, params.wq), params.bq));
      const { keys: k, values: v } = keysValues ??
        project(params, context ?? x);
      const built = build(params.spec);
      const fn = typeof built === "function" ? built : attention(built);
      const r: MultiHeadResult = fn(q, k, v, opts);
      const out = add(matmul(mergeHeads(r.output), params.wo), params.bo);
      // [..., Tq, dModel], [..., H, Tq, Tk] (and the gate [..., H, Tq, K]);
      // the weights stay unread until asked for (fused attention makes them then).
      return lazyResult(out, () => r.weights, r.gate && { gate: r.gate });
    },
  };
}
