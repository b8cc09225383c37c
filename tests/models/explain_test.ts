// `deno task explain`: the HTML report of a tiny gated classifier, a tiny
// plain classifier and a tiny translator has one heatmap per layer × head,
// finite entropies within [0, log T], the rollout or the alignment, a gate
// section only for the gated model, and renders in headless Chromium.

import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import * as aq from "arquero";
import { LabelEncoder, loadDataset } from "../../data/mod.ts";
import { trainClassifier } from "../../models/train/classify.ts";
import { trainTranslator } from "../../models/train/translate.ts";
import { main as explain } from "../../models/cli/explain.ts";
import { attentionRollout } from "../../models/explain.ts";

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

/** Runs explain with console output captured; returns the code and the output. */
async function run(argv: string[]): Promise<[number, string]> {
  const log = console.log, err = console.error;
  const out: string[] = [];
  console.log = console.error = (...a: unknown[]) => out.push(a.join(" "));
  try {
    return [await explain(argv), out.join("\n")];
  } finally {
    console.log = log;
    console.error = err;
  }
}

/** The report's entropies, checked finite and within [0, log keys]. */
function checkEntropies(html: string, keys: number): number {
  const hs = [...html.matchAll(/class="entropy">([^<]*)</g)].map((m) =>
    Number(m[1])
  );
  for (const h of hs) {
    assert(Number.isFinite(h) && h >= 0 && h <= Math.log(keys) + 1e-3, `${h}`);
  }
  return hs.length;
}

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
      assertEquals(checkEntropies(html, 3), 4);
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

Deno.test("explain writes a translator report with the cross-attention per head and the alignment, and it renders in headless Chromium", async () => {
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
      model: { dModel: 8, heads: 2, encLayers: 1, decLayers: 1, ffHidden: 16 },
      validSentences: 4,
      beam: 1,
      warmup: 5,
      checkpoint: { path: `${dir}/checkpoint.safetensors`, resume: false },
    });
    const [code, log] = await run([
      "--out",
      dir,
      "--beam",
      "1",
      "ich bin hier",
    ]);
    assertEquals(code, 0, log);
    const html = await Deno.readTextFile(`${dir}/explain.html`);
    assertEquals(count(html, `<figure class="head"`), 2); // 1 block × 2 heads
    assert(html.includes(`id="alignment"`) && !html.includes(`id="gates"`));
    assert(!html.includes(`id="rollout"`));
    const keys = Number(/log (\d+) =/.exec(html)![1]);
    assertEquals(checkEntropies(html, keys), 2);
    await screenshot(`${dir}/explain.html`, `${dir}/explain.png`);
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
