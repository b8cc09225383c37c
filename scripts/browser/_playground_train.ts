// The playground's training flows (used by playground.ts): one epoch on
// a slice of banking77 in the worker, through the API or through the form,
// then a typed sentence classified and its attention checked.

import type { Page } from "npm:playwright-core@1.65.2";
import { fail, type Flow, near, P } from "./_playground_checks.ts";

/** What the composition of trainByForm reads as in the worker. */
const COMPOSED = "bilinear + softmax | scaledDot + sparsemax (gate)";

/**
 * Trains as a user would: composes a gated pair of modules, fills the
 * Train form and clicks; resolves to the outcome.
 */
async function trainByForm(page: Page): Promise<unknown> {
  await page.selectOption('[data-field="m0.score"]', "bilinear");
  await page.click('[data-field="addModule"]');
  await page.selectOption('[data-field="m1.normaliser"]', "sparsemax");
  await page.selectOption('[data-field="combine"]', "gate");
  await page.check('[data-field="useComposed"]');
  await page.fill('[data-field="classes"]', "3");
  await page.fill('[data-field="perClass"]', "24");
  await page.fill('[data-field="epochs"]', "1");
  await page.click('[data-field="train"]');
  await page.waitForSelector("#train-status.ok, #train-status.error", {
    timeout: 120_000,
  });
  const status = await page.textContent("#train-status");
  if (!status?.startsWith("done")) fail(`training: ${status}`);
  const run = await page.evaluate(`${P}.train.last().run`) as {
    attention: string;
  };
  if (run.attention !== COMPOSED) fail(`trained ${run.attention}`);
  await page.click('[data-field="m1.remove"]');
  await page.selectOption('[data-field="m0.score"]', "scaledDot");
  await page.selectOption('[data-field="combine"]', "mixture");
  return run;
}

/** Classifies `text` through the form; resolves to what the page showed. */
async function classifyByForm(page: Page, text: string): Promise<unknown> {
  await page.fill('[data-field="classifyText"]', text);
  await page.click('[data-field="classify"]');
  const first = text.split(" ")[0]!;
  await page.waitForFunction(
    `${P}.train.last().classified?.tokens[0] === ${JSON.stringify(first)}`,
    null,
    { timeout: 60_000 },
  );
  const shown = await page.locator("#classified li").count();
  if (shown !== 3) fail(`${shown} classes listed`);
  return await page.evaluate(`${P}.train.last().classified`);
}

/**
 * One epoch on a slice of banking77 in the worker on `backend` lowers the
 * loss (the loss of the same sentences before and after, without dropout);
 * then a typed sentence is classified and its attention drawn.
 */
export function trainFlow(
  backend: "webgpu" | "wasm",
  form: boolean,
): readonly [string, Flow] {
  const name = `train${
    form ? " (through the form, a composed gated pair of modules)" : ""
  }: one epoch on a slice of banking77 lowers the loss, then a sentence is classified [${backend}]`;
  return [name, async (page) => {
    await page.check(`[data-field="backend.${backend}"]`);
    type Threads = { threads: number; reason: string | null } | null;
    type Out = {
      initialLoss: number;
      finalLoss: number;
      epochs: unknown[];
      wasmThreads: Threads;
    };
    const out = form ? await trainByForm(page) as Out : await page.evaluate(
      `${P}.train.train({ epochs: 1, classes: 3, perClass: 24 })`,
    ) as Out;
    if (!(out.finalLoss < out.initialLoss)) {
      fail(`the loss went from ${out.initialLoss} to ${out.finalLoss}`);
    }
    if (out.epochs.length !== 1) fail(`${out.epochs.length} epochs plotted`);
    if (backend === "wasm") {
      // The worker is isolated as its page is: its wasm runs on threads too.
      const cores = await page.evaluate(() =>
        Math.min(16, navigator.hardwareConcurrency || 1)
      );
      const t = out.wasmThreads;
      if (t?.threads !== cores || t.reason !== null) {
        fail(`the worker's wasm threads: ${JSON.stringify(t)}, cores ${cores}`);
      }
    }
    const points = await page.locator("#train-plot circle").count();
    if (points < 3) fail(`${points} points in the plot`);
    type C = { top: { p: number }[]; weights: number[][]; tokens: string[] };
    const text = form ? "how long until my card arrives" : "my card is lost";
    const c = form
      ? await classifyByForm(page, text) as C
      : await page.evaluate(
        `${P}.train.classify(${JSON.stringify(text)})`,
      ) as C;
    if (c.tokens[0] !== text.split(" ")[0]) fail(`tokens ${c.tokens}`);
    if (c.top.length !== 3 || !(c.top[0]!.p >= c.top[1]!.p)) {
      fail(`top classes ${JSON.stringify(c.top)}`);
    }
    if (c.weights.length !== c.tokens.length) fail("weights vs tokens");
    for (const row of c.weights) {
      near(row.reduce((a, b) => a + b, 0), 1, 1e-4, "an attention row");
    }
    const bar = await page.evaluate(() =>
      (document.querySelector("#train-progress") as HTMLProgressElement).value
    );
    near(bar, 1, 1e-9, "the progress bar at the end");
  }];
}
