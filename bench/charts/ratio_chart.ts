/**
 * A horizontal grouped bar chart of ratios as a self-contained SVG: one group
 * of bars per table row, one bar per series (a peer, or a column), a line at
 * 1×, the value beside each bar, and a caption with the date and machine.
 *
 * Pure: a chart description in, a string out. Bars start at 0 and their
 * length is proportional to the ratio up to the axis maximum; a longer bar is
 * cut at the edge with a break mark and still labelled with its true value.
 * Every piece of text is escaped.
 *
 * @example
 * ```ts
 * import { ratioChartSvg } from "./ratio_chart.ts";
 * import { assertStringIncludes } from "@std/assert";
 *
 * const svg = ratioChartSvg({
 *   title: "heed wasm vs tfjs wasm",
 *   subtitle: "peer time / heed time: above 1 means heed is faster",
 *   series: ["tfjs wasm"],
 *   rows: [{ label: "matmul 256", values: [2.5] }],
 *   caption: "2026-11-30 · 2-core Xeon",
 * });
 * assertStringIncludes(svg, "2.50×");
 * ```
 *
 * @module
 */

/** One row of the table: a label and one ratio (or null: no value) per series. */
export interface RatioRow {
  /** The row's label, e.g. a workload (escaped). */
  readonly label: string;
  /** One ratio per series; null where the table has none. */
  readonly values: readonly (number | null)[];
}

/** What {@link ratioChartSvg} draws. */
export interface RatioChart {
  /** The title line (escaped). */
  readonly title: string;
  /** The line under the title: what the ratio means (escaped). */
  readonly subtitle: string;
  /** The bars' names, in legend order (escaped). */
  readonly series: readonly string[];
  /** The groups of bars, top to bottom. */
  readonly rows: readonly RatioRow[];
  /** The caption under the chart: date, machine, source (escaped). */
  readonly caption: string;
  /** The largest ratio the axis shows; longer bars are cut (default: fit all, at most 4). */
  readonly maxRatio?: number;
}

/** The chart's width in pixels; the height follows from the rows and series. */
export const CHART_WIDTH = 760;

// Paul Tol's colour-blind-safe "bright" scheme.
const COLOURS = [
  "#4477AA",
  "#EE6677",
  "#228833",
  "#CCBB44",
  "#66CCEE",
  "#AA3377",
];

const LABEL_X = 8; // row labels start here
const PLOT_X = 222; // ratio 0 is here
const PLOT_W = 440; // ratio maxRatio is at PLOT_X + PLOT_W
const BAR_H = 11;
const BAR_GAP = 2;
const GROUP_GAP = 10;
const TOP = 72; // below title, subtitle and legend
const BOTTOM = 44; // axis labels and caption

/** Escapes the five XML special characters. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A ratio as the chart labels it: two decimals below 10, else none. */
export function formatRatio(r: number): string {
  return `${r < 10 ? r.toFixed(2) : r.toFixed(0)}×`;
}

/** The axis maximum: a half-unit step at or above the largest ratio, clipped to `cap`. */
function axisMax(rows: readonly RatioRow[], cap: number): number {
  let top = 1;
  for (const row of rows) {
    for (const v of row.values) if (v !== null) top = Math.max(top, v);
  }
  return Math.min(cap, Math.ceil(top * 2) / 2);
}

/** Tick step for an axis of length `max`: about 4 to 8 ticks. */
function tickStep(max: number): number {
  for (const step of [0.25, 0.5, 1, 2, 5, 10]) {
    if (max / step <= 8) return step;
  }
  return 20;
}

/** Rounds a coordinate to one decimal, so the text is short and stable. */
function px(x: number): string {
  return String(Math.round(x * 10) / 10);
}

/**
 * The SVG of a ratio chart; throws a TypeError when a row's values do not
 * match the series, a RangeError on a ratio that is negative or not finite.
 */
export function ratioChartSvg(chart: RatioChart): string {
  const { series, rows } = chart;
  for (const row of rows) {
    if (row.values.length !== series.length) {
      throw new TypeError(
        `ratioChartSvg: row "${row.label}" has ${row.values.length} values for ${series.length} series`,
      );
    }
    for (const v of row.values) {
      if (v !== null && !(Number.isFinite(v) && v >= 0)) {
        throw new RangeError(
          `ratioChartSvg: row "${row.label}" has ratio ${v}; expected a finite number of at least 0`,
        );
      }
    }
  }
  const max = chart.maxRatio ?? axisMax(rows, 4);
  const scale = PLOT_W / max; // pixels per 1×
  const groupH = series.length * (BAR_H + BAR_GAP) - BAR_GAP;
  const plotH = rows.length * (groupH + GROUP_GAP) - GROUP_GAP;
  const height = TOP + plotH + BOTTOM;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH}" height="${height}" ` +
      `viewBox="0 0 ${CHART_WIDTH} ${height}" role="img" font-family="system-ui, sans-serif" font-size="12">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${CHART_WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LABEL_X}" y="20" font-size="15" font-weight="bold">${
      escapeXml(chart.title)
    }</text>`,
    `<text x="${LABEL_X}" y="38" fill="#444444">${
      escapeXml(chart.subtitle)
    }</text>`,
  );
  // legend
  let lx = LABEL_X;
  series.forEach((name, i) => {
    out.push(
      `<rect x="${lx}" y="48" width="12" height="12" fill="${
        COLOURS[i % COLOURS.length]
      }"/>`,
      `<text x="${lx + 16}" y="58">${escapeXml(name)}</text>`,
    );
    lx += 16 + 7 * name.length + 18;
  });
  // grid and ticks
  const step = tickStep(max);
  for (let t = 0; t <= max + 1e-9; t += step) {
    const x = PLOT_X + t * scale;
    out.push(
      `<line x1="${px(x)}" y1="${TOP - 4}" x2="${px(x)}" y2="${
        TOP + plotH + 4
      }" stroke="#dddddd"/>`,
      `<text x="${px(x)}" y="${
        TOP + plotH + 18
      }" text-anchor="middle" fill="#444444">${formatRatio(t)}</text>`,
    );
  }
  // the 1× line: equal speed
  const one = PLOT_X + scale;
  out.push(
    `<line x1="${px(one)}" y1="${TOP - 6}" x2="${px(one)}" y2="${
      TOP + plotH + 6
    }" stroke="#222222" stroke-width="1.5" stroke-dasharray="4 3"/>`,
  );
  // the bars
  rows.forEach((row, r) => {
    const y0 = TOP + r * (groupH + GROUP_GAP);
    out.push(
      `<text x="${LABEL_X}" y="${px(y0 + groupH / 2 + 4)}">${
        escapeXml(row.label)
      }</text>`,
    );
    row.values.forEach((v, i) => {
      const y = y0 + i * (BAR_H + BAR_GAP);
      const name = `${row.label}, ${series[i]}`;
      if (v === null) {
        out.push(
          `<text x="${PLOT_X + 4}" y="${y + BAR_H - 1}" fill="#777777">— ${
            escapeXml(series[i]!)
          }: no value</text>`,
        );
        return;
      }
      const cut = v > max;
      const w = Math.min(v, max) * scale;
      out.push(
        `<rect class="bar" data-ratio="${v}" x="${PLOT_X}" y="${y}" width="${
          px(w)
        }" height="${BAR_H}" fill="${COLOURS[i % COLOURS.length]}">` +
          `<title>${escapeXml(`${name}: ${formatRatio(v)}`)}</title></rect>`,
      );
      if (cut) {
        // a white zigzag across the bar's end says "longer than drawn"
        const x = PLOT_X + w - 8;
        out.push(
          `<path d="M${px(x)} ${y - 1}l4 ${px((BAR_H + 2) / 2)}l-4 ${
            px((BAR_H + 2) / 2)
          }" stroke="#ffffff" stroke-width="2" fill="none"/>`,
        );
      }
      out.push(
        `<text x="${px(PLOT_X + w + 4)}" y="${y + BAR_H - 1}" font-size="11">${
          formatRatio(v)
        }</text>`,
      );
    });
  });
  out.push(
    `<text x="${LABEL_X}" y="${height - 8}" font-size="11" fill="#444444">${
      escapeXml(chart.caption)
    }</text>`,
    `</svg>`,
  );
  return out.join("\n") + "\n";
}
