// The playground's printed TypeScript builds the same attention as the
// page: each state's source is run as a module and its weights and output
// are compared with buildAttention's.

import { assertEquals, assertStringIncludes } from "@std/assert";
import { key, normal } from "../../ops/mod.ts";
import { assertAllClose } from "../../testing/mod.ts";
import {
  buildAttention,
  type ComposeState,
  DEFAULT_MODULE,
  DEFAULT_STATE,
  type ModuleState,
  NORMALISERS,
  readsLengths,
  SCORES,
} from "../../web/spec.ts";
import { specSource } from "../../web/source.ts";

const ROOT = new URL("../../", import.meta.url);

/** Runs the printed program with heed's own files in place of the package. */
async function runSource(code: string) {
  const local = code
    .replace('"@heed/heed/attention"', `"${new URL("attention/mod.ts", ROOT)}"`)
    .replace('"@heed/heed/ops"', `"${new URL("ops/mod.ts", ROOT)}"`);
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, `${local}\nexport { output, weights };\n`);
    return await import(`file://${file}`);
  } finally {
    await Deno.remove(file);
  }
}

async function sameAsPage(state: ComposeState): Promise<string> {
  const t = 5, d = 4, s = 11;
  const code = specSource(state, { t, d, inputSeed: s });
  const printed = await runSource(code);
  const [q, k, v] = [0, 1, 2].map((i) => normal(key(s + i), [1, t, d]));
  const opts = readsLengths(state) ? { lengths: [state.length] } : {};
  const page = buildAttention(state, d)(q!, k!, v!, opts);
  assertAllClose(await printed.weights.data(), await page.weights.data(), {
    rtol: 1e-6,
    atol: 1e-6,
  });
  assertAllClose(await printed.output.data(), await page.output.data(), {
    rtol: 1e-6,
    atol: 1e-6,
  });
  return code;
}

const mod = (m: Partial<ModuleState>): ModuleState => ({
  ...DEFAULT_MODULE,
  ...m,
});

Deno.test("specSource() prints the default spec as code that builds it", async () => {
  const code = await sameAsPage(DEFAULT_STATE);
  assertStringIncludes(code, "score: scaledDot(),");
  assertStringIncludes(code, "normalise: softmaxNormaliser(),");
});

Deno.test("specSource() matches the page for every score", async () => {
  for (const score of SCORES) {
    const code = await sameAsPage({
      ...DEFAULT_STATE,
      modules: [mod({ score, normaliser: "identity" })],
    });
    assertStringIncludes(code, `score: ${score}(`);
  }
});

Deno.test("specSource() matches the page for every normaliser, modifier and mask", async () => {
  for (const normaliser of NORMALISERS) {
    await sameAsPage({
      ...DEFAULT_STATE,
      length: 3,
      modules: [mod({
        normaliser,
        temperature: 0.5,
        alibi: 0.3,
        softCap: 4,
        causal: true,
        window: 2,
        padding: true,
      })],
    });
  }
});

Deno.test("specSource() matches the page for concat, mixture and gate", async () => {
  const modules = [
    mod({ score: "bilinear" }),
    mod({ score: "additive", causal: true }),
    mod({ score: "cosine", normaliser: "sparsemax" }),
  ];
  for (const combine of ["concat", "mixture", "gate"] as const) {
    const code = await sameAsPage({ ...DEFAULT_STATE, modules, combine });
    assertEquals(code.includes(`const attend = modules([a0, a1, a2]`), true);
  }
});
