// The metadata a checkpoint can store: JSON values only (finite numbers,
// strings, booleans, null, arrays, plain objects), keys outside the reserved
// `heed.` prefix, a step and a PRNG key of the right form. Each value is
// stored JSON-encoded in the safetensors `__metadata__` string map.

import type { CheckpointMetadata } from "./checkpoint.ts";

function checkJson(v: unknown, where: string, depth = 0): void {
  const bad = (what: string) =>
    new TypeError(
      `saveCheckpoint: metadata ${where} ${what}, which JSON cannot store`,
    );
  if (depth > 256) throw bad("is nested too deeply");
  if (v === null || typeof v === "string" || typeof v === "boolean") return;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw bad(`is ${v}`);
    return;
  }
  if (Array.isArray(v)) {
    return v.forEach((x, i) => checkJson(x, `${where}[${i}]`, depth + 1));
  }
  if (
    typeof v === "object" &&
    [Object.prototype, null].includes(Object.getPrototypeOf(v))
  ) {
    for (const [k, x] of Object.entries(v)) {
      checkJson(x, `${where}.${k}`, depth + 1);
    }
    return;
  }
  throw bad(
    `is ${
      v === undefined
        ? "undefined"
        : typeof v === "object"
        ? `a ${v.constructor?.name} object`
        : `a ${typeof v}`
    }`,
  );
}

/** The metadata as safetensors strings, after checking every value. */
export function checkMetadata(meta: object): Record<string, string> {
  const m = meta as CheckpointMetadata;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) {
    if (k.startsWith("heed.")) {
      throw new TypeError(`saveCheckpoint: metadata key "${k}" is reserved`);
    }
    if (v === undefined) continue;
    checkJson(v, k);
    Object.defineProperty(out, k, {
      value: JSON.stringify(v),
      enumerable: true,
    });
  }
  if (m.step !== undefined && (!Number.isSafeInteger(m.step) || m.step < 0)) {
    throw new TypeError(
      `saveCheckpoint: metadata step must be a non-negative integer, got ${m.step}`,
    );
  }
  const pk = m.prngKey;
  if (
    pk !== undefined &&
    !(pk.length === 2 &&
      pk.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff))
  ) {
    throw new TypeError(
      "saveCheckpoint: metadata prngKey must be two uint32 words (key.words)",
    );
  }
  return out;
}
