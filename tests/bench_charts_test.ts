// The benchmark charts: bars proportional to the ratios, escaped text,
// well-formed XML, and the committed docs/charts/*.svg up to date with the
// tables they draw.

import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { ratioChartSvg } from "../bench/charts/ratio_chart.ts";
import {
  docsChart,
  leadingNumber,
  markdownTables,
  peerChart,
} from "../bench/charts/sources.ts";
import {
  CHARTS_DIR,
  PEER_CHARTS,
  renderCharts,
  staleCharts,
} from "../bench/charts/main.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * A strict XML well-formedness check: one root element, balanced tags, quoted
 * attributes without `<` and without duplicates, and `&` only in the five
 * named or numeric references. Returns the problems found (none: well-formed).
 */
function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  const refs = /&(?!(?:lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const stack: string[] = [];
  let roots = 0, i = 0;
  const name = "[A-Za-z_:][\\w.:-]*";
  const startTag = new RegExp(
    `^<(${name})((?:\\s+${name}\\s*=\\s*(?:"[^"<]*"|'[^'<]*'))*)\\s*(/?)>`,
  );
  xml = xml.replace(/^<\?xml[^?]*\?>/, "");
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    if (refs.test(text)) problems.push(`bare & in text near ${i}`);
    if (text.includes(">")) problems.push(`bare > in text near ${i}`);
    if (stack.length === 0 && text.trim() !== "") {
      problems.push(`text outside the root near ${i}`);
    }
    if (lt < 0) break;
    const rest = xml.slice(lt);
    if (rest.startsWith("<!--")) {
      const end = rest.indexOf("-->");
      if (end < 0) return [...problems, "unclosed comment"];
      i = lt + end + 3;
      continue;
    }
    const close = new RegExp(`^</(${name})\\s*>`).exec(rest);
    if (close) {
      const open = stack.pop();
      if (open !== close[1]) {
        problems.push(`</${close[1]}> closes <${open ?? "nothing"}>`);
      }
      i = lt + close[0].length;
      continue;
    }
    const m = startTag.exec(rest);
    if (!m) {
      return [...problems, `malformed tag near ${lt}: ${rest.slice(0, 40)}`];
    }
    const attrs = [
      ...m[2]!.matchAll(new RegExp(`(${name})\\s*=\\s*("[^"]*"|'[^']*')`, "g")),
    ];
    const names = attrs.map((a) => a[1]!);
    if (new Set(names).size !== names.length) {
      problems.push(`duplicate attribute in <${m[1]}>`);
    }
    for (const a of attrs) {
      if (refs.test(a[2]!)) problems.push(`bare & in ${m[1]} ${a[1]}`);
    }
    if (stack.length === 0) roots++;
    if (m[3] !== "/") stack.push(m[1]!);
    i = lt + m[0].length;
  }
  if (stack.length > 0) problems.push(`unclosed <${stack.join("> <")}>`);
  if (roots !== 1) problems.push(`${roots} root elements`);
  return problems;
}

/** The bars of a chart: their ratio (data-ratio) and drawn width. */
function bars(svg: string): { ratio: number; width: number }[] {
  return [
    ...svg.matchAll(
      /<rect class="bar" data-ratio="([^"]+)"[^>]* width="([^"]+)"/g,
    ),
  ]
    .map((m) => ({ ratio: Number(m[1]), width: Number(m[2]) }));
}

const SMALL = {
  title: `heed <wasm> & "peers"`,
  subtitle: "peer / heed",
  series: ["tfjs 'wasm'", "jax-js <wasm>"],
  rows: [
    { label: "matmul <256> & more", values: [0.5, 2] },
    { label: "attention", values: [3, null] },
    { label: "MLP", values: [10, 1] }, // 10× is past the axis (4×): cut
  ],
  caption: "2026-12-04 · a <machine> & its cores",
};

Deno.test("ratioChartSvg() draws bars proportional to the ratios, cutting those past the axis", () => {
  const svg = ratioChartSvg(SMALL);
  const b = bars(svg);
  assertEquals(b.map((x) => x.ratio), [0.5, 2, 3, 10, 1]);
  const perUnit = b[0]!.width / 0.5;
  assert(perUnit > 50, `${perUnit} px per 1×`);
  for (const { ratio, width } of b.filter((x) => x.ratio <= 4)) {
    assertAlmostEquals(width, ratio * perUnit, 0.11);
  }
  // the cut bar ends at the axis maximum (4×, the cap) with its true label
  assertAlmostEquals(b[3]!.width, 4 * perUnit, 0.11);
  assertStringIncludes(svg, ">10×</text>");
  assertStringIncludes(svg, ">2.00×</text>");
  // the missing value is said, not drawn
  assertStringIncludes(svg, "no value");
  assertEquals(svg.match(/<rect class="bar"/g)?.length, 5);
});

Deno.test("ratioChartSvg() escapes every text and is well-formed XML of a fixed size", () => {
  const svg = ratioChartSvg(SMALL);
  assertEquals(xmlProblems(svg), []);
  for (const raw of ["<wasm>", "<256>", "<machine>", `"peers"`, "'wasm'"]) {
    assert(!svg.includes(raw), `unescaped ${raw}`);
  }
  assertStringIncludes(svg, "matmul &#60;256&#62; &#38; more");
  assertStringIncludes(svg, "a &#60;machine&#62; &#38; its cores");
  const [, w, h] = /<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg)!;
  assertEquals(Number(w), 760);
  assertStringIncludes(svg, `viewBox="0 0 ${w} ${h}"`);
  // self-contained: nothing is fetched
  assert(!/href|url\(|@import/.test(svg));
});

Deno.test("the XML check finds what a strict parser would refuse", () => {
  assertEquals(xmlProblems(`<svg><text>a</text></svg>`), []);
  for (
    const bad of [
      `<svg><text>a & b</text></svg>`,
      `<svg><text>a</svg>`,
      `<svg x="1" x="2"/>`,
      `<svg x=1/>`,
      `<svg/><svg/>`,
      `<svg><text a="<"/></svg>`,
    ]
  ) assert(xmlProblems(bad).length > 0, bad);
});

Deno.test("ratioChartSvg() refuses a ratio that is not a finite number of at least 0", () => {
  for (const v of [NaN, Infinity, -1]) {
    assertThrows(
      () => ratioChartSvg({ ...SMALL, rows: [{ label: "x", values: [v, 1] }] }),
      RangeError,
      "ratio",
    );
  }
  assertThrows(
    () => ratioChartSvg({ ...SMALL, rows: [{ label: "x", values: [1] }] }),
    TypeError,
    "1 values for 2 series",
  );
});

const RESULTS = `# heed vs peers, side by side

- Date: 2026-12-01T10:00:00.000Z
- Machine: Test CPU, 2 logical cores; other load: 0% of all
  cores busy just before the run
- Deno 2.9.6, V8 15
- WebGPU adapter: llvmpipe (LLVM 15) — software

| workload (median ms [min–max]) | heed wasm | heed webgpu | tfjs wasm | jax-js wasm jit | tfjs webgpu | best peer / heed wasm |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| matmul 256 | 2.00 [1–3] · 9 GFLOP/s | 10.0 | 3,000 [1–2] | 1.00 | 20.0 | 0.5× |
| attention | 4.00 | 8.00 | **⚠ MISMATCH** 9.0 | 6.00 | — [1] | 1.5× |
| peak RSS of the process, MiB | 100 | 90 | 80 | 70 | 60 | |
`;

Deno.test("peerChart() divides each same-backend peer's median by heed's, per workload", () => {
  const c = peerChart(
    { name: "t", source: "RESULTS.md", backend: "wasm" },
    RESULTS,
  );
  assertEquals(c.series, ["tfjs wasm", "jax-js wasm jit"]);
  assertEquals(c.rows.map((r) => r.label), ["matmul 256", "attention"]);
  assertEquals(c.rows.map((r) => r.values), [[1500, 0.5], [null, 1.5]]);
  assertEquals(
    c.caption,
    "2026-12-01 · Test CPU, 2 logical cores · Deno 2.9.6 · RESULTS.md",
  );
  const g = peerChart(
    { name: "t", source: "RESULTS.md", backend: "webgpu" },
    RESULTS,
  );
  assertEquals(g.series, ["tfjs webgpu"]);
  assertEquals(g.rows.map((r) => r.values), [[2], [null]]);
  assertStringIncludes(g.caption, "WebGPU on llvmpipe");
  assertThrows(
    () => peerChart({ name: "t", source: "x", backend: "cpu" }, RESULTS),
    TypeError,
    `no column "heed cpu"`,
  );
});

Deno.test("docsChart() reads the ratios of the table after its marker", () => {
  const docs = `text\n\n<!-- chart demo: 2026-12-02 · a VM -->\n\n` +
    `| spec | T 128 fwd | T 512 fwd |\n| --- | ---: | ---: |\n` +
    `| ref | 64.8 (1.00×) | 1293 (1.00×) |\n| big | 3780 (58×) | — |\n`;
  const c = docsChart({ name: "demo", title: "T", subtitle: "S" }, docs);
  assertEquals(c.series, ["T 128 fwd", "T 512 fwd"]);
  assertEquals(c.rows, [
    { label: "ref", values: [1, 1] },
    { label: "big", values: [58, null] },
  ]);
  assertEquals(c.caption, "2026-12-02 · a VM · docs/benchmarks.md");
  assertThrows(
    () => docsChart({ name: "other", title: "T", subtitle: "S" }, docs),
    TypeError,
    "no",
  );
  assertEquals(leadingNumber("3,916 [3,700–3,980] · 4.39 GFLOP/s"), 3916);
  assertEquals(leadingNumber("—"), null);
  assertThrows(
    () => markdownTables("| a | b |\n| - | - |\n| 1 |\n"),
    TypeError,
    "1 cells",
  );
});

Deno.test("the committed docs/charts/*.svg are what bench/charts/main.ts writes from the tables", async () => {
  const charts = await renderCharts();
  assert(charts.size >= 5, `${charts.size} charts`);
  assertEquals(
    await staleCharts(charts),
    [],
    "regenerate: deno run --allow-read --allow-write=docs/charts --allow-run bench/charts/main.ts",
  );
  // and nothing else lies in docs/charts
  const files = [...Deno.readDirSync(`${ROOT}/${CHARTS_DIR}`)]
    .map((e) => e.name).sort();
  assertEquals(files, [...charts.keys()].sort());
});

Deno.test("every chart is well-formed, dated, and shown in docs/benchmarks.md", async () => {
  const docs = await Deno.readTextFile(`${ROOT}/docs/benchmarks.md`);
  for (const [file, svg] of await renderCharts()) {
    assertEquals(xmlProblems(svg), [], file);
    assert(/\d{4}-\d{2}-\d{2} · /.test(svg), `${file} has no dated caption`);
    assert(bars(svg).length >= 8, `${file} has ${bars(svg).length} bars`);
    assertStringIncludes(docs, `](charts/${file})`);
  }
});

Deno.test("the peers charts and the tables of docs/benchmarks.md describe the same runs", async () => {
  const docs = await Deno.readTextFile(`${ROOT}/docs/benchmarks.md`);
  const tables = markdownTables(docs).map((t) => t.table);
  for (const spec of PEER_CHARTS) {
    const chart = peerChart(
      spec,
      await Deno.readTextFile(`${ROOT}/${spec.source}`),
    );
    const date = chart.caption.slice(0, 10);
    // the table of that run is headed "workload (DATE)"
    const table = tables.find((t) => t.header[0] === `workload (${date})`);
    if (!table) {
      throw new Error(`docs/benchmarks.md has no table of the ${date} run`);
    }
    const ratioColumns = table.header.flatMap((h, i) =>
      /peer \/ heed$/.test(h) ? [i] : []
    );
    const col = ratioColumns.length === 1
      ? ratioColumns[0]!
      : table.header.findIndex((h) => h.startsWith(`${spec.backend}:`));
    assert(col > 0, `no ${spec.backend} ratio column in the ${date} table`);
    assertEquals(
      table.rows.map((r) => r[0]),
      chart.rows.map((r) => r.label),
    );
    table.rows.forEach((row, i) => {
      // the table's ratio is the fastest peer's: the chart's smallest bar
      const shown = leadingNumber(row[col]!);
      const bars = chart.rows[i]!.values.filter((v) => v !== null);
      assert(shown !== null && bars.length > 0, `${row[0]}: ${row[col]}`);
      // the chart divides the printed (3-digit) medians, the table the exact ones
      assertAlmostEquals(Math.min(...bars), shown, 0.015, `${row[0]}`);
    });
  }
});

Deno.test("headless Chromium parses every chart and lays out its bars at their widths", async () => {
  const which = new Deno.Command("sh", {
    args: ["-c", "command -v chromium || command -v chromium-browser"],
    stdout: "piped",
  }).outputSync();
  const chromium = new TextDecoder().decode(which.stdout).trim();
  assert(chromium, "Chromium is not installed: apt-get install -y chromium");
  const charts = await renderCharts();
  const files = [...charts.keys()].map((f) => `${ROOT}/${CHARTS_DIR}/${f}`);
  // playwright runs in a child `deno eval` (all permissions): it reads the
  // home folder, which `deno task test` does not allow
  const code = `
    import { chromium } from "npm:playwright-core@1.65.2";
    const browser = await chromium.launch({ executablePath: ${
    JSON.stringify(chromium)
  }, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
    const page = await browser.newPage();
    const out = [];
    for (const f of ${JSON.stringify(files)}) {
      await page.goto("file://" + f);
      out.push(await page.evaluate(() => ({
        error: document.querySelector("parsererror")?.textContent ?? null,
        root: document.documentElement.localName,
        bars: [...document.querySelectorAll("rect.bar")].map((r) => ({
          shown: r.getBoundingClientRect().width,
          width: Number(r.getAttribute("width")),
        })),
      })));
    }
    await browser.close();
    console.log(JSON.stringify(out));`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", "--no-check", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const td = new TextDecoder();
  assert(r.success, td.decode(r.stderr));
  const pages = JSON.parse(td.decode(r.stdout).trim().split("\n").at(-1)!) as {
    error: string | null;
    root: string;
    bars: { shown: number; width: number }[];
  }[];
  assertEquals(pages.length, files.length);
  pages.forEach((p, i) => {
    assertEquals([p.error, p.root], [null, "svg"], files[i]);
    assertEquals(
      p.bars.length,
      bars(charts.get([...charts.keys()][i]!)!).length,
    );
    for (const b of p.bars) assertAlmostEquals(b.shown, b.width, 0.5);
  });
});
