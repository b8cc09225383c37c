// The WGSL of a flash kernel's expression (see `../flash.ts`): the score
// and mask nodes in one SSA list, emitted by the fused kernels' own
// `letStatements`, with loads of captured tensors at `offset + Σ g_a ·
// strides[a]` over the grid index variables `g0 …` (batch axes, then the
// query axis, then the key axis) and dot nodes read from `r0`, `r1`.

import type { DType } from "../../dtype.ts";
import type { FlashKernel } from "../flash.ts";
import { type FusedLoad, type FusedNode, reachable } from "../fused.ts";
import { letStatements, name, offsetExpr } from "./_fused_expr.ts";

/** A kernel's score and mask nodes as one list; dots become loads of input -1. */
export interface FlashNodes {
  /** Score nodes, then the mask's (their arguments shifted by `maskStart`). */
  readonly nodes: readonly FusedNode[];
  /** Node index → query matrix, for the dot nodes. */
  readonly dots: ReadonlyMap<number, number>;
  /** Where the mask's nodes start. */
  readonly maskStart: number;
  /** The node of `s`. */
  readonly score: number;
  /** The nodes of `∂s/∂r_k`. */
  readonly dDots: readonly number[];
  /** The nodes of `∂s/∂c` (null where none). */
  readonly dCaptured: readonly (number | null)[];
  /** The mask's bool node, or null. */
  readonly mask: number | null;
}

/** The nodes of `k` in one list. */
export function flashNodes(k: FlashKernel): FlashNodes {
  const nodes: FusedNode[] = [];
  const dots = new Map<number, number>();
  const add = (list: typeof k.score.nodes, shift: number) =>
    list.forEach((n, at) => {
      if (n.kind === "dot") {
        dots.set(shift + at, n.index);
        nodes.push({
          kind: "load",
          input: -1,
          offset: 0,
          strides: [],
          dtype: "float32",
        });
      } else if (n.kind === "op") {
        nodes.push({ ...n, args: n.args.map((a) => a + shift) });
      } else nodes.push(n);
    });
  add(k.score.nodes, 0);
  const maskStart = nodes.length;
  if (k.mask) add(k.mask.nodes, maskStart);
  return {
    nodes,
    dots,
    maskStart,
    score: k.score.value,
    dDots: k.score.partials.dots,
    dCaptured: k.score.partials.captured,
    mask: k.mask ? maskStart + k.mask.value : null,
  };
}

/** Whether each node changes along grid axis `axis` (dots change along all). */
export function variesAlong(fn: FlashNodes, axis: number): boolean[] {
  const out: boolean[] = [];
  fn.nodes.forEach((n, at) => {
    out.push(
      fn.dots.has(at) ||
        (n.kind === "load" && (n.strides[axis] ?? 0) !== 0) ||
        (n.kind === "op" && n.args.some((a) => out[a])),
    );
  });
  return out;
}

/** How a shader reads operand words: `read(operand, u32 index, dtype)`. */
export type Reader = (operand: number, idx: string, dtype: DType) => string;

/** What the expression emitter needs from a shader generator. */
export interface Emit {
  /** The kernel. */
  readonly kernel: FlashKernel;
  /** Its nodes. */
  readonly fn: FlashNodes;
  /** Reads operands. */
  readonly read: Reader;
  /** Rows per block of the blocked kernels (`_flash_block.ts`). */
  readonly rows: number;
  /** Use counts of float values (so `hide` keys stay distinct in one shader). */
  readonly uses: Map<number, number>;
  /** The part of the loop this dispatch runs, or null for all of it. */
  readonly chunk: Chunk | null;
}

/**
 * One of the dispatches that run a blocked kernel's loop over keys (or
 * queries) in order, `steps` at a time from the step in metadata word 0:
 * each row's carried registers (online-softmax max and sum, accumulators)
 * go from one dispatch to the next through a state buffer of `width`
 * floats per row. This keeps an invocation within llvmpipe's loop budget
 * at any length, in a fixed order (no atomics).
 */
export interface Chunk {
  /** Loop steps per dispatch. */
  readonly steps: number;
  /** Whether this dispatch starts from the state operand (all but the first). */
  readonly resume: boolean;
  /** Whether it ends the loop (the last): else it writes the state as its output. */
  readonly finish: boolean;
  /** The state operand. */
  readonly state: number;
  /** Carried floats per row. */
  readonly width: number;
}

/** The i32 WGSL index a load reads at, over the grid variables `g…`. */
export function loadIndex(load: FusedLoad): string {
  return offsetExpr(`${load.offset}`, load.strides, "g");
}

/** The nodes `roots` need, split into those before the mask and the mask's. */
export function needed(
  fn: FlashNodes,
  roots: readonly number[],
): { score: number[]; mask: number[] } {
  const maskRoots = fn.mask === null ? [] : [fn.mask];
  return {
    score: reachable(fn.nodes, roots),
    mask: reachable(fn.nodes, maskRoots),
  };
}

/** `let` statements of `which` (loads of captured tensors read operand `queries + 2 + input`). */
export function lets(
  e: Emit,
  which: readonly number[],
  indent: string,
): string {
  if (which.length === 0) return "";
  const first = e.kernel.queries + 2;
  return letStatements(
    e.fn.nodes,
    which,
    (n) => {
      const d = e.fn.dots.get(n);
      if (d !== undefined) return `r${d}`;
      const load = e.fn.nodes[n] as FusedLoad;
      return e.read(first + load.input, `u32(${loadIndex(load)})`, load.dtype);
    },
    indent,
    { uses: e.uses },
  );
}

/** Parts of a loop body at one grid element. */
export interface ElementCode {
  /** The mask's lets (empty without a mask). */
  readonly maskLets: string;
  /** A WGSL bool: whether the key is visible (null without a mask). */
  readonly visible: string | null;
  /** Dot products `r_k` and the score lets. */
  readonly score: string;
}

/**
 * The WGSL of one grid element inside a loop: the nodes in `inLoop` (the
 * rest are emitted once before it, by the caller), with the dots read as
 * `Σ_e qAt(k, e) · kAt(e)` over `e` in [0, d).
 */
export function elementCode(
  e: Emit,
  roots: readonly number[],
  inLoop: (n: number) => boolean,
  qAt: (k: number, idx: string) => string,
  kAt: (idx: string) => string,
  indent: string,
): ElementCode {
  const { score, mask } = needed(e.fn, roots);
  const dots = [
    ...new Set(score.flatMap((n) => {
      const d = e.fn.dots.get(n);
      return d === undefined ? [] : [d];
    })),
  ].map((k) =>
    `${indent}var r${k} = 0.0;\n` +
    Array.from(
      { length: e.kernel.d },
      (_, x) => `${indent}r${k} += ${qAt(k, `${x}u`)} * ${kAt(`${x}u`)};`,
    ).join("\n")
  );
  return {
    maskLets: lets(e, mask.filter(inLoop), indent),
    visible: e.fn.mask === null ? null : `${name(e.fn.mask)} != 0u`,
    score: [...dots, lets(e, score.filter(inLoop), indent)].filter((s) => s)
      .join("\n"),
  };
}

/** An element's mask lets and `continue` where the key is hidden. */
export function skipHidden(code: ElementCode, indent: string): string {
  return code.visible === null
    ? ""
    : `${code.maskLets}\n${indent}if (!(${code.visible})) { continue; }`;
}

/** The nodes of `roots` (mask included) that stay fixed along `axis`, as lets. */
export function hoisted(
  e: Emit,
  roots: readonly number[],
  fixed: (n: number) => boolean,
  indent: string,
): string {
  const { score, mask } = needed(e.fn, roots);
  return lets(e, [...mask, ...score].filter(fixed), indent);
}
