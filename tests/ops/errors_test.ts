// Bad inputs throw at the call site, synchronously, with the right class:
// TypeError for shape and dtype problems, RangeError for axes, indices and
// values out of range. Every message names the op the user called and the
// shapes or values involved.

import { assertRejects, assertThrows } from "@std/assert";
import * as h from "../../mod.ts";
import type { DType, Key, Tensor } from "../../mod.ts";
import { testEachBackend } from "../_helpers.ts";

type ErrorClass = typeof TypeError | typeof RangeError;

interface ErrorCase {
  /** What the call does wrong; the test reads "<what> throws a <class>". */
  what: string;
  call: () => unknown;
  error: ErrorClass;
  /** A substring of the message: the op's name and the shapes or values. */
  message: string;
}

const z = (...shape: number[]) => h.zeros(shape);
const i32 = (v: number[]) => h.tensor(v, { dtype: "int32" });
const bools = (...shape: number[]) => h.full(shape, true);
const sumSq = (x: Tensor) => h.sum(h.mul(x, x));
/** Passes a value of the wrong type where the signature forbids it. */
const bad = <T>(v: unknown) => v as T;

const BINARY: [string, (x: Tensor, y: Tensor) => Tensor][] = [
  ["add", h.add],
  ["sub", h.sub],
  ["mul", h.mul],
  ["div", h.div],
  ["pow", h.pow],
  ["maximum", h.maximum],
  ["minimum", h.minimum],
  ["equal", h.equal],
  ["notEqual", h.notEqual],
  ["less", h.less],
  ["lessEqual", h.lessEqual],
  ["greater", h.greater],
  ["greaterEqual", h.greaterEqual],
];

const CASES: ErrorCase[] = [
  // --- broadcasting: every binary op, the logical ops, where, clip
  ...BINARY.map(([name, f]): ErrorCase => ({
    what: `${name} of shapes [2,3] and [4]`,
    call: () => f(z(2, 3), z(4)),
    error: TypeError,
    message: `${name}: shapes [2,3] and [4] cannot be broadcast together`,
  })),
  {
    what: "logicalAnd of shapes [2] and [3]",
    call: () => h.logicalAnd(bools(2), bools(3)),
    error: TypeError,
    message: "logicalAnd: shapes [2] and [3] cannot be broadcast together",
  },
  {
    what: "logicalOr of shapes [2,1] and [2,3,4]",
    call: () => h.logicalOr(bools(2, 1), bools(2, 3, 4)),
    error: TypeError,
    message: "logicalOr: shapes [2,1] and [2,3,4] cannot be broadcast together",
  },
  {
    what: "where with a condition [2] and a branch [3]",
    call: () => h.where(bools(2), z(3), 0),
    error: TypeError,
    message: "where: shapes [2] and [3] and [] cannot be broadcast together",
  },
  {
    what: "where with branches [2,3] and [3,2]",
    call: () => h.where(true, z(2, 3), z(3, 2)),
    error: TypeError,
    message:
      "where: shapes [] and [2,3] and [3,2] cannot be broadcast together",
  },
  {
    what: "clip of [2] between bounds of shape [3]",
    call: () => h.clip(z(2), z(3), 1),
    error: TypeError,
    message: "clip: shapes [2] and [3] and [] cannot be broadcast together",
  },
  {
    what: "broadcastTo from [2,3] to [3,3]",
    call: () => h.broadcastTo(z(2, 3), [3, 3]),
    error: TypeError,
    message: "broadcastTo: shapes [2,3] and [3,3] cannot be broadcast together",
  },
  {
    what: "broadcastTo from [2,3] to the smaller [3]",
    call: () => h.broadcastTo(z(2, 3), [3]),
    error: TypeError,
    message: "broadcastTo: cannot broadcast [2,3] to [3]",
  },
  // --- dtypes
  {
    what: "logicalAnd of a float32 tensor",
    call: () => h.logicalAnd(z(2), bools(2)),
    error: TypeError,
    message: "logicalAnd: expected a bool tensor, got float32",
  },
  {
    what: "logicalNot of an int32 tensor",
    call: () => h.logicalNot(i32([1])),
    error: TypeError,
    message: "logicalNot: expected a bool tensor, got int32",
  },
  {
    what: "where with a float32 condition",
    call: () => h.where(z(2), 1, 0),
    error: TypeError,
    message: "where: expected a bool tensor, got float32",
  },
  {
    what: "add of a string",
    call: () => h.add(z(2), bad<number>("1")),
    error: TypeError,
    message: "add: expected Tensors or numbers, got string",
  },
  {
    what: "exp of null",
    call: () => h.exp(bad<number>(null)),
    error: TypeError,
    message: "exp: expected a Tensor or a number, got null",
  },
  {
    what: "matmul of bool tensors",
    call: () => h.matmul(bools(2, 2), bools(2, 2)),
    error: TypeError,
    message: "matmul: bool operands are not supported",
  },
  {
    what: "take with float32 indices",
    call: () => h.take(z(2, 3), h.tensor([0.5])),
    error: TypeError,
    message: "take: indices must be int32, got float32",
  },
  {
    what: "oneHot of float32 indices",
    call: () => h.oneHot(h.tensor([1]), 3),
    error: TypeError,
    message: "oneHot: indices must be int32, got float32",
  },
  {
    what: "cast to the unknown dtype float64",
    call: () => h.cast(z(2), bad<DType>("float64")),
    error: TypeError,
    message: 'cast: unknown dtype "float64"',
  },
  {
    what: "tensor with the unknown dtype float16",
    call: () => h.tensor([1], { dtype: bad<DType>("float16") }),
    error: TypeError,
    message: 'tensor: unknown dtype "float16"',
  },
  {
    what: "zeros with the unknown dtype int8",
    call: () => h.zeros([2], { dtype: bad<DType>("int8") }),
    error: TypeError,
    message: 'zeros: unknown dtype "int8"',
  },
  {
    what: "crossEntropy with bool labels",
    call: () => h.crossEntropy(z(2, 3), bools(2)),
    error: TypeError,
    message: "crossEntropy: labels must be int32 or float32, got bool",
  },
  // --- matmul
  {
    what: "matmul with inner dimensions [2,3] @ [4,5]",
    call: () => h.matmul(z(2, 3), z(4, 5)),
    error: TypeError,
    message: "matmul: inner dimensions differ: [2,3] @ [4,5]",
  },
  {
    what: "matmul of vectors [3] @ [4]",
    call: () => h.matmul(z(3), z(4)),
    error: TypeError,
    message: "matmul: inner dimensions differ: [3] @ [4]",
  },
  {
    what: "matmul of a scalar",
    call: () => h.matmul(z(), z(2)),
    error: TypeError,
    message: "matmul: operands must have at least one axis, got [] @ [2]",
  },
  {
    what: "matmul of a JS number",
    call: () => h.matmul(z(2, 2), 3),
    error: TypeError,
    message: "matmul: operands must have at least one axis, got [2,2] @ []",
  },
  {
    what: "matmul with batches [2] and [3] that do not broadcast",
    call: () => h.matmul(z(2, 2, 3), z(3, 3, 4)),
    error: TypeError,
    message:
      "matmul: batch dimensions cannot be broadcast together: [2,2,3] @ [3,3,4]",
  },
  // --- reshape and transpose
  {
    what: "reshape of 6 elements to [4]",
    call: () => h.reshape(z(2, 3), [4]),
    error: TypeError,
    message: "reshape: cannot reshape [2,3] (6 elements) to [4]",
  },
  {
    what: "reshape with two -1 axes",
    call: () => h.reshape(z(2, 3), [-1, -1]),
    error: TypeError,
    message: "reshape: cannot reshape [2,3] to [-1,-1]",
  },
  {
    what: "reshape of 6 elements to [4,-1]",
    call: () => h.reshape(z(2, 3), [4, -1]),
    error: TypeError,
    message: "reshape: cannot reshape [2,3] (6 elements) to [4,-1]",
  },
  {
    what: "reshape to a negative size other than -1",
    call: () => h.reshape(z(2, 3), [-2, -3]),
    error: TypeError,
    message: "reshape: cannot reshape [2,3] to [-2,-3]",
  },
  {
    what: "transpose with a repeated axis",
    call: () => h.transpose(z(2, 3), [0, 0]),
    error: RangeError,
    message: "transpose: [0,0] is not a permutation of the 2 axes of [2,3]",
  },
  {
    what: "transpose with too few axes",
    call: () => h.transpose(z(2, 3, 4), [1, 0]),
    error: RangeError,
    message: "transpose: [1,0] is not a permutation of the 3 axes of [2,3,4]",
  },
  {
    what: "transpose with an axis out of range",
    call: () => h.transpose(z(2, 3), [0, 2]),
    error: RangeError,
    message: "transpose: [0,2] is not a permutation of the 2 axes of [2,3]",
  },
  // --- axes out of range
  ...([
    ["sum", (x: Tensor) => h.sum(x, { axis: 2 }), "axis 2"],
    ["mean", (x: Tensor) => h.mean(x, { axis: -3 }), "axis -3"],
    ["max", (x: Tensor) => h.max(x, { axis: [0, 2] }), "axis 2"],
    ["min", (x: Tensor) => h.min(x, { axis: 5 }), "axis 5"],
    ["variance", (x: Tensor) => h.variance(x, { axis: 2 }), "axis 2"],
    ["logsumexp", (x: Tensor) => h.logsumexp(x, { axis: -3 }), "axis -3"],
    ["argmax", (x: Tensor) => h.argmax(x, { axis: 2 }), "axis 2"],
    ["argmin", (x: Tensor) => h.argmin(x, { axis: -3 }), "axis -3"],
    ["softmax", (x: Tensor) => h.softmax(x, { axis: 2 }), "axis 2"],
    ["logSoftmax", (x: Tensor) => h.logSoftmax(x, { axis: -3 }), "axis -3"],
    ["layerNorm", (x: Tensor) => h.layerNorm(x, { axis: 2 }), "axis 2"],
    ["concat", (x: Tensor) => h.concat([x, x], 2), "axis 2"],
    ["squeeze", (x: Tensor) => h.squeeze(x, 2), "axis 2"],
    ["take", (x: Tensor) => h.take(x, 0, 2), "axis 2"],
    ["categorical", (x: Tensor) => h.categorical(h.key(0), x, 2), "axis 2"],
  ] as const).map(([name, f, axis]): ErrorCase => ({
    what: `${name} with ${axis} of a rank-2 tensor`,
    call: () => f(z(2, 3)),
    error: RangeError,
    message: `${name}: ${axis} is out of range for rank 2`,
  })),
  {
    what: "stack with axis 3 of rank-2 tensors (the result has rank 3)",
    call: () => h.stack([z(2, 3), z(2, 3)], 3),
    error: RangeError,
    message: "stack: axis 3 is out of range for rank 3",
  },
  {
    what: "expandDims with axis -3 of a vector",
    call: () => h.expandDims(z(2), -3),
    error: RangeError,
    message: "expandDims: axis -3 is out of range for rank 2",
  },
  {
    what: "sum with a non-integer axis",
    call: () => h.sum(z(2, 3), { axis: 0.5 }),
    error: RangeError,
    message: "sum: axis 0.5 is out of range for rank 2",
  },
  {
    what: "sum with a repeated axis",
    call: () => h.sum(z(2, 3), { axis: [0, -2] }),
    error: RangeError,
    message: "sum: repeated axis in [0,-2]",
  },
  {
    what: "sum of a scalar along axis 0",
    call: () => h.sum(z(), { axis: 0 }),
    error: RangeError,
    message: "sum: axis 0 is out of range for rank 0",
  },
  {
    what: "softmax of a scalar",
    call: () => h.softmax(3),
    error: RangeError,
    message: "softmax: axis -1 is out of range for rank 0",
  },
  {
    what: "concat of scalars",
    call: () => h.concat([z(), z()]),
    error: RangeError,
    message: "concat: axis 0 is out of range for rank 0",
  },
  {
    what: "take from a scalar",
    call: () => h.take(z(), 0),
    error: RangeError,
    message: "take: axis 0 is out of range for rank 0",
  },
  {
    what: "max over an empty axis",
    call: () => h.max(z(0, 3), { axis: 0 }),
    error: RangeError,
    message: "max: cannot reduce an empty axis 0",
  },
  {
    what: "argmax of an empty tensor",
    call: () => h.argmax(z(0)),
    error: RangeError,
    message: "argmax: cannot reduce an empty axis 0",
  },
  {
    what: "squeeze of an axis of size 2",
    call: () => h.squeeze(z(2, 3), 0),
    error: TypeError,
    message: "squeeze: axis 0 of [2,3] has size 2, not 1",
  },
  // --- slice and pad
  {
    what: "slice beginning past the end",
    call: () => h.slice(z(2, 3), [0, 4]),
    error: RangeError,
    message: "slice: bounds [0,4]..[2,3] do not fit shape [2,3]",
  },
  {
    what: "slice running past the end",
    call: () => h.slice(z(2, 3), [0, 1], [2, 3]),
    error: RangeError,
    message: "slice: bounds [0,1]..[2,4] do not fit shape [2,3]",
  },
  {
    what: "slice with a begin before the start",
    call: () => h.slice(z(2, 3), [-3]),
    error: RangeError,
    message: "slice: bounds [-1,0]..[2,3] do not fit shape [2,3]",
  },
  {
    what: "slice with more begins than axes",
    call: () => h.slice(z(2, 3), [0, 0, 0]),
    error: RangeError,
    message: "slice: begin [0,0,0] do not fit [2,3]",
  },
  {
    what: "slice with begin and size of different lengths",
    call: () => h.slice(z(2, 3), [0, 0], [1]),
    error: RangeError,
    message: "slice: begin [0,0] and size [1] do not fit [2,3]",
  },
  {
    what: "slice with a size of -2",
    call: () => h.slice(z(2, 3), [1], [-2]),
    error: RangeError,
    message: "slice: bounds [1,0]..[-1,3] do not fit shape [2,3]",
  },
  {
    what: "pad with one pair for two axes",
    call: () => h.pad(z(2, 3), [[1, 1]]),
    error: RangeError,
    message: "pad: expected 2 [before, after] pairs for [2,3], got 1",
  },
  {
    what: "pad with a negative width",
    call: () => h.pad(z(2, 3), [[1, 1], [-1, 0]]),
    error: RangeError,
    message:
      "pad: widths must be one non-negative integer pair per axis of [2,3]",
  },
  {
    what: "pad with a fractional width",
    call: () => h.pad(z(2), [[0.5, 0]]),
    error: RangeError,
    message:
      "pad: widths must be one non-negative integer pair per axis of [2]",
  },
  // --- concat and stack
  {
    what: "concat of [2,3] and [3,3] along axis 1",
    call: () => h.concat([z(2, 3), z(3, 3)], 1),
    error: TypeError,
    message: "concat: shapes [2,3], [3,3] differ outside axis 1",
  },
  {
    what: "concat of tensors of different ranks",
    call: () => h.concat([z(2, 3), z(3)]),
    error: TypeError,
    message: "concat: shapes [2,3], [3] differ outside axis 0",
  },
  {
    what: "concat of nothing",
    call: () => h.concat([]),
    error: TypeError,
    message: "concat: needs at least one tensor",
  },
  {
    what: "stack of [2] and [3]",
    call: () => h.stack([z(2), z(3)]),
    error: TypeError,
    message: "stack: shapes differ: [2], [3]",
  },
  {
    what: "stack of nothing",
    call: () => h.stack([]),
    error: TypeError,
    message: "stack: needs at least one tensor",
  },
  // --- oneHot
  {
    what: "oneHot with depth 0",
    call: () => h.oneHot(i32([1]), 0),
    error: RangeError,
    message: "oneHot: depth must be a positive integer, got 0",
  },
  {
    what: "oneHot with depth 2.5",
    call: () => h.oneHot(i32([1]), 2.5),
    error: RangeError,
    message: "oneHot: depth must be a positive integer, got 2.5",
  },
  // --- tensor() and the constructors
  {
    what: "tensor of a ragged array",
    call: () => h.tensor([[1, 2], [3]]),
    error: TypeError,
    message:
      "tensor: ragged nested array: values[0] has shape [2] but values[1] has [1]",
  },
  {
    what: "tensor of an array ragged in depth",
    call: () => h.tensor(bad<number[][]>([[1, [2]]])),
    error: TypeError,
    message:
      "tensor: ragged nested array: values[0][0] has shape [] but values[0][1] has [1]",
  },
  {
    what: "tensor of a string",
    call: () => h.tensor(bad<number[]>(["a"])),
    error: TypeError,
    message: "tensor: expected numbers or booleans, got string",
  },
  {
    what: "tensor of null",
    call: () => h.tensor(bad<number[]>([1, null])),
    error: TypeError,
    message: "tensor: expected numbers or booleans, got null",
  },
  {
    what: "tensor of 3 values with shape [2,2]",
    call: () => h.tensor([1, 2, 3], { shape: [2, 2] }),
    error: TypeError,
    message: "tensor: 3 values do not fill shape [2,2]",
  },
  {
    what: "tensor of a 4-element typed array with shape [3]",
    call: () => h.tensor(new Float32Array(4), { shape: [3] }),
    error: TypeError,
    message: "tensor: 4 values do not fill shape [3]",
  },
  {
    what: "tensor with a negative dimension in its shape",
    call: () => h.tensor(new Float32Array(2), { shape: [-1, -2] }),
    error: TypeError,
    message: "tensor: invalid shape [-1,-2]",
  },
  {
    what: "zeros with a negative dimension",
    call: () => h.zeros([2, -1]),
    error: TypeError,
    message: "zeros: invalid shape [2,-1]",
  },
  {
    what: "ones with a fractional dimension",
    call: () => h.ones([1.5]),
    error: TypeError,
    message: "ones: invalid shape [1.5]",
  },
  {
    what: "full with a negative dimension",
    call: () => h.full([-3], 1),
    error: TypeError,
    message: "full: invalid shape [-3]",
  },
  {
    what: "eye of a negative size",
    call: () => h.eye(-1),
    error: TypeError,
    message: "eye: invalid shape [-1,-1]",
  },
  {
    what: "arange with step 0",
    call: () => h.arange(0, 5, 0),
    error: RangeError,
    message:
      "arange: start, stop and step must be finite and step non-zero, got 0, 5, 0",
  },
  {
    what: "arange to Infinity",
    call: () => h.arange(0, Infinity),
    error: RangeError,
    message:
      "arange: start, stop and step must be finite and step non-zero, got 0, Infinity, 1",
  },
  {
    what: "linspace with num -1",
    call: () => h.linspace(0, 1, -1),
    error: RangeError,
    message: "linspace: num must be a non-negative integer, got -1",
  },
  {
    what: "linspace with num 2.5",
    call: () => h.linspace(0, 1, 2.5),
    error: RangeError,
    message: "linspace: num must be a non-negative integer, got 2.5",
  },
  // --- nn
  {
    what: "crossEntropy with labels [3] for logits [2,3]",
    call: () => h.crossEntropy(z(2, 3), i32([1, 2, 0])),
    error: TypeError,
    message:
      "crossEntropy: labels [3] must have the shape of logits [2,3] without the class axis",
  },
  {
    what: "crossEntropy with probability targets [2,4] for logits [2,3]",
    call: () => h.crossEntropy(z(2, 3), z(2, 4)),
    error: TypeError,
    message: "crossEntropy: probability targets [2,4] must match logits [2,3]",
  },
  {
    what: "crossEntropy of scalar logits",
    call: () => h.crossEntropy(z(), i32([0])),
    error: TypeError,
    message: "crossEntropy: logits need a class axis, got a scalar",
  },
  {
    what: "crossEntropy with the unknown reduction avg",
    call: () =>
      h.crossEntropy(z(2, 3), i32([1, 2]), { reduction: bad<"mean">("avg") }),
    error: RangeError,
    message: 'crossEntropy: unknown reduction "avg"',
  },
  {
    what: "crossEntropy with labelSmoothing 1.5",
    call: () => h.crossEntropy(z(2, 3), i32([1, 2]), { labelSmoothing: 1.5 }),
    error: RangeError,
    message: "crossEntropy: labelSmoothing must be in [0, 1], got 1.5",
  },
  {
    what: "crossEntropy with labelSmoothing -0.1",
    call: () => h.crossEntropy(z(2, 3), i32([1, 2]), { labelSmoothing: -0.1 }),
    error: RangeError,
    message: "crossEntropy: labelSmoothing must be in [0, 1], got -0.1",
  },
  {
    what: "dropout with rate 1",
    call: () => h.dropout(z(2), { rate: 1, key: h.key(0) }),
    error: RangeError,
    message: "dropout: rate must be in [0, 1), got 1",
  },
  {
    what: "dropout with rate -0.5",
    call: () => h.dropout(z(2), { rate: -0.5, key: h.key(0) }),
    error: RangeError,
    message: "dropout: rate must be in [0, 1), got -0.5",
  },
  {
    what: "dropout with rate NaN",
    call: () => h.dropout(z(2), { rate: NaN, key: h.key(0) }),
    error: RangeError,
    message: "dropout: rate must be in [0, 1), got NaN",
  },
  {
    what: "layerNorm with a negative eps",
    call: () => h.layerNorm(z(2, 3), { eps: -1 }),
    error: RangeError,
    message: "layerNorm: eps must be non-negative, got -1",
  },
  {
    what: "layerNorm with a scale of the wrong shape",
    call: () => h.layerNorm(z(2, 3), { scale: z(4) }),
    error: TypeError,
    message:
      "layerNorm (scale): shapes [2,3] and [4] cannot be broadcast together",
  },
  {
    what: "layerNorm with an offset of the wrong shape",
    call: () => h.layerNorm(z(2, 3), { offset: z(2) }),
    error: TypeError,
    message:
      "layerNorm (offset): shapes [2,3] and [2] cannot be broadcast together",
  },
  // --- transforms
  {
    what: "grad of a function with a non-scalar output",
    call: () => h.grad((x: Tensor) => h.mul(x, 2))(z(2)),
    error: TypeError,
    message:
      "grad: the function must return a scalar float32 tensor, got float32[2]",
  },
  {
    what: "grad of a function with an int32 output",
    call: () => h.grad((x: Tensor) => h.cast(h.sum(x), "int32"))(z(2)),
    error: TypeError,
    message:
      "grad: the output must be float32 to be differentiated, got int32[]",
  },
  {
    what: "grad with argnums 1 for a function of one argument",
    call: () => h.grad(sumSq, { argnums: 1 })(z(2)),
    error: RangeError,
    message: "grad: argnums 1 is out of range for 1 argument(s)",
  },
  {
    what: "grad with argnums -1",
    call: () => h.grad(sumSq, { argnums: -1 })(z(2)),
    error: RangeError,
    message: "grad: argnums -1 is out of range for 1 argument(s)",
  },
  {
    what: "valueAndGrad with argnums [0, 2] for two arguments",
    call: () =>
      h.valueAndGrad((x: Tensor, y: Tensor) => h.sum(h.mul(x, y)), {
        argnums: [0, 2],
      })(z(2), z(2)),
    error: RangeError,
    message: "valueAndGrad: argnums 2 is out of range for 2 argument(s)",
  },
  {
    what: "grad with respect to an int32 input",
    call: () => h.grad((x: Tensor) => h.sum(h.cast(x, "float32")))(i32([1, 2])),
    error: TypeError,
    message:
      "grad: input leaf 0 must be float32 to be differentiated, got int32[2]",
  },
  {
    what: "grad of something that is not a function",
    call: () => h.grad(bad<(x: Tensor) => Tensor>(3)),
    error: TypeError,
    message: "grad: expected a function, got number",
  },
  {
    what: "grad with hasAux of a function that returns no pair",
    call: () => h.grad(sumSq, { hasAux: true })(z(2)),
    error: TypeError,
    message: "grad: with hasAux the function must return [output, aux]",
  },
  {
    what: "grad of a function with a matmul shape error inside",
    call: () => h.grad((x: Tensor) => h.sum(h.matmul(x, z(4, 5))))(z(2, 3)),
    error: TypeError,
    message: "matmul: inner dimensions differ: [2,3] @ [4,5]",
  },
  {
    what: "jvp with tangents of another structure",
    call: () => h.jvp(sumSq, [z(2)], bad<[Tensor]>([[z(2)]])),
    error: TypeError,
    message: "jvp: primals and tangents have different structures",
  },
  {
    what: "jvp with a tangent [3] for a primal [2]",
    call: () => h.jvp(sumSq, [z(2)], [z(3)]),
    error: TypeError,
    message: "jvp: tangent [3] does not match primal [2]",
  },
  {
    what: "a vjp cotangent [3] for an output [2]",
    call: () => h.vjp((x: Tensor) => h.mul(x, 2), z(2))[1](z(3)),
    error: TypeError,
    message: "vjp: cotangent [3] does not match output [2]",
  },
  {
    what: "a vjp cotangent of another structure",
    call: () =>
      h.vjp((x: Tensor) => h.mul(x, 2), z(2))[1](bad<Tensor>([z(2), z(2)])),
    error: TypeError,
    message: "vjp: the cotangent does not match the output's structure",
  },
  {
    what: "jacfwd with argnums 1 for a function of one argument",
    call: () => h.jacfwd(sumSq, { argnums: 1 })(z(2)),
    error: RangeError,
    message: "jacfwd: argnums 1 is out of range for 1 argument(s)",
  },
  {
    what: "jacrev with argnums -1",
    call: () => h.jacrev(sumSq, { argnums: -1 })(z(2)),
    error: RangeError,
    message: "jacrev: argnums -1 is out of range for 1 argument(s)",
  },
  {
    what: "jacfwd with the misspelt option argnum",
    call: () => h.jacfwd(sumSq, bad({ argnum: 1 })),
    error: TypeError,
    message: 'jacfwd: unknown option "argnum" (known: argnums)',
  },
  {
    what: "grad with the misspelt option argnum",
    call: () => h.grad(sumSq, bad({ argnum: 1 })),
    error: TypeError,
    message: 'grad: unknown option "argnum" (known: argnums, hasAux)',
  },
  {
    what: "hessian with an unknown option",
    call: () => h.hessian(sumSq, bad({ hasAux: true })),
    error: TypeError,
    message: 'hessian: unknown option "hasAux" (known: argnums)',
  },
  {
    what: "a linearize tangent [] for a primal [3]",
    call: () => h.linearize((x: Tensor) => h.mul(x, 2), z(3))[1](z()),
    error: TypeError,
    message: "linearize: tangent [] does not match primal [3]",
  },
  {
    what: "an int32 linearize tangent for a float32 primal",
    call: () =>
      h.linearize((x: Tensor) => h.mul(x, 2), z(3))[1](
        h.zeros([3], { dtype: "int32" }),
      ),
    error: TypeError,
    message: "linearize: tangent is int32[3], but the primal is float32",
  },
  {
    what: "grad of a function with a vector output",
    call: () => h.grad((x: Tensor) => h.mul(x, 2))(z(3)),
    error: TypeError,
    message: "or use jacrev",
  },
  // --- random
  {
    what: "key with a non-integer seed",
    call: () => h.key(1.5),
    error: RangeError,
    message: "key: seed must be a safe integer, got 1.5",
  },
  {
    what: "key with an unsafe integer seed",
    call: () => h.key(2 ** 53),
    error: RangeError,
    message: "key: seed must be a safe integer, got 9007199254740992",
  },
  {
    what: "split into 0 keys",
    call: () => h.split(h.key(0), 0),
    error: RangeError,
    message: "split: num must be a positive integer, got 0",
  },
  {
    what: "split into 1.5 keys",
    call: () => h.split(h.key(0), 1.5),
    error: RangeError,
    message: "split: num must be a positive integer, got 1.5",
  },
  {
    what: "split of something that is not a key",
    call: () => h.split(bad<Key>({ words: [0, 0] })),
    error: TypeError,
    message: "split: expected a Key",
  },
  {
    what: "foldIn with fractional data",
    call: () => h.foldIn(h.key(0), 0.5),
    error: RangeError,
    message: "foldIn: data must be an integer, got 0.5",
  },
  {
    what: "uniform with max not above min",
    call: () => h.uniform(h.key(0), [2], { min: 1, max: 1 }),
    error: RangeError,
    message: "uniform: max (1) must exceed min (1)",
  },
  {
    what: "uniform with a negative dimension",
    call: () => h.uniform(h.key(0), [-1]),
    error: TypeError,
    message: "uniform: invalid shape [-1]",
  },
  {
    what: "normal without a key",
    call: () => h.normal(bad<Key>(undefined), [2]),
    error: TypeError,
    message: "normal: expected a Key",
  },
  {
    what: "permutation of -1 elements",
    call: () => h.permutation(h.key(0), -1),
    error: RangeError,
    message: "permutation: n must be a non-negative integer, got -1",
  },
  {
    what: "categorical of scalar logits",
    call: () => h.categorical(h.key(0), 1),
    error: TypeError,
    message: "categorical: logits must have at least one axis, got []",
  },
  // --- einsum
  {
    what: "einsum with two subscripts for one operand",
    call: () => h.einsum("ij,jk->ik", z(2, 3)),
    error: TypeError,
    message: "einsum: 2 operand subscripts but 1 operands",
  },
  {
    what: "einsum with subscripts of rank 3 for a rank-2 operand",
    call: () => h.einsum("ijk->i", z(2, 3)),
    error: TypeError,
    message: 'einsum: subscripts "ijk" name 3 axes but the operand has rank 2',
  },
  {
    what: "einsum with an output index in no operand",
    call: () => h.einsum("ij->ik", z(2, 3)),
    error: TypeError,
    message: 'einsum: output index "k" is not in any operand',
  },
  {
    what: "einsum with index sizes 3 and 4 for one letter",
    call: () => h.einsum("ij,jk->ik", z(2, 3), z(4, 5)),
    error: TypeError,
    message: 'einsum: index "j" has sizes 3 and 4',
  },
  {
    what: "einsum with a repeated output index",
    call: () => h.einsum("ij->ii", z(2, 2)),
    error: TypeError,
    message: 'einsum: repeated output index in "ii"',
  },
  {
    what: "einsum of a diagonal",
    call: () => h.einsum("ii->", z(2, 2)),
    error: TypeError,
    message: 'einsum: repeated index in "ii" (diagonals) is not supported',
  },
  {
    what: "einsum with a digit in its subscripts",
    call: () => h.einsum("i1->i", z(2, 3)),
    error: TypeError,
    message: 'einsum: invalid subscripts "i1"',
  },
  {
    what: "einsum with two arrows",
    call: () => h.einsum("ij->ji->ij", z(2, 3)),
    error: TypeError,
    message: 'einsum: invalid subscripts "ij->ji->ij"',
  },
  {
    what: "einsum with more named axes than an ellipsis operand has",
    call: () => h.einsum("...ijk->k", z(2, 3)),
    error: TypeError,
    message: 'einsum: subscripts "...ijk" do not fit an operand of rank 2',
  },
];

for (const c of CASES) {
  const article = c.error === TypeError ? "a TypeError" : "a RangeError";
  testEachBackend(`${c.what} throws ${article} naming the op`, () => {
    assertThrows(c.call, c.error, c.message);
  });
}

Deno.test("the error table has a case for well over 60 distinct bad inputs", () => {
  const names = new Set(CASES.map((c) => c.what));
  if (names.size !== CASES.length || CASES.length < 60) {
    throw new Error(`${CASES.length} cases, ${names.size} distinct`);
  }
});

testEachBackend(
  "Tensor.item of a tensor with two elements rejects with a TypeError",
  async () => {
    await assertRejects(
      () => h.zeros([2]).item(),
      TypeError,
      "Tensor.item: expected one element, got shape [2]",
    );
  },
);

testEachBackend(
  "reading a traced value inside grad rejects with a TypeError",
  async () => {
    let read: Promise<unknown> = Promise.resolve();
    h.grad((x: Tensor) => {
      read = x.data();
      return h.sum(x);
    })(z(2));
    await assertRejects(
      () => read,
      TypeError,
      "Tensor.data: cannot read a traced value (float32[2])",
    );
  },
);
