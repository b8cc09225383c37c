/**
 * The differentiation transforms, one file per family under
 * `ops/transforms/`: forward mode (`jvp`, `linearize`), reverse mode
 * (`vjp`), gradients (`grad`, `valueAndGrad`), Jacobians (`jacfwd`,
 * `jacrev`, `hessian`) and custom rules (`customJvp`, `customVjp`). They
 * nest to any depth: each call pushes its own tagged level.
 *
 * @module
 */

export type {
  AnyFn,
  ArgnumsOptions,
  Args,
  Cotangent,
  GradsOf,
} from "./transforms/_common.ts";
export { jvp, linearize } from "./transforms/jvp.ts";
export { vjp } from "./transforms/vjp.ts";
export {
  type AuxOf,
  grad,
  type GradOptions,
  valueAndGrad,
  type ValueOf,
} from "./transforms/grad.ts";
export {
  hessian,
  jacfwd,
  type Jacobian,
  type JacobianFn,
  type JacobianOf,
  type JacobianOptions,
  type JacobianTransform,
  jacrev,
} from "./transforms/jacobian.ts";
export { customJvp, customVjp } from "./transforms/custom.ts";
