/**
 * Writes the benchmark charts, `docs/charts/*.svg`, from their sources (see
 * sources.ts): bar charts of the ratios in the benchmark tables.
 *
 * Run (from the repository root; it reads and writes only there):
 *
 *   deno run --allow-read --allow-write=docs/charts --allow-run bench/charts/main.ts
 *   deno run --allow-read --allow-run bench/charts/main.ts --check   # exit 1 if a chart is stale
 *
 * (`--allow-run`: each chart goes through `deno fmt`, so that the committed
 * files pass `deno fmt --check`.)
 *
 * Run it after a `deno task bench:peers` run or a table edit in
 * docs/benchmarks.md; tests/bench_charts_test.ts fails while a committed
 * chart differs from what this writes.
 *
 * @module
 */

import { ratioChartSvg } from "./ratio_chart.ts";
import {
  docsChart,
  type DocsChartSpec,
  peerChart,
  type PeerChartSpec,
} from "./sources.ts";

/** The repository's root folder (this file is bench/charts/main.ts). */
const ROOT = new URL("../../", import.meta.url);

/** Where the charts go, relative to the repository. */
export const CHARTS_DIR = "docs/charts";

/** heed against the peers, from the result files of `deno task bench:peers`. */
export const PEER_CHARTS: readonly PeerChartSpec[] = [
  {
    name: "peers_wasm",
    source: "bench/peers/RESULTS_wasm.md",
    backend: "wasm",
  },
  { name: "peers_webgpu", source: "bench/peers/RESULTS.md", backend: "webgpu" },
];

const SPEC_SUBTITLE =
  "spec's time / the scaledDot + softmax reference's time: below 1× is faster than the reference";

/** heed's attention specs against its reference, from docs/benchmarks.md. */
export const DOCS_CHARTS: readonly DocsChartSpec[] = [
  {
    name: "attention_cpu",
    title: "Attention specs on heed's cpu backend",
    subtitle: SPEC_SUBTITLE,
  },
  {
    name: "attention_wasm",
    title: "Attention specs on heed's wasm backend",
    subtitle: SPEC_SUBTITLE,
  },
  {
    name: "attention_webgpu",
    title: "Attention specs on heed's webgpu backend",
    subtitle: SPEC_SUBTITLE,
  },
];

/** An SVG as `deno fmt` lays it out (the committed files must pass `deno fmt --check`). */
export async function formatSvg(svg: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=svg", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(svg));
  await writer.close();
  const r = await child.output();
  if (!r.success) {
    throw new Error(
      `bench/charts: deno fmt failed: ${new TextDecoder().decode(r.stderr)}`,
    );
  }
  return new TextDecoder().decode(r.stdout);
}

/** Every chart's SVG by file name (`peers_wasm.svg`), from the sources in the repository. */
export async function renderCharts(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const spec of PEER_CHARTS) {
    const text = await Deno.readTextFile(new URL(spec.source, ROOT));
    out.set(`${spec.name}.svg`, ratioChartSvg(peerChart(spec, text)));
  }
  const docs = await Deno.readTextFile(new URL("docs/benchmarks.md", ROOT));
  for (const spec of DOCS_CHARTS) {
    out.set(`${spec.name}.svg`, ratioChartSvg(docsChart(spec, docs)));
  }
  for (const [file, svg] of out) out.set(file, await formatSvg(svg));
  return out;
}

/** The charts whose committed file is missing or differs from `charts`. */
export async function staleCharts(
  charts: ReadonlyMap<string, string>,
): Promise<string[]> {
  const stale: string[] = [];
  for (const [file, svg] of charts) {
    let old: string | null = null;
    try {
      old = await Deno.readTextFile(new URL(`${CHARTS_DIR}/${file}`, ROOT));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (old !== svg) stale.push(`${CHARTS_DIR}/${file}`);
  }
  return stale;
}

async function main(args: readonly string[]): Promise<number> {
  const unknown = args.filter((a) => a !== "--check");
  if (unknown.length > 0) {
    console.error(
      `bench/charts: unknown argument ${unknown[0]} (only --check)`,
    );
    return 2;
  }
  const charts = await renderCharts();
  if (args.includes("--check")) {
    const stale = await staleCharts(charts);
    for (const s of stale) console.error(`stale: ${s}`);
    if (stale.length === 0) console.log(`${charts.size} charts up to date`);
    return stale.length === 0 ? 0 : 1;
  }
  await Deno.mkdir(new URL(`${CHARTS_DIR}/`, ROOT), { recursive: true });
  for (const [file, svg] of charts) {
    await Deno.writeTextFile(new URL(`${CHARTS_DIR}/${file}`, ROOT), svg);
    console.log(`wrote ${CHARTS_DIR}/${file}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
