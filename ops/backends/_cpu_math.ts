/**
 * Scalar maths the CPU backend needs and JavaScript lacks: `erf`, a
 * numerically stable logistic, IEEE-style `pow`, and int32 arithmetic.
 *
 * @module
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π
const INV_SQRT_PI = 0.5641895835477563; // 1/√π

/**
 * The error function in double precision (absolute error below 1e-15).
 *
 * |x| < 2: the Maclaurin series erf x = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1)),
 * summed until the terms vanish. |x| ≥ 2: erf x = 1 - erfc x with Laplace's
 * continued fraction erfc x = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
 * evaluated bottom-up. Beyond |x| = 6, erfc x < 3e-17 and erf x = ±1.
 */
export function erf(x: number): number {
  if (x !== x) return NaN;
  const ax = Math.abs(x);
  if (ax < 2) {
    const x2 = x * x;
    let term = x; // (-1)^n x^(2n+1) / n!
    let sum = x;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  if (ax >= 6) return x > 0 ? 1 : -1;
  let f = ax;
  for (let n = 40; n >= 1; n--) f = ax + (n / 2) / f;
  const erfc = Math.exp(-ax * ax) * INV_SQRT_PI / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

/** 1 / (1 + e^(-x)) without overflow: e^(-|x|) never exceeds 1. */
export function logistic(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/**
 * x^y as C's `pow` and NumPy define it: 1^y = 1 and x^0 = 1 even for NaN,
 * and (-1)^±∞ = 1. (JavaScript's `**` gives NaN for those.)
 */
export function powFloat(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return x ** y;
}

/**
 * Integer power with int32 wrap-around, by repeated squaring. A negative
 * exponent gives 0, except for the bases 1 and -1 (NumPy raises there).
 */
export function powInt(x: number, y: number): number {
  if (y < 0) {
    if (x === 1) return 1;
    if (x === -1) return (y & 1) === 0 ? 1 : -1;
    return 0;
  }
  let result = 1;
  let base = x | 0;
  let e = y;
  while (e > 0) {
    if (e & 1) result = Math.imul(result, base);
    base = Math.imul(base, base);
    e >>>= 1;
  }
  return result;
}

/** Integer division truncating toward zero; division by zero gives 0. */
export function divInt(x: number, y: number): number {
  return y === 0 ? 0 : (x / y) | 0;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** A float to int32: truncates toward zero, NaN gives 0, clamps the range. */
export function floatToInt32(x: number): number {
  if (x !== x) return 0;
  if (x <= INT32_MIN) return INT32_MIN;
  if (x >= INT32_MAX) return INT32_MAX;
  return x | 0;
}

/** The least and greatest int32. */
export const INT32_RANGE: readonly [number, number] = [INT32_MIN, INT32_MAX];
