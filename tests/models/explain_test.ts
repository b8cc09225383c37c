// `deno task explain` and `deno task predict --explain`: the HTML report of
// a tiny gated classifier, a tiny plain classifier and a tiny translator
// has one heatmap per layer × head (the translator: every encoder block,
// and every decoder block's self- and cross-attention), finite entropies
// within [0, uniform], the rollout or the alignment per decoder block, a
// gate section only for the gated model, and renders in headless Chromium.

import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import * as aq from "arquero";
import {
  LabelEncoder,
  loadDataset,
  trainWordTokenizer,
} from "../../data/mod.ts";
import { trainClassifier } from "../../models/train/classify.ts";
import { trainTranslator } from "../../models/train/translate.ts";
import { main as explain } from "../../models/cli/explain.ts";
import { main as predict } from "../../models/cli/predict.ts";
import {
  attentionRollout,
  explainClassifier,
  explainTranslator,
  uniformEntropy,
} from "../../models/explain.ts";
import { loadTrained, translateText } from "../../models/inference.ts";
import { classifierConfig, initClassifier } from "../../models/mod.ts";
import { key } from "../../ops/mod.ts";

const ROWS = [
  ["hello there", 0],
  ["hi there friend", 0],
  ["good morning", 0],
  ["bye then", 1],
  ["see you friend", 1],
  ["good night", 1],
] as const;

const table = (n: number) => {
  const rows = Array.from({ length: n }, (_, i) => ROWS[i % ROWS.length]!);
  return aq.table({
    text: rows.map((r) => r[0]),
    label: rows.map((r) => r[1]),
  });
};

/** Runs explain (or predict) with console output captured; returns the code and the output. */
async function run(
  argv: string[],
  program: (argv: string[]) => Promise<number> = explain,
): Promise<[number, string]> {
  const log = console.log, err = console.error;
  const out: string[] = [];
  console.log = console.error = (...a: unknown[]) => out.push(a.join(" "));
  try {
    return [await program(argv), out.join("\n")];
  } finally {
    console.log = log;
    console.error = err;
  }
}

/**
 * The report's entropies, checked finite and within [0, uniform] (the
 * uniform entropy of each row's keys); returns them with their uniforms.
 */
function checkEntropies(html: string): [number, number][] {
  const hs = [
    ...html.matchAll(
      /class="entropy">([^<]*)<\/td><td class="uniform">([^<]*)</g,
    ),
  ].map((m) => [Number(m[1]), Number(m[2])] as [number, number]);
  for (const [h, u] of hs) {
    assert(Number.isFinite(h) && h >= 0 && h <= u + 1e-3, `${h} > ${u}`);
  }
  assertEquals(hs.length, count(html, `class="entropy"`));
  return hs;
}

const rowSums = (g: number[][]) => g.map((r) => r.reduce((a, b) => a + b, 0));

const count = (html: string, s: string) => html.split(s).length - 1;

async function classifierRun(dir: string, attention: string): Promise<void> {
  await trainClassifier({
    data: {
      train: table(24),
      test: table(6),
      labels: new LabelEncoder(["greet", "leave"]),
    },
    valid: table(6),
    model: { attention, dModel: 8, heads: 2, layers: 2 },
    epochs: 1,
    batchSize: 8,
    checkpoint: { path: `${dir}/checkpoint.safetensors`, resume: false },
  });
}

Deno.test("attentionRollout: one uniform layer gives each row half itself plus a quarter each", () => {
  const r = attentionRollout([[[0.5, 0.5], [0.5, 0.5]]]);
  assertAlmostEquals(r[0]![0]!, 0.75);
  assertAlmostEquals(r[0]![1]!, 0.25);
  assertAlmostEquals(r[1]![1]!, 0.75);
});

Deno.test("explain writes a classifier report: heatmaps per layer and head, entropies, rollout, and the gate only when gated", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_explain_" });
  try {
    for (const attention of ["gate:scaled-dot/cosine", "scaled-dot"]) {
      const out = `${dir}/${attention.replace(/\W/g, "_")}`;
      await Deno.mkdir(out);
      await classifierRun(out, attention);
      const [code, log] = await run(["--out", out, "hello there friend"]);
      assertEquals(code, 0, log);
      assertEquals(log.trim(), `${out}/explain.html`);
      const html = await Deno.readTextFile(`${out}/explain.html`);
      assert(!/src=|href=|<script/i.test(html), "no external assets");
      assertEquals(count(html, `<figure class="head"`), 2 * 2); // layers × heads
      const hs = checkEntropies(html);
      assertEquals(hs.length, 4);
      for (const [, u] of hs) assertAlmostEquals(u, Math.log(3), 1e-4);
      assert(html.includes(`id="rollout"`));
      assertEquals(html.includes(`id="gates"`), attention.startsWith("gate:"));
      if (attention.startsWith("gate:")) {
        assertEquals(count(html, `<figure class="gate"`), 2 * 2);
        assert(html.includes(">cosine<"));
      }
    }
    assertEquals((await run(["--out", `${dir}/none`, "hi"]))[0], 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("explainClassifier with attention pooling: every block's heads, the pooling query's weights, and a rollout that sums to 1", async () => {
  const tokenizer = trainWordTokenizer(["hello there friend"], { lower: true });
  const config = classifierConfig({
    vocabSize: tokenizer.vocab.size,
    numClasses: 2,
    dModel: 8,
    heads: 2,
    layers: 3,
    pooling: "attention",
  });
  const e = await explainClassifier({
    params: initClassifier(key(1), config),
    config,
    tokenizer,
    labels: ["a", "b"],
  }, "hello there friend");
  const kinds = e.maps.map((m) => `${m.kind}${m.layer}`);
  assertEquals(kinds, [
    ..."001122".split("").map((l) => `self${l}`),
    "pooling0", // one query, one head
  ]);
  for (const m of e.maps) {
    for (const s of rowSums(m.weights)) assertAlmostEquals(s, 1, 1e-5);
  }
  assertEquals(e.rollout!.length, 3);
  assertAlmostEquals(e.rollout!.reduce((a, b) => a + b, 0), 1, 1e-5);
});

Deno.test("explain and predict --explain write the same translator report: every encoder block, each decoder block's causal self- and cross-attention per head, the alignment per block; it renders in headless Chromium", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_explain_tr_" });
  try {
    const d = await loadDataset("tatoeba");
    await trainTranslator({
      data: {
        train: d.train.slice(0, 40),
        valid: d.valid.slice(0, 4),
        test: d.test.slice(0, 4),
      },
      epochs: 1,
      vocabSize: 100,
      model: { dModel: 8, heads: 2, encLayers: 1, decLayers: 2, ffHidden: 16 },
      validSentences: 4,
      beam: 1,
      warmup: 5,
      checkpoint: { path: `${dir}/checkpoint.safetensors`, resume: false },
    });
    const text = "ich bin hier";
    const [code, log] = await run(["--out", dir, "--beam", "1", text]);
    assertEquals(code, 0, log);
    const html = await Deno.readTextFile(`${dir}/explain.html`);
    assertEquals(count(html, `<figure class="head"`), (1 + 2 * 2) * 2);
    assertEquals(count(html, `data-kind="encoder self"`), 2);
    assertEquals(count(html, `data-kind="decoder self"`), 2 * 2);
    assertEquals(count(html, `data-kind="cross"`), 2 * 2);
    assertEquals(count(html, `<figure class="alignment"`), 2);
    assert(html.includes(`id="alignment"`) && !html.includes(`id="gates"`));
    assert(!html.includes(`id="rollout"`));
    assertEquals(checkEntropies(html).length, 10);
    // predict --explain goes through the same code: the same page
    await Deno.remove(`${dir}/explain.html`);
    const [pcode, plog] = await run(
      ["--out", dir, "--beam", "1", "--explain", text],
      predict,
    );
    assertEquals(pcode, 0, plog);
    assert(plog.includes(`explanation: ${dir}/explain.html`), plog);
    assertEquals(await Deno.readTextFile(`${dir}/explain.html`), html);
    await screenshot(`${dir}/explain.html`, `${dir}/explain.png`);
    // the maps themselves: rows sum to 1, the decoder's self-attention is
    // causal, the last block's alignment is predict's heatmap
    const trained = await loadTrained(`${dir}/checkpoint.safetensors`);
    if (trained.task !== "translate") throw new Error("not a translator");
    const e = await explainTranslator(trained.model, text, { beam: 1 });
    const t = await translateText(trained.model, text, { beam: 1 });
    for (const m of e.maps) {
      for (const s of rowSums(m.weights)) assertAlmostEquals(s, 1, 1e-5);
      assertEquals(m.weights.length, m.rows.length);
      assertEquals(m.weights[0]!.length, m.cols.length);
      if (m.kind === "decoder self") {
        m.weights.forEach((r, i) =>
          r.forEach((w, j) => assert(j <= i || w === 0, `${i},${j}: ${w}`))
        );
        assert(uniformEntropy(m) < Math.log(m.cols.length));
      }
    }
    assertEquals(e.alignment!.map((a) => a.layer), [0, 1]);
    e.alignment![1]!.weights.forEach((r, i) =>
      r.forEach((w, j) => assertAlmostEquals(w, t.attention[i]![j]!, 1e-5))
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Renders `html` in headless Chromium (never skipped) and checks the
 * picture is not blank. playwright runs in a child `deno eval` (all
 * permissions): it reads the home folder, which `deno task test` does not allow.
 */
async function screenshot(html: string, png: string): Promise<void> {
  const which = new Deno.Command("sh", {
    args: ["-c", "command -v chromium || command -v chromium-browser"],
    stdout: "piped",
  }).outputSync();
  const chromiumPath = new TextDecoder().decode(which.stdout).trim();
  assert(
    chromiumPath,
    "Chromium is not installed: apt-get install -y chromium",
  );
  const [h, p, c] = [html, png, chromiumPath].map((x) => JSON.stringify(x));
  const code = `
    import { chromium } from "npm:playwright-core@1.65.2";
    const browser = await chromium.launch({ executablePath: ${c}, args: ${
    JSON.stringify(CHROMIUM_ARGS)
  } });
    const page = await browser.newPage();
    await page.setContent(await Deno.readTextFile(${h}));
    const boxes = await page.evaluate(() =>
      [...document.querySelectorAll("svg")].map((s) => {
        const r = s.getBoundingClientRect();
        return r.width * r.height;
      }));
    await page.screenshot({ path: ${p}, fullPage: true });
    await browser.close();
    console.log(JSON.stringify(boxes));`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", "--no-check", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const td = new TextDecoder();
  assert(r.success, td.decode(r.stderr));
  const boxes = JSON.parse(td.decode(r.stdout).trim().split("\n").at(-1)!);
  assert(boxes.length >= 3 && boxes.every((a: number) => a > 0), `${boxes}`);
  assert(await distinctColours(await Deno.readFile(png)) >= 3);
}

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Distinct RGB colours of an 8-bit RGB or RGBA PNG, non-interlaced. */
async function distinctColours(png: Uint8Array): Promise<number> {
  const view = new DataView(png.buffer, png.byteOffset);
  let w = 0, h = 0, channels = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at < png.length;) {
    const len = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    const body = png.subarray(at + 8, at + 8 + len);
    if (type === "IHDR") {
      w = view.getUint32(at + 8), h = view.getUint32(at + 12);
      assertEquals([body[8], body[12]], [8, 0], "8-bit, not interlaced");
      channels = body[9] === 6 ? 4 : body[9] === 2 ? 3 : 0;
    } else if (type === "IDAT") idat.push(body);
    at += 12 + len;
  }
  assert(channels > 0 && w > 0 && h > 0, "an RGB(A) PNG");
  const raw = new Uint8Array(
    await new Response(
      new Blob(idat as BlobPart[]).stream().pipeThrough(
        new DecompressionStream("deflate"),
      ),
    ).arrayBuffer(),
  );
  const stride = w * channels, px = new Uint8Array(stride * h);
  const colours = new Set<number>();
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const r = raw[y * (stride + 1) + 1 + x]!;
      const a = x >= channels ? px[y * stride + x - channels]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0
        ? px[(y - 1) * stride + x - channels]!
        : 0;
      const p = a + b - c,
        pa = Math.abs(p - a),
        pb = Math.abs(p - b),
        pc = Math.abs(p - c);
      const pred = f === 1
        ? a
        : f === 2
        ? b
        : f === 3
        ? (a + b) >> 1
        : f === 4
        ? (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)
        : 0;
      px[y * stride + x] = (r + pred) & 255;
    }
    for (let x = 0; x < w; x++) {
      const i = y * stride + x * channels;
      colours.add((px[i]! << 16) | (px[i + 1]! << 8) | px[i + 2]!);
    }
  }
  return colours.size;
}
