// What every plan must satisfy, checked step by step: reads follow
// definitions, kernels are well-formed SSA with in-bounds loads, every
// equation is computed somewhere, and no work but cheap elementwise ops is
// ever computed twice.

import { assertEquals, AssertionError } from "@std/assert";
import { sizeOf } from "../../../ops/dtype.ts";
import { fusedOutputs } from "../../../ops/backends/fused.ts";
import {
  ELEMENTWISE_PRIMITIVES,
  type Primitive,
} from "../../../ops/primitives.ts";
import type { Plan } from "../../../ops/jit/plan.ts";
import type { Eqn, Var } from "../../../ops/jit/program.ts";
import { MAX_CHEAP_COPIES, MAX_COPIES } from "../../../ops/jit/passes/fuse.ts";

const ELEMENTWISE = new Set<Primitive>(ELEMENTWISE_PRIMITIVES);
const LAYOUT = new Set<Primitive>(["reshape", "transpose", "broadcast_in_dim"]);
/** Elementwise ops that cost more than a load: never copied past MAX_COPIES. */
const COSTLY = new Set<Primitive>([
  "exp",
  "log",
  "log1p",
  "sqrt",
  "rsqrt",
  "sin",
  "cos",
  "tanh",
  "logistic",
  "erf",
  "pow",
]);

function fail(msg: string): never {
  throw new AssertionError(`plan: ${msg}`);
}

/** Throws unless `plan` is a valid plan of its program. */
export function checkPlan(plan: Plan): void {
  const p = plan.program;
  const defined = new Set<Var>([...p.inputs, ...p.consts]);
  const times = new Map<Eqn, number>();
  const count = (e: Eqn) => times.set(e, (times.get(e) ?? 0) + 1);
  plan.steps.forEach((s, i) => {
    const ins = s.kind === "eqn"
      ? s.eqn.inputs.filter((a): a is Var => a.kind === "var")
      : s.inputs;
    for (const v of ins) {
      if (!defined.has(v)) fail(`step ${i} reads a variable not defined yet`);
    }
    if (s.kind === "eqn") {
      count(s.eqn);
      s.eqn.outs.forEach((v) => defined.add(v));
      return;
    }
    const k = s.kernel;
    k.nodes.forEach((n, j) => {
      if (n.kind === "op") {
        if (n.args.some((a) => !(a >= 0 && a < j))) fail(`node ${j} not SSA`);
      } else if (n.kind === "load") {
        const v = s.inputs[n.input];
        if (!v) fail(`step ${i} node ${j} loads missing input ${n.input}`);
        assertEquals(n.dtype, v.aval.dtype, `step ${i} load dtype`);
        assertEquals(n.strides.length, k.shape.length, `step ${i} strides`);
        const last = n.strides.reduce(
          (acc, st, d) => acc + st * (k.shape[d]! - 1),
          n.offset,
        );
        if (n.offset < 0 || last >= sizeOf(v.aval.shape)) {
          fail(`step ${i} node ${j} reads out of bounds`);
        }
      }
    });
    if (k.kind === "reduce") {
      const ok = k.axes.length > 0 &&
        k.axes.every((a, j) =>
          a >= 0 && a < k.shape.length &&
          (j === 0 || a > k.axes[j - 1]!)
        );
      if (!ok) fail(`step ${i} reduces axes [${k.axes}]`);
    }
    const avals = fusedOutputs(k);
    assertEquals(avals.length, s.outputs.length, `step ${i} output count`);
    s.outputs.forEach((v, j) => {
      assertEquals(avals[j], { shape: [...v.aval.shape], dtype: v.aval.dtype });
      defined.add(v);
    });
    s.eqns.forEach(count);
  });
  for (const a of p.outputs) {
    if (a.kind === "var" && !defined.has(a)) fail("an output is never defined");
  }
  p.eqns.forEach((e, i) => {
    const n = times.get(e) ?? 0;
    if (n === 0) fail(`equation ${i} (${e.prim}) is computed nowhere`);
    const limit = COSTLY.has(e.prim)
      ? MAX_COPIES
      : ELEMENTWISE.has(e.prim)
      ? MAX_CHEAP_COPIES
      : LAYOUT.has(e.prim)
      ? Infinity
      : 1;
    if (n > limit) fail(`equation ${i} (${e.prim}) is computed ${n} times`);
  });
}
