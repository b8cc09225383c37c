// What attention refuses: pieces that return the wrong kind of value, and
// per-call data that does not fit the batch or that no piece of the spec
// reads. Each error names the piece or the option.

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  additive,
  alibi,
  attention,
  causal,
  concatenate,
  cosine,
  dot,
  gate,
  type MaskFn,
  mixture,
  type ModFn,
  modules,
  multiHead,
  normaliser,
  padding,
  relativePositionBias,
  type ScoreFn,
  seedRatio,
  segments,
  sigmoidNormaliser,
  softmaxNormaliser,
} from "../../attention/mod.ts";
import {
  cast,
  greater,
  key,
  mul,
  ones,
  reshape,
  softmax as opsSoftmax,
  sum,
  type Tensor,
  tensor,
} from "../../ops/mod.ts";
import { checkAttentionLaws, checkGrads } from "../../testing/mod.ts";
import { testEachBackend, values } from "../_helpers.ts";

const x = ones([2, 3, 4]); // [B, T, d]

Deno.test("a score function must return float32 scores [..., Tq, Tk]", () => {
  const int: ScoreFn = function intScore(q, k, ctx) {
    return cast(dot()(q, k, ctx), "int32");
  };
  assertThrows(
    () => attention({ score: int })(x, x, x),
    TypeError,
    "the score function intScore returned int32[2,3,3], expected a float32 tensor [..., 3, 3]",
  );
  const notTensor = (() => 1) as unknown as ScoreFn;
  assertThrows(
    () => attention({ score: notTensor })(x, x, x),
    TypeError,
    "returned number",
  );
  // Batch axes that do not belong to q and k: [3, T, T] for a batch of 2.
  const wrongBatch: ScoreFn = () => ones([3, 3, 3]);
  assertThrows(
    () => attention({ score: wrongBatch })(x, x, x),
    TypeError,
    "broadcasting to [2,3,3]",
  );
});

testEachBackend(
  "scores with fewer batch axes are broadcast to the batch of q and k",
  async () => {
    const shared: ScoreFn = () => tensor([[0, 1, 2], [0, 0, 0], [2, 1, 0]]);
    const y = ones([2, 3, 4]);
    const { weights } = attention({ score: shared })(y, y, y);
    assertEquals(weights.shape, [2, 3, 3]);
    const w = await values(weights);
    assertEquals(w.slice(0, 9), w.slice(9));
  },
);

Deno.test("a modifier must return float32 scores of the scores' shape", () => {
  const toBool: ModFn = function boolMod(s) {
    return greater(s, 0);
  };
  assertThrows(
    () => attention({ score: dot(), mods: [toBool] })(x, x, x),
    TypeError,
    "the modifier mods[0] (boolMod) returned bool[2,3,3], expected float32 scores of the scores' shape [2,3,3]",
  );
  // A modifier that grows the scores: [H=4] slopes for scores without heads.
  const grow: ModFn = (s) => mul(s, ones([5, 1, 1, 1]));
  assertThrows(
    () => attention({ score: dot(), mods: [alibi(1), grow] })(x, x, x),
    TypeError,
    "mods[1] (grow) returned float32[5,2,3,3]",
  );
  const sum0: ModFn = (s) => sum(s);
  assertThrows(
    () => attention({ score: dot(), mods: [sum0] })(x, x, x),
    TypeError,
    "mods[0] (sum0) returned float32[]",
  );
});

Deno.test("a mask must be a bool tensor broadcastable to the scores", () => {
  // 0/1 floats are not a mask: they used to be ignored.
  const floats: MaskFn = function floatMask() {
    return tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]]);
  };
  assertThrows(
    () => attention({ score: dot(), masks: [floats] })(x, x, x),
    TypeError,
    "the mask masks[0] (floatMask) returned float32[3,3], expected a bool tensor broadcastable to the scores [2,3,3]",
  );
  const wide: MaskFn = () => reshape(tensor(Array(8).fill(true)), [2, 4]);
  assertThrows(
    () => attention({ score: dot(), masks: [causal(), wide] })(x, x, x),
    TypeError,
    "masks[1] (wide) returned bool[2,4]",
  );
});

Deno.test("a normaliser must return float32 weights of the scores' shape", () => {
  const rowSums = normaliser(function rowSums(s) {
    return sum(s, { axis: -1, keepdims: true });
  }, { simplex: false, shiftInvariant: false, smooth: true });
  assertThrows(
    () => attention({ score: dot(), normalise: rowSums })(x, x, x),
    TypeError,
    "the normaliser rowSums returned float32[2,3,1], expected float32 weights of the scores' shape [2,3,3]",
  );
  const asBool = normaliser((s) => greater(s, 0), softmaxNormaliser().laws);
  assertThrows(
    () => attention({ score: dot(), normalise: asBool })(x, x, x),
    TypeError,
    "returned bool[2,3,3]",
  );
});

Deno.test("per-call data that no piece of the spec reads is an error", () => {
  const plain = attention({ score: dot() });
  const cases: [Record<string, unknown>, string][] = [
    [
      { lengths: [3, 2] },
      "opts.lengths is given, but no piece of the spec reads it (padding() reads it)",
    ],
    [{ keyMask: ones([2, 3], { dtype: "bool" }) }, "opts.keyMask is given"],
    [{ segments: ones([2, 3], { dtype: "int32" }) }, "segments() reads it"],
    [
      { qPositions: tensor([0, 1, 2], { dtype: "int32" }) },
      "opts.qPositions is given",
    ],
    [{ queryOffset: 2 }, "opts.queryOffset is given"],
    [{ key: key(0) }, "the spec has no dropout"],
  ];
  for (const [opts, message] of cases) {
    assertThrows(() => plain(x, x, x, opts), TypeError, message);
  }
  // Read by a piece: accepted.
  attention({ score: dot(), masks: [padding()] })(x, x, x, { lengths: [3, 2] });
  attention({ score: dot(), masks: [causal()] })(x, x, x, { queryOffset: 2 });
  // The dropout key outside training is fine when the spec has dropout.
  attention({ score: dot(), dropout: 0.1 })(x, x, x, { key: key(0) });
  plain(x, x, x, { training: true });
});

Deno.test("per-call data must fit the batch, and errors name the option", () => {
  const padded = attention({ score: dot(), masks: [padding()] });
  assertThrows(
    () => padded(x, x, x, { lengths: [3, 2, 1] }),
    TypeError,
    "attention: opts.lengths is for a batch of 3, but the batch has 2 (the scores [2,3,3])",
  );
  assertThrows(
    () => padded(x, x, x, { lengths: tensor([3, 2, 1], { dtype: "int32" }) }),
    TypeError,
    "opts.lengths is for a batch of 3, but the batch has 2",
  );
  assertThrows(
    () => padded(x, x, x, { lengths: tensor([3, 2]) }),
    TypeError,
    "opts.lengths must be int32 [B], got float32[2]",
  );
  assertThrows(
    () => padded(x, x, x, { lengths: [3, -1] }),
    RangeError,
    "opts.lengths must be non-negative integers, got -1 at index 1",
  );
  assertThrows(
    () => padded(x, x, x, { lengths: [3, 4] }),
    RangeError,
    "opts.lengths[1] is 4, more than the 3 keys",
  );
  assertThrows(
    () => padded(x, x, x, { keyMask: ones([2, 4], { dtype: "bool" }) }),
    TypeError,
    "opts.keyMask must be bool [B, 3], got bool[2,4]",
  );
  assertThrows(
    () => padded(x, x, x, { keyMask: ones([5, 3], { dtype: "bool" }) }),
    TypeError,
    "opts.keyMask is for a batch of 5, but the batch has 2",
  );
  assertThrows(
    () => padded(ones([3, 4]), ones([3, 4]), ones([3, 4]), { lengths: [3, 2] }),
    TypeError,
    "opts.lengths is for a batch of 2, but the scores [3,3] have no batch axis",
  );
  const seg = attention({ score: dot(), masks: [segments()] });
  assertThrows(
    () => seg(x, x, x, { segments: ones([2, 3]) }),
    TypeError,
    "opts.segments must be int32 [B, 3], got float32[2,3]",
  );
  assertThrows(
    () => seg(x, x, x, { kvSegments: ones([2, 3], { dtype: "int32" }) }),
    TypeError,
    "opts.kvSegments needs opts.segments",
  );
  const c = attention({ score: dot(), masks: [causal()] });
  assertThrows(
    () =>
      c(x, x, x, {
        qPositions: tensor([0, 1, 2], { dtype: "int32" }),
        queryOffset: 1,
      }),
    TypeError,
    "not both",
  );
  assertThrows(
    () => c(x, x, x, { training: 1 as unknown as boolean }),
    TypeError,
    "opts.training must be a boolean",
  );
  assertThrows(
    () =>
      attention({ score: dot(), dropout: 0.5 })(x, x, x, { key: 3 as never }),
    TypeError,
    "opts.key must be a PRNG Key",
  );
});

Deno.test("unknown per-call options are refused with the known ones", () => {
  const padded = attention({ score: dot(), masks: [padding()] });
  assertThrows(
    () => padded(x, x, x, { length: [3, 2] } as never),
    TypeError,
    'attention: unknown option "length" (known: lengths, keyMask',
  );
  const mha = multiHead({ score: dot(), masks: [padding()] }, {
    heads: 2,
    dModel: 4,
  });
  const p = mha.init(key(0));
  assertThrows(
    () => mha.apply(p, x, { mask: [3, 2] } as never),
    TypeError,
    'multiHead: unknown option "mask"',
  );
  assertThrows(
    () => mha.apply(p, x, { context: [1] as never }),
    TypeError,
    "multiHead: opts.context must be a tensor [..., Tk, 4]",
  );
  // multiHead passes its data on to attention, which checks it.
  const plainMha = multiHead({ score: dot() }, { heads: 2, dModel: 4 });
  assertThrows(
    () => plainMha.apply(plainMha.init(key(0)), x, { lengths: [3, 2] }),
    TypeError,
    "opts.lengths is given, but no piece",
  );
  mha.apply(p, x, { lengths: [3, 2], context: ones([2, 5, 4]) });
});

Deno.test("modules() accepts data that at least one module reads", () => {
  const padded = attention({ score: dot(), masks: [padding()] });
  const plain = attention({ score: dot() });
  const both = modules([padded, plain], concatenate());
  both(x, x, x, { lengths: [3, 2] });
  assertThrows(
    () =>
      both(x, x, x, {
        lengths: [3, 2],
        segments: ones([2, 3], { dtype: "int32" }),
      }),
    TypeError,
    "modules: opts.segments is given, but no piece",
  );
  assertThrows(
    () => modules([plain, plain], concatenate())(x, x, x, { lengths: [3, 2] }),
    TypeError,
    "modules: opts.lengths is given",
  );
  // Nested: the outer call checks what any inner module read.
  const nested = modules(
    [modules([padded], mixture([1])), plain],
    concatenate(),
  );
  nested(x, x, x, { lengths: [3, 2] });
  assertThrows(
    () =>
      modules([plain, plain], concatenate())(x, x, x, { lenghts: 1 } as never),
    TypeError,
    'modules: unknown option "lenghts"',
  );
});

Deno.test("specs and the option bags of every factory refuse unknown keys", async () => {
  const w = ones([2, 2]);
  const typos: [() => unknown, string][] = [
    [
      () => attention({ score: dot(), mask: [causal()] } as never),
      'attention: spec: unknown option "mask" (known: score, mods, masks, normalise, dropout, fused)',
    ],
    [
      () => additive({ w1: w, w2: w, v: ones([2]), bias: ones([2]) } as never),
      'additive: params: unknown option "bias"',
    ],
    [
      () => additive({ w1: w, w2: w, v: ones([2]) }, { keys: w } as never),
      'additive: unknown option "keys"',
    ],
    [
      () => cosine(1, { epsilon: 1 } as never),
      'cosine: unknown option "epsilon"',
    ],
    [
      () => seedRatio(w, { eps2: 1 } as never),
      'seedRatio: unknown option "eps2"',
    ],
    [
      () => sigmoidNormaliser({ offset: 1 } as never),
      'sigmoidNormaliser: unknown option "offset"',
    ],
    [
      () => relativePositionBias(ones([1, 8]), { maxDist: 4 } as never),
      'relativePositionBias: unknown option "maxDist"',
    ],
    [
      () =>
        multiHead({ score: dot() }, { heads: 1, dModel: 2, dhead: 2 } as never),
      'multiHead: unknown option "dhead"',
    ],
    [
      () => gate({ w, bias: ones([2]) } as never),
      'gate: params: unknown option "bias"',
    ],
  ];
  for (const [f, message] of typos) assertThrows(f, TypeError, message);
  await assertRejects(
    () => checkAttentionLaws({ score: dot() }, { run: 3 } as never),
    TypeError,
    'checkAttentionLaws: unknown option "run"',
  );
  await assertRejects(
    () =>
      checkAttentionLaws({ score: dot() }, {
        laws: { shift: true, grad: false } as never,
      }),
    TypeError,
    'checkAttentionLaws: laws: unknown option "grad"',
  );
  await assertRejects(
    () => checkGrads((a: Tensor) => a, [w], { step: 1 } as never),
    TypeError,
    'checkGrads: unknown option "step"',
  );
});

Deno.test("a spec's pieces must be functions, and normalise a normaliser", () => {
  // The softmax op is not a normaliser: it has no laws and ignores the mask.
  assertThrows(
    () => attention({ score: dot(), normalise: opsSoftmax as never }),
    TypeError,
    "spec.normalise must be a normaliser (softmaxNormaliser()",
  );
  assertThrows(
    () => attention({ score: dot(), masks: causal() as never }),
    TypeError,
    "spec.masks must be a list of functions",
  );
  assertThrows(
    () => attention({ score: dot(), mods: [1] as never }),
    TypeError,
    "spec.mods must be a list of functions",
  );
});
