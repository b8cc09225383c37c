/**
 * heed's tensor core: immutable tensors, ops built from a closed set of
 * primitives, JAX-style forward- and reverse-mode transforms over pytrees,
 * explicit PRNG keys, and the backends.
 *
 * @example
 * ```ts
 * import { grad, mul, sum, tensor, type Tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = (x: Tensor) => sum(mul(x, x));
 * assertEquals(await grad(f)(tensor([1, 2, 3])).array(), [2, 4, 6]);
 * ```
 *
 * @module
 */

export type { Aval, DType, HostArray } from "./dtype.ts";
export { broadcastShapes } from "./dtype.ts";
export { type NestedArray, Tensor } from "./tensor.ts";
export type {
  BinaryPrimitive,
  ComparePrimitive,
  CustomLinParams,
  DotGeneralParams,
  ElementwisePrimitive,
  FlashAttentionParams,
  LogicalPrimitive,
  NoParams,
  Params,
  Primitive,
  PrimitiveParams,
  UnaryPrimitive,
} from "./primitives.ts";
export {
  type AdapterInfo,
  type Backend,
  type BackendInfo,
  type BackendName,
  backends,
  defaultBackend,
  getBackend,
  info,
  init,
  initBackend,
  memory,
  type MemoryStats,
  type Operand,
  setBackend,
  type ThreadStatus,
  withBackend,
} from "./backend.ts";
export { carry, dispose, scope } from "./memory.ts";
export {
  arange,
  type DtypeOptions,
  eye,
  full,
  linspace,
  type NestedValues,
  ones,
  onesLike,
  tensor,
  type TensorInput,
  type TensorOptions,
  toBackend,
  zeros,
  zerosLike,
} from "./creation.ts";
export {
  abs,
  add,
  cast,
  clip,
  cos,
  div,
  equal,
  erf,
  exp,
  gelu,
  type GeluOptions,
  greater,
  greaterEqual,
  less,
  lessEqual,
  log,
  log1p,
  logicalAnd,
  logicalNot,
  logicalOr,
  maximum,
  minimum,
  mul,
  neg,
  notEqual,
  pow,
  relu,
  rsqrt,
  sigmoid,
  sign,
  sin,
  sqrt,
  square,
  sub,
  tanh,
  type TensorLike,
  where,
} from "./elementwise.ts";
export {
  argmax,
  argmin,
  type ArgReduceOptions,
  logsumexp,
  max,
  mean,
  min,
  type ReduceOptions,
  sum,
  variance,
} from "./reduce.ts";
export { einsum, matmul } from "./linalg.ts";
export {
  broadcastTo,
  concat,
  expandDims,
  flatten,
  gather,
  oneHot,
  pad,
  reshape,
  slice,
  squeeze,
  stack,
  take,
  transpose,
} from "./shape_ops.ts";
export {
  type AxisOptions,
  crossEntropy,
  type CrossEntropyOptions,
  dropout,
  type DropoutOptions,
  layerNorm,
  type LayerNormOptions,
  logSoftmax,
  softmax,
} from "./nn.ts";
export type {
  AnyFn,
  ArgnumsOptions,
  Args,
  Cotangent,
  GradsOf,
} from "./transforms/types.ts";
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
export { stopGradient } from "./stop_gradient.ts";
export {
  type Leaf,
  type Pytree,
  type TreeDef,
  treeFlatten,
  treeLeaves,
  treeMap,
  treeUnflatten,
} from "./pytree.ts";
export {
  bernoulli,
  categorical,
  foldIn,
  Key,
  key,
  keyFromData,
  type KeyOperand,
  keyOperand,
  type Keys,
  type KeyStep,
  type KeyTuple,
  MAX_KEY_PATH,
  normal,
  permutation,
  permutationIndices,
  split,
  uniform,
  type UniformOptions,
} from "./random.ts";
export {
  jit,
  type JitInfo,
  type JitOptions,
  type Jitted,
  type Lowered,
} from "./jit/jit.ts";
export { makeProgram, type StaticOptions } from "./jit/make_program.ts";
export type { Traced } from "./jit/trace.ts";
export type { Atom, Eqn, Literal, Program, Var } from "./jit/program.ts";
export { printPlan, printProgram } from "./jit/print.ts";
export type { EqnStep, KernelStep, Plan, Step } from "./jit/plan.ts";
export { type FuseOptions, fuseProgram } from "./jit/passes/fuse.ts";
export type {
  FusedDot,
  FusedElementwise,
  FusedEpilogue,
  FusedKernel,
  FusedLiteral,
  FusedLoad,
  FusedNode,
  FusedOp,
  FusedReduce,
  FusedReduced,
  FusedReduction,
} from "./backends/fused.ts";
export { programsEqual } from "./jit/equal.ts";
export { evalProgram } from "./jit/eval.ts";
export { eliminateDeadCode } from "./jit/passes/dce.ts";
export { eliminateCommonSubexpressions } from "./jit/passes/cse.ts";
export {
  FOLD_MAX_SIZE,
  foldConstants,
  type FoldOptions,
} from "./jit/passes/fold.ts";
export { optimizeProgram } from "./jit/passes/optimize.ts";
export { type AxisSpec, vmap, type VmapOptions } from "./transforms/vmap.ts";
export { flashAttention, flashWeights } from "./flash/attention.ts";
export {
  type FlashOptions,
  type FlashPlan,
  flashPlan,
  type FlashPlanned,
} from "./flash/plan.ts";
export type {
  FlashDot,
  FlashKernel,
  FlashMask,
  FlashMode,
  FlashNode,
  FlashNormaliser,
  FlashParams,
  FlashScore,
} from "./backends/flash.ts";
