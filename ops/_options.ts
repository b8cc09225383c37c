/**
 * Validation of option bags: an unknown key is a `TypeError` that names the
 * key and the keys the function knows, so a misspelt option (`argnum` for
 * `argnums`) is never silently ignored.
 *
 * @module
 */

/**
 * Throws a `TypeError` if `opts` is not a plain object or has a key outside
 * `known`. `undefined` and `null` pass (no options given).
 */
export function checkOptions(
  op: string,
  opts: unknown,
  known: readonly string[],
): void {
  if (opts === undefined || opts === null) return;
  if (typeof opts !== "object" || Array.isArray(opts)) {
    throw new TypeError(
      `${op}: options must be an object, got ${
        Array.isArray(opts) ? "an array" : typeof opts
      }`,
    );
  }
  for (const key of Object.keys(opts)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `${op}: unknown option "${key}" (known: ${
          known.length ? known.join(", ") : "none"
        })`,
      );
    }
  }
}
