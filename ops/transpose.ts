/**
 * Reverse mode: transpose rules for the primitives that are linear in an
 * argument, and the backward pass over a linear program. A rule maps the
 * output cotangent to one cotangent per operand (`null` for constants).
 *
 * @module
 */

import { type Aval, sameShape } from "./dtype.ts";
import { bind, transformsActive } from "./core.ts";
import type { Params, Primitive } from "./primitives.ts";
import { type Tensor, Tracer } from "./tensor.ts";
import { releaseNow, scopeCreated } from "./memory.ts";
import { add, div, mul, neg, where } from "./elementwise.ts";
import { zeros } from "./creation.ts";
import { type LinearProgram, LinearVar } from "./linearize.ts";
import { flashTranspose } from "./flash/_ad.ts";

/** An operand of a transpose rule: a constant, or the aval of a linear input. */
export type TransposeArg = Tensor | LinearVar;

/** A transpose rule: output cotangent to operand cotangents. */
export type TransposeRule<P extends Primitive> = (
  ct: Tensor,
  args: readonly TransposeArg[],
  params: Params<P>,
) => (Tensor | null)[];

const isLin = (x: TransposeArg | undefined): x is LinearVar =>
  x instanceof LinearVar;
const avalOf = (x: TransposeArg): Aval => (x instanceof LinearVar ? x.aval : x);

/** Sums `ct` down to `shape`, undoing NumPy broadcasting. */
export function unbroadcast(ct: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(ct.shape, shape)) return ct;
  const lead = ct.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < ct.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && ct.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? bind("reduce_sum", [ct], { axes }) : ct;
  return sameShape(summed.shape, shape)
    ? summed
    : bind("reshape", [summed], { shape });
}

function nonlinear(prim: string): never {
  throw new TypeError(
    `${prim}: transposing a non-linear use (both operands depend on the input); this is a bug in a JVP rule`,
  );
}

/** `dot_general` transposed into operand `which`, given the other operand. */
function dotTranspose(
  ct: Tensor,
  other: Tensor,
  me: Aval,
  p: Params<"dot_general">,
  which: 0 | 1,
): Tensor {
  const nb = p.lhsBatch.length;
  const [myContract, otherContract, myBatch, otherBatch] = which === 0
    ? [p.lhsContract, p.rhsContract, p.lhsBatch, p.rhsBatch]
    : [p.rhsContract, p.lhsContract, p.rhsBatch, p.lhsBatch];
  const myFree = me.shape.map((_, i) => i).filter((i) =>
    !myContract.includes(i) && !myBatch.includes(i)
  );
  const otherFree = other.shape.map((_, i) => i).filter((i) =>
    !otherContract.includes(i) && !otherBatch.includes(i)
  );
  const lhsFreeCount = which === 0 ? myFree.length : otherFree.length;
  // Axes of ct: [batch..., lhs free..., rhs free...].
  const ctBatch = [...Array(nb).keys()];
  const ctOther = otherFree.map((_, j) =>
    nb + (which === 0 ? lhsFreeCount + j : j)
  );
  // Contract ct's "other free" axes with other's free axes, batch with batch.
  const r = bind("dot_general", [ct, other], {
    lhsContract: ctOther,
    rhsContract: otherFree,
    lhsBatch: ctBatch,
    rhsBatch: otherBatch,
  });
  // r's axes: [batch, my free (ct order), other's remaining = other contract axes ascending].
  const sortedOtherContract = [...otherContract].sort((a, b) => a - b);
  const perm = new Array<number>(me.shape.length);
  myBatch.forEach((a, i) => (perm[a] = i));
  myFree.forEach((a, j) => (perm[a] = nb + j));
  myContract.forEach((a, k) => {
    perm[a] = nb + myFree.length +
      sortedOtherContract.indexOf(otherContract[k]!);
  });
  // Axis a of `me` is axis perm[a] of r.
  return perm.every((v, i) => v === i) ? r : bind("transpose", [r], { perm });
}

/** Transpose rules of the linear primitives. */
export const TRANSPOSE_RULES: { [P in Primitive]?: TransposeRule<P> } = {
  neg: (ct) => [neg(ct)],
  add: (ct, [x, y]) => [
    isLin(x) ? unbroadcast(ct, x.aval.shape) : null,
    isLin(y) ? unbroadcast(ct, y.aval.shape) : null,
  ],
  sub: (ct, [x, y]) => [
    isLin(x) ? unbroadcast(ct, x.aval.shape) : null,
    isLin(y) ? unbroadcast(neg(ct), y.aval.shape) : null,
  ],
  mul: (ct, [x, y]) => {
    if (isLin(x) && isLin(y)) nonlinear("mul");
    if (isLin(x)) {
      return [unbroadcast(mul(ct, y as Tensor), x.aval.shape), null];
    }
    return [null, unbroadcast(mul(x as Tensor, ct), avalOf(y!).shape)];
  },
  div: (ct, [x, y]) => {
    if (isLin(y)) nonlinear("div");
    return [unbroadcast(div(ct, y as Tensor), avalOf(x!).shape), null];
  },
  select: (ct, [c, t, f]) => {
    const cond = c as Tensor;
    return [
      null,
      isLin(t) ? unbroadcast(where(cond, ct, 0), t.aval.shape) : null,
      isLin(f) ? unbroadcast(where(cond, 0, ct), f.aval.shape) : null,
    ];
  },
  convert_element_type: (ct, [x]) => [
    bind("convert_element_type", [ct], { dtype: avalOf(x!).dtype }),
  ],
  reduce_sum: (ct, [x], p) => {
    const shape = avalOf(x!).shape;
    const dims = shape.map((_, i) => i).filter((i) => !p.axes.includes(i));
    return [bind("broadcast_in_dim", [ct], { shape, dims })];
  },
  dot_general: (ct, [x, y], p) => {
    if (isLin(x) && isLin(y)) nonlinear("dot_general");
    if (isLin(x)) return [dotTranspose(ct, y as Tensor, x.aval, p, 0), null];
    return [null, dotTranspose(ct, x as Tensor, avalOf(y!), p, 1)];
  },
  reshape: (ct, [x]) => [bind("reshape", [ct], { shape: avalOf(x!).shape })],
  transpose: (ct, _args, p) => {
    const inv = new Array<number>(p.perm.length);
    p.perm.forEach((a, i) => (inv[a] = i));
    return [bind("transpose", [ct], { perm: inv })];
  },
  broadcast_in_dim: (ct, [x], p) => {
    const shape = avalOf(x!).shape;
    const axes = p.shape.map((_, i) => i).filter((o) => {
      const i = p.dims.indexOf(o);
      return i < 0 || (shape[i] === 1 && p.shape[o] !== 1);
    });
    const s = axes.length ? bind("reduce_sum", [ct], { axes }) : ct;
    return [sameShape(s.shape, shape) ? s : bind("reshape", [s], { shape })];
  },
  slice: (ct, [x], p) => {
    const shape = avalOf(x!).shape;
    return [bind("pad", [ct], {
      lo: p.start,
      hi: shape.map((d, i) => d - p.limit[i]!),
      value: 0,
    })];
  },
  pad: (ct, [x], p) => {
    if (p.value !== 0) nonlinear("pad with a non-zero value");
    const shape = avalOf(x!).shape;
    return [bind("slice", [ct], {
      start: p.lo,
      limit: shape.map((d, i) => p.lo[i]! + d),
    })];
  },
  concatenate: (ct, args, p) => {
    let offset = 0;
    return args.map((x) => {
      const shape = avalOf(x).shape;
      const start = shape.map((_, i) => (i === p.axis ? offset : 0));
      const limit = shape.map((
        d,
        i,
      ) => (i === p.axis ? offset + d : ct.shape[i]!));
      offset += shape[p.axis]!;
      return isLin(x) ? bind("slice", [ct], { start, limit }) : null;
    });
  },
  gather: (ct, [x, idx], p) => [
    bind("scatter_add", [ct, idx as Tensor], {
      axis: p.axis,
      shape: avalOf(x!).shape,
    }),
    null,
  ],
  scatter_add: (ct, [_u, idx], p) => [
    bind("gather", [ct, idx as Tensor], { axis: p.axis }),
    null,
  ],
  custom_lin: (ct, _args, p) => p.bwd(ct) as (Tensor | null)[],
  flash_attention: flashTranspose,
};

/**
 * The backward pass: given cotangents of a linear program's outputs
 * (`null` = zero), returns the cotangent of each input (`null` = zero).
 *
 * Intermediate cotangents are freed as soon as nothing needs them (a
 * cotangent once its equation is transposed, partial sums once added), so
 * the backward pass of a long chain, such as a recurrent network unrolled
 * over many steps, holds only the cotangents still to be used rather than
 * every one it made. Only concrete tensors created here are freed, and only
 * when no transform is running (an outer transform may hold any tensor as
 * a residual): never the caller's cotangents, an equation's inputs, or
 * tracers.
 */
export function transposeLinear(
  program: LinearProgram,
  cts: readonly (Tensor | null)[],
): (Tensor | null)[] {
  const acc = new Map<LinearVar, Tensor>();
  // Tensors made here (by a rule or a sum), and how many acc entries hold each.
  const made = new Set<Tensor>();
  const holds = new Map<Tensor, number>();
  const hold = (t: Tensor, d: number) => holds.set(t, (holds.get(t) ?? 0) + d);
  const dropped: Tensor[] = [];
  // Under an outer transform, any tensor may be one of its residuals.
  const eager = !transformsActive();
  const sweep = () => {
    if (!eager) return void (dropped.length = 0);
    for (const t of dropped) {
      if (made.has(t) && !(holds.get(t)! > 0) && !(t instanceof Tracer)) {
        made.delete(t);
        holds.delete(t);
        releaseNow(t);
      }
    }
    dropped.length = 0;
  };
  const accumulate = (v: LinearVar, ct: Tensor) => {
    const prev = acc.get(v);
    if (!prev) {
      acc.set(v, ct);
      hold(ct, 1);
      return;
    }
    const sum = add(prev, ct);
    if (sum !== prev && sum !== ct) made.add(sum);
    acc.set(v, sum);
    hold(sum, 1);
    hold(prev, -1);
    dropped.push(prev, ct);
  };
  program.outputs.forEach((v, i) => {
    const ct = cts[i];
    if (v && ct) accumulate(v, ct);
  });
  for (let e = program.eqns.length - 1; e >= 0; e--) {
    const eqn = program.eqns[e]!;
    const ct = acc.get(eqn.out);
    if (!ct) continue;
    acc.delete(eqn.out);
    hold(ct, -1);
    dropped.push(ct);
    const rule = TRANSPOSE_RULES[eqn.prim] as
      | TransposeRule<Primitive>
      | undefined;
    if (!rule) {
      throw new TypeError(
        `${eqn.prim}: is not linear, so it cannot be transposed; this is a bug in a JVP rule`,
      );
    }
    // A rule's own temporaries (say, a product before its reshape) go
    // with the rule; of its results, only those it created may be freed
    // later. A customVjp `bwd` may return anything it can reach (a residual
    // of `fwd`, a closed-over tensor), which later rows of a Jacobian need
    // again: such results are not new, so they are never freed here.
    let created: Set<Tensor> | null = null;
    let argCts: (Tensor | null)[];
    if (eager) {
      [argCts, created] = scopeCreated(() => rule(ct, eqn.inputs, eqn.params));
    } else argCts = rule(ct, eqn.inputs, eqn.params);
    eqn.inputs.forEach((x, i) => {
      const c = argCts[i];
      if (!isLin(x) || !c) return;
      if (created?.has(c) && c !== ct && !eqn.inputs.includes(c)) made.add(c);
      accumulate(x, c);
    });
    sweep();
  }
  sweep();
  return program.inputs.map((v) => acc.get(v) ?? null);
}

/** A zero cotangent of `aval`'s shape (float32). */
export function zeroCotangent(aval: Aval): Tensor {
  return zeros(aval.shape);
}
