// Flash kernels for the cotangent: grad_kv with one invocation per key row
// looping over the queries, grad_captured with one invocation per element
// of the captured tensor (or per chunk of the grid elements that read it,
// summed in a second pass), and the per-row `delta = gO · O − gstat` that
// both read. Every sum runs in a fixed order: no atomics, bit-equal reruns.

import { sizeOf, stridesOf } from "../../dtype.ts";
import type { FlashKernel } from "../flash.ts";
import type { FusedLoad } from "../fused.ts";
import { name, splitIndex } from "./_fused_expr.ts";
import { elementCode, type Emit, skipHidden } from "./_flash_expr.ts";
import { blockKernel, each, FLASH_WG, type Roles } from "./_flash_block.ts";

/** The flat invocation index `name`, returning past `n`. */
export function invocation(v: string, n: number): string {
  return `  let ${v} = gid.x + gid.y * nwg.x * ${FLASH_WG}u;\n` +
    `  if (${v} >= ${n}u) { return; }`;
}

/** `delta_r = Σ_x gO_rx O_rx − gstat_r` per row (inputs: fwd, ct). */
export function deltaBody(k: FlashKernel): string {
  const w = k.dv + 1;
  return [
    invocation("row", sizeOf(k.batch) * k.tq),
    `  var acc = 0.0;`,
    each(
      k.dv,
      `acc = acc + in1[row * ${w}u + x] * in0[row * ${w}u + x];`,
      "  ",
    ),
    `  out[row] = acc - in1[row * ${w}u + ${k.dv}u];`,
  ].join("\n");
}

/** `out[a] = Σ_p in0[a · parts + p]`, in order. */
export function partialsBody(size: number, parts: number): string {
  return [
    invocation("a", size),
    `  var acc = 0.0;`,
    `  for (var p = 0u; p < ${parts}u; p++) { acc = acc + in0[a * ${parts}u + p]; }`,
    `  out[a] = acc;`,
  ].join("\n");
}

/**
 * `ds_ij` at the grid element of `row` and key row `krow` (u32 lets in
 * scope) into `let ds`, with `p` the weight; `vAt(x)` reads v_j's element x.
 */
function cotangentAt(
  k: FlashKernel,
  e: Emit,
  roles: Roles,
  vAt: (x: string) => string,
): string {
  const w = k.dv + 1;
  const ct = (x: string) => e.read(roles.ct, `row * ${w}u + ${x}`, "float32");
  return [
    `    var dp = 0.0;`,
    each(k.dv, `dp = dp + ${ct("x")} * ${vAt("x")};`),
    k.normaliser === "softmax"
      ? `    let p = exp_(s - ${
        e.read(roles.fwd, `row * ${w}u + ${k.dv}u`, "float32")
      });\n    let ds = p * (dp - ${e.read(roles.delta, "row", "float32")});`
      : `    let p = s;\n    let ds = dp;`,
  ].join("\n");
}

/** The grad_kv kernel: `[dk_j | dv_j]` per key row, blocks of key rows looping over the queries. */
export function gradKvBody(k: FlashKernel, e: Emit, roles: Roles): string {
  const { d, dv } = k, w = dv + 1, R = e.rows;
  const qs = Array.from({ length: k.queries }, (_, q) => q);
  const soft = k.normaliser === "softmax";
  const at = (n: number, x = "x") => `r * ${n}u + ${x}`;
  // q_k,i, gO_i, lse_i and delta_i, shared by the block's key rows.
  const shared = [
    ...qs.map((q) =>
      `    var qr${q}: array<f32, ${d}>;\n` +
      each(
        d,
        `qr${q}[x] = ${e.read(roles.q(q), `row * ${d}u + x`, "float32")};`,
        "    ",
      )
    ),
    `    var go: array<f32, ${dv}>;`,
    each(
      dv,
      `go[x] = ${e.read(roles.ct, `row * ${w}u + x`, "float32")};`,
      "    ",
    ),
    soft
      ? `    let lse = ${e.read(roles.fwd, `row * ${w}u + ${dv}u`, "float32")};`
      : "",
    soft ? `    let delta = ${e.read(roles.delta, "row", "float32")};` : "",
  ].filter((x) => x).join("\n");
  const body = [
    `      var dp = 0.0;`,
    each(dv, `dp = dp + go[x] * vr[${at(dv)}];`),
    soft
      ? `      let p = exp_(s - lse);\n      let ds = p * (dp - delta);`
      : `      let p = s;\n      let ds = dp;`,
    ...qs.map((q) =>
      `      let dr${q} = ds * ${name(e.fn.dDots[q]!)};\n` +
      each(d, `dk[${at(d)}] = dk[${at(d)}] + dr${q} * qr${q}[x];`)
    ),
    each(dv, `dvv[${at(dv)}] = dvv[${at(dv)}] + p * go[x];`),
  ].join("\n");
  return blockKernel(k, e, {
    along: "key",
    roots: [e.fn.score, ...e.fn.dDots],
    regs: [
      `  var kr: array<f32, ${R * d}>;`,
      `  var vr: array<f32, ${R * dv}>;`,
      `  var dk: array<f32, ${R * d}>;`,
      `  var dvv: array<f32, ${R * dv}>;`,
    ],
    init: [
      each(
        d,
        `kr[${at(d)}] = ${e.read(roles.k, `col * ${d}u + x`, "float32")};`,
      ),
      each(
        dv,
        `vr[${at(dv)}] = ${e.read(roles.v, `col * ${dv}u + x`, "float32")};`,
      ),
    ].join("\n"),
    passes: [{
      shared,
      body,
      after: [
        each(d, `out[col * ${d + dv}u + x] = dk[${at(d)}];`),
        each(dv, `out[col * ${d + dv}u + ${d}u + x] = dvv[${at(dv)}];`),
      ].join("\n"),
    }],
    qAt: (q, x) => `qr${q}[${x}]`,
    kAt: (x) => `kr[${at(d, x)}]`,
    carry: [["dk", d], ["dvv", dv]],
  });
}

/**
 * How the grid elements reading captured element `a` are found: the axes
 * the load steps through are solved from `a` (largest stride first) when
 * that is unique, the others (stride 0) are looped over; a load whose
 * strides do not decode uniquely loops over every axis and compares.
 */
export interface Preimage {
  /** Axes solved from `a`, largest stride first. */
  readonly solved: readonly number[];
  /** Axes looped over, outermost first. */
  readonly looped: readonly number[];
  /** Whether each element's address must be compared with `a`. */
  readonly compare: boolean;
  /** Grid elements one invocation may visit: the product of the looped extents. */
  readonly count: number;
}

/** The preimage plan of `load` over `grid`. */
export function preimageOf(
  load: Pick<FusedLoad, "strides">,
  grid: readonly number[],
): Preimage {
  const live = grid.flatMap((n, a) => (n > 1 ? [a] : []));
  const bound = live.filter((a) => load.strides[a] !== 0)
    .sort((x, y) => load.strides[x]! - load.strides[y]!);
  let reach = 0, unique = true;
  for (const a of bound) {
    const s = load.strides[a]!;
    if (s <= reach) unique = false;
    reach += s * (grid[a]! - 1);
  }
  const looped = unique ? live.filter((a) => load.strides[a] === 0) : live;
  return {
    solved: unique ? bound.reverse() : [],
    looped,
    compare: !unique,
    count: looped.reduce((p, a) => p * grid[a]!, 1),
  };
}

/** A load's address pattern: `offset + Σ_a g_a · strides[a]`. */
type Pattern = Pick<FusedLoad, "offset" | "strides">;

/**
 * `out[a · parts + part] = Σ element` over the elements of `grid` that
 * `load` maps to element `a` of a tensor of `size` elements, chunk `part`
 * of them; `element` adds to `sum` with the grid variables `g…` in scope.
 */
function preimageSum(
  load: Pattern,
  grid: readonly number[],
  size: number,
  parts: number,
  element: string,
): string {
  const plan = preimageOf(load, grid);
  const chunk = Math.ceil(plan.count / parts);
  const solve = plan.solved.map((a) => {
    const s = load.strides[a]!;
    return `  let g${a} = rem / ${s};\n  rem = rem - g${a} * ${s};`;
  });
  const inRange = plan.solved.map((a) => `g${a} < ${grid[a]}`);
  const fixed = grid.flatMap((n, a) => n === 1 ? [`  let g${a} = 0;`] : []);
  const lShape = plan.looped.map((a) => grid[a]!);
  const split = splitIndex("f", lShape, "l").split("\n").filter((s) => s);
  const addr = [
    `${load.offset}`,
    ...grid.map((_, a) => `g${a} * ${load.strides[a]}`),
  ].join(" + ");
  return [
    invocation("inv", size * parts),
    `  let a = i32(inv / ${parts}u);`,
    `  let part = inv % ${parts}u;`,
    `  var sum = 0.0;`,
    ...fixed,
    `  var rem = a - ${load.offset};`,
    `  let found = rem >= 0;`,
    ...solve,
    `  if (${
      plan.compare ? "true" : ["found", "rem == 0", ...inRange].join(" && ")
    }) {`,
    `  for (var f = part * ${chunk}u; f < min(${plan.count}u, part * ${chunk}u + ${chunk}u); f++) {`,
    ...split.map((s) => "  " + s),
    ...plan.looped.map((a, at) => `    let g${a} = l${at};`),
    plan.compare ? `    if (${addr} != a) { continue; }` : "",
    element,
    `  }`,
    `  }`,
    `  out[inv] = sum;`,
  ].filter((s) => s).join("\n");
}

/** The load of captured tensor `c` in the score, and the node of `∂s/∂c`. */
export function capturedRead(
  e: Emit,
  c: number,
): { load: FusedLoad; dc: number } {
  const load = e.fn.nodes.find((n) => n.kind === "load" && n.input === c);
  const dc = e.fn.dCaptured[c];
  if (!load || load.kind !== "load" || dc === null || dc === undefined) {
    throw new TypeError(`webgpu: flash grad_captured ${c}: s does not read it`);
  }
  return { load, dc };
}

/** The grad_captured kernel for captured tensor `c`: `parts` partial sums per element. */
export function gradCapturedBody(
  k: FlashKernel,
  e: Emit,
  roles: Roles,
  c: number,
  parts: number,
): string {
  const { d, dv } = k, nb = k.batch.length;
  const { load, dc } = capturedRead(e, c);
  const code = elementCode(
    e,
    [e.fn.score, dc],
    () => true,
    (q, x) => e.read(roles.q(q), `row * ${d}u + ${x}`, "float32"),
    (x) => e.read(roles.k, `krow * ${d}u + ${x}`, "float32"),
    "    ",
  );
  const bStrides = stridesOf(k.batch);
  const bflat = k.batch.map((_, a) => `u32(g${a}) * ${bStrides[a]}u`)
    .join(" + ") || "0u";
  const element = [
    `    let bf = ${bflat};`,
    `    let row = bf * ${k.tq}u + u32(g${nb});`,
    `    let krow = bf * ${k.tk}u + u32(g${nb + 1});`,
    skipHidden(code, "    "),
    code.score,
    `    let s = ${name(e.fn.score)};`,
    cotangentAt(
      k,
      e,
      roles,
      (x) => e.read(roles.v, `krow * ${dv}u + ${x}`, "float32"),
    ),
    `    sum = sum + ds * ${name(dc)};`,
  ].filter((s) => s).join("\n");
  const size = sizeOf(k.captured[c]!.shape);
  return preimageSum(load, [...k.batch, k.tq, k.tk], size, parts, element);
}

/**
 * grad_captured's second step for a captured tensor read at one element
 * per query row (its key stride is 0): `in0` holds each row's sum over the
 * keys, summed here over the rows that read each element.
 */
export function rowSumBody(
  k: FlashKernel,
  load: Pattern,
  size: number,
  parts: number,
): string {
  const rows = [...k.batch, k.tq];
  const st = stridesOf(rows);
  const flat = rows.map((_, a) => `u32(g${a}) * ${st[a]}u`).join(" + ");
  const onRows = { offset: load.offset, strides: load.strides.slice(0, -1) };
  return preimageSum(
    onRows,
    rows,
    size,
    parts,
    `    sum = sum + in0[${flat}];`,
  );
}
