// A sweep over the playground's compositions (used by playground.ts):
// every score, normaliser, modifier, mask and combination is set through
// the page's handle, drawn, and compared with heed computed here.

import type { Page } from "npm:playwright-core@1.65.2";
import { DEFAULT_INPUTS, type InputState } from "../../web/inputs.ts";
import {
  COMBINES,
  type ComposeState,
  DEFAULT_MODULE,
  DEFAULT_STATE,
  type ModuleState,
  NORMALISERS,
  SCORES,
} from "../../web/spec.ts";
import {
  type ComposeResult,
  composeTruth,
  fail,
  type Flow,
  P,
} from "./_playground_checks.ts";

const RANDOM: InputState = {
  mode: "random",
  sentence: "",
  t: 5,
  d: 4,
  seed: 3,
};
const SENTENCE: InputState = {
  mode: "sentence",
  sentence: "Attention is all you need, or is it?",
  t: 1,
  d: 6,
  seed: 1,
};

const mod = (m: Partial<ModuleState>): ModuleState => ({
  ...DEFAULT_MODULE,
  ...m,
});

/** The compositions of the sweep, with the inputs each runs on. */
function cases(): [ComposeState, InputState][] {
  const out: [ComposeState, InputState][] = [];
  for (const score of SCORES) {
    const m = mod({
      score,
      normaliser: "identity",
      temperature: 2,
      softCap: 3,
    });
    out.push([{ ...DEFAULT_STATE, modules: [m] }, RANDOM]);
  }
  for (const normaliser of NORMALISERS) {
    const m = mod({ normaliser, alibi: 0.5, window: 2, padding: true });
    out.push([{ ...DEFAULT_STATE, length: 3, modules: [m] }, SENTENCE]);
  }
  const three = [
    mod({ score: "cosine", causal: true }),
    mod({ score: "additive", normaliser: "sparsemax" }),
    mod({ score: "seedGated", normaliser: "sigmoid" }),
  ];
  for (const combine of COMBINES) {
    out.push([{ ...DEFAULT_STATE, combine, modules: three }, SENTENCE]);
  }
  return out;
}

/** Sets every composition of the sweep in the page and checks what it shows. */
export const sweepFlow: readonly [string, Flow] = [
  "compose: every score, normaliser, modifier, mask and combination matches heed",
  async (page: Page) => {
    for (const [state, inputs] of cases()) {
      const r = await page.evaluate(
        ([s, i]) =>
          (globalThis as unknown as {
            playground: {
              compose: { set(s: unknown, i: unknown): Promise<unknown> };
            };
          }).playground.compose.set(s, i),
        [state, inputs] as const,
      ) as ComposeResult;
      const what = JSON.stringify(state.modules.map((m) => m.score));
      const status = await page.getAttribute("#compose-status", "class");
      if (status !== "ok") fail(`${what}: the status is ${status}`);
      const maps = await page.locator("canvas[data-heatmap]").count();
      if (maps !== r.weights.length) fail(`${what}: ${maps} heatmaps`);
      await composeTruth(r).catch((e: Error) => fail(`${what}: ${e.message}`));
    }
    const reset = JSON.stringify([DEFAULT_STATE, DEFAULT_INPUTS]).slice(1, -1);
    await page.evaluate(`${P}.compose.set(${reset})`);
  },
];
