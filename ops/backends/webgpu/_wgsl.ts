// WGSL building blocks shared by heed's kernel generators: the binding
// layout, the metadata accessor, numeric helpers that pin down semantics the
// CPU reference defines (NaN, division by zero, pow, erf), and Threefry.

import type { DType } from "../../dtype.ts";
import { TRANSCENDENTAL } from "./_wgsl_math.ts";

/** Workgroup size of the one-dimensional kernels. */
export const WG = 256;

/** Maximum rank after collapsing axes; metadata has room for this many. */
export const MAX_RANK = 8;

/** u32 words of metadata per dispatch (one 256-byte uniform slot). */
export const META_WORDS = 64;

/** The WGSL scalar type that stores a dtype (bool is a 0/1 u32). */
export function wgslType(dtype: DType): "f32" | "i32" | "u32" {
  return dtype === "float32" ? "f32" : dtype === "int32" ? "i32" : "u32";
}

/**
 * The binding header: metadata uniform at binding 0, inputs at 1..n
 * (read-only storage), the output at n+1.
 */
export function header(
  inputs: readonly string[],
  output: string,
  atomicOut = false,
): string {
  const lines = [
    "struct Meta { v: array<vec4<u32>, 16> }",
    "@group(0) @binding(0) var<uniform> hp: Meta;",
    "fn m(i: u32) -> u32 { return hp.v[i >> 2u][i & 3u]; }",
  ];
  inputs.forEach((t, i) => {
    lines.push(
      `@group(0) @binding(${i + 1}) var<storage, read> in${i}: array<${t}>;`,
    );
  });
  const o = atomicOut ? `atomic<${output}>` : output;
  lines.push(
    `@group(0) @binding(${
      inputs.length + 1
    }) var<storage, read_write> out: array<${o}>;`,
  );
  return lines.join("\n");
}

/** Entry point of a 1-D kernel: `i` is the flat output index, bounded by meta[0]. */
export function entry1d(body: string): string {
  return `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= m(0)) { return; }
${body}
}`;
}

/** Numeric helpers with the CPU reference's semantics. */
export const MATH: string = `
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
// Through a var: a constant NaN or infinity is a shader-creation error in
// WGSL (Chrome's Tint enforces it; wgpu under Deno does not).
fn f32_nan() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); }
fn f32_inf() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }
// 1/(1 + e^-x) without overflow. (A literal 1.0 numerator would be
// compiled to an approximate reciprocal.)
fn logistic(x: f32) -> f32 {
  if (x >= 0.0) { return opaque(1.0) / (1.0 + exp_(-x)); }
  let e = exp_(x);
  return e / (1.0 + e);
}
fn log_all(x: f32) -> f32 {
  if (is_nan(x) || x < 0.0) { return f32_nan(); }
  if (x == 0.0) { return -f32_inf(); }
  if (x == f32_inf()) { return x; }
  return log_(x);
}
${TRANSCENDENTAL}
// Compensated sums (Neumaier): a pair (sum, lost low-order part).
fn two_sum_err(a: f32, b: f32, t: f32) -> f32 {
  let big = select(b, a, abs(a) >= abs(b));
  let small = select(a, b, abs(a) >= abs(b));
  return opaque(big - t) + small;
}
fn add2(p: vec2<f32>, v: f32) -> vec2<f32> {
  let t = opaque(p.x + v);
  return vec2<f32>(t, p.y + two_sum_err(p.x, v, t));
}
fn merge2(p: vec2<f32>, q: vec2<f32>) -> vec2<f32> {
  let t = opaque(p.x + q.x);
  return vec2<f32>(t, (p.y + q.y) + two_sum_err(p.x, q.x, t));
}
// The rounded sum; an infinite or NaN sum as it is (its error term is NaN).
fn fin2(p: vec2<f32>) -> f32 { return select(p.x, p.x + p.y, abs(p.x) < f32_inf()); }
fn sign_bit(x: f32) -> bool { return (bitcast<u32>(x) >> 31u) == 1u; }
fn is_odd_int(y: f32) -> bool {
  let a = abs(y);
  return a < 16777216.0 && floor(a) == a && (u32(a) & 1u) == 1u;
}
// x^y as the CPU reference (C's pow): x^0 = 1^y = 1 even for NaN, (-1)^±∞ = 1,
// (±0)^y and (±∞)^y keep the sign of x for odd integers y.
fn pow_f32(x: f32, y: f32) -> f32 {
  if (y == 0.0 || x == 1.0) { return 1.0; }
  if (is_nan(x) || is_nan(y)) { return f32_nan(); }
  let ax = abs(x);
  let ay = abs(y);
  if (ay == f32_inf()) {
    if (ax == 1.0) { return 1.0; }
    return select(0.0, f32_inf(), (ax > 1.0) == (y > 0.0));
  }
  let odd = is_odd_int(y);
  if (ax == 0.0 || ax == f32_inf()) {
    let mag = select(0.0, f32_inf(), (ax == 0.0) == (y < 0.0));
    return select(mag, -mag, sign_bit(x) && odd);
  }
  if (x < 0.0 && floor(y) != y) { return f32_nan(); }
  let r = pow_abs(ax, y);
  return select(r, -r, x < 0.0 && odd);
}
fn pow_i32(x: i32, y: i32) -> i32 {
  if (y < 0) {
    if (x == 1) { return 1; }
    if (x == -1) { return select(1, -1, (y & 1) == 1); }
    return 0;
  }
  var r = 1;
  var b = x;
  var e = y;
  loop {
    if (e == 0) { break; }
    if ((e & 1) == 1) { r = r * b; }
    b = b * b;
    e = e >> 1u;
  }
  return r;
}
fn max_f32(a: f32, b: f32) -> f32 { return select(max(a, b), f32_nan(), is_nan(a) || is_nan(b)); }
fn min_f32(a: f32, b: f32) -> f32 { return select(min(a, b), f32_nan(), is_nan(a) || is_nan(b)); }
fn div_i32(a: i32, b: i32) -> i32 { return select(a / select(b, 1, b == 0), 0, b == 0); }
fn f32_to_i32(x: f32) -> i32 {
  if (is_nan(x)) { return 0; }
  if (x >= 2147483647.0) { return 2147483647; }
  if (x <= -2147483648.0) { return -2147483647 - 1; }
  return i32(x);
}
`;

/** Threefry-2x32 (20 rounds) in WGSL, matching `ops/threefry.ts`. */
export const THREEFRY = `
fn rotl(x: u32, r: u32) -> u32 { return (x << r) | (x >> (32u - r)); }
fn threefry(k0: u32, k1: u32, c0: u32, c1: u32) -> vec2<u32> {
  var ks = array<u32, 3>(k0, k1, 0x1bd11bdau ^ k0 ^ k1);
  var rot = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
  var x0 = c0 + k0;
  var x1 = c1 + k1;
  for (var block = 0u; block < 5u; block++) {
    for (var r = 0u; r < 4u; r++) {
      x0 = x0 + x1;
      x1 = rotl(x1, rot[(block % 2u) * 4u + r]) ^ x0;
    }
    x0 = x0 + ks[(block + 1u) % 3u];
    x1 = x1 + ks[(block + 2u) % 3u] + block + 1u;
  }
  return vec2<u32>(x0, x1);
}
`;

/** The f32 bit pattern of a JS number (for metadata words). */
export function f32Bits(x: number): number {
  const f = new Float32Array([x]);
  return new Uint32Array(f.buffer)[0]!;
}
