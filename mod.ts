/**
 * heed: a purely functional TypeScript library for programmable attention.
 * Immutable tensors, forward- and reverse-mode differentiation as JAX-style
 * transforms, attention as composable higher-order functions, and Arquero
 * data pipelines.
 *
 * This entry point re-exports the tensor core (`@heed/heed/ops`).
 *
 * @example
 * ```ts
 * import { grad, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const cube = (x: Tensor) => mul(mul(x, x), x);
 * assertEquals(await grad(grad(cube))(tensor(2)).item(), 12);
 * ```
 *
 * @module
 */

export * from "./ops/mod.ts";
