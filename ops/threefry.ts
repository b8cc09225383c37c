/**
 * Threefry-2x32 with 20 rounds (Salmon et al. 2011, "Parallel random numbers:
 * as easy as 1, 2, 3"), the counter-based generator behind heed's PRNG, as
 * in JAX. Every backend computes the same bits from the same key and counter.
 *
 * @module
 */

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/**
 * Encrypts the counter `(c0, c1)` under the key `(k0, k1)`; all words are
 * unsigned 32-bit integers. Returns two unsigned 32-bit words.
 */
export function threefry2x32(
  k0: number,
  k1: number,
  c0: number,
  c1: number,
): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (0x1bd11bda ^ k0 ^ k1) >>> 0];
  let x0 = (c0 + ks[0]!) >>> 0;
  let x1 = (c1 + ks[1]!) >>> 0;
  for (let block = 0; block < 5; block++) {
    for (let r = 0; r < 4; r++) {
      x0 = (x0 + x1) >>> 0;
      x1 = rotl(x1, ROTATIONS[(block % 2) * 4 + r]!) ^ x0;
    }
    // Key injection after every four rounds.
    x0 = (x0 + ks[(block + 1) % 3]!) >>> 0;
    x1 = (x1 + ks[(block + 2) % 3]! + block + 1) >>> 0;
  }
  return [x0, x1];
}

/**
 * The 32 random bits of element `i` of a sample drawn with key `(k0, k1)`:
 * word `i & 1` of `threefry2x32(k0, k1, i >>> 1, 0)`, so one encryption
 * serves two neighbouring elements.
 */
export function randomBits(k0: number, k1: number, i: number): number {
  return threefry2x32(k0, k1, i >>> 1, 0)[i & 1]!;
}

/**
 * Fills `out[i]` with uniform floats for elements `0..out.length-1` (two per
 * encryption): `threefry2x32` unrolled on int32 words (`| 0` wraps as
 * `>>> 0` does), without allocating, since dropout draws millions.
 */
export function fillUniform(k0: number, k1: number, out: Float32Array): void {
  const n = out.length;
  const a = k0 | 0, b = k1 | 0, c = (0x1bd11bda ^ k0 ^ k1) | 0;
  for (let j = 0; 2 * j < n; j++) {
    let x0 = (j + a) | 0, x1 = b;
    // Each line: four rounds (rotations 13 15 26 6, then 17 29 16 24), then
    // the key injection of that block.
    x0 = (x0 + x1) | 0, x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
    x0 = (x0 + b) | 0, x1 = (x1 + c + 1) | 0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 17) | (x1 >>> 15)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 29) | (x1 >>> 3)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 16) | (x1 >>> 16)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 24) | (x1 >>> 8)) ^ x0;
    x0 = (x0 + c) | 0, x1 = (x1 + a + 2) | 0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
    x0 = (x0 + a) | 0, x1 = (x1 + b + 3) | 0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 17) | (x1 >>> 15)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 29) | (x1 >>> 3)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 16) | (x1 >>> 16)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 24) | (x1 >>> 8)) ^ x0;
    x0 = (x0 + b) | 0, x1 = (x1 + c + 4) | 0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
    x0 = (x0 + x1) | 0, x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
    x0 = (x0 + c) | 0, x1 = (x1 + a + 5) | 0;
    out[2 * j] = (x0 >>> 9) * 1.1920928955078125e-7;
    if (2 * j + 1 < n) out[2 * j + 1] = (x1 >>> 9) * 1.1920928955078125e-7;
  }
}

/** Maps 32 random bits to a float in [0, 1) with 23 bits of mantissa. */
export function bitsToUniform(bits: number): number {
  return (bits >>> 9) * 1.1920928955078125e-7; // 2^-23
}
