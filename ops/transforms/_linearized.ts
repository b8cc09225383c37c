/**
 * The engine under reverse mode and the Jacobians: run a function under JVP
 * plus partial evaluation (`linearizeFlat`) to get its outputs and its
 * tangent map as a linear program, then evaluate that program forward or
 * transpose it. Private to `ops/transforms/`.
 *
 * @module
 */

import type { Aval } from "../dtype.ts";
import { type MainTrace, withMain } from "../core.ts";
import type { Tensor } from "../tensor.ts";
import { JvpTrace, JvpTracer } from "../jvp.ts";
import {
  type LinearProgram,
  LinearTrace,
  type LinearTracer,
} from "../linearize.ts";
import { transposeLinear } from "../transpose.ts";
import {
  type Leaf,
  type TreeDef,
  treeDefEqual,
  treeFlatten,
  treeMap,
  treeUnflatten,
} from "../pytree.ts";
import { zerosFor } from "../_convert.ts";
import { checkFn, checkTangent, flatArgs, loose, toTensor } from "./_common.ts";
import type { AnyFn } from "./types.ts";

/** Splits traced outputs of level `main` into primals and tangents (`null` = zero). */
export function unpackOutputs(
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

/** What `linearizeFlat` records: primal outputs, aux, and the linear program. */
export interface Linearized {
  /** Structure of the output. */
  readonly outDef: TreeDef;
  /** The output leaves' values. */
  readonly primalsOut: Tensor[];
  /** The aux value (with `hasAux`), free of this level's tracers. */
  readonly aux: unknown;
  /** The tangent map, from input leaves to output leaves. */
  readonly program: LinearProgram;
  /** Shape and dtype of each input leaf. */
  readonly inAvals: Aval[];
  /** The input leaves (their zero cotangents live on their backends). */
  readonly inputs: readonly Tensor[];
}

/**
 * Runs `f` on flat float leaves under JVP + partial evaluation, recording the
 * tangent map as a linear program. With `hasAux`, `f` returns `[out, aux]`
 * and only `out` is differentiated.
 */
export function linearizeFlat(
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
        aux = treeMap(
          (a) => (a instanceof JvpTracer && a.main === jmain ? a.primal : a),
          aux,
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
        inputs: leaves,
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

/** Linearizes `f` at positional pytree arguments `primals` (all differentiated). */
export function linearizeArgs(
  op: string,
  f: AnyFn,
  primals: readonly unknown[],
): { lin: Linearized; inDef: TreeDef; leaves: Tensor[] } {
  checkFn(op, f);
  const [leaves, inDef] = flatArgs(op, primals);
  const lin = linearizeFlat(
    op,
    (ls) => loose(f)(...treeUnflatten<unknown[]>(inDef, ls)),
    leaves,
    false,
  );
  return { lin, inDef, leaves };
}

/**
 * The backward pass of `lin` for flat output cotangents (`null` = zero):
 * one cotangent per input leaf, zeros where the output does not depend on it.
 */
export function pullback(
  lin: Linearized,
  cts: readonly (Tensor | null)[],
): Tensor[] {
  return transposeLinear(lin.program, cts).map((c, i) =>
    c ?? zerosFor(lin.inputs[i]!)
  );
}

/** The backward pass of `lin` for a cotangent pytree `ct`, checked against the output. */
export function backward(op: string, lin: Linearized, ct: unknown): Tensor[] {
  const [cLeaves, cDef] = treeFlatten(ct);
  if (!treeDefEqual(cDef, lin.outDef)) {
    throw new TypeError(
      `${op}: the cotangent does not match the output's structure`,
    );
  }
  return pullback(
    lin,
    cLeaves.map((c, i) => {
      const t = toTensor(op, c);
      checkTangent(op, "cotangent", t, lin.primalsOut[i]!);
      return t;
    }),
  );
}
