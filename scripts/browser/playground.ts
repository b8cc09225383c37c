// The attention playground's flows in headless Chromium, called by run.ts:
// builds web/ into a temporary folder, serves it with web/serve.ts's
// handler (cross-origin isolated) and drives the page as a user would:
// compose (the heatmap's values and pixels against heed computed here),
// the laws (pass for a valid spec, fail with a counterexample for the
// broken normaliser), one epoch of training (the loss falls), backend
// switching (webgpu, wasm on threads, cpu, with times) and screenshots.

import type { Browser, Page } from "npm:playwright-core@1.65.2";
import { setBackend } from "../../ops/mod.ts";
import { buildPlayground } from "../../web/build.ts";
import { playgroundHandler } from "../../web/serve.ts";
import {
  type ComposeResult,
  composeTruth,
  fail,
  type Flow,
  near,
  P,
  type PlaygroundOptions,
  type Report,
} from "./_playground_checks.ts";
import { sweepFlow } from "./_playground_sweep.ts";
import { trainFlow } from "./_playground_train.ts";

export type { PlaygroundOptions };
import { checkPixels, distinctColours } from "./_playground_pixels.ts";

/** The page's last composition, after every queued change. */
function refresh(page: Page): Promise<ComposeResult> {
  return page.evaluate(`${P}.compose.refresh()`) as Promise<ComposeResult>;
}

const FLOWS: readonly (readonly [string, Flow])[] = [
  [
    "compose draws softmax weights that are heed's, rows summing to 1",
    async (page) => {
      const r = await refresh(page);
      if (r.labels.join(" ") !== "the cat sat on the mat") {
        fail(`tokens ${JSON.stringify(r.labels)}`);
      }
      for (const row of r.weights[0]!) {
        near(row.reduce((a, b) => a + b, 0), 1, 1e-5, "a softmax row's sum");
      }
      await composeTruth(r);
      await checkPixels(page, r, 0);
    },
  ],
  sweepFlow,
  [
    "compose follows the form: causal sparsemax, then two modules concatenated",
    async (page) => {
      await page.selectOption('[data-field="m0.normaliser"]', "sparsemax");
      await page.check('[data-field="m0.causal"]');
      let r = await refresh(page);
      const m = r.state.modules[0]!;
      if (m.normaliser !== "sparsemax" || !m.causal) {
        fail(`the form gave ${JSON.stringify(m)}`);
      }
      r.weights[0]!.forEach((row, i) => {
        near(row.reduce((a, b) => a + b, 0), 1, 1e-5, `row ${i}'s sum`);
        row.forEach((w, j) => {
          if (j > i && w !== 0) fail(`causal weight [${i}, ${j}] is ${w}`);
        });
      });
      await composeTruth(r);
      await page.click('[data-field="addModule"]');
      await page.selectOption('[data-field="m1.score"]', "bilinear");
      await page.selectOption('[data-field="combine"]', "concat");
      r = await refresh(page);
      if (r.weights.length !== 2) fail(`${r.weights.length} heatmaps, not 2`);
      const source = await page.textContent("#source") ?? "";
      if (!source.includes("modules([a0, a1], concatenate())")) {
        fail(`the source does not combine the modules:\n${source}`);
      }
      await composeTruth(r);
      await checkPixels(page, r, 1);
      await page.click('[data-field="m1.remove"]');
      await page.uncheck('[data-field="m0.causal"]');
      await page.selectOption('[data-field="m0.normaliser"]', "softmax");
      await refresh(page);
    },
  ],
  [
    "check: every law holds for a valid spec",
    async (page) => {
      await page.fill('[data-field="runs"]', "3");
      await page.check('[data-field="m0.causal"]');
      await refresh(page);
      type V = { law: string; status: string };
      const vs = await page.evaluate(`${P}.check.run()`) as V[];
      const failed = vs.filter((v) => v.status === "fails");
      if (failed.length > 0) fail(`laws failed: ${JSON.stringify(failed)}`);
      const held = vs.filter((v) => v.status === "holds").map((v) => v.law);
      for (const law of ["shapes", "masking", "simplex", "backends", "grads"]) {
        if (!held.includes(law)) fail(`${law} was not checked: ${held}`);
      }
      const cell = await page.textContent('[data-law="0.masking"]');
      if (!cell?.includes("holds")) fail(`the masking cell reads ${cell}`);
    },
  ],
  [
    "check: the broken normaliser fails the masking law with a counterexample",
    async (page) => {
      await page.selectOption('[data-field="m0.normaliser"]', "broken");
      await refresh(page);
      await page.click('[data-field="check"]');
      await page.waitForFunction(
        () =>
          /failed|every law/.test(
            document.querySelector("#check-status")!.textContent!,
          ),
        null,
        { timeout: 60_000 },
      );
      const cell = await page.textContent('[data-law="0.masking"]');
      if (!cell?.includes("fails")) fail(`the masking cell reads ${cell}`);
      const text = await page.textContent("#counterexamples") ?? "";
      if (
        !/law "masking" does not hold[\s\S]*Smallest counterexample/.test(text)
      ) {
        fail(`no counterexample shown:\n${text}`);
      }
      await page.selectOption('[data-field="m0.normaliser"]', "softmax");
      await page.uncheck('[data-field="m0.causal"]');
      await refresh(page);
    },
  ],
  trainFlow("webgpu", false),
  trainFlow("wasm", true),
  [
    "backends: webgpu, wasm and cpu switch, agree and show their times",
    async (page) => {
      const runs: ComposeResult[] = [];
      for (const b of ["webgpu", "wasm", "cpu"]) {
        await page.check(`[data-field="backend.${b}"]`);
        const r = await refresh(page);
        if (r.backend !== b) fail(`composed on ${r.backend}, not ${b}`);
        const cell = await page.textContent(`[data-time="${b}.compose"]`);
        if (!cell?.endsWith(" ms")) fail(`${b}'s compose time reads ${cell}`);
        runs.push(r);
      }
      for (const r of runs.slice(1)) {
        r.weights[0]!.flat().forEach((w, i) =>
          near(
            w,
            runs[0]!.weights[0]!.flat()[i]!,
            1e-4,
            `${r.backend} vs webgpu`,
          )
        );
      }
      const step = await page.textContent('[data-time="wasm.train step"]');
      if (!step?.endsWith(" ms")) fail(`wasm's train step time reads ${step}`);
      const info = await page.textContent("#backend-info") ?? "";
      const cores = await page.evaluate(() =>
        Math.min(16, navigator.hardwareConcurrency || 1)
      );
      const want = `wasm on ${cores} thread${cores === 1 ? "" : "s"};`;
      if (!info.includes(want) || !info.includes("cross-origin isolated")) {
        fail(`info reads "${info}", expected "${want}" on an isolated page`);
      }
    },
  ],
  [
    "screenshots show a rendered page and heatmap",
    async (page, opts) => {
      const shot = await page.screenshot({ fullPage: true });
      if (opts.screenshots) {
        await Deno.mkdir(opts.screenshots, { recursive: true });
        await Deno.writeFile(`${opts.screenshots}/playground.png`, shot);
      }
      const full = await distinctColours(page, shot);
      if (full < 200) fail(`the page has ${full} distinct colours`);
      const map = await page.locator('canvas[data-heatmap="0"]').screenshot();
      const n = await distinctColours(page, map);
      if (n < 12) fail(`the heatmap has ${n} distinct colours`);
      const plot = await page.locator("#train-plot").screenshot();
      const p = await distinctColours(page, plot);
      if (p < 6) fail(`the training plot has ${p} distinct colours`);
    },
  ],
];

/** Longest a flow may take: a hung device op fails its flow, not the run. */
const FLOW_TIMEOUT_MS = 180_000;

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the playground's flows in `browser`; reports each like run.ts's pages. */
export async function runPlayground(
  browser: Browser,
  report: Report,
  opts: PlaygroundOptions = {},
): Promise<void> {
  await setBackend("cpu"); // heed computed here, for comparison
  const dist = new URL(
    `file://${await Deno.makeTempDir({ prefix: "heed_web_" })}/`,
  );
  const ac = new AbortController();
  try {
    await buildPlayground(dist, { force: true });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
      playgroundHandler({ dist }),
    );
    const context = await browser.newContext({
      viewport: { width: 1200, height: 900 },
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e: Error) => errors.push(e.stack ?? e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    let started = false;
    await report("the playground starts in the page", async () => {
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await page.waitForFunction(() => document.body.dataset.ready, null, {
        timeout: 120_000,
      });
      const ready = await page.evaluate(() => document.body.dataset.ready);
      if (ready !== "true") fail(await page.textContent("#loading") ?? "");
      started = true;
    });
    // Without a started page the flows would only repeat that failure.
    const flows = started ? FLOWS : [];
    for (const [name, flow] of flows) {
      if (opts.filter !== undefined && !name.includes(opts.filter)) continue;
      await report(name, async () => {
        await withTimeout(flow(page, opts), FLOW_TIMEOUT_MS);
        if (errors.length > 0) {
          fail(`errors in the page:\n${errors.splice(0).join("\n")}`);
        }
      });
    }
    await context.close();
  } finally {
    ac.abort();
    await Deno.remove(dist, { recursive: true });
  }
}
