/**
 * The types the transforms share: functions, arguments, tangents and the
 * `argnums` option.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";

/** Any function a transform can take. */
export type AnyFn = (...args: never[]) => unknown;

/** The cotangent (or tangent) type of a value: number leaves become tensors. */
export type Cotangent<T> = T extends Tensor | number ? Tensor
  : T extends readonly unknown[] ? { -readonly [K in keyof T]: Cotangent<T[K]> }
  : T extends Record<string, unknown>
    ? { -readonly [K in keyof T]: Cotangent<T[K]> }
  : T;

/** Arguments of a transformed function: tensor positions also take numbers. */
export type Args<P extends readonly unknown[]> = {
  [K in keyof P]: P[K] extends Tensor ? Tensor | number : P[K];
};

/** Which positional argument(s) a transform differentiates. */
export interface ArgnumsOptions {
  /**
   * An argument index (the result has that argument's structure) or a list
   * of them (the result is a tuple, one entry per index). Default 0.
   */
  readonly argnums?: number | readonly number[];
}

/**
 * The cotangents for the arguments that options `O` select from arguments
 * `A`: `A[0]`'s by default, `A[n]`'s for `argnums: n`, a tuple for a list.
 */
export type GradsOf<A extends readonly unknown[], O> = O extends
  { argnums: infer N } ? N extends number ? Cotangent<A[N]>
  : N extends readonly number[]
    ? { -readonly [K in keyof N]: Cotangent<A[N[K] & number]> }
  : Cotangent<A[0]>
  : Cotangent<A[0]>;
