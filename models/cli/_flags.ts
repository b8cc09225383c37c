// What every command line shares: reading `--flag value` and `--flag=value`,
// the rules every value must meet (one rule, one wording), and which
// `--attention` values are files.

import type { Average } from "../train/fit_types.ts";

/** Whether an `--attention` value names a file of the user's (a path to .ts/.js). */
export function isAttentionPath(v: string): boolean {
  return /\.(ts|mts|js|mjs)$/.test(v) || /^(\.{0,2}\/|file:)/.test(v);
}

/** Reads flag values by the rules every flag shares, with one wording per rule. */
export const rules = {
  /** An integer ≥ `min`. */
  integer(flag: string, v: string | undefined, min: 0 | 1): number {
    const n = Number(v);
    if (v === undefined || v === "" || !Number.isInteger(n) || n < min) {
      throw new RangeError(
        `${flag}: expected an integer of at least ${min}, got ${
          v ?? "nothing"
        }`,
      );
    }
    return n;
  },
  /** A finite number above 0. */
  positive(flag: string, v: string | undefined): number {
    const n = Number(v);
    if (v === undefined || v === "" || !Number.isFinite(n) || n <= 0) {
      throw new RangeError(
        `${flag}: expected a number above 0, got ${v ?? "nothing"}`,
      );
    }
    return n;
  },
  /** A number in [0, 1). */
  fraction(flag: string, v: string | undefined): number {
    const n = Number(v);
    if (v === undefined || v === "" || !(n >= 0 && n < 1)) {
      throw new RangeError(
        `${flag}: expected a number in [0, 1), got ${v ?? "nothing"}`,
      );
    }
    return n;
  },
  /** One of `choices`. */
  oneOf<C extends string>(
    flag: string,
    v: string | undefined,
    choices: readonly C[],
  ): C {
    if (!choices.includes(v as C)) {
      const list = choices.slice(0, -1).join(", ") + " or " + choices.at(-1);
      throw new RangeError(`${flag}: expected ${list}, got ${v ?? "nothing"}`);
    }
    return v as C;
  },
  /** A weight average, `ema:DECAY` (DECAY in (0, 1)) or `swa:EPOCH` (at least 1). */
  average(flag: string, v: string | undefined): Average {
    const [kind, x] = (v ?? "").split(":", 2);
    if (kind === "ema" && x !== undefined) {
      const decay = Number(x);
      if (x !== "" && decay > 0 && decay < 1) return { kind, decay };
    } else if (kind === "swa" && x !== undefined) {
      const start = Number(x);
      if (x !== "" && Number.isInteger(start) && start >= 1) {
        return { kind, start };
      }
    }
    throw new RangeError(
      `${flag}: expected ema:DECAY with DECAY in (0, 1) or swa:EPOCH with EPOCH at least 1, got ${
        v ?? "nothing"
      }`,
    );
  },
  /** A non-empty string. */
  text(flag: string, v: string | undefined): string {
    if (v === undefined || v === "") {
      throw new RangeError(`${flag}: expected a value, got nothing`);
    }
    return v;
  },
};

/** Splits `--flag=value` and reads a flag's value from the next argument otherwise. */
export function* flags(
  argv: readonly string[],
): Generator<[string, () => string | undefined]> {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--")
      ? arg.split(/=(.*)/s, 2) as [string, string | undefined]
      : [arg, undefined];
    yield [flag, () => inline ?? argv[++i]];
  }
}
