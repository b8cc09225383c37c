// The skeleton of the blocked flash kernels: one invocation per block of R
// query rows looping over the keys (forward, weights, grad_q, tangent), or
// per block of R key rows looping over the queries (grad_kv). What a loop
// step reads for the whole block (k_j and v_j, or q_i and gO_i) is read
// once and shared by its R rows: register blocking, what pays on llvmpipe.
// The mask is evaluated for the whole block first, and a step it hides
// from every row of the block is skipped before any load. The block's rows
// are written out one after another in the text (`let r = 0u; …`), so every
// per-row register is indexed by a constant.

import { sizeOf } from "../../dtype.ts";
import {
  flashFloatInputs,
  type FlashKernel,
  type FlashMode,
} from "../flash.ts";
import { name, splitIndex } from "./_fused_expr.ts";
import {
  elementCode,
  type Emit,
  hoisted,
  lets,
  needed,
  variesAlong,
} from "./_flash_expr.ts";

/** Workgroup size of the flash kernels (llvmpipe runs one workgroup per thread). */
export const FLASH_WG = 64;

/** Operand indices of a kernel's roles (see `flash.ts` for the order). */
export interface Roles {
  /** q_k. */
  q(k: number): number;
  /** Keys. */
  readonly k: number;
  /** Values. */
  readonly v: number;
  /** The forward output (tangent and grad modes). */
  readonly fwd: number;
  /** The cotangent (grad modes). */
  readonly ct: number;
  /** The tangent of input `input` (tangent mode), or -1 when it has none. */
  tangent(input: number): number;
  /** Per-row `gO · O − gstat` (grad_kv and grad_captured with softmax). */
  readonly delta: number;
}

/** The roles of `k`'s operands in `mode`. */
export function rolesOf(k: FlashKernel, mode: FlashMode): Roles {
  const nq = k.queries, base = nq + 2 + k.captured.length;
  const floats = flashFloatInputs(k);
  return {
    q: (i) => i,
    k: nq,
    v: nq + 1,
    fwd: base,
    ct: base + 1,
    tangent: (input) => {
      const at = floats.indexOf(input);
      return at < 0 ? -1 : base + 1 + at;
    },
    delta: mode === "tangent" ? -1 : base + 2,
  };
}

/** What a block holds: query rows (looping over keys) or key rows (over queries). */
export type BlockAlong = "query" | "key";

/** Invocations of a kernel with blocks of `rows` rows along `along`. */
export function blockInvocations(
  k: FlashKernel,
  along: BlockAlong,
  rows: number,
): number {
  return sizeOf(k.batch) * Math.ceil((along === "query" ? k.tq : k.tk) / rows);
}

/** One pass of the loop. */
export interface Pass {
  /**
   * At a visible (row, key): `r` (the row in the block), `row` (the query
   * row), `j` and `kb`, `vb` (query blocks) or `col` (the key row) and `i`
   * (key blocks), and `s` in scope.
   */
  readonly body: string;
  /** At a hidden pair of a valid row. */
  readonly hidden?: string;
  /** Per loop step once some row of the block sees it: the shared reads. */
  readonly shared: string;
  /** Per valid row after the pass. */
  readonly after?: string;
}

/** What a blocked kernel computes. */
export interface BlockSpec {
  /** What its blocks hold. */
  readonly along: BlockAlong;
  /** The expression nodes the passes read. */
  readonly roots: readonly number[];
  /** Declarations at function scope (per-row registers). */
  readonly regs: readonly string[];
  /** Per valid row before the passes (`r` and `row` or `col` in scope). */
  readonly init: string;
  /** The passes over the loop axis. */
  readonly passes: readonly Pass[];
  /** The dots' operands: element `x` of q_k and of k, in registers. */
  readonly qAt: (k: number, x: string) => string;
  /** See {@link BlockSpec.qAt}. */
  readonly kAt: (x: string) => string;
  /**
   * The registers a loop carries from step to step, with their floats per
   * row (register `name[r · width + x]`), saved and restored between the
   * dispatches of a chunked loop (see `Chunk`, `_flash_expr.ts`).
   */
  readonly carry: readonly (readonly [string, number])[];
}

/**
 * `stmt` for each `x` in [0, n), written out one after another with `x` a
 * constant: no loop, so llvmpipe's loop budget (see `_flash.ts`) counts
 * only the loop over keys or queries, and every register index is constant.
 */
export function each(n: number, stmt: string, indent = "      "): string {
  return Array.from(
    { length: n },
    (_, x) => `${indent}{ let x = ${x}u; ${stmt} }`,
  )
    .join("\n");
}

/** The WGSL body of a blocked kernel (`e.rows` rows per block). */
export function blockKernel(k: FlashKernel, e: Emit, spec: BlockSpec): string {
  const R = e.rows, nb = k.batch.length;
  const byQuery = spec.along === "query";
  const n = byQuery ? k.tq : k.tk, m = byQuery ? k.tk : k.tq;
  const own = byQuery ? "row" : "col", step = byQuery ? "j" : "i";
  const blockAxis = byQuery ? nb : nb + 1, loopAxis = byQuery ? nb + 1 : nb;
  const nblk = Math.ceil(n / R);
  // Nodes fixed along both axes are computed once, those that change only
  // along the loop once per step, the others once per (row, step).
  const perRow = variesAlong(e.fn, blockAxis);
  const perStep = variesAlong(e.fn, loopAxis).map((v, x) => v && !perRow[x]);
  const inLoop = (x: number) => perRow[x]! || perStep[x]!;
  const code = elementCode(
    e,
    spec.roots,
    (x) => perRow[x]!,
    spec.qAt,
    spec.kAt,
    "      ",
  );
  const { score, mask } = needed(e.fn, spec.roots);
  const stepMask = lets(e, mask.filter((x) => perStep[x]), "    ");
  const stepScore = lets(e, score.filter((x) => perStep[x]), "    ");
  // `stmt` once per row of the block, `r` a constant, valid rows only.
  const forRows = (stmt: string, indent: string) =>
    Array.from(
      { length: R },
      (_, r) =>
        `${indent}{ let r = ${r}u; if (i0 + r < ${n}u) { let ${own} = bq * ${n}u + i0 + r;\n${stmt}\n${indent}} }`,
    ).join("\n");
  const lines = [
    `  let inv = gid.x + gid.y * nwg.x * ${FLASH_WG}u;`,
    `  if (inv >= ${sizeOf(k.batch) * nblk}u) { return; }`,
    `  let bq = inv / ${nblk}u;`,
    `  let i0 = (inv % ${nblk}u) * ${R}u;`,
    splitIndex("bq", k.batch, "g"),
    byQuery ? `  let kb = bq * ${k.tk * k.d}u;` : "",
    byQuery ? `  let vb = bq * ${k.tk * k.dv}u;` : "",
    ...spec.regs,
    hoisted(e, spec.roots, (x) => !inLoop(x), "  "),
    forRows(spec.init, "  "),
  ];
  const c = e.chunk;
  if (c && (spec.passes.length !== 1 || carried(spec) !== c.width)) {
    throw new RangeError(
      `webgpu: flash: a chunked loop needs one pass carrying ${c.width} floats per row`,
    );
  }
  // The carried registers at `state[own · width + at + x]`, read (`save`
  // false) or written.
  const moves = (save: boolean) => {
    let at = 0;
    return spec.carry.map(([reg, w]) => {
      const slot = `${own} * ${carried(spec)}u + ${at}u + x`;
      const r = `${reg}[r * ${w}u + x]`;
      at += w;
      return each(
        w,
        save
          ? `out[${slot}] = ${r};`
          : `${r} = ${e.read(c!.state, slot, "float32")};`,
      );
    }).join("\n");
  };
  if (c?.resume) lines.push(forRows(moves(false), "  "));
  const range = c
    ? [`m(0u)`, `min(m(0u) + ${c.steps}u, ${m}u)`]
    : ["0u", `${m}u`];
  for (const pass of spec.passes) {
    const hidden = pass.hidden ?? "";
    lines.push(
      `  for (var ${step} = ${range[0]}; ${step} < ${range[1]}; ${step}++) {`,
      `    let g${loopAxis} = i32(${step});`,
      byQuery ? "" : `    let row = bq * ${k.tq}u + i;`,
      stepMask,
      `    var vis = 0u;`,
      forRows(
        code.visible === null
          ? `      vis = vis | (1u << r);`
          : `      let g${blockAxis} = i32(i0 + r);\n${code.maskLets}\n` +
            `      if (${code.visible}) { vis = vis | (1u << r); }`,
        "    ",
      ),
      hidden
        ? `    if (vis == 0u) {\n${
          forRows(hidden, "      ")
        }\n      continue;\n    }`
        : `    if (vis == 0u) { continue; }`,
      pass.shared,
      stepScore,
      forRows(
        [
          `      if ((vis & (1u << r)) == 0u) {`,
          hidden,
          `      } else {`,
          `      let g${blockAxis} = i32(i0 + r);`,
          code.score,
          `      let s = ${name(e.fn.score)};`,
          pass.body,
          `      }`,
        ].filter((x) => x).join("\n"),
        "    ",
      ),
      `  }`,
    );
    const after = c && !c.finish ? moves(true) : pass.after;
    if (after) lines.push(forRows(after, "  "));
  }
  return lines.filter((x) => x).join("\n");
}

/** Floats per row that `spec`'s loop carries. */
function carried(spec: BlockSpec): number {
  return spec.carry.reduce((a, [, w]) => a + w, 0);
}
