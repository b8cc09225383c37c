/**
 * Training curves as a self-contained SVG: the training loss and the
 * validation metric (accuracy for classification, BLEU for translation) per
 * epoch, in two panels with axes, ticks and labels. `deno task train` writes
 * it as `curves.svg` beside `metrics.jsonl` after every epoch.
 *
 * Pure: records in, a string out. Values that are missing, `null` (how JSON
 * writes NaN) or not finite are left out of the lines; text is escaped.
 *
 * @example Two epochs of a classifier
 * ```ts
 * import { curvesSvg } from "./curves.ts";
 * import { assertStringIncludes } from "@std/assert";
 *
 * const svg = curvesSvg([
 *   { epoch: 1, loss: 2.1, validAccuracy: 0.41 },
 *   { epoch: 2, loss: 1.3, validAccuracy: 0.62 },
 * ], { title: "banking77" });
 * assertStringIncludes(svg, "Validation accuracy (%)");
 * ```
 *
 * @module
 */

import { readTextSafe, writeFileAtomic } from "./run_dir.ts";

/** One epoch's line of `metrics.jsonl`, as read back (anything may be missing). */
export type CurveRecord = Readonly<Record<string, unknown>>;

/** Which field of the records the validation panel plots. */
export interface CurveMetric {
  /** The record field, e.g. `validAccuracy`. */
  readonly key: string;
  /** The panel's title, e.g. `Validation accuracy (%)`. */
  readonly label: string;
  /** Multiplies every value (100 turns a fraction into a percentage; default 1). */
  readonly scale?: number;
}

/** Options of {@link curvesSvg}. */
export interface CurvesOptions {
  /** The picture's title (escaped; default `Training curves`). */
  readonly title?: string;
  /** Width in pixels (default 640). */
  readonly width?: number;
  /** Height in pixels (default 360). */
  readonly height?: number;
  /**
   * The validation metric (default: `validAccuracy` as a percentage if any
   * record has it, else `validBleu`).
   */
  readonly metric?: CurveMetric;
}

const ACCURACY: CurveMetric = {
  key: "validAccuracy",
  label: "Validation accuracy (%)",
  scale: 100,
};
const BLEU: CurveMetric = { key: "validBleu", label: "Validation BLEU" };

const ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for SVG (XML) content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/**
 * The per-epoch records of a `metrics.jsonl` text: lines that parse to an
 * object with a positive integer `epoch`, the last line of an epoch winning,
 * in epoch order. Torn lines and the final summary line are skipped.
 */
export function metricsRecords(text: string): CurveRecord[] {
  const byEpoch = new Map<number, CurveRecord>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) continue;
    const e = (v as CurveRecord).epoch;
    if (typeof e === "number" && Number.isSafeInteger(e) && e >= 1) {
      byEpoch.set(e, v as CurveRecord);
    }
  }
  return [...byEpoch.keys()].sort((a, b) => a - b).map((e) => byEpoch.get(e)!);
}

/** Ticks at round steps covering [lo, hi], and the decimals they need. */
function niceTicks(lo: number, hi: number, count = 5) {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const first = Math.floor(lo / step), last = Math.ceil(hi / step);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(i * step);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) +
    (step / mag === 2.5 ? 1 : 0);
  return { ticks, decimals, lo: first * step, hi: last * step };
}

/** Integer epoch ticks, at most about 11 of them. */
function epochTicks(lo: number, hi: number): number[] {
  const step = Math.max(1, Math.ceil((hi - lo) / 10));
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e += step) ticks.push(e);
  return ticks;
}

const fmt = (v: number, d: number) => v.toFixed(Math.min(d, 6));

interface Panel {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
  readonly label: string;
  readonly color: string;
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

function panelSvg(p: Panel, epochs: readonly [number, number]): string {
  const out: string[] = [];
  const [e0, e1] = epochs[0] === epochs[1]
    ? [epochs[0] - 0.5, epochs[1] + 0.5]
    : epochs;
  const sx = (e: number) => p.x + ((e - e0) / (e1 - e0)) * p.w;
  out.push(
    `<text x="${p.x + p.w / 2}" y="${
      p.y - 10
    }" text-anchor="middle" font-size="13" font-weight="bold">${
      escapeXml(p.label)
    }</text>`,
  );
  out.push(
    `<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" fill="none" stroke="#999"/>`,
  );
  for (const e of epochTicks(epochs[0], epochs[1])) {
    const x = sx(e).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${p.y + p.h}" x2="${x}" y2="${
        p.y + p.h + 4
      }" stroke="#999"/>`,
      `<text x="${x}" y="${
        p.y + p.h + 16
      }" text-anchor="middle" font-size="11">${e}</text>`,
    );
  }
  out.push(
    `<text x="${p.x + p.w / 2}" y="${
      p.y + p.h + 32
    }" text-anchor="middle" font-size="12">epoch</text>`,
  );
  if (p.points.length === 0) {
    out.push(
      `<text x="${p.x + p.w / 2}" y="${
        p.y + p.h / 2
      }" text-anchor="middle" font-size="12" fill="#666">no data</text>`,
    );
    return out.join("\n");
  }
  const vs = p.points.map(([, v]) => v);
  const t = niceTicks(Math.min(...vs), Math.max(...vs));
  const sy = (v: number) => p.y + p.h - ((v - t.lo) / (t.hi - t.lo)) * p.h;
  for (const v of t.ticks) {
    const y = sy(v).toFixed(1);
    out.push(
      `<line x1="${p.x}" y1="${y}" x2="${p.x + p.w}" y2="${y}" stroke="#eee"/>`,
      `<line x1="${p.x - 4}" y1="${y}" x2="${p.x}" y2="${y}" stroke="#999"/>`,
      `<text x="${
        p.x - 6
      }" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${
        fmt(v, t.decimals)
      }</text>`,
    );
  }
  const xy = p.points.map(([e, v]) => [sx(e).toFixed(1), sy(v).toFixed(1)]);
  out.push(
    `<polyline class="${p.name}" fill="none" stroke="${p.color}" stroke-width="2" points="${
      xy.map(([x, y]) => `${x},${y}`).join(" ")
    }"/>`,
  );
  p.points.forEach(([e, v], i) => {
    const [x, y] = xy[i]!;
    out.push(
      `<circle class="${p.name}" cx="${x}" cy="${y}" r="3" fill="${p.color}"><title>epoch ${e}: ${
        fmt(v, 4)
      }</title></circle>`,
    );
  });
  return out.join("\n");
}

/** The finite values of `key` (times `scale`) against their epochs. */
function series(
  records: readonly CurveRecord[],
  key: string,
  scale = 1,
): [number, number][] {
  const out: [number, number][] = [];
  for (const r of records) {
    const e = r.epoch, v = r[key];
    if (typeof e !== "number" || !Number.isFinite(e)) continue;
    if (typeof v !== "number" || !Number.isFinite(v * scale)) continue;
    out.push([e, v * scale]);
  }
  return out;
}

/**
 * A self-contained SVG (no scripts, no external assets) of the training loss
 * and the validation metric per epoch: `polyline.loss` and `polyline.metric`,
 * with a `circle` for each plotted value.
 */
export function curvesSvg(
  records: readonly CurveRecord[],
  opts: CurvesOptions = {},
): string {
  const width = opts.width ?? 640, height = opts.height ?? 360;
  const metric = opts.metric ??
    (records.some((r) =>
        typeof r[ACCURACY.key] === "number" || r[ACCURACY.key] === null
      )
      ? ACCURACY
      : BLEU);
  const epochs = records.map((r) => r.epoch).filter((e): e is number =>
    typeof e === "number" && Number.isFinite(e)
  );
  const span: [number, number] = epochs.length === 0
    ? [1, 1]
    : [Math.min(...epochs), Math.max(...epochs)];
  const left = 58, gap = 64, right = 16, top = 62, bottom = 50;
  const w = (width - left - gap - right) / 2, h = height - top - bottom;
  const title = opts.title ?? "Training curves";
  const panels: Panel[] = [
    {
      x: left,
      y: top,
      w,
      h,
      label: "Training loss",
      color: "#1f77b4",
      name: "loss",
      points: series(records, "loss"),
    },
    {
      x: left + w + gap,
      y: top,
      w,
      h,
      label: metric.label,
      color: "#d62728",
      name: "metric",
      points: series(records, metric.key, metric.scale),
    },
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${
      width / 2
    }" y="24" text-anchor="middle" font-size="16" font-weight="bold">${
      escapeXml(title)
    }</text>`,
    ...panels.map((p) => panelSvg(p, span)),
    `</svg>`,
    "",
  ].join("\n");
}

/**
 * Writes `curves.svg` in the run folder `dir` from every epoch of its
 * `metrics.jsonl`, atomically and never through a symbolic link.
 */
export async function writeCurves(dir: string, title: string): Promise<void> {
  const log = await readTextSafe(dir, "metrics.jsonl");
  const svg = curvesSvg(metricsRecords(log ?? ""), { title });
  await writeFileAtomic(dir, "curves.svg", svg);
}
