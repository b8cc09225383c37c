// Flash kernels with one invocation per block of R query rows `(b…, i0 …
// i0 + R − 1)`, looping over the keys j: forward (online softmax, O in
// registers), weights, grad_q and tangent. Each key row k_j (and v_j) is
// read once per block and shared by its rows (register blocking, what pays
// on llvmpipe); the mask is evaluated for the whole block first, and a key
// it hides from every row of the block is skipped before any load. The
// block's rows are written out one after another in the text (`let r =
// 0u; …`), so every per-row register is indexed by a constant.

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

/** Invocations of a row kernel with `rows` query rows per invocation. */
export function rowInvocations(k: FlashKernel, rows: number): number {
  return sizeOf(k.batch) * Math.ceil(k.tq / rows);
}

/** One pass over the keys. */
interface Pass {
  /** At a visible (row, key): `r`, `row`, `j`, `s`, `kr` (and `vr`) in scope. */
  readonly body: string;
  /** At a hidden (row, key) of a valid row. */
  readonly hidden?: string;
  /** Whether the body reads v_j (as `vr`). */
  readonly v: boolean;
  /** Per valid row after the pass. */
  readonly after?: string;
}

/** What a row kernel computes. */
interface RowSpec {
  /** The expression nodes the passes read. */
  readonly roots: readonly number[];
  /** Declarations at function scope (per-row registers). */
  readonly regs: readonly string[];
  /** Per valid row before the passes (`r`, `row` in scope). */
  readonly init: string;
  readonly passes: readonly Pass[];
}

/** `stmt` once per row of the block, `r` a constant, valid rows only. */
function forRows(
  k: FlashKernel,
  R: number,
  stmt: string,
  indent: string,
): string {
  return Array.from(
    { length: R },
    (_, r) =>
      `${indent}{ let r = ${r}u; if (i0 + r < ${k.tq}u) { let row = bq * ${k.tq}u + i0 + r;\n${stmt}\n${indent}} }`,
  )
    .join("\n");
}

/** The WGSL body of a row kernel. */
function rowKernel(
  k: FlashKernel,
  e: Emit,
  roles: Roles,
  spec: RowSpec,
): string {
  const R = e.rows, nb = k.batch.length, { d, dv } = k;
  const nblk = Math.ceil(k.tq / R);
  const alongI = variesAlong(e.fn, nb), alongJ = variesAlong(e.fn, nb + 1);
  const inLoop = (n: number) => alongI[n]! || alongJ[n]!;
  const code = elementCode(
    e,
    spec.roots,
    inLoop,
    (q, x) => `q${q}[r * ${d}u + ${x}]`,
    (x) => `kr[${x}]`,
    "      ",
  );
  const qs = Array.from({ length: k.queries }, (_, q) => q);
  const lines = [
    `  let inv = gid.x + gid.y * nwg.x * ${FLASH_WG}u;`,
    `  if (inv >= ${sizeOf(k.batch) * nblk}u) { return; }`,
    `  let bq = inv / ${nblk}u;`,
    `  let i0 = (inv % ${nblk}u) * ${R}u;`,
    splitIndex("bq", k.batch, "g"),
    `  let kb = bq * ${k.tk * d}u;`,
    `  let vb = bq * ${k.tk * dv}u;`,
    ...qs.map((q) => `  var q${q}: array<f32, ${R * d}>;`),
    ...spec.regs,
    hoisted(e, spec.roots, (n) => !inLoop(n), "  "),
    forRows(
      k,
      R,
      [
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
      "  ",
    ),
  ];
  for (const pass of spec.passes) {
    const hidden = pass.hidden ?? "";
    lines.push(
      `  for (var j = 0u; j < ${k.tk}u; j++) {`,
      `    let g${nb + 1} = i32(j);`,
      `    var vis = 0u;`,
      forRows(
        k,
        R,
        code.visible === null
          ? `      vis = vis | (1u << r);`
          : `      let g${nb} = i32(i0 + r);\n${code.maskLets}\n` +
            `      if (${code.visible}) { vis = vis | (1u << r); }`,
        "    ",
      ),
      hidden
        ? `    if (vis == 0u) {\n${
          forRows(k, R, hidden, "      ")
        }\n      continue;\n    }`
        : `    if (vis == 0u) { continue; }`,
      `    var kr: array<f32, ${d}>;`,
      each(d, `kr[x] = ${e.read(roles.k, `kb + j * ${d}u + x`, "float32")};`),
      pass.v ? `    var vr: array<f32, ${dv}>;` : "",
      pass.v
        ? each(
          dv,
          `vr[x] = ${e.read(roles.v, `vb + j * ${dv}u + x`, "float32")};`,
        )
        : "",
      forRows(
        k,
        R,
        [
          `      if ((vis & (1u << r)) == 0u) {`,
          hidden,
          `      } else {`,
          `      let g${nb} = i32(i0 + r);`,
          code.score,
          `      let s = ${name(e.fn.score)};`,
          pass.body,
          `      }`,
        ].filter((x) => x).join("\n"),
        "    ",
      ),
      `  }`,
    );
    if (pass.after) lines.push(forRows(k, R, pass.after, "  "));
  }
  return lines.filter((x) => x).join("\n");
}

/** `for x in [0, n) { stmt }` with `x` as the loop variable. */
function each(n: number, stmt: string, indent = "      "): string {
  return `${indent}for (var x = 0u; x < ${n}u; x++) { ${stmt} }`;
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

/** The weights kernel: `P_i·` per row (softmax: a first pass for lse). */
export function weightsBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const soft = k.normaliser === "softmax", R = e.rows;
  const at = `out[row * ${k.tk}u + j]`;
  // Softmax rows whose visible scores are all -∞ get exp(-∞ - 0) = 0.
  const write: Pass = {
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
    init: soft ? `      mx[r] = -f32_inf();` : "",
    passes: soft
      ? [{ v: false, body: online(""), after: `      lse[r] = ${LSE};` }, write]
      : [write],
  });
}

/** The grad_q kernel: `dq_k,i = Σ_j ds_ij ∂s/∂r_k k_j` per row. */
export function gradQBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const { d, dv } = k, nq = k.queries, w = dv + 1, R = e.rows;
  const qs = Array.from({ length: nq }, (_, q) => q);
  const ct = (x: string) => e.read(roles.ct, `row * ${w}u + ${x}`, "float32");
  const fwd = (x: string) => e.read(roles.fwd, `row * ${w}u + ${x}`, "float32");
  const go = `go[r * ${dv}u + x]`;
  return rowKernel(k, e, roles, {
    roots: [e.fn.score, ...e.fn.dDots],
    regs: [
      `  var go: array<f32, ${R * dv}>;`,
      `  var delta: array<f32, ${R}>;`,
      `  var lse: array<f32, ${R}>;`,
      ...qs.map((q) => `  var dq${q}: array<f32, ${R * d}>;`),
    ],
    // delta = gO · O − gstat
    init: [
      each(
        dv,
        `${go} = ${ct("x")}; delta[r] = delta[r] + ${go} * ${fwd("x")};`,
      ),
      `      delta[r] = delta[r] - ${ct(`${dv}u`)};`,
      `      lse[r] = ${fwd(`${dv}u`)};`,
    ].join("\n"),
    passes: [{
      v: true,
      body: [
        `      var dp = 0.0;`,
        each(dv, `dp = dp + ${go} * vr[x];`),
        k.normaliser === "softmax"
          ? `      let ds = exp_(s - lse[r]) * (dp - delta[r]);`
          : `      let ds = dp;`,
        ...qs.map((q) =>
          `      let dr${q} = ds * ${name(e.fn.dDots[q]!)};\n` +
          each(
            d,
            `dq${q}[r * ${d}u + x] = dq${q}[r * ${d}u + x] + dr${q} * kr[x];`,
          )
        ),
      ].join("\n"),
      after: qs.map((q) =>
        each(
          d,
          `out[row * ${nq * d}u + ${q * d}u + x] = dq${q}[r * ${d}u + x];`,
        )
      ).join("\n"),
    }],
  });
}

/** The tangent kernel: `[tO_i | tstat_i]` per row, from the forward's lse. */
export function tangentBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const { d, dv } = k, nq = k.queries, w = dv + 1, R = e.rows;
  const soft = k.normaliser === "softmax";
  const qs = Array.from({ length: nq }, (_, q) => q);
  const tkAt = e.read(roles.tangent(nq), `kb + j * ${d}u + x`, "float32");
  const tvAt = e.read(roles.tangent(nq + 1), `vb + j * ${dv}u + x`, "float32");
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
        `tr${q} = tr${q} + tq${q}[${at}] * kr[x] + q${q}[${at}] * ${tkAt};`,
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
      each(dv, `${ta} = ${ta} + pt * vr[x] + p * ${tvAt};`),
    );
  } else lines.push(each(dv, `${ta} = ${ta} + ts * vr[x] + s * ${tvAt};`));
  return rowKernel(k, e, roles, {
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
