// What the playground's flows (playground.ts) check with: failures,
// closeness, and the composition recomputed here with heed on the CPU.

import type { Page } from "npm:playwright-core@1.65.2";
import { dispose } from "../../ops/mod.ts";
import type { ComposeResult } from "../../web/compose_view.ts";
import { makeInputs } from "../../web/inputs.ts";
import { buildAttention, readsLengths } from "../../web/spec.ts";

export type { ComposeResult };

/** The page's handles (web/main.ts puts them on globalThis.playground). */
export const P = "(globalThis.playground)";

/** Options of {@link runPlayground}. */
export interface PlaygroundOptions {
  /** Only the flows whose names contain it. */
  readonly filter?: string | undefined;
  /** A folder to save the screenshots in (for a person to look at). */
  readonly screenshots?: string | undefined;
}

/** One flow: drives the page and throws on a failed check. */
export type Flow = (page: Page, opts: PlaygroundOptions) => Promise<void>;

/** Runs one named check and reports it (ok or FAILED, with its time). */
export type Report = (name: string, fn: () => Promise<void>) => Promise<void>;

/** Throws an Error with `message`. */
export function fail(message: string): never {
  throw new Error(message);
}

/** Throws unless |actual − expected| ≤ tol. */
export function near(
  actual: number,
  expected: number,
  tol: number,
  what: string,
): void {
  if (!(Math.abs(actual - expected) <= tol)) {
    fail(`${what}: ${actual}, expected ${expected} (±${tol})`);
  }
}

/**
 * Recomputes the page's composition here (same state, same inputs) with
 * heed, and compares every weight and output the page showed.
 */
export async function composeTruth(r: ComposeResult): Promise<void> {
  const x = makeInputs(r.inputs);
  const attend = buildAttention(r.state, r.inputs.d);
  const opts = readsLengths(r.state) ? { lengths: [r.state.length] } : {};
  const { output, weights } = attend(x.q, x.k, x.v, opts);
  const [w, o] = await Promise.all([weights.data(), output.data()]);
  dispose([x, output, weights]);
  if (x.labels.join("|") !== r.labels.join("|")) {
    fail(`tokens ${x.labels} here, ${r.labels} in the page`);
  }
  const pw = r.weights.flat(2), po = r.output.flat();
  if (pw.length !== w.length || po.length !== o.length) {
    fail(
      `the page showed ${pw.length} weights and ${po.length} outputs, heed gives ${w.length} and ${o.length}`,
    );
  }
  pw.forEach((v, i) => near(v, w[i] as number, 1e-4, `weight ${i}`));
  po.forEach((v, i) => near(v, o[i] as number, 1e-3, `output ${i}`));
}
