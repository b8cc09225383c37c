/**
 * Folds transposes into the `dot_general`s that read them: a transposed
 * operand becomes the untransposed one, with its batch and contracted axis
 * lists renumbered, so the copy never runs (the wasm and WebGPU matmuls
 * read any operand whose axis groups merge into single strides; the CPU
 * one permutes its operands into `[batch, free, contract]` order itself,
 * to the same elements, so results stay bit-equal). A fold is made only
 * when the operand's free axes keep their order, since they order the
 * result's axes.
 *
 * @module
 */

import type { DotGeneralParams, Params } from "../../primitives.ts";
import { type Eqn, eqn, type Program, program, type Var } from "../program.ts";
import { eliminateDeadCode } from "./dce.ts";

/** `x`'s source and the source axis of each of `x`'s axes, through transposes. */
function throughTransposes(
  x: Var,
  producer: ReadonlyMap<Var, Eqn>,
): { src: Var; axis: number[] } {
  let src = x, axis = [...x.aval.shape.keys()];
  for (;;) {
    const e = producer.get(src);
    const s = e?.inputs[0];
    if (!e || e.prim !== "transpose" || !s || s.kind !== "var") break;
    const { perm } = e.params as Params<"transpose">;
    axis = axis.map((d) => perm[d]!);
    src = s;
  }
  return { src, axis };
}

/**
 * One operand's new axis lists, or null when its free axes would come out
 * in another order.
 */
function renumber(
  axis: readonly number[],
  batch: readonly number[],
  contract: readonly number[],
): { batch: number[]; contract: number[] } | null {
  const free = axis.filter((_, d) =>
    !batch.includes(d) && !contract.includes(d)
  );
  if (free.some((a, i) => i > 0 && a < free[i - 1]!)) return null;
  return {
    batch: batch.map((d) => axis[d]!),
    contract: contract.map((d) => axis[d]!),
  };
}

/**
 * `p` with every transpose that feeds a `dot_general` folded into its
 * dimension numbers; transposes left unused are dropped.
 *
 * @example
 * ```ts
 * import { makeProgram, matmul, tensor, transpose, type Tensor } from "@heed/heed";
 * import { foldDotTransposes } from "./dot_layout.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const f = (x: Tensor, y: Tensor) => matmul(transpose(x), y);
 * const { program } = makeProgram(f)(tensor([[1, 2]]), tensor([[3, 4]]));
 * const folded = foldDotTransposes(program);
 * assertEquals(folded.eqns.map((e) => e.prim), ["dot_general"]);
 * ```
 */
export function foldDotTransposes(p: Program): Program {
  const producer = new Map<Var, Eqn>();
  for (const e of p.eqns) for (const v of e.outs) producer.set(v, e);
  let changed = false;
  const eqns = p.eqns.map((e) => {
    const [x, y] = e.inputs;
    if (e.prim !== "dot_general" || x?.kind !== "var" || y?.kind !== "var") {
      return e;
    }
    const d = e.params as DotGeneralParams;
    const l = throughTransposes(x, producer);
    const r = throughTransposes(y, producer);
    const ln = l.src === x ? null : renumber(l.axis, d.lhsBatch, d.lhsContract);
    const rn = r.src === y ? null : renumber(r.axis, d.rhsBatch, d.rhsContract);
    if (!ln && !rn) return e;
    changed = true;
    const params: DotGeneralParams = {
      ...d,
      lhsBatch: ln?.batch ?? d.lhsBatch,
      lhsContract: ln?.contract ?? d.lhsContract,
      rhsBatch: rn?.batch ?? d.rhsBatch,
      rhsContract: rn?.contract ?? d.rhsContract,
    };
    return eqn("dot_general", params, [ln ? l.src : x, rn ? r.src : y], e.outs);
  });
  return changed ? eliminateDeadCode(program({ ...p, eqns })) : p;
}
