/**
 * Where the charts' numbers come from, and how they are read.
 *
 * - heed against its peers: the result files that `deno task bench:peers`
 *   writes (`bench/peers/RESULTS*.md`): their first table holds every
 *   column's median time per workload, and their header the date, machine,
 *   Deno and WebGPU adapter. The ratio of a peer on a row is its median over
 *   heed's median (above 1: heed is faster), computed from the medians as
 *   printed.
 * - attention specs against heed's reference: the tables of
 *   `docs/benchmarks.md` (their only home), each after a marker comment
 *   `<!-- chart NAME: CAPTION -->` whose caption gives the date and machine;
 *   the ratio is the `(1.23×)` in each cell.
 *
 * @module
 */

import type { RatioChart, RatioRow } from "./ratio_chart.ts";

/** A markdown table: its header cells and its rows of cells. */
export interface MarkdownTable {
  /** The header row's cells. */
  readonly header: readonly string[];
  /** The body rows' cells. */
  readonly rows: readonly (readonly string[])[];
}

/** Splits a `| a | b |` line into trimmed cells. */
function cells(line: string): string[] {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|")
    .map((c) => c.trim());
}

/** Every markdown table in `text` with the line number (0-based) of its header. */
export function markdownTables(
  text: string,
): { readonly line: number; readonly table: MarkdownTable }[] {
  const lines = text.split("\n");
  const out: { line: number; table: MarkdownTable }[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    if (
      !lines[i]!.trimStart().startsWith("|") ||
      !/^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(lines[i + 1]!)
    ) continue;
    const header = cells(lines[i]!);
    const rows: string[][] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j]!.trimStart().startsWith("|"); j++) {
      const row = cells(lines[j]!);
      if (row.length !== header.length) {
        throw new TypeError(
          `markdownTables: line ${
            j + 1
          } has ${row.length} cells, its header ${header.length}`,
        );
      }
      rows.push(row);
    }
    out.push({ line: i, table: { header, rows } });
    i = j - 1;
  }
  return out;
}

/** The leading number of a cell (`3,916 [3,700–3,980] · 4.39 GFLOP/s` → 3916), or null. */
export function leadingNumber(cell: string): number | null {
  if (/MISMATCH/.test(cell)) return null;
  const m = /^\**([\d,]+(?:\.\d+)?)/.exec(cell);
  return m ? Number(m[1]!.replace(/,/g, "")) : null;
}

/** The ratio in a cell's parentheses (`64.8 (1.00×)` → 1), or null. */
export function parenRatio(cell: string): number | null {
  const m = /\(([\d,]+(?:\.\d+)?)×\)/.exec(cell);
  return m ? Number(m[1]!.replace(/,/g, "")) : null;
}

/** The facts in a bench:peers result file's header. */
export interface ResultsHeader {
  /** The run's day, `YYYY-MM-DD`. */
  readonly date: string;
  /** The processor and cores, e.g. `Intel(R) Xeon(R) Processor, 2 logical cores`. */
  readonly machine: string;
  /** e.g. `Deno 2.9.6`. */
  readonly deno: string;
  /** The WebGPU adapter's name, e.g. `llvmpipe`, or null. */
  readonly adapter: string | null;
}

/** Reads the header bullets of a `bench/peers/RESULTS*.md` file. */
export function resultsHeader(text: string): ResultsHeader {
  // bullets may wrap: join each bullet's continuation lines
  const bullets = text.split(/\n(?=- )/).map((b) =>
    b.replace(/\s*\n\s*/g, " ")
  );
  const find = (prefix: string) =>
    bullets.find((b) => b.startsWith(`- ${prefix}`))?.slice(2 + prefix.length);
  const date = /^\s*(\d{4}-\d{2}-\d{2})/.exec(find("Date:") ?? "")?.[1];
  const machine = find("Machine:")?.split(";")[0]?.trim();
  const deno = bullets.map((b) => /^- (Deno [\d.]+)/.exec(b)?.[1])
    .find((d) => d !== undefined);
  if (date === undefined || machine === undefined || deno === undefined) {
    throw new TypeError(
      "resultsHeader: expected '- Date:', '- Machine:' and '- Deno' bullets",
    );
  }
  const adapter = find("WebGPU adapter:")?.trim().split(/[ (]/)[0] ?? null;
  return { date, machine, deno, adapter };
}

/** A chart of heed on one backend against every peer on the same backend. */
export interface PeerChartSpec {
  /** The chart's file name without `.svg`. */
  readonly name: string;
  /** The result file, relative to the repository. */
  readonly source: string;
  /** The backend: heed's column is `heed <backend>`, the peers' `<library> <backend>[ jit]`. */
  readonly backend: "wasm" | "webgpu" | "cpu";
}

/** A peers chart from a result file's text. */
export function peerChart(spec: PeerChartSpec, text: string): RatioChart {
  const h = resultsHeader(text);
  const first = markdownTables(text)[0];
  if (!first || !first.table.header[0]!.startsWith("workload")) {
    throw new TypeError(
      `peerChart: ${spec.source} has no workload table first`,
    );
  }
  const { header, rows } = first.table;
  const heed = header.indexOf(`heed ${spec.backend}`);
  if (heed < 0) {
    throw new TypeError(
      `peerChart: ${spec.source} has no column "heed ${spec.backend}"`,
    );
  }
  const peers = header.flatMap((c, i) =>
    !c.startsWith("heed ") && !c.includes("/") &&
      c.split(" ")[1] === spec.backend
      ? [i]
      : []
  );
  if (peers.length === 0) {
    throw new TypeError(
      `peerChart: ${spec.source} has no ${spec.backend} peer column`,
    );
  }
  const chartRows: RatioRow[] = rows
    .filter((row) => !/^peak /.test(row[0]!))
    .map((row) => {
      const base = leadingNumber(row[heed]!);
      return {
        label: row[0]!,
        values: peers.map((i) => {
          const t = leadingNumber(row[i]!);
          return base === null || t === null || base === 0 ? null : t / base;
        }),
      };
    });
  const gpu = spec.backend === "webgpu" && h.adapter
    ? `, WebGPU on ${h.adapter}`
    : "";
  return {
    title: `heed ${spec.backend} against each ${spec.backend} peer`,
    subtitle:
      "peer's median time / heed's median time, per workload: above 1× means heed is faster",
    series: peers.map((i) => header[i]!),
    rows: chartRows,
    caption: `${h.date} · ${h.machine} · ${h.deno}${gpu} · ${spec.source}`,
  };
}

/** A chart of the ratios in a marked table of docs/benchmarks.md. */
export interface DocsChartSpec {
  /** The chart's file name without `.svg`, also the marker's name. */
  readonly name: string;
  /** The chart's title. */
  readonly title: string;
  /** What the ratio means. */
  readonly subtitle: string;
  /** The largest ratio drawn in full (default: fit, at most 4). */
  readonly maxRatio?: number;
}

/** The chart of the table after `<!-- chart NAME: CAPTION -->` in `docs`. */
export function docsChart(spec: DocsChartSpec, docs: string): RatioChart {
  const lines = docs.split("\n");
  const marker = new RegExp(`^<!-- chart ${spec.name}: (.*) -->$`);
  const at = lines.findIndex((l) => marker.test(l));
  if (at < 0) {
    throw new TypeError(
      `docsChart: no "<!-- chart ${spec.name}: … -->" marker in docs/benchmarks.md`,
    );
  }
  const caption = marker.exec(lines[at]!)![1]!;
  const found = markdownTables(docs).find((t) =>
    t.line > at && lines.slice(at + 1, t.line).every((l) => l.trim() === "")
  );
  if (!found) {
    throw new TypeError(
      `docsChart: the marker "${spec.name}" is not followed by a table`,
    );
  }
  const { header, rows } = found.table;
  return {
    title: spec.title,
    subtitle: spec.subtitle,
    series: header.slice(1),
    rows: rows.map((row) => ({
      label: row[0]!,
      values: row.slice(1).map(parenRatio),
    })),
    caption: `${caption} · docs/benchmarks.md`,
    ...(spec.maxRatio === undefined ? {} : { maxRatio: spec.maxRatio }),
  };
}
