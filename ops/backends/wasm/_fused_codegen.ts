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

import type { DType } from "../../dtype.ts";
import type { FusedKernel, FusedNode, FusedOp } from "../fused.ts";
import { Fn } from "./_asm.ts";
import { arityOf, type Emit, emitOp, type Lanes } from "./_fused_ops.ts";
import { ELEM_BYTES, type Level, type Plan } from "./_fused_plan.ts";
import { Accumulator, store } from "./_fused_reduce.ts";

/** The dtype an op node must have, given its arguments' dtypes. */
function resultDtype(node: FusedOp, args: readonly DType[]): DType {
  switch (node.prim) {
    case "eq":
    case "ne":
    case "lt":
    case "le":
    case "gt":
    case "ge":
    case "and":
    case "or":
    case "not":
      return "bool";
    case "select":
      return args[1]!;
    case "convert_element_type":
      return (node.params as { dtype: DType }).dtype;
    default:
      return args[0]!;
  }
}

/** Checks SSA order, arities and dtypes; returns the nodes `roots` need. */
function liveNodes(
  nodes: readonly FusedNode[],
  roots: readonly number[],
): boolean[] {
  nodes.forEach((n, i) => {
    if (n.kind !== "op") return;
    const want = arityOf(n.prim);
    if (n.args.length !== want) {
      throw new TypeError(
        `fused kernel: ${n.prim} (node ${i}) takes ${want} arguments, got ` +
          n.args.length,
      );
    }
    for (const a of n.args) {
      if (!Number.isInteger(a) || a < 0 || a >= i) {
        throw new RangeError(
          `fused kernel: node ${i} reads node ${a}, which is not before it`,
        );
      }
    }
    const dt = resultDtype(n, n.args.map((a) => nodes[a]!.dtype));
    if (dt !== n.dtype) {
      throw new TypeError(
        `fused kernel: ${n.prim} (node ${i}) gives ${dt}, not ${n.dtype}`,
      );
    }
  });
  const live = nodes.map(() => false);
  const stack = [...roots];
  for (const r of roots) {
    if (!Number.isInteger(r) || r < 0 || r >= nodes.length) {
      throw new RangeError(`fused kernel: no node ${r} to output`);
    }
  }
  while (stack.length) {
    const i = stack.pop()!;
    if (live[i]) continue;
    live[i] = true;
    const n = nodes[i]!;
    if (n.kind === "op") stack.push(...n.args);
  }
  return live;
}

/** The generated function and the host functions it imports, in order. */
export interface Generated {
  /** The kernel function. */
  readonly fn: Fn;
  /** Imports, in function-index order (the kernel's index follows them). */
  readonly imports: readonly string[];
}

/** Generates the function of `kernel` following `plan`. */
export function generate(kernel: FusedKernel, plan: Plan): Generated {
  const nodes = kernel.nodes;
  const roots = kernel.kind === "elementwise" ? kernel.outputs : [kernel.value];
  const live = liveNodes(nodes, roots);
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
    } else if (node.kind === "load") load(i, lanes, group);
    else {
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
      (hoist && n.kind === "load" &&
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
  const hoisted = () => before.forEach((i) => evalNode(i, 1));
  const compute = (lanes: Lanes, group = 0) =>
    body.forEach((i) => evalNode(i, lanes, group));

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
  const dtype = nodes[kernel.value]!.dtype;
  const x = val[kernel.value]!, out = ptr[0]!;
  if (plan.mode === "rows") {
    const acc = new Accumulator(f, kernel.op, dtype);
    nest(plan.outer, () => {
      acc.init();
      nest(plan.reduced, () => {
        hoisted();
        vectorLoop((lanes) => {
          compute(lanes);
          acc.add(x, lanes, true);
        });
      });
      acc.storeRow(out);
    }, outerSplit);
    return { fn: f, imports };
  }
  // cols: blocks of 16 outputs (four independent accumulators, a cache
  // line of float32), then blocks of 4, then single outputs.
  const accs = [0, 1, 2, 3].map(() => new Accumulator(f, kernel.op, dtype));
  const v = plan.vector, outStep = v.steps[0]!;
  const block = (lanes: Lanes, groups: number) => {
    for (let g = 0; g < groups; g++) accs[g]!.init();
    nest(plan.reduced, () => {
      for (let g = 0; g < groups; g++) {
        compute(lanes, g);
        accs[g]!.add(x, lanes, false);
      }
    });
    for (let g = 0; g < groups; g++) {
      accs[g]!.storeLanes(out, lanes, 4 * g * outStep);
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
