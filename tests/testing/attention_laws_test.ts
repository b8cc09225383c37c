// checkAttentionLaws: it passes good specs, and each law catches the kind of
// broken spec it exists for, with the smallest counterexample in the message.

import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  causal,
  dot,
  normaliser,
  type NormaliserLaws,
  scaledDot,
  softmaxNormaliser,
  type Spec,
} from "../../attention/mod.ts";
import {
  abs,
  add,
  arange,
  backends,
  customJvp,
  defaultBackend,
  div,
  exp,
  greater,
  log,
  mul,
  ones,
  reshape,
  sigmoid,
  softmax as opsSoftmax,
  sub,
  sum,
  type Tensor,
  where,
} from "../../ops/mod.ts";
import { checkAttentionLaws, type LawName } from "../../testing/mod.ts";

const ALL_OFF: Record<LawName, false> = {
  shapes: false,
  masking: false,
  permutation: false,
  shift: false,
  simplex: false,
  temperature: false,
  modules: false,
  multiHead: false,
  backends: false,
  grads: false,
};

/** Checks only `law` on `spec`. */
function only(law: LawName, spec: Spec) {
  return checkAttentionLaws(spec, {
    laws: { ...ALL_OFF, [law]: true },
    runs: 30,
  });
}

/** Elementwise sigmoid, honestly labelled. */
const elementwiseSigmoid = normaliser((s, m) => {
  const w = sigmoid(s);
  return m ? where(m, w, 0) : w;
}, { simplex: false, shiftInvariant: false, smooth: true });

const SMOOTH_SIMPLEX: NormaliserLaws = {
  simplex: true,
  shiftInvariant: true,
  smooth: true,
};

Deno.test("checkAttentionLaws() checks every law that applies to softmax", async () => {
  const checked = await checkAttentionLaws({
    score: scaledDot(),
    masks: [causal()],
  }, { runs: 5 });
  assertEquals(checked, [
    "shapes",
    "masking",
    "permutation",
    "shift",
    "simplex",
    "temperature",
    "modules",
    "multiHead",
    "backends",
    "grads",
  ]);
});

Deno.test("checkAttentionLaws() skips the laws a normaliser does not claim", async () => {
  const plain = normaliser((s) => sigmoid(s), {
    simplex: false,
    shiftInvariant: false,
    smooth: true,
  });
  const checked = await checkAttentionLaws({ score: dot(), normalise: plain }, {
    runs: 3,
    laws: { masking: false },
  });
  assert(
    !checked.includes("shift") && !checked.includes("simplex") &&
      !checked.includes("masking"),
  );
  assert(checked.includes("permutation") && checked.includes("grads"));
});

Deno.test("the masking law catches a normaliser that ignores the mask", async () => {
  const leaky = normaliser((s) => opsSoftmax(s), SMOOTH_SIMPLEX);
  const e = await assertRejects(() =>
    only("masking", { score: dot(), normalise: leaky })
  );
  assert(e instanceof Error);
  assert(e.message.includes('law "masking" does not hold'), e.message);
  assert(e.message.includes("Smallest counterexample"), e.message);
});

Deno.test("the masking law catches NaN in fully masked rows", async () => {
  // Softmax over where(mask, s, -inf) without the guards: 0/0 in empty rows.
  const naive = normaliser(
    (s, mask) => opsSoftmax(mask ? where(mask, s, -Infinity) : s),
    SMOOTH_SIMPLEX,
  );
  await assertRejects(
    () => only("masking", { score: dot(), normalise: naive }),
    Error,
    "masking",
  );
});

Deno.test("the permutation law catches a modifier that looks at indices, not positions", async () => {
  // Adds the key's array index: moves with the storage order, not the token.
  const byIndex: Spec = {
    score: dot(),
    mods: [(s) => add(s, reshape(arange(s.shape[s.ndim - 1]!), [1, -1]))],
  };
  const e = await assertRejects(() => only("permutation", byIndex));
  assert(e instanceof Error);
  assert(e.message.includes('law "permutation"'), e.message);
  // Shrinking finds one example, one head and a single query.
  assert(e.message.includes('"batch":1,"heads":1,"tq":1'), e.message);
});

Deno.test("the shift law catches a normaliser that falsely claims shift invariance", async () => {
  const fake = normaliser((s, mask) => {
    const w = sigmoid(s);
    return mask ? where(mask, w, 0) : w;
  }, SMOOTH_SIMPLEX);
  await assertRejects(
    () => only("shift", { score: dot(), normalise: fake }),
    Error,
    "shift",
  );
});

/** Softmax without the max subtracted: right for small scores, NaN for large. */
const unshiftedSoftmax = normaliser((s, mask) => {
  const e = mask ? where(mask, exp(s), 0) : exp(s);
  const total = sum(e, { axis: -1, keepdims: true });
  return div(e, where(greater(total, 0), total, 1));
}, SMOOTH_SIMPLEX);

Deno.test("the shift law tries large shifts, not only small ones", async () => {
  // exp(1e6) overflows: the law must catch it, with the shift in the message.
  const e = await assertRejects(() =>
    only("shift", { score: dot(), normalise: unshiftedSoftmax })
  );
  assert(e instanceof Error);
  assert(e.message.includes("after a shift by 1000000"), e.message);
});

Deno.test("the temperature law tries a tiny temperature", async () => {
  const e = await assertRejects(() =>
    only("temperature", { score: dot(), normalise: unshiftedSoftmax })
  );
  assert(e instanceof Error);
  assert(e.message.includes("at temperature 1.00000e-8"), e.message);
});

Deno.test("the simplex law catches rows that do not sum to 1", async () => {
  const fake = normaliser((s, mask) => {
    const w = sigmoid(s);
    return mask ? where(mask, w, 0) : w;
  }, SMOOTH_SIMPLEX);
  await assertRejects(
    () => only("simplex", { score: dot(), normalise: fake }),
    Error,
    "sums to",
  );
});

Deno.test("the temperature law catches weights that do not sharpen", async () => {
  // Uniform over visible keys: on the simplex, but blind to the scores.
  const uniform = normaliser((s, mask) => {
    const m = mask ? where(mask, ones(s.shape), 0) : ones(s.shape);
    const n = sum(m, { axis: -1, keepdims: true });
    return div(m, where(greater(n, 0), n, 1));
  }, SMOOTH_SIMPLEX);
  await assertRejects(
    () => only("temperature", { score: dot(), normalise: uniform }),
    Error,
    "temperature",
  );
});

Deno.test("the shapes law catches non-finite weights", async () => {
  const spec: Spec = {
    score: (q, k, ctx) => log(sub(-1, abs(dot()(q, k, ctx)))), // log(< 0) = NaN
  };
  await assertRejects(() => only("shapes", spec), Error, "shapes");
});

Deno.test("the modules and multiHead laws catch an impure score function", async () => {
  let calls = 0; // state: every other call scores differently
  const impure: Spec = {
    score: (q, k, ctx) => add(dot()(q, k, ctx), calls++ % 2),
    normalise: elementwiseSigmoid,
  };
  await assertRejects(() => only("modules", impure), Error, "modules");
  await assertRejects(() => only("multiHead", impure), Error, "multiHead");
});

Deno.test("the grads law catches a score with a wrong derivative", async () => {
  const wrong = customJvp(
    (s: Tensor) => mul(s, s),
    ([s], [ds]) => [mul(s!, s!), mul(ds!, s!)], // should be 2·s·ds
  );
  const spec: Spec = {
    score: (q, k, ctx) => wrong(dot()(q, k, ctx)),
    normalise: softmaxNormaliser(),
  };
  const e = await assertRejects(() => only("grads", spec));
  assert(e instanceof Error);
  assert(e.message.includes("∂out"), e.message);
});

Deno.test("checkAttentionLaws() passes a factory the sizes it draws", async () => {
  const seen = new Set<string>();
  await checkAttentionLaws(({ d, dv, heads }) => {
    seen.add(`${d},${dv},${heads}`);
    return { score: scaledDot() };
  }, { runs: 10, d: 3, heads: 2, laws: { ...ALL_OFF, shapes: true } });
  for (const s of seen) assert(s.startsWith("3,") && s.endsWith(",2"), s);
  assert(seen.size >= 1);
});

Deno.test({
  name: "the backends law catches a spec that computes differently per backend",
  ignore: backends().length < 2,
  fn: async () => {
    const skewed: Spec = {
      score: (q, k, ctx) =>
        add(dot()(q, k, ctx), defaultBackend() === "cpu" ? 0 : 0.5),
      normalise: elementwiseSigmoid,
    };
    await assertRejects(() => only("backends", skewed), Error, "backends");
  },
});
