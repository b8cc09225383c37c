// Flash kernels with one invocation per query row `(b…, i)`, looping over
// the keys j: forward (online softmax, O in registers), weights, grad_q and
// tangent. Nodes that do not change along the key axis are computed once
// per row; hidden keys skip the dots and the score (the mask comes first).

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
  loadIndex,
  variesAlong,
} from "./_flash_expr.ts";

/** Workgroup size of the flash kernels (llvmpipe runs one workgroup per thread). */
export const FLASH_WG = 64;

/** Operand indices of a kernel's roles (see `flash.ts` for the order). */
export interface Roles {
  /** q_k. */
  q(k: number): number;
  /** Keys and values. */
  readonly k: number;
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

/** Prologue of a row kernel: `row`, `bq` (batch element), the g variables, registers of q. */
function rowStart(k: FlashKernel, e: Emit, roles: Roles, regs: string[]) {
  const nb = k.batch.length, { d } = k;
  const lines = [
    `  let row = gid.x + gid.y * nwg.x * ${FLASH_WG}u;`,
    `  if (row >= ${sizeOf(k.batch) * k.tq}u) { return; }`,
    `  let bq = row / ${k.tq}u;`,
    splitIndex("bq", k.batch, "g"),
    `  let g${nb} = i32(row % ${k.tq}u);`,
    `  let kb = bq * ${k.tk * d}u;`,
    `  let vb = bq * ${k.tk * k.dv}u;`,
  ];
  for (let q = 0; q < k.queries; q++) {
    lines.push(
      `  var q${q}: array<f32, ${d}>;`,
      `  for (var e = 0u; e < ${d}u; e++) { q${q}[e] = ${
        e.read(roles.q(q), `row * ${d}u + e`, "float32")
      }; }`,
    );
  }
  for (const r of regs) lines.push(r);
  return lines.filter((s) => s).join("\n");
}

/** The loop over keys: `body` runs at visible keys after the score. */
function keyLoop(
  k: FlashKernel,
  e: Emit,
  roles: Roles,
  roots: readonly number[],
  body: string,
  hiddenBody = "",
): { before: string; loop: string } {
  const nb = k.batch.length;
  const varies = variesAlong(e.fn, nb + 1);
  const code = elementCode(
    e,
    roots,
    (n) => varies[n]!,
    (q, x) => `q${q}[${x}]`,
    (x) => e.read(roles.k, `kb + j * ${k.d}u + ${x}`, "float32"),
    "    ",
  );
  const mask = hiddenBody && code.mask
    ? code.mask.replace("{ continue; }", `{ ${hiddenBody} continue; }`)
    : code.mask;
  return {
    before: hoisted(e, roots, (n) => !varies[n], "  "),
    loop: [
      `  for (var j = 0u; j < ${k.tk}u; j++) {`,
      `    let g${nb + 1} = i32(j);`,
      mask,
      code.score,
      `    let s = ${name(e.fn.score)};`,
      body,
      `  }`,
    ].filter((s) => s).join("\n"),
  };
}

/** `for x in [0, n) { stmt }` with `x` as the loop variable. */
function each(n: number, stmt: string, indent = "    "): string {
  return `${indent}for (var x = 0u; x < ${n}u; x++) { ${stmt} }`;
}

/** The forward kernel: `[O_i | stat_i]` per row. */
export function forwardBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const { dv } = k, w = dv + 1;
  const vAt = e.read(roles.v, `vb + j * ${dv}u + x`, "float32");
  const soft = k.normaliser === "softmax";
  const body = soft
    ? [
      // Online softmax: rescale when the running max grows.
      `    if (s > mx) {`,
      `      let c = exp_(mx - s);`,
      `      l = l * c;`,
      each(dv, "acc[x] = acc[x] * c;", "      "),
      `      mx = s;`,
      `    }`,
      `    let p = select(0.0, exp_(s - mx), mx > -f32_inf());`,
      `    l = l + p;`,
      each(dv, `acc[x] = acc[x] + p * ${vAt};`),
    ].join("\n")
    : each(dv, `acc[x] = acc[x] + s * ${vAt};`);
  const { before, loop } = keyLoop(k, e, roles, [e.fn.score], body);
  return [
    rowStart(k, e, roles, [
      `  var mx = -f32_inf();`,
      `  var l = 0.0;`,
      `  var acc: array<f32, ${dv}>;`,
    ]),
    before,
    loop,
    soft
      ? each(
        dv,
        `out[row * ${w}u + x] = select(0.0, acc[x] / l, l > 0.0);`,
        "  ",
      )
      : each(dv, `out[row * ${w}u + x] = acc[x];`, "  "),
    `  out[row * ${w}u + ${dv}u] = ${
      soft ? "select(0.0, mx + log_(l), mx > -f32_inf() && l > 0.0)" : "0.0"
    };`,
  ].filter((s) => s).join("\n");
}

/** The weights kernel: `P_i·` per row (softmax: a first pass for lse). */
export function weightsBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const soft = k.normaliser === "softmax";
  const at = `out[row * ${k.tk}u + j]`;
  const write = keyLoop(
    k,
    e,
    roles,
    [e.fn.score],
    `    ${at} = ${soft ? "exp_(s - lse)" : "s"};`,
    `${at} = 0.0;`,
  );
  const parts = [rowStart(k, e, roles, []), write.before];
  if (soft) {
    const stats = keyLoop(
      k,
      e,
      roles,
      [e.fn.score],
      [
        `    if (s > mx) { l = l * exp_(mx - s); mx = s; }`,
        `    l = l + select(0.0, exp_(s - mx), mx > -f32_inf());`,
      ].join("\n"),
    );
    parts.push(
      `  var mx = -f32_inf();`,
      `  var l = 0.0;`,
      stats.loop,
      `  let lse = select(0.0, mx + log_(l), mx > -f32_inf() && l > 0.0);`,
    );
  }
  // Softmax rows whose visible scores are all -∞ get exp(-∞ - 0) = 0.
  parts.push(write.loop);
  return parts.filter((s) => s).join("\n");
}

/** `gO_i` in registers, `lse` and `delta = gO·O − gstat` of the row. */
function rowCotangent(k: FlashKernel, e: Emit, roles: Roles): string[] {
  const { dv } = k, w = dv + 1;
  const ct = (x: string) => e.read(roles.ct, `row * ${w}u + ${x}`, "float32");
  const fwd = (x: string) => e.read(roles.fwd, `row * ${w}u + ${x}`, "float32");
  return [
    `  var go: array<f32, ${dv}>;`,
    `  var delta = 0.0;`,
    each(dv, `go[x] = ${ct("x")}; delta = delta + go[x] * ${fwd("x")};`, "  "),
    `  delta = delta - ${ct(`${dv}u`)};`,
    `  let lse = ${fwd(`${dv}u`)};`,
  ];
}

/** The grad_q kernel: `dq_k,i = Σ_j ds_ij ∂s/∂r_k k_j` per row. */
export function gradQBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const { d, dv } = k, nq = k.queries;
  const vAt = e.read(roles.v, `vb + j * ${dv}u + x`, "float32");
  const kAt = e.read(roles.k, `kb + j * ${d}u + x`, "float32");
  const body = [
    `    var dp = 0.0;`,
    each(dv, `dp = dp + go[x] * ${vAt};`),
    k.normaliser === "softmax"
      ? `    let ds = exp_(s - lse) * (dp - delta);`
      : `    let ds = dp;`,
    ...Array.from(
      { length: nq },
      (_, q) =>
        `    let dr${q} = ds * ${name(e.fn.dDots[q]!)};\n` +
        each(d, `dq${q}[x] = dq${q}[x] + dr${q} * ${kAt};`),
    ),
  ].join("\n");
  const { before, loop } = keyLoop(k, e, roles, [
    e.fn.score,
    ...e.fn.dDots,
  ], body);
  const regs = [
    ...rowCotangent(k, e, roles),
    ...Array.from({ length: nq }, (_, q) => `  var dq${q}: array<f32, ${d}>;`),
  ];
  return [
    rowStart(k, e, roles, regs),
    before,
    loop,
    ...Array.from(
      { length: nq },
      (_, q) =>
        each(d, `out[row * ${nq * d}u + ${q * d}u + x] = dq${q}[x];`, "  "),
    ),
  ].filter((s) => s).join("\n");
}

/** The tangent kernel: `[tO_i | tstat_i]` per row, from the forward's lse. */
export function tangentBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const { d, dv } = k, nq = k.queries, w = dv + 1;
  const soft = k.normaliser === "softmax";
  const kAt = (x: string) =>
    e.read(roles.k, `kb + j * ${d}u + ${x}`, "float32");
  const tkAt = e.read(roles.tangent(nq), `kb + j * ${d}u + x`, "float32");
  const vAt = e.read(roles.v, `vb + j * ${dv}u + x`, "float32");
  const tvAt = e.read(roles.tangent(nq + 1), `vb + j * ${dv}u + x`, "float32");
  const fwd = (x: string) => e.read(roles.fwd, `row * ${w}u + ${x}`, "float32");
  // ts = Σ_k ∂s/∂r_k (tq_k,i · k_j + q_k,i · tk_j) + Σ_c ∂s/∂c tc[addr_c]
  const terms: string[] = [];
  const lines: string[] = [];
  for (let q = 0; q < nq; q++) {
    lines.push(
      `    var tr${q} = 0.0;`,
      each(
        d,
        `tr${q} = tr${q} + tq${q}[x] * ${kAt("x")} + q${q}[x] * ${tkAt};`,
      ),
    );
    terms.push(`${name(e.fn.dDots[q]!)} * tr${q}`);
  }
  const roots = [e.fn.score, ...e.fn.dDots];
  e.fn.dCaptured.forEach((node, c) => {
    const t = roles.tangent(nq + 2 + c);
    if (node === null || t < 0) return;
    const load = e.fn.nodes.find((n) => n.kind === "load" && n.input === c);
    if (!load || load.kind !== "load") return;
    roots.push(node);
    const at = e.read(t, `u32(${loadIndex(load)})`, "float32");
    terms.push(`${name(node)} * ${at}`);
  });
  lines.push(`    let ts = ${terms.join(" + ") || "0.0"};`);
  if (soft) {
    lines.push(
      `    let p = exp_(s - lse);`,
      `    let pt = p * ts;`,
      `    mean = mean + pt;`,
      each(dv, `ta[x] = ta[x] + pt * ${vAt} + p * ${tvAt};`),
    );
  } else {
    lines.push(each(dv, `ta[x] = ta[x] + ts * ${vAt} + s * ${tvAt};`));
  }
  const { before, loop } = keyLoop(k, e, roles, roots, lines.join("\n"));
  const regs = [
    `  let lse = ${fwd(`${dv}u`)};`,
    `  var mean = 0.0;`,
    `  var ta: array<f32, ${dv}>;`,
  ];
  for (let q = 0; q < nq; q++) {
    regs.push(
      `  var tq${q}: array<f32, ${d}>;`,
      each(
        d,
        `tq${q}[x] = ${
          e.read(roles.tangent(q), `row * ${d}u + x`, "float32")
        };`,
        "  ",
      ),
    );
  }
  return [
    rowStart(k, e, roles, regs),
    before,
    loop,
    soft
      ? each(dv, `out[row * ${w}u + x] = ta[x] - mean * ${fwd("x")};`, "  ")
      : each(dv, `out[row * ${w}u + x] = ta[x];`, "  "),
    `  out[row * ${w}u + ${dv}u] = ${soft ? "mean" : "0.0"};`,
  ].filter((s) => s).join("\n");
}
