// Runs a check for every ordered pair of distinct backends: inputs made on
// `home`, ops called while `other` is the default.

import * as h from "../../mod.ts";

/**
 * Calls `make()` with `home` as the default backend, then `check(inputs,
 * home, other)` with `other` as the default, for every pair; restores the
 * default afterwards.
 */
export async function acrossBackends<T>(
  make: () => T,
  check: (
    inputs: T,
    home: h.BackendName,
    other: h.BackendName,
  ) => Promise<void>,
): Promise<void> {
  const prev = h.defaultBackend();
  try {
    for (const home of h.backends()) {
      for (const other of h.backends()) {
        if (home === other) continue;
        await h.setBackend(home);
        const inputs = make();
        await h.setBackend(other);
        await check(inputs, home, other);
      }
    }
  } finally {
    await h.setBackend(prev);
  }
}
