/**
 * Code generation for fused kernels: one wasm function per kernel, with the
 * grid kernels' signature (`_grid.ts`), so that the grid driver can split
 * it over threads: the split loop's trip count (`_fused_plan.ts`) and one
 * pointer per operand. Shapes, strides and offsets are constants of the
 * code (they are part of the cache key), so the other loops have constant
 * trip counts and pointers advance by constant steps.
 *
 * The vector loop runs four lanes at a time: a load whose step along it is
 * one element reads a v128, a load that does not move along it is read
 * once before the loop (with every value that depends only on such loads
 * and literals: `exp(x - max)` computes `max` once per row), and other
 * loads gather four lanes. The last `extent % 4` elements run one lane at
 * a time with the same code on splatted values. Reductions keep four lanes
 * of accumulators (`_fused_reduce.ts`).
 *
 * @module
 */

import type { FusedLoopKernel } from "../fused.ts";
import { Fn } from "./_asm.ts";
import { type Emit, emitOp, type Lanes } from "./_fused_ops.ts";
import { checkStages, liveNodes } from "./_fused_check.ts";
import {
  ELEM_BYTES,
  type Level,
  outputNodes,
  type Plan,
} from "./_fused_plan.ts";
import { Accumulator, store } from "./_fused_reduce.ts";

/** The generated function and the host functions it imports, in order. */
export interface Generated {
  /** The kernel function. */
  readonly fn: Fn;
  /** Imports, in function-index order (the kernel's index follows them). */
  readonly imports: readonly string[];
}

/** Generates the function of `kernel` following `plan`. */
export function generate(kernel: FusedLoopKernel, plan: Plan): Generated {
  const nodes = kernel.nodes;
  const live = liveNodes(nodes, outputNodes(kernel));
  const stages = kernel.kind === "reduce" ? checkStages(kernel) : [];
  // The grid signature (`_grid.ts`): (count, n, mode, p0, r0, p1, r1, ...,
  // e0, e1). `count` is the split loop's trip count; each p_k is pointer
  // k at the first trip; n, mode, r_k and e are unused.
  const nPtr = plan.pointers.length;
  const f = new Fn(Array(5 + 2 * nPtr).fill("i32"), []);
  const imports: string[] = [];
  const e: Emit = {
    f,
    importIndex(name) {
      const i = imports.indexOf(name);
      return i >= 0 ? i : imports.push(name) - 1;
    },
  };
  const count = 0;
  const ptr = plan.pointers.map((_, k) => 3 + 2 * k);
  const val = nodes.map(() => f.local("v128"));

  /** p_k += mult · step_k for every pointer that moves. */
  const advance = (steps: readonly number[], mult: number) => {
    steps.forEach((s, k) => s * mult !== 0 && f.inc(ptr[k]!, s * mult));
  };
  /**
   * `trips` runs of `body` (a constant, or pushed by a callback), each
   * followed by `advance(steps, step)`.
   */
  const repeat = (
    trips: number | (() => void),
    steps: readonly number[],
    step: number,
    body: () => void,
  ) => {
    if (trips === 0) return;
    const once = () => {
      body();
      advance(steps, step);
    };
    if (trips === 1) return once();
    const c = f.local("i32");
    const to = typeof trips === "number" ? () => f.i32(trips) : trips;
    f.for(c, () => f.i32(0), to, 1, once);
  };
  /** `count >> shift & mask`, pushed. */
  const part = (shift: number, mask: number) => () => {
    f.get(count);
    if (shift) f.i32(shift).op("i32.shr_u");
    if (mask >= 0) f.i32(mask).op("i32.and");
  };
  // The split loop runs `count` trips and, being outermost, needs no reset.
  const loop = (lv: Level, body: () => void, split = false) => {
    if (split) return repeat(part(0, -1), lv.steps, 1, body);
    repeat(lv.extent, lv.steps, 1, body);
    advance(lv.steps, -lv.extent);
  };
  const nest = (lvs: readonly Level[], body: () => void, split = false) => {
    const go = (d: number): void =>
      d === lvs.length
        ? body()
        : loop(lvs[d]!, () => go(d + 1), split && d === 0);
    go(0);
  };
  /** Vector steps of 4 lanes then single lanes over the vector loop. */
  const vectorLoop = (body: (lanes: Lanes) => void) => {
    const v = plan.vector;
    if (plan.split === "vector") {
      repeat(part(2, -1), v.steps, 4, () => body(4));
      repeat(part(0, 3), v.steps, 1, () => body(1));
      return;
    }
    repeat(Math.floor(v.extent / 4), v.steps, 4, () => body(4));
    repeat(v.extent % 4, v.steps, 1, () => body(1));
    advance(v.steps, -v.extent);
  };

  /** Pushes `p + off` for a memory access, returning its memarg offset. */
  const addr = (p: number, off: number): number => {
    f.get(p);
    if (off < 0) f.i32(off).op("i32.add");
    return Math.max(off, 0);
  };
  /** A load; `group` g reads the lanes 4g..4g+3 further along the vector axis. */
  const load = (i: number, lanes: Lanes, group: number) => {
    const node = nodes[i]!;
    const k = plan.loadPointer.get(i)!, p = ptr[k]!;
    const b = ELEM_BYTES[node.dtype], step = plan.vector.steps[k]!;
    const base = 4 * group * step;
    const one = (off: number) =>
      b === 4
        ? f.mem("v128.load32_splat", addr(p, off))
        : f.mem("i32.load8_u", addr(p, off)).simd("i32x4.splat");
    if (lanes === 1 || step === 0) return one(base);
    if (step === b) {
      if (b === 4) return f.get(p).mem("v128.load", base);
      f.get(p).mem("v128.load32_zero", base)
        .simd("i16x8.extend_low_i8x16_u").simd("i32x4.extend_low_i16x8_u");
      return;
    }
    // A gather: lane j reads p + base + j·step.
    const t = f.local("v128");
    one(base);
    f.set(t);
    for (let lane = 1; lane < 4; lane++) {
      const off = base + lane * step;
      if (b === 4) {
        const m = addr(p, off);
        f.get(t).loadLane(lane, m).set(t);
      } else {
        f.get(t);
        f.mem("i32.load8_u", addr(p, off)).simd("i32x4.replace_lane", lane)
          .set(t);
      }
    }
    f.get(t);
  };
  const evalNode = (i: number, lanes: Lanes, group = 0) => {
    const node = nodes[i]!;
    if (node.kind === "literal") {
      const v = node.value;
      if (node.dtype === "float32") f.f32x4(v);
      else f.i32x4(node.dtype === "int32" ? v | 0 : v & 0xff);
    } else if (node.kind === "load" || node.kind === "reduced") {
      load(i, lanes, group);
    } else {
      const args = node.args.map((a) => ({
        local: val[a]!,
        dtype: nodes[a]!.dtype,
      }));
      emitOp(e, node.prim, args, node.dtype, lanes);
    }
    f.set(val[i]!);
  };

  // Literals once at entry; in elementwise and rows nests, values that do
  // not move along the vector loop once before it; the rest in the body.
  const hoist = plan.mode !== "cols";
  const invariant = nodes.map(() => false);
  nodes.forEach((n, i) => {
    invariant[i] = n.kind === "literal" ||
      (hoist && (n.kind === "load" || n.kind === "reduced") &&
        plan.vector.steps[plan.loadPointer.get(i)!] === 0) ||
      (hoist && n.kind === "op" && n.args.every((a) => invariant[a]));
  });
  const order = nodes.map((_, i) => i).filter((i) => live[i]);
  const literals = order.filter((i) => nodes[i]!.kind === "literal");
  const before = order.filter((i) =>
    invariant[i] && nodes[i]!.kind !== "literal"
  );
  const body = order.filter((i) => !invariant[i]);
  for (const i of literals) evalNode(i, 1);
  // Each reduction (and the epilogue) evaluates only the nodes it needs.
  const within = (need: readonly boolean[] | null, list: readonly number[]) =>
    need ? list.filter((i) => need[i]) : list;
  const hoisted = (need: readonly boolean[] | null = null) =>
    within(need, before).forEach((i) => evalNode(i, 1));
  const compute = (
    lanes: Lanes,
    group = 0,
    need: readonly boolean[] | null = null,
  ) => within(need, body).forEach((i) => evalNode(i, lanes, group));
  const epilogueAll = (lanes: Lanes, group: number, need: readonly boolean[]) =>
    within(need, order).forEach((i) =>
      nodes[i]!.kind !== "literal" && evalNode(i, lanes, group)
    );

  const outerSplit = plan.split === "outer";
  if (kernel.kind === "elementwise") {
    nest(plan.outer, () => {
      hoisted();
      vectorLoop((lanes) => {
        compute(lanes);
        kernel.outputs.forEach((n, k) => {
          store(f, ptr[k]!, val[n]!, nodes[n]!.dtype, lanes);
        });
      });
    }, outerSplit);
    return { fn: f, imports };
  }
  const epi = kernel.epilogue ?? [];
  const epiNeed = liveNodes(nodes, epi.map((e) => e.node));
  const nRed = stages.length;
  if (plan.mode === "rows") {
    // Two accumulators take alternate vectors (eight lanes a step), so
    // that each waits on its own chain of max or add.
    const accs = stages.map((r) =>
      [0, 1].map(() => new Accumulator(f, r.op, nodes[r.value]!.dtype))
    );
    const v = plan.vector;
    nest(plan.outer, () => {
      stages.forEach((r, j) => {
        const [acc, acc2] = accs[j]! as [Accumulator, Accumulator];
        const need = r.need;
        const step = (lanes: Lanes, g: number) => {
          compute(lanes, g, need);
          (g === 0 ? acc : acc2).add(val[r.value]!, lanes, true);
        };
        acc.init();
        acc2.init();
        nest(plan.reduced, () => {
          hoisted(need);
          repeat(Math.floor(v.extent / 8), v.steps, 8, () => {
            step(4, 0);
            step(4, 1);
          });
          repeat(Math.floor(v.extent / 4) % 2, v.steps, 4, () => step(4, 0));
          repeat(v.extent % 4, v.steps, 1, () => step(1, 0));
          advance(v.steps, -v.extent);
        });
        acc.merge(acc2);
        acc.storeRow(ptr[j]!);
      });
      if (epi.length === 0) return;
      epilogueAll(1, 0, epiNeed);
      epi.forEach((e, k) => {
        store(f, ptr[nRed + k]!, val[e.node]!, nodes[e.node]!.dtype, 1);
      });
    }, outerSplit);
    return { fn: f, imports };
  }
  // cols: blocks of 16 outputs (four independent accumulators, a cache
  // line of float32), then blocks of 4, then single outputs; each
  // reduction in turn over the block, then the epilogue.
  const accs = stages.map((r) =>
    [0, 1, 2, 3].map(() => new Accumulator(f, r.op, nodes[r.value]!.dtype))
  );
  const v = plan.vector;
  const block = (lanes: Lanes, groups: number) => {
    stages.forEach((r, j) => {
      for (let g = 0; g < groups; g++) accs[j]![g]!.init();
      nest(plan.reduced, () => {
        for (let g = 0; g < groups; g++) {
          compute(lanes, g, r.need);
          accs[j]![g]!.add(val[r.value]!, lanes, false);
        }
      });
      for (let g = 0; g < groups; g++) {
        accs[j]![g]!.storeLanes(ptr[j]!, lanes, 4 * g * v.steps[j]!);
      }
    });
    for (let g = 0; g < groups && epi.length > 0; g++) {
      epilogueAll(lanes, g, epiNeed);
      epi.forEach((e, k) => {
        const o = nRed + k;
        store(
          f,
          ptr[o]!,
          val[e.node]!,
          nodes[e.node]!.dtype,
          lanes,
          4 * g * v.steps[o]!,
        );
      });
    }
  };
  nest(plan.outer, () => {
    if (plan.split === "vector") {
      repeat(part(4, -1), v.steps, 16, () => block(4, 4));
      repeat(part(2, 3), v.steps, 4, () => block(4, 1));
      repeat(part(0, 3), v.steps, 1, () => block(1, 1));
      return;
    }
    repeat(Math.floor(v.extent / 16), v.steps, 16, () => block(4, 4));
    repeat(Math.floor(v.extent / 4) % 4, v.steps, 4, () => block(4, 1));
    repeat(v.extent % 4, v.steps, 1, () => block(1, 1));
    advance(v.steps, -v.extent);
  }, outerSplit);
  return { fn: f, imports };
}
