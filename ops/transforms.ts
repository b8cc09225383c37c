/**
 * The differentiation transforms: `jvp`, `linearize`, `vjp`, `grad`,
 * `valueAndGrad`, `jacfwd`, `jacrev`, `hessian`, `customJvp`, `customVjp`.
 * They nest to any depth: each call pushes its own tagged level.
 *
 * @module
 */

import { type Aval, fmtShape } from "./dtype.ts";
import { fromHost, type MainTrace, scalar, withMain } from "./core.ts";
import { Tensor, Tracer } from "./tensor.ts";
import { JvpTrace, JvpTracer } from "./jvp.ts";
import {
  evalLinear,
  type LinearProgram,
  LinearTrace,
  type LinearTracer,
} from "./linearize.ts";
import { transposeLinear } from "./transpose.ts";
import {
  type Leaf,
  type TreeDef,
  treeDefEqual,
  treeFlatten,
  treeUnflatten,
} from "./pytree.ts";
import { zeros } from "./creation.ts";
import { reshape, stack } from "./shape_ops.ts";

/** Any function a transform can take. */
export type AnyFn = (...args: never[]) => unknown;

/** The cotangent (or tangent) type of a value: number leaves become tensors. */
export type Cotangent<T> = T extends Tensor | number ? Tensor
  : T extends readonly unknown[] ? { -readonly [K in keyof T]: Cotangent<T[K]> }
  : T extends Record<string, unknown>
    ? { -readonly [K in keyof T]: Cotangent<T[K]> }
  : T;

function toTensor(op: string, x: Leaf): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x === "number") return scalar(x, "float32");
  throw new TypeError(`${op}: leaves must be tensors or numbers`);
}

function checkFloat(op: string, x: Tensor, what: string): void {
  if (x.dtype !== "float32") {
    throw new TypeError(
      `${op}: ${what} must be float32 to be differentiated, got ${x.dtype}${
        fmtShape(x.shape)
      }`,
    );
  }
}

function checkFn(op: string, f: unknown): void {
  if (typeof f !== "function") {
    throw new TypeError(`${op}: expected a function, got ${typeof f}`);
  }
}

/** Splits traced outputs of level `main` into primals and tangents (`null` = zero). */
function unpackOutputs(
  main: MainTrace,
  outs: readonly Leaf[],
): [Tensor[], (Tensor | null)[]] {
  const ps: Tensor[] = [], ts: (Tensor | null)[] = [];
  for (const o of outs) {
    const t = toTensor("output", o);
    if (t instanceof JvpTracer && t.main === main) {
      ps.push(t.primal);
      ts.push(t.tangent);
    } else {
      ps.push(t);
      ts.push(null);
    }
  }
  return [ps, ts];
}

/**
 * Forward mode: evaluates `f` at `primals` and its directional derivative
 * along `tangents` (pytrees of the same structure), as `jax.jvp`.
 *
 * @example
 * ```ts
 * import { jvp, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const [y, yDot] = jvp((x: Tensor) => mul(x, x), [tensor(3)], [tensor(1)]);
 * assertEquals([await y.item(), await yDot.item()], [9, 6]);
 * ```
 */
export function jvp<A extends unknown[], R>(
  f: (...args: A) => R,
  primals: A,
  tangents: A,
): [R, Cotangent<R>] {
  checkFn("jvp", f);
  const [pLeaves, pDef] = treeFlatten(primals);
  const [tLeaves, tDef] = treeFlatten(tangents);
  if (!treeDefEqual(pDef, tDef) || pLeaves.length !== tLeaves.length) {
    throw new TypeError("jvp: primals and tangents have different structures");
  }
  return withMain((m) => new JvpTrace(m), (main) => {
    const ins = pLeaves.map((p, i) => {
      const x = toTensor("jvp", p), t = toTensor("jvp", tLeaves[i]!);
      if (
        t.shape.length !== x.shape.length ||
        t.shape.some((d, j) => d !== x.shape[j])
      ) {
        throw new TypeError(
          `jvp: tangent ${fmtShape(t.shape)} does not match primal ${
            fmtShape(x.shape)
          }`,
        );
      }
      return x.dtype === "float32" ? new JvpTracer(main, x, t) : x;
    });
    const out = (f as unknown as (...a: unknown[]) => unknown)(
      ...treeUnflatten<unknown[]>(pDef, ins),
    );
    const [oLeaves, oDef] = treeFlatten(out);
    const [ps, ts] = unpackOutputs(main, oLeaves);
    return [
      treeUnflatten(oDef, ps),
      treeUnflatten(oDef, ts.map((t, i) => t ?? zeros(ps[i]!.shape))),
    ] as [R, Cotangent<R>];
  });
}

/** What `linearizeFlat` records: primal outputs, aux, and the linear program. */
interface Linearized {
  outDef: TreeDef;
  primalsOut: Tensor[];
  aux: unknown;
  program: LinearProgram;
  inAvals: Aval[];
}

/**
 * Runs `f` on flat float leaves under JVP + partial evaluation, recording the
 * tangent map as a linear program. With `hasAux`, `f` returns `[out, aux]`
 * and only `out` is differentiated.
 */
function linearizeFlat(
  op: string,
  f: (leaves: Tensor[]) => unknown,
  leaves: readonly Tensor[],
  hasAux: boolean,
): Linearized {
  return withMain((m) => new LinearTrace(m), (lmain) => {
    const lin = lmain.trace as LinearTrace;
    return withMain((m) => new JvpTrace(m, lin), (jmain) => {
      const inputs = leaves.map((x) => lin.newInput(x));
      const ins = leaves.map((x, i) => new JvpTracer(jmain, x, inputs[i]!));
      let out = f(ins);
      let aux: unknown = undefined;
      if (hasAux) {
        if (!Array.isArray(out) || out.length !== 2) {
          throw new TypeError(
            `${op}: with hasAux the function must return [output, aux]`,
          );
        }
        [out, aux] = out;
        aux = treeUnflatten(
          treeFlatten(aux)[1],
          treeFlatten(aux)[0].map((a) => unwrapLevel(a, jmain)),
        );
      }
      const [oLeaves, outDef] = treeFlatten(out);
      const [primalsOut, tangentsOut] = unpackOutputs(jmain, oLeaves);
      const outputs = tangentsOut.map((t) => (t ? lin.variableOf(t) : null));
      return {
        outDef,
        primalsOut,
        aux,
        inAvals: leaves.map((x) => ({ shape: x.shape, dtype: x.dtype })),
        program: {
          inputs: inputs.map((t) => (t as LinearTracer).variable),
          eqns: lin.eqns,
          outputs,
          outAvals: primalsOut.map((p) => ({ shape: p.shape, dtype: p.dtype })),
        },
      };
    });
  });
}

function unwrapLevel(x: Leaf, main: MainTrace): Leaf {
  return x instanceof JvpTracer && x.main === main ? x.primal : x;
}

/** Flattens differentiated arguments, checking they are float. */
function flatArgs(op: string, args: readonly unknown[]): [Tensor[], TreeDef] {
  const [leaves, def] = treeFlatten(args);
  return [
    leaves.map((l, i) => {
      const t = toTensor(op, l);
      checkFloat(op, t, `input leaf ${i}`);
      return t;
    }),
    def,
  ];
}

/** Linearizes `f` at positional pytree arguments `primals`. */
function linearizeArgs(
  op: string,
  f: AnyFn,
  primals: readonly unknown[],
): { lin: Linearized; inDef: TreeDef } {
  checkFn(op, f);
  const [leaves, inDef] = flatArgs(op, primals);
  const call = f as unknown as (...a: unknown[]) => unknown;
  const lin = linearizeFlat(
    op,
    (ls) => call(...treeUnflatten<unknown[]>(inDef, ls)),
    leaves,
    false,
  );
  return { lin, inDef };
}

/**
 * Evaluates `f` at `primals` and returns its linear approximation there: a
 * function from input tangents to output tangents, as `jax.linearize`.
 */
export function linearize<F extends AnyFn>(
  f: F,
  ...primals: Parameters<F>
): [ReturnType<F>, (...tangents: Parameters<F>) => Cotangent<ReturnType<F>>] {
  const { lin, inDef } = linearizeArgs("linearize", f, primals);
  const jvpFn = (...tangents: Parameters<F>) => {
    const [tLeaves, tDef] = treeFlatten(tangents);
    if (!treeDefEqual(tDef, inDef)) {
      throw new TypeError(
        "linearize: tangents do not match the primals' structure",
      );
    }
    const outs = evalLinear(
      lin.program,
      tLeaves.map((t) => toTensor("linearize", t)),
    );
    return treeUnflatten<Cotangent<ReturnType<F>>>(lin.outDef, outs);
  };
  return [treeUnflatten<ReturnType<F>>(lin.outDef, lin.primalsOut), jvpFn];
}

/**
 * Reverse mode: evaluates `f` at `primals` and returns a function that maps
 * an output cotangent to one cotangent per argument, as `jax.vjp`.
 *
 * @example
 * ```ts
 * import { mul, sum, tensor, type Tensor, vjp } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const [y, back] = vjp((x: Tensor) => sum(mul(x, x)), tensor([1, 2]));
 * const [g] = back(tensor(1));
 * assertEquals([await y.item(), await g.array()], [5, [2, 4]]);
 * ```
 */
export function vjp<F extends AnyFn>(
  f: F,
  ...primals: Parameters<F>
): [ReturnType<F>, (ct: Cotangent<ReturnType<F>>) => Cotangent<Parameters<F>>] {
  const { lin, inDef } = linearizeArgs("vjp", f, primals);
  return [treeUnflatten<ReturnType<F>>(lin.outDef, lin.primalsOut), (ct) => {
    return treeUnflatten(inDef, backward("vjp", lin, ct));
  }];
}

/** Runs the backward pass of `lin` for cotangent pytree `ct`. */
function backward(op: string, lin: Linearized, ct: unknown): Tensor[] {
  const [cLeaves, cDef] = treeFlatten(ct);
  if (!treeDefEqual(cDef, lin.outDef)) {
    throw new TypeError(
      `${op}: the cotangent does not match the output's structure`,
    );
  }
  const cts = cLeaves.map((c, i) => {
    const t = toTensor(op, c);
    const o = lin.primalsOut[i]!;
    if (
      t.shape.length !== o.shape.length ||
      t.shape.some((d, j) => d !== o.shape[j])
    ) {
      throw new TypeError(
        `${op}: cotangent ${fmtShape(t.shape)} does not match output ${
          fmtShape(o.shape)
        }`,
      );
    }
    return t;
  });
  return transposeLinear(lin.program, cts).map((c, i) =>
    c ?? zeros(lin.inAvals[i]!.shape)
  );
}

/** Arguments of a transformed function: tensor positions also take numbers. */
export type Args<P extends readonly unknown[]> = {
  [K in keyof P]: P[K] extends Tensor ? Tensor | number : P[K];
};

/** Options of {@link grad} and {@link valueAndGrad}. */
export interface GradOptions {
  /** Which positional argument(s) to differentiate (default 0). */
  readonly argnums?: number | readonly number[];
  /** The function returns `[output, aux]`; aux is passed through. */
  readonly hasAux?: boolean;
}

/** The gradients `grad` returns for options `O`. */
export type GradsOf<A extends readonly unknown[], O> = O extends
  { argnums: infer N } ? N extends number ? Cotangent<A[N]>
  : N extends readonly number[]
    ? { -readonly [K in keyof N]: Cotangent<A[N[K] & number]> }
  : Cotangent<A[0]>
  : Cotangent<A[0]>;

/** The aux value of a `hasAux` function's result. */
export type AuxOf<R> = R extends readonly [unknown, infer X] ? X : never;

/** The output value (without aux) of a function's result. */
export type ValueOf<R, O> = O extends { hasAux: true }
  ? R extends readonly [infer V, unknown] ? V : never
  : R;

function valueAndGradImpl(
  op: string,
  f: AnyFn,
  opts: GradOptions,
  args: unknown[],
): { value: Tensor; aux: unknown; grads: unknown } {
  const argnums = opts.argnums ?? 0;
  const nums = typeof argnums === "number" ? [argnums] : [...argnums];
  for (const n of nums) {
    if (!Number.isInteger(n) || n < 0 || n >= args.length) {
      throw new RangeError(
        `${op}: argnums ${n} is out of range for ${args.length} argument(s)`,
      );
    }
  }
  const [leaves, inDef] = flatArgs(op, nums.map((n) => args[n]));
  const lin = linearizeFlat(
    op,
    (ls) => {
      const diff = treeUnflatten<unknown[]>(inDef, ls);
      const full = [...args];
      nums.forEach((n, j) => (full[n] = diff[j]));
      return (f as unknown as (...a: unknown[]) => unknown)(...full);
    },
    leaves,
    opts.hasAux ?? false,
  );
  const value = lin.primalsOut[0];
  if (
    lin.primalsOut.length !== 1 || !value || value.size !== 1 ||
    value.ndim !== 0
  ) {
    throw new TypeError(
      `${op}: the function must return a scalar float32 tensor, got ${
        lin.primalsOut.map((p) => `${p.dtype}${fmtShape(p.shape)}`).join(
          ", ",
        ) || "no tensor"
      }`,
    );
  }
  checkFloat(op, value, "the output");
  const cts = transposeLinear(lin.program, [scalar(1, "float32")]).map((c, i) =>
    c ?? zeros(lin.inAvals[i]!.shape)
  );
  const per = treeUnflatten<unknown[]>(inDef, cts);
  return {
    value,
    aux: lin.aux,
    grads: typeof argnums === "number" ? per[0] : per,
  };
}

/**
 * The gradient of a scalar function, as `jax.grad`: `grad(f)(x)` has the
 * structure of `x` (a pytree). Options pick arguments and allow aux output.
 *
 * @example
 * ```ts
 * import { grad, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const cube = (x: Tensor) => mul(mul(x, x), x);
 * assertEquals(await grad(grad(cube))(tensor(2)).item(), 12);
 * ```
 */
export function grad<
  F extends AnyFn,
  const O extends GradOptions = Record<never, never>,
>(
  f: F,
  opts?: O,
): (
  ...args: Args<Parameters<F>>
) => O extends { hasAux: true }
  ? [GradsOf<Parameters<F>, O>, AuxOf<ReturnType<F>>]
  : GradsOf<Parameters<F>, O> {
  checkFn("grad", f);
  const o: GradOptions = opts ?? {};
  // deno-lint-ignore no-explicit-any
  return ((...args: unknown[]): any => {
    const r = valueAndGradImpl("grad", f, o, args);
    return o.hasAux ? [r.grads, r.aux] : r.grads;
  });
}

/**
 * Like {@link grad}, but returns `[value, grads]` (`[[value, aux], grads]`
 * with `hasAux`), computing both in one pass.
 */
export function valueAndGrad<
  F extends AnyFn,
  const O extends GradOptions = Record<never, never>,
>(
  f: F,
  opts?: O,
): (...args: Args<Parameters<F>>) => [
  O extends { hasAux: true } ? [Tensor, AuxOf<ReturnType<F>>] : Tensor,
  GradsOf<Parameters<F>, O>,
] {
  checkFn("valueAndGrad", f);
  const o: GradOptions = opts ?? {};
  // deno-lint-ignore no-explicit-any
  return ((...args: unknown[]): any => {
    const r = valueAndGradImpl("valueAndGrad", f, o, args);
    return [o.hasAux ? [r.value, r.aux] : r.value, r.grads];
  });
}

/** Options of the Jacobian transforms. */
export interface JacobianOptions {
  /** Which positional argument to differentiate (default 0). */
  readonly argnum?: number;
}

/** A one-hot float32 tensor of `shape` with a 1 at flat index `i`. */
function basis(shape: readonly number[], i: number): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  data[i] = 1;
  return fromHost(data, shape, "float32");
}

/**
 * Assembles Jacobian blocks: `rows[o][l]` holds, for output leaf `o` and
 * input leaf `l`, tensors indexed by the enumerated side's flat index.
 */
function assemble(
  outDef: TreeDef,
  outShapes: readonly (readonly number[])[],
  inDef: TreeDef,
  inShapes: readonly (readonly number[])[],
  block: (o: number, l: number) => Tensor,
): unknown {
  return treeUnflatten(
    outDef,
    outShapes.map((_, o) =>
      treeUnflatten(inDef, inShapes.map((_, l) => block(o, l)))
    ),
  );
}

function argOf(op: string, args: readonly unknown[], argnum: number): void {
  if (!Number.isInteger(argnum) || argnum < 0 || argnum >= args.length) {
    throw new RangeError(
      `${op}: argnum ${argnum} is out of range for ${args.length} argument(s)`,
    );
  }
}

/**
 * The Jacobian by forward mode (one `jvp` per input element). For a tensor
 * input and output it has shape `out.shape + in.shape`; for pytrees it is
 * a pytree of such blocks, outer structure from the output.
 */
export function jacfwd<F extends AnyFn>(
  f: F,
  opts: JacobianOptions = {},
): (...args: Parameters<F>) => unknown {
  checkFn("jacfwd", f);
  const argnum = opts.argnum ?? 0;
  return (...args: Parameters<F>) => {
    argOf("jacfwd", args, argnum);
    const [leaves, inDef] = flatArgs("jacfwd", [args[argnum]]);
    const call = (...x: unknown[]) => {
      const a: unknown[] = [...args];
      a[argnum] = (x as unknown[])[0];
      return (f as unknown as (...a: unknown[]) => unknown)(...a);
    };
    // cols[l][e] = output leaves' tangents along basis element e of leaf l.
    let outDef: TreeDef | null = null;
    let outShapes: (readonly number[])[] = [];
    const cols: Tensor[][][] = leaves.map((leaf, l) => {
      const out: Tensor[][] = [];
      for (let e = 0; e < leaf.size; e++) {
        const ts = leaves.map((
          x,
          j,
        ) => (j === l ? basis(x.shape, e) : zeros(x.shape)));
        const [y, yDot] = jvp(
          call,
          [treeUnflatten<unknown[]>(inDef, leaves)[0]],
          [treeUnflatten<unknown[]>(inDef, ts)[0]],
        );
        const [yLeaves, def] = treeFlatten(y);
        outDef = def;
        outShapes = yLeaves.map((v) => toTensor("jacfwd", v).shape);
        out.push(treeFlatten(yDot)[0].map((t) => toTensor("jacfwd", t)));
      }
      return out;
    });
    if (outDef === null) {
      const y = call(treeUnflatten<unknown[]>(inDef, leaves)[0]);
      const [yLeaves, def] = treeFlatten(y);
      outDef = def;
      outShapes = yLeaves.map((v) => toTensor("jacfwd", v).shape);
    }
    const inShapes = leaves.map((x) => x.shape);
    const [, argDef] = treeFlatten(args[argnum]);
    return assemble(outDef, outShapes, argDef, inShapes, (o, l) => {
      const shape = [...outShapes[o]!, ...inShapes[l]!];
      const c = cols[l]!;
      if (c.length === 0) return zeros(shape);
      return reshape(stack(c.map((ts) => ts[o]!), -1), shape);
    });
  };
}

/**
 * The Jacobian by reverse mode (one backward pass per output element),
 * with the same layout as {@link jacfwd}.
 */
export function jacrev<F extends AnyFn>(
  f: F,
  opts: JacobianOptions = {},
): (...args: Parameters<F>) => unknown {
  checkFn("jacrev", f);
  const argnum = opts.argnum ?? 0;
  return (...args: Parameters<F>) => {
    argOf("jacrev", args, argnum);
    const [leaves, inDef] = flatArgs("jacrev", [args[argnum]]);
    const lin = linearizeFlat(
      "jacrev",
      (ls) => {
        const a: unknown[] = [...args];
        a[argnum] = treeUnflatten<unknown[]>(inDef, ls)[0];
        return (f as unknown as (...a: unknown[]) => unknown)(...a);
      },
      leaves,
      false,
    );
    const outShapes = lin.primalsOut.map((p) => p.shape);
    // rows[o][e] = input cotangents for basis element e of output leaf o.
    const rows = lin.primalsOut.map((p, o) => {
      const out: Tensor[][] = [];
      for (let e = 0; e < p.size; e++) {
        const cts = lin.primalsOut.map((
          q,
          j,
        ) => (j === o ? basis(q.shape, e) : null));
        out.push(
          transposeLinear(lin.program, cts).map((c, i) =>
            c ?? zeros(lin.inAvals[i]!.shape)
          ),
        );
      }
      return out;
    });
    const inShapes = leaves.map((x) => x.shape);
    const [, argDef] = treeFlatten(args[argnum]);
    return assemble(lin.outDef, outShapes, argDef, inShapes, (o, l) => {
      const shape = [...outShapes[o]!, ...inShapes[l]!];
      const r = rows[o]!;
      if (r.length === 0) return zeros(shape);
      return reshape(stack(r.map((cts) => cts[l]!), 0), shape);
    });
  };
}

/** The Hessian of a scalar function: `jacfwd(jacrev(f))`. */
export function hessian<F extends AnyFn>(
  f: F,
  opts: JacobianOptions = {},
): (...args: Parameters<F>) => unknown {
  return jacfwd(jacrev(f, opts) as AnyFn, opts) as (
    ...args: Parameters<F>
  ) => unknown;
}

/**
 * Gives `f` a custom JVP rule, as `jax.custom_jvp`. `rule(primals,
 * tangents)` returns `[output, outputTangent]`; higher-order derivatives
 * differentiate the rule itself.
 *
 * @example
 * ```ts
 * import { customJvp, grad, log1p, exp, mul, sigmoid, tensor, type Tensor } from "@heed/heed";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const softplus = customJvp(
 *   (x: Tensor) => log1p(exp(x)),
 *   ([x], [dx]) => [log1p(exp(x!)), mul(dx!, sigmoid(x!))],
 * );
 * assertAlmostEquals(await grad(softplus)(tensor(0)).item() as number, 0.5, 1e-6);
 * ```
 */
export function customJvp<F extends (...args: never[]) => unknown>(
  f: F,
  rule: (
    primals: Parameters<F>,
    tangents: Cotangent<Parameters<F>>,
  ) => [ReturnType<F>, Cotangent<ReturnType<F>>],
): F {
  checkFn("customJvp", f);
  checkFn("customJvp", rule);
  const g = (...args: Parameters<F>): ReturnType<F> => {
    const [leaves, def] = treeFlatten(args);
    const main = topJvp(leaves);
    if (!main) {
      return (f as unknown as (...a: unknown[]) => ReturnType<F>)(...args);
    }
    const trace = main.trace as JvpTrace;
    const ps = leaves.map((
      l,
    ) => (l instanceof Tensor ? trace.unpack(l)[0] : l));
    const ts = leaves.map((l) => {
      const x = toTensor("customJvp", l);
      return (l instanceof Tensor ? trace.unpack(l)[1] : null) ??
        zeros(x.shape);
    });
    const [y, yDot] = rule(treeUnflatten(def, ps), treeUnflatten(def, ts));
    const [yLeaves, yDef] = treeFlatten(y);
    const [dLeaves] = treeFlatten(yDot);
    return treeUnflatten(
      yDef,
      yLeaves.map((p, i) =>
        trace.pack(toTensor("customJvp", p), toTensor("customJvp", dLeaves[i]!))
      ),
    );
  };
  return g as F;
}

/** The innermost JVP level among `leaves`, if it is the innermost level of all. */
function topJvp(leaves: readonly Leaf[]): MainTrace | null {
  let top: MainTrace | null = null;
  for (const l of leaves) {
    if (l instanceof Tracer) {
      const m = l.main as MainTrace;
      if (!top || m.level > top.level) top = m;
    }
  }
  return top && top.trace instanceof JvpTrace ? top : null;
}

/**
 * Gives `f` a custom reverse-mode rule, as `jax.custom_vjp`: `fwd(...args)`
 * returns `[output, residuals]` and `bwd(residuals, ct)` returns one
 * cotangent per argument. Forward mode (`jvp`, `jacfwd`) is not available
 * for such a function, as in JAX.
 *
 * @example
 * ```ts
 * import { customVjp, grad, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * // The identity, with its gradient clipped to ±1.
 * const clipGrad = customVjp(
 *   (x: Tensor) => x,
 *   (x: Tensor) => [x, null],
 *   (_res, ct: Tensor) => [mul(ct, 0)],
 * );
 * assertEquals(await grad((x: Tensor) => mul(clipGrad(x), 3))(tensor(1)).item(), 0);
 * ```
 */
export function customVjp<F extends (...args: never[]) => unknown, R>(
  f: F,
  fwd: (...args: Parameters<F>) => [ReturnType<F>, R],
  bwd: (residuals: R, ct: Cotangent<ReturnType<F>>) => unknown[],
): F {
  checkFn("customVjp", f);
  checkFn("customVjp", fwd);
  checkFn("customVjp", bwd);
  const g = (...args: Parameters<F>): ReturnType<F> => {
    const [leaves, def] = treeFlatten(args);
    const main = topJvp(leaves);
    if (!main) {
      return (f as unknown as (...a: unknown[]) => ReturnType<F>)(...args);
    }
    const trace = main.trace as JvpTrace;
    const lin = trace.linear;
    if (!lin) {
      throw new TypeError(
        "customVjp: forward-mode differentiation (jvp, jacfwd) of a customVjp function is not supported; use customJvp",
      );
    }
    const ps = leaves.map((
      l,
    ) => (l instanceof Tensor ? trace.unpack(l)[0] : l));
    const ts = leaves.map((
      l,
    ) => (l instanceof Tensor ? trace.unpack(l)[1] : null));
    const linIdx = ts.flatMap((t, i) => (t ? [i] : []));
    const [y, res] = fwd(...treeUnflatten<Parameters<F>>(def, ps));
    const [yLeaves, yDef] = treeFlatten(y);
    const yTs = yLeaves.map((l) => toTensor("customVjp", l));
    return treeUnflatten(
      yDef,
      yTs.map((yk, k) => {
        if (yk.dtype !== "float32") return yk;
        const bwdK = (ct: unknown): (Tensor | null)[] => {
          const full = yTs.map((q, j) => (j === k ? ct : zeros(q.shape)));
          const cts = bwd(res, treeUnflatten(yDef, full));
          const [cLeaves] = treeFlatten(cts);
          if (cLeaves.length !== leaves.length) {
            throw new TypeError(
              `customVjp: bwd returned ${cLeaves.length} cotangent leaves for ${leaves.length} inputs`,
            );
          }
          return linIdx.map((i) => toTensor("customVjp", cLeaves[i]!));
        };
        const tOut = lin.recordCustom(
          linIdx.map((i) => ts[i]!),
          { bwd: bwdK },
          yk,
        );
        return trace.pack(yk, tOut);
      }),
    );
  };
  return g as F;
}
