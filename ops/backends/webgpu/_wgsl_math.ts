// Transcendental functions in WGSL with the CPU reference's ulp bounds and
// special values. WGSL's builtins are too loose for them (`exp` is allowed
// 3 + 2|x| ulp, `log` an absolute 2^-21), so exp, log, log1p, tanh and erf
// are written out: range reduction, then a polynomial, as the wasm kernels
// (`../wasm/_math.ts`, Cephes' single-precision polynomials) do.
//
// The shader compiler may rewrite float expressions as if they were exact:
// Mesa's NIR turns `(1 + x) - 1` into `x` and `1 + x == 1` into `x == 0`,
// which silently undoes every error-free transformation (Fast2Sum,
// Cody-Waite). `opaque(v)` hides a value from the optimiser: it ORs in
// metadata word {@link ZERO_WORD}, which is zero at run time but unknown
// when the shader is compiled. It needs `m()` from the binding header.

/** Metadata word that is always 0 (the backend zero-fills each slot). */
export const ZERO_WORD = 63;

/** A WGSL float literal that parses back to exactly the float32 `c`. */
function lit(c: number): string {
  const s = Math.fround(c).toPrecision(9);
  return s.includes("e") || s.includes(".") ? s : `${s}.0`;
}

/** `c[0] + c[1]·t + c[2]·t² + ...` by Horner's rule, as WGSL. */
function poly(t: string, c: readonly number[]): string {
  let s = lit(c[c.length - 1]!);
  for (let k = c.length - 2; k >= 0; k--) s = `(${s}) * ${t} + ${lit(c[k]!)}`;
  return s;
}

// Cephes expf: e^r ≈ 1 + r + r²·EXP_P(r) on |r| ≤ ln2/2.
const EXP_P = [
  5.0000001201e-1,
  1.6666665459e-1,
  4.1665795894e-2,
  8.3334519073e-3,
  1.3981999507e-3,
  1.9875691500e-4,
];

// Cephes logf: ln(1 + t) ≈ t - t²/2 + t³·LOG_P(t) on [√½ - 1, √2 - 1].
const LOG_P = [
  3.3333331174e-1,
  -2.4999993993e-1,
  2.0000714765e-1,
  -1.6668057665e-1,
  1.4249322787e-1,
  -1.2420140846e-1,
  1.1676998740e-1,
  -1.1514610310e-1,
  7.0376836292e-2,
];

// Cephes tanhf: tanh x ≈ x + x·z·TANH_P(z), z = x², on |x| < 0.625.
const TANH_P = [
  -3.33332819422e-1,
  1.33314422036e-1,
  -5.37397155531e-2,
  2.06390887954e-2,
  -5.70498872745e-3,
];

// erf x = x + x·ERF_Q(x²) on |x| < 1: least squares on Chebyshev nodes of
// erf(√z)/√z - 1 over z in [0, 1]; error 3.4e-11 before rounding.
const ERF_Q = [
  0.12837916612625122,
  -0.37612637877464294,
  0.11283782124519348,
  -0.026865428313612938,
  0.00522102415561676,
  -0.0008483977289870381,
  0.0001126525312429294,
  -0.000009665133802627679,
];

// erfc x ≈ P(x - c) on [c - 1/2, c + 1/2) for c = 1.5, 2.5, 3.5: least
// squares on Chebyshev nodes, absolute error below 2e-13 before rounding.
const ERFC_PIECES: readonly (readonly [number, readonly number[]])[] = [
  [1.5, [
    0.0338948518037796,
    -0.11893028765916824,
    0.17839543521404266,
    -0.13875220715999603,
    0.04459896683692932,
    0.014870842918753624,
    -0.01932804100215435,
    0.004701162222772837,
    0.002377297729253769,
    -0.0015404094010591507,
    0.000039412840123986825,
  ]],
  [2.5, [
    0.00040695202187635005,
    -0.002178284339606762,
    0.005445710849016905,
    -0.00835008267313242,
    0.008622352965176105,
    -0.006117499899119139,
    0.0027988699730485678,
    -0.0005410771700553596,
    -0.0002636054705362767,
    0.0002453950291965157,
    -0.00006833027146058157,
  ]],
  [3.5, [
    7.430984396705753e-7,
    -0.000005399429028329905,
    0.000018897975678555667,
    -0.000042295316234230995,
    0.00006771863263566047,
    -0.00008212085231207311,
    0.00007773039396852255,
    -0.00005814713586005382,
    0.00003436460247030482,
    -0.000015544095731456764,
    0.0000042765282159962226,
  ]],
];

const erfcPieces = ERFC_PIECES.map(([c, p], i) =>
  `  ${i ? "} else " : ""}if (a < ${lit(c + 0.5)}) {
    e = ${poly(`(a - ${lit(c)})`, p)};`
).join("\n");

/**
 * WGSL: `opaque`, `exp_`, `log_`, `log1p_`, `tanh_`, `erf_`, `pow_abs`,
 * `sin_`, `cos_`.
 * Needs `is_nan`, `f32_nan`, `f32_inf` and `m`.
 */
export const TRANSCENDENTAL: string = `
fn opaque(v: f32) -> f32 { return bitcast<f32>(bitcast<u32>(v) | m(${ZERO_WORD}u)); }
fn exp_(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  if (x > 88.7228394) { return f32_inf(); }
  if (x < -103.972084) { return 0.0; }
  // x = n·ln2 + r, ln2 in two parts (n·0.693359375 is exact).
  let n = floor(x * 1.44269504 + 0.5);
  let r = opaque(x - n * 0.693359375) + n * 2.12194440e-4;
  let p = (${poly("r", EXP_P)}) * (r * r) + r + 1.0;
  // 2^n as two factors, so that subnormal results round once.
  let ni = i32(n);
  let n1 = ni >> 1u;
  return p * bitcast<f32>(u32(n1 + 127) << 23u) * bitcast<f32>(u32(ni - n1 + 127) << 23u);
}
// sin or cos as Cephes' sinf/cosf: the octant j of |x| (rounded to even),
// r = |x| - j·π/4 with π/4 in three parts (each product exact below 8192),
// then the sine or cosine polynomial on [-π/4, π/4]: about 1 ulp, where
// WGSL's builtins may be off by 2^-11 (SwiftShader in Chrome was by 4e-5).
// Past 8192 the reduction loses bits, and the builtins are used.
fn sincos_(x: f32, cosine: bool) -> f32 {
  if ((bitcast<u32>(x) & 0x7fffffffu) >= 0x7f800000u) { return f32_nan(); }
  let a = abs(x);
  if (a > 8192.0) { return select(sin(x), cos(x), cosine); }
  var j = u32(a * 1.27323954);
  j = j + (j & 1u);
  let y = f32(j);
  let r = opaque(opaque(a - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
  let z = r * r;
  // Quadrant of |x|; cos x = sin(x + π/2) is one quadrant on.
  let q = (j >> 1u) + select(0u, 1u, cosine);
  var v: f32;
  if ((q & 1u) == 1u) {
    v = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  } else {
    v = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  }
  if ((q & 2u) == 2u) { v = -v; }
  // sin is odd (the sign bit, so sin(-0) = -0); cos is even.
  if (!cosine && (bitcast<u32>(x) >> 31u) == 1u) { v = -v; }
  return v;
}
fn sin_(x: f32) -> f32 { return sincos_(x, false); }
fn cos_(x: f32) -> f32 { return sincos_(x, true); }
fn log_(x: f32) -> f32 {
  // x > 0 and finite. x = f·2^e with f in [√½, √2).
  var xs = x;
  var e = 0.0;
  if (x < 1.17549435e-38) { xs = x * 8388608.0; e = -23.0; }
  let bits = bitcast<u32>(xs);
  e = e + f32(i32(bits >> 23u) - 126);
  var t = bitcast<f32>((bits & 0x007fffffu) | 0x3f000000u);
  if (t < 0.707106781) { e = e - 1.0; t = opaque(t + t) - 1.0; } else { t = t - 1.0; }
  let z = t * t;
  let y = t * z * (${poly("t", LOG_P)}) + e * -2.12194440e-4 - 0.5 * z;
  return (t + y) + e * 0.693359375;
}
fn log1p_(x: f32) -> f32 {
  if (is_nan(x) || x < -1.0) { return f32_nan(); }
  if (x == -1.0) { return -f32_inf(); }
  if (x == f32_inf()) { return x; }
  if (x > -0.292893219 && x < 0.414213562) {
    // The log polynomial at t = x itself: no rounding of 1 + x at all.
    let z = x * x;
    return x + (x * z * (${poly("x", LOG_P)}) - 0.5 * z);
  }
  // 1 + x = u + c exactly (Fast2Sum), and ln(u + c) = ln u + c/u.
  let u = opaque(1.0 + x);
  let c = select(x - opaque(u - 1.0), 1.0 - opaque(u - x), x > 1.0);
  return log_(u) + c / u;
}
fn tanh_(x: f32) -> f32 {
  let a = abs(x);
  // Below 1e-4, x²/3 < 2^-26 and tanh x rounds to x (±0 and NaN included).
  if (a < 1e-4 || is_nan(x)) { return x; }
  if (a < 0.625) {
    let z = x * x;
    return x + x * (z * (${poly("z", TANH_P)}));
  }
  // 1 - 2/(e^2a + 1): ±1 once e^2a overflows.
  let r = 1.0 - opaque(2.0) / (exp_(a + a) + 1.0);
  return select(r, -r, x < 0.0);
}
// Error-free product a·b = p + err (Dekker; Veltkamp's split at 12 bits).
fn split_(a: f32) -> vec2<f32> {
  let c = opaque(4097.0 * a);
  let hi = c - opaque(c - a);
  return vec2<f32>(hi, a - hi);
}
fn two_prod(a: f32, b: f32) -> vec2<f32> {
  let p = opaque(a * b);
  let sa = split_(a);
  let sb = split_(b);
  return vec2<f32>(p, ((sa.x * sb.x - p) + sa.x * sb.y + sa.y * sb.x) + sa.y * sb.y);
}
// a + b = s + err exactly when |a| ≥ |b| (Fast2Sum).
fn fast2sum(a: f32, b: f32) -> vec2<f32> {
  let s = opaque(a + b);
  return vec2<f32>(s, b - opaque(s - a));
}
// ln x as hi + lo with about 40 correct bits, for x > 0 normal and finite.
fn log_hi_lo(x: f32) -> vec2<f32> {
  let bits = bitcast<u32>(x);
  var e = f32(i32(bits >> 23u) - 126);
  var t = bitcast<f32>((bits & 0x007fffffu) | 0x3f000000u);
  if (t < 0.707106781) { e = e - 1.0; t = opaque(t + t) - 1.0; } else { t = t - 1.0; }
  // ln(1 + t) = t - t²/2 + t³·LOG_P(t), with t - t²/2 kept exactly.
  let s = two_prod(t, t);
  let h = -0.5 * s.x;
  let a = opaque(t + h);
  let tail = t * s.x * (${poly("t", LOG_P)}) - 0.5 * s.y + (h - opaque(a - t));
  // + e·ln2, with ln2 = 0.693359375 - 2.12194440e-4 (e·0.693359375 is exact).
  let k = e * 0.693359375;
  let b = opaque(k + a);
  return fast2sum(b, (a - opaque(b - k)) + tail + e * -2.12194440e-4);
}
// e^(hi + lo) for |hi + lo| below about 104, as exp_.
fn exp_hi_lo(hi: f32, lo: f32) -> f32 {
  if (hi > 88.7228394) { return f32_inf(); }
  if (hi < -103.972084) { return 0.0; }
  let n = floor(hi * 1.44269504 + 0.5);
  let r = opaque(hi - n * 0.693359375) + (n * 2.12194440e-4 + lo);
  let p = (${poly("r", EXP_P)}) * (r * r) + r + 1.0;
  let ni = i32(n);
  let n1 = ni >> 1u;
  return p * bitcast<f32>(u32(n1 + 127) << 23u) * bitcast<f32>(u32(ni - n1 + 127) << 23u);
}
// |x|^y for finite x ≠ 0 and finite y: e^(y·ln|x|) with ln|x| and the
// product carried in two floats, so that y·ln|x| up to ±104 loses nothing.
fn pow_abs(ax: f32, y: f32) -> f32 {
  let est = y * log2(ax);
  if (est > 140.0) { return f32_inf(); }
  if (est < -170.0) { return 0.0; }
  var x = ax;
  var scale = 0.0;
  if (ax < 1.17549435e-38) { x = ax * 8388608.0; scale = -23.0 * 0.693147181; }
  var l = log_hi_lo(x);
  if (scale != 0.0) { l = vec2<f32>(l.x + scale, l.y); }
  let p = two_prod(y, l.x);
  let q = fast2sum(p.x, p.y + y * l.y);
  return exp_hi_lo(q.x, q.y);
}
fn erf_(x: f32) -> f32 {
  let a = abs(x);
  if (a < 1.0 || is_nan(x)) {
    let z = x * x;
    return x + opaque(x * (${poly("z", ERF_Q)}));
  }
  var e = 0.0;
${erfcPieces}
  }
  let r = 1.0 - e;
  return select(r, -r, x < 0.0);
}
`;
