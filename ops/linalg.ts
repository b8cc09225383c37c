/**
 * Linear algebra: batched `matmul` with broadcasting, and `einsum`. Both
 * lower to the `dot_general` primitive.
 *
 * @module
 */

import { broadcastShapes, fmtShape, sizeOf } from "./dtype.ts";
import { bind } from "./core.ts";
import type { Tensor } from "./tensor.ts";
import { asTensors, type TensorLike } from "./_convert.ts";
import { broadcastTo, reshape, transpose } from "./shape_ops.ts";
import { sum } from "./reduce.ts";

/**
 * Matrix product with NumPy semantics: 1-D operands are promoted to a
 * row/column and the added axis removed; leading (batch) axes broadcast.
 *
 * @example
 * ```ts
 * import { matmul, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const a = tensor([[1, 2], [3, 4]]);
 * assertEquals(await matmul(a, tensor([[1], [1]])).array(), [[3], [7]]);
 * ```
 */
export function matmul(a: TensorLike, b: TensorLike): Tensor {
  let [x, y] = asTensors("matmul", [a, b]) as [Tensor, Tensor];
  const shapes = `${fmtShape(x.shape)} @ ${fmtShape(y.shape)}`;
  if (x.ndim === 0 || y.ndim === 0) {
    throw new TypeError(
      `matmul: operands must have at least one axis, got ${shapes}`,
    );
  }
  if (x.dtype === "bool") {
    throw new TypeError(
      "matmul: bool operands are not supported; cast them first",
    );
  }
  const xVec = x.ndim === 1, yVec = y.ndim === 1;
  if (xVec) x = reshape(x, [1, x.shape[0]!]);
  if (yVec) y = reshape(y, [y.shape[0]!, 1]);
  const m = x.shape[x.ndim - 2]!, k = x.shape[x.ndim - 1]!;
  const k2 = y.shape[y.ndim - 2]!, n = y.shape[y.ndim - 1]!;
  if (k !== k2) {
    throw new TypeError(`matmul: inner dimensions differ: ${shapes}`);
  }
  let out: Tensor;
  let outShape: number[];
  if (y.ndim === 2) {
    // [..., M, K] @ [K, N]: fold the batch into M, no broadcast of the weight.
    const batch = x.shape.slice(0, -2);
    // Explicit rows: with k = 0 a -1 could not be inferred.
    const flat = reshape(x, [sizeOf(batch) * m, k]);
    out = bind("dot_general", [flat, y], {
      lhsContract: [1],
      rhsContract: [0],
      lhsBatch: [],
      rhsBatch: [],
    });
    outShape = [...batch, m, n];
  } else {
    const batch = matmulBatch(
      x.shape.slice(0, -2),
      y.shape.slice(0, -2),
      shapes,
    );
    const nb = batch.reduce((p, d) => p * d, 1);
    const xb = reshape(broadcastTo(x, [...batch, m, k]), [nb, m, k]);
    const yb = reshape(broadcastTo(y, [...batch, k, n]), [nb, k, n]);
    out = bind("dot_general", [xb, yb], {
      lhsContract: [2],
      rhsContract: [1],
      lhsBatch: [0],
      rhsBatch: [0],
    });
    outShape = [...batch, m, n];
  }
  if (xVec) outShape.splice(outShape.length - 2, 1);
  if (yVec) outShape.splice(outShape.length - 1, 1);
  return reshape(out, outShape);
}

/** Broadcasts matmul's batch axes; the error shows both operands' shapes. */
function matmulBatch(
  a: readonly number[],
  b: readonly number[],
  shapes: string,
): number[] {
  try {
    return broadcastShapes("matmul", a, b);
  } catch {
    throw new TypeError(
      `matmul: batch dimensions cannot be broadcast together: ${shapes}`,
    );
  }
}

/** Parses one operand's subscripts, expanding `...` to `rank` axes. */
function parseTerm(
  term: string,
  rank: number,
  ellipsis: string,
  op: string,
): string {
  if (!/^[a-zA-Z]*(\.\.\.)?[a-zA-Z]*$/.test(term)) {
    throw new TypeError(`einsum: invalid subscripts "${term}"`);
  }
  if (term.includes("...")) {
    const named = term.length - 3;
    const n = rank - named;
    if (n < 0) {
      throw new TypeError(
        `einsum: subscripts "${term}" do not fit an operand of rank ${rank}${op}`,
      );
    }
    return term.replace("...", ellipsis.slice(ellipsis.length - n));
  }
  if (term.length !== rank) {
    throw new TypeError(
      `einsum: subscripts "${term}" name ${term.length} axes but the operand has rank ${rank}`,
    );
  }
  return term;
}

/**
 * Einstein summation over one or more operands, e.g. `"bij,bjk->bik"`.
 * Supports `...`, implicit outputs and summed-out indices; a repeated index
 * within one operand (a diagonal) is not supported.
 *
 * @example
 * ```ts
 * import { einsum, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const a = tensor([[1, 2], [3, 4]]);
 * assertEquals(await einsum("ij,ij->", a, a).item(), 30);
 * assertEquals(await einsum("ij->ji", a).array(), [[1, 3], [2, 4]]);
 * ```
 */
export function einsum(subscripts: string, ...operands: TensorLike[]): Tensor {
  if (typeof subscripts !== "string") {
    throw new TypeError("einsum: subscripts must be a string");
  }
  const ts = asTensors("einsum", operands);
  const spec = subscripts.replace(/\s+/g, "");
  const parts = spec.split("->");
  if (parts.length > 2) {
    throw new TypeError(`einsum: invalid subscripts "${subscripts}"`);
  }
  const [lhs, rhs] = parts as [string, string | undefined];
  const terms = lhs.split(",");
  if (terms.length !== ts.length) {
    throw new TypeError(
      `einsum: ${terms.length} operand subscripts but ${ts.length} operands`,
    );
  }
  // Letters not used by the user stand for ellipsis axes.
  const used = new Set(spec.replace(/[^a-zA-Z]/g, ""));
  const spare = [..."ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba"]
    .filter((c) => !used.has(c)).reverse().join("");
  const maxEll = Math.max(
    0,
    ...ts.map((t, i) =>
      terms[i]!.includes("...") ? t.ndim - (terms[i]!.length - 3) : 0
    ),
  );
  const ellipsis = spare.slice(0, maxEll);
  const subs = terms.map((t, i) => parseTerm(t, ts[i]!.ndim, ellipsis, ""));
  const sizes = new Map<string, number>();
  subs.forEach((s, i) => {
    if (new Set(s).size !== s.length) {
      throw new TypeError(
        `einsum: repeated index in "${terms[i]}" (diagonals) is not supported`,
      );
    }
    [...s].forEach((c, ax) => {
      const d = ts[i]!.shape[ax]!;
      const prev = sizes.get(c);
      if (prev !== undefined && prev !== d && prev !== 1 && d !== 1) {
        throw new TypeError(`einsum: index "${c}" has sizes ${prev} and ${d}`);
      }
      // Size 1 broadcasts against any size, 0 included.
      sizes.set(c, prev === undefined || prev === 1 ? d : prev);
    });
  });
  let out: string;
  if (rhs === undefined) {
    const counts = new Map<string, number>();
    for (const s of subs) {
      for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    const once = [...counts].filter(([c, n]) =>
      n === 1 && !ellipsis.includes(c)
    ).map(([c]) => c);
    out = ellipsis.slice(ellipsis.length - maxEll) + once.sort().join("");
  } else {
    out = rhs.includes("...") ? rhs.replace("...", ellipsis) : rhs;
    for (const c of out) {
      if (!sizes.has(c)) {
        throw new TypeError(
          `einsum: output index "${c}" is not in any operand`,
        );
      }
    }
    if (new Set(out).size !== out.length) {
      throw new TypeError(`einsum: repeated output index in "${rhs}"`);
    }
  }
  // Sum out indices that only one operand has and the rest does not need.
  const needed = (i: number): Set<string> =>
    new Set([...out, ...subs.filter((_, j) => j !== i).join("")]);
  let acc = ts[0]!;
  let accSub = subs[0]!;
  const reduceUnneeded = (
    t: Tensor,
    s: string,
    keep: Set<string>,
  ): [Tensor, string] => {
    const axes = [...s].flatMap((c, i) => (keep.has(c) ? [] : [i]));
    if (axes.length === 0) return [t, s];
    return [sum(t, { axis: axes }), [...s].filter((c) => keep.has(c)).join("")];
  };
  [acc, accSub] = reduceUnneeded(acc, accSub, needed(0));
  for (let i = 1; i < ts.length; i++) {
    const later = new Set([...out, ...subs.slice(i + 1).join("")]);
    let [b, bSub] = reduceUnneeded(
      ts[i]!,
      subs[i]!,
      new Set([...later, ...accSub]),
    );
    [acc, accSub] = reduceUnneeded(acc, accSub, new Set([...later, ...bSub]));
    // Broadcast size-1 axes shared by both.
    const common = [...accSub].filter((c) => bSub.includes(c));
    const fit = (t: Tensor, s: string) =>
      broadcastTo(
        t,
        [...s].map((
          c,
          ax,
        ) => (common.includes(c) ? sizes.get(c)! : t.shape[ax]!)),
      );
    acc = fit(acc, accSub);
    b = fit(b, bSub);
    const batch = common.filter((c) => later.has(c));
    const contract = common.filter((c) => !later.has(c));
    acc = bind("dot_general", [acc, b], {
      lhsContract: contract.map((c) => accSub.indexOf(c)),
      rhsContract: contract.map((c) => bSub.indexOf(c)),
      lhsBatch: batch.map((c) => accSub.indexOf(c)),
      rhsBatch: batch.map((c) => bSub.indexOf(c)),
    });
    accSub = batch.join("") +
      [...accSub].filter((c) => !common.includes(c)).join("") +
      [...bSub].filter((c) => !common.includes(c)).join("");
  }
  [acc, accSub] = reduceUnneeded(acc, accSub, new Set(out));
  return transpose(acc, [...out].map((c) => accSub.indexOf(c)));
}
