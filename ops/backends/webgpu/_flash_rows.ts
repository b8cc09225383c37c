// Flash kernels over blocks of query rows, looping over the keys j
// (`_flash_block.ts`): forward (online softmax, O in registers), weights,
// grad_q and tangent.

import type { FlashKernel } from "../flash.ts";
import { name } from "./_fused_expr.ts";
import { type Emit, loadIndex } from "./_flash_expr.ts";
import {
  blockKernel,
  type BlockSpec,
  each,
  type Pass,
  type Roles,
} from "./_flash_block.ts";

/** A pass of a row kernel: `v` when its body reads v_j (as `vr`). */
type RowPass = Omit<Pass, "shared"> & { readonly v: boolean };

/** What a row kernel computes. */
interface RowSpec {
  /** Whether the passes read tk_j and tv_j (as `tkr`, `tvr`). */
  readonly tangents?: boolean;
  readonly roots: readonly number[];
  readonly regs: readonly string[];
  readonly init: string;
  readonly passes: readonly RowPass[];
  readonly carry: BlockSpec["carry"];
}

/** A query-row kernel: q_k's rows and k_j (and v_j) in registers around `spec`. */
function rowKernel(
  k: FlashKernel,
  e: Emit,
  roles: Roles,
  spec: RowSpec,
): string {
  const { d, dv } = k, R = e.rows, nq = k.queries;
  const qs = Array.from({ length: nq }, (_, q) => q);
  /** `name[x] = operand[base + j · n + x]` for x in [0, n). */
  const row = (name: string, op: number, base: string, n: number) =>
    `    var ${name}: array<f32, ${n}>;\n` +
    each(
      n,
      `${name}[x] = ${e.read(op, `${base} + j * ${n}u + x`, "float32")};`,
      "    ",
    );
  const kr = row("kr", roles.k, "kb", d), vr = row("vr", roles.v, "vb", dv);
  // tk_j and tv_j (tangent mode), shared like k_j and v_j.
  const tangents = () =>
    row("tkr", roles.tangent(nq), "kb", d) + "\n" +
    row("tvr", roles.tangent(nq + 1), "vb", dv);
  return blockKernel(k, e, {
    along: "query",
    roots: spec.roots,
    regs: [
      ...qs.map((q) => `  var q${q}: array<f32, ${R * d}>;`),
      ...spec.regs,
    ],
    init: [
      ...qs.map((q) =>
        each(
          d,
          `q${q}[r * ${d}u + x] = ${
            e.read(roles.q(q), `row * ${d}u + x`, "float32")
          };`,
        )
      ),
      spec.init,
    ].join("\n"),
    passes: spec.passes.map(({ v, ...p }): Pass => ({
      ...p,
      shared: [kr, v ? vr : "", spec.tangents ? tangents() : ""]
        .filter((x) => x).join("\n"),
    })),
    qAt: (q, x) => `q${q}[r * ${d}u + ${x}]`,
    kAt: (x) => `kr[${x}]`,
    carry: spec.carry,
  });
}

/** `lse` of the row as the softmax pass below leaves it in `mx`, `l`. */
const LSE = "select(0.0, mx[r] + log_(l[r]), mx[r] > -f32_inf() && l[r] > 0.0)";

/** The online softmax update of row r by score s (running max `mx`, sum `l`). */
function online(rescale: string): string {
  return [
    `      if (s > mx[r]) {`,
    `        let c = exp_(mx[r] - s);`,
    `        l[r] = l[r] * c;`,
    rescale,
    `        mx[r] = s;`,
    `      }`,
    `      let p = select(0.0, exp_(s - mx[r]), mx[r] > -f32_inf());`,
    `      l[r] = l[r] + p;`,
  ].filter((x) => x).join("\n");
}

/** The forward kernel: `[O_i | stat_i]` per row. */
export function forwardBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const { dv } = k, w = dv + 1, R = e.rows;
  const soft = k.normaliser === "softmax";
  const acc = `acc[r * ${dv}u + x]`;
  return rowKernel(k, e, roles, {
    roots: [e.fn.score],
    regs: [
      `  var mx: array<f32, ${R}>;`,
      `  var l: array<f32, ${R}>;`,
      `  var acc: array<f32, ${R * dv}>;`,
    ],
    init: `      mx[r] = -f32_inf();`,
    carry: [["mx", 1], ["l", 1], ["acc", dv]],
    passes: [{
      v: true,
      body: soft
        ? online(each(dv, `${acc} = ${acc} * c;`, "        ")) + "\n" +
          each(dv, `${acc} = ${acc} + p * vr[x];`)
        : each(dv, `${acc} = ${acc} + s * vr[x];`),
      after: [
        soft
          ? each(
            dv,
            `out[row * ${w}u + x] = select(0.0, ${acc} / l[r], l[r] > 0.0);`,
          )
          : each(dv, `out[row * ${w}u + x] = ${acc};`),
        `      out[row * ${w}u + ${dv}u] = ${soft ? LSE : "0.0"};`,
      ].join("\n"),
    }],
  });
}

/**
 * The weights kernel: `P_i·` per row (softmax: a first pass for lse, or,
 * where the loop runs in chunks, lse read from the forward output as
 * operand `roles.fwd`).
 */
export function weightsBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const soft = k.normaliser === "softmax", R = e.rows;
  const given = soft && e.chunk !== null;
  const at = `out[row * ${k.tk}u + j]`;
  // Softmax rows whose visible scores are all -∞ get exp(-∞ - 0) = 0.
  const write: RowPass = {
    v: false,
    body: `      ${at} = ${soft ? "exp_(s - lse[r])" : "s"};`,
    hidden: `      ${at} = 0.0;`,
  };
  return rowKernel(k, e, roles, {
    roots: [e.fn.score],
    regs: soft
      ? [
        `  var mx: array<f32, ${R}>;`,
        `  var l: array<f32, ${R}>;`,
        `  var lse: array<f32, ${R}>;`,
      ]
      : [],
    init: given
      ? `      lse[r] = ${
        e.read(roles.fwd, `row * ${k.dv + 1}u + ${k.dv}u`, "float32")
      };`
      : soft
      ? `      mx[r] = -f32_inf();`
      : "",
    carry: [],
    passes: soft && !given
      ? [{ v: false, body: online(""), after: `      lse[r] = ${LSE};` }, write]
      : [write],
  });
}

/** Per-row registers of the cotangent (`go`, `lse`, `delta = gO·O − gstat`) and the lines computing `ds`. */
function rowCotangent(k: FlashKernel, e: Emit, roles: Roles) {
  const { dv } = k, w = dv + 1, R = e.rows;
  const ct = (x: string) => e.read(roles.ct, `row * ${w}u + ${x}`, "float32");
  const fwd = (x: string) => e.read(roles.fwd, `row * ${w}u + ${x}`, "float32");
  const go = `go[r * ${dv}u + x]`;
  return {
    regs: [
      `  var go: array<f32, ${R * dv}>;`,
      `  var delta: array<f32, ${R}>;`,
      `  var lse: array<f32, ${R}>;`,
    ],
    init: [
      each(
        dv,
        `${go} = ${ct("x")}; delta[r] = delta[r] + ${go} * ${fwd("x")};`,
      ),
      `      delta[r] = delta[r] - ${ct(`${dv}u`)};`,
      `      lse[r] = ${fwd(`${dv}u`)};`,
    ].join("\n"),
    ds: [
      `      var dp = 0.0;`,
      each(dv, `dp = dp + ${go} * vr[x];`),
      k.normaliser === "softmax"
        ? `      let ds = exp_(s - lse[r]) * (dp - delta[r]);`
        : `      let ds = dp;`,
    ].join("\n"),
  };
}

/** The grad_q kernel: `dq_k,i = Σ_j ds_ij ∂s/∂r_k k_j` per row. */
export function gradQBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const { d } = k, nq = k.queries, R = e.rows;
  const qs = Array.from({ length: nq }, (_, q) => q);
  const dq = (q: number) => `dq${q}[r * ${d}u + x]`;
  const g = rowCotangent(k, e, roles);
  return rowKernel(k, e, roles, {
    roots: [e.fn.score, ...e.fn.dDots],
    regs: [...g.regs, ...qs.map((q) => `  var dq${q}: array<f32, ${R * d}>;`)],
    init: g.init,
    carry: qs.map((q) => [`dq${q}`, d] as const),
    passes: [{
      v: true,
      body: [
        g.ds,
        ...qs.map((q) =>
          `      let dr${q} = ds * ${name(e.fn.dDots[q]!)};\n` +
          each(d, `${dq(q)} = ${dq(q)} + dr${q} * kr[x];`)
        ),
      ].join("\n"),
      after: qs.map((q) =>
        each(d, `out[row * ${nq * d}u + ${q * d}u + x] = ${dq(q)};`)
      ).join("\n"),
    }],
  });
}

/**
 * Per query row, `Σ_j ds_ij ∂s/∂c`: grad_captured's first step for a
 * captured tensor `c` read at one element per row (its key stride is 0).
 */
export function capturedRowsBody(
  k: FlashKernel,
  e: Emit,
  roles: Roles,
  dc: number,
): string {
  const g = rowCotangent(k, e, roles);
  return rowKernel(k, e, roles, {
    roots: [e.fn.score, dc],
    regs: [...g.regs, `  var gc: array<f32, ${e.rows}>;`],
    init: g.init,
    carry: [["gc", 1]],
    passes: [{
      v: true,
      body: `${g.ds}\n      gc[r] = gc[r] + ds * ${name(dc)};`,
      after: `      out[row] = gc[r];`,
    }],
  });
}

/** The tangent kernel: `[tO_i | tstat_i]` per row, from the forward's lse. */
export function tangentBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const { d, dv } = k, nq = k.queries, w = dv + 1, R = e.rows;
  const soft = k.normaliser === "softmax";
  const qs = Array.from({ length: nq }, (_, q) => q);
  const fwd = (x: string) => e.read(roles.fwd, `row * ${w}u + ${x}`, "float32");
  const ta = `ta[r * ${dv}u + x]`;
  // ts = Σ_k ∂s/∂r_k (tq_k,i · k_j + q_k,i · tk_j) + Σ_c ∂s/∂c tc[addr_c]
  const lines: string[] = [];
  const terms: string[] = [];
  for (const q of qs) {
    const at = `r * ${d}u + x`;
    lines.push(
      `      var tr${q} = 0.0;`,
      each(
        d,
        `tr${q} = tr${q} + tq${q}[${at}] * kr[x] + q${q}[${at}] * tkr[x];`,
      ),
    );
    terms.push(`${name(e.fn.dDots[q]!)} * tr${q}`);
  }
  const roots = [e.fn.score, ...e.fn.dDots];
  e.fn.dCaptured.forEach((node, c) => {
    const t = roles.tangent(nq + 2 + c);
    const load = e.fn.nodes.find((n) => n.kind === "load" && n.input === c);
    if (node === null || t < 0 || !load || load.kind !== "load") return;
    roots.push(node);
    const at = e.read(t, `u32(${loadIndex(load)})`, "float32");
    terms.push(`${name(node)} * ${at}`);
  });
  lines.push(`      let ts = ${terms.join(" + ") || "0.0"};`);
  if (soft) {
    lines.push(
      `      let p = exp_(s - lse[r]);`,
      `      let pt = p * ts;`,
      `      mean[r] = mean[r] + pt;`,
      each(dv, `${ta} = ${ta} + pt * vr[x] + p * tvr[x];`),
    );
  } else lines.push(each(dv, `${ta} = ${ta} + ts * vr[x] + s * tvr[x];`));
  return rowKernel(k, e, roles, {
    tangents: true,
    carry: [["mean", 1], ["ta", dv]],
    roots,
    regs: [
      `  var lse: array<f32, ${R}>;`,
      `  var mean: array<f32, ${R}>;`,
      `  var ta: array<f32, ${R * dv}>;`,
      ...qs.map((q) => `  var tq${q}: array<f32, ${R * d}>;`),
    ],
    init: [
      `      lse[r] = ${fwd(`${dv}u`)};`,
      ...qs.map((q) =>
        each(
          d,
          `tq${q}[r * ${d}u + x] = ${
            e.read(roles.tangent(q), `row * ${d}u + x`, "float32")
          };`,
        )
      ),
    ].join("\n"),
    passes: [{
      v: true,
      body: lines.join("\n"),
      after: [
        soft
          ? each(dv, `out[row * ${w}u + x] = ${ta} - mean[r] * ${fwd("x")};`)
          : each(dv, `out[row * ${w}u + x] = ${ta};`),
        `      out[row * ${w}u + ${dv}u] = ${soft ? "mean[r]" : "0.0"};`,
      ].join("\n"),
    }],
  });
}
