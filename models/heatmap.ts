/**
 * Attention heatmaps as standalone SVG: rows are queries, columns are keys,
 * darker cells carry more weight. Pure string building, no DOM.
 *
 * @module
 */

/** Options of {@link attentionSvg}. */
export interface HeatmapOptions {
  /** A title above the grid. */
  readonly title?: string;
  /** Cell size in pixels (default 34). */
  readonly cell?: number;
}

function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) =>
      ({
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&apos;",
      })[c]!,
  );
}

/** Splits `text` into lines of at most `width` characters, at spaces where it can. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    let w = word;
    while (w.length > width) { // a word longer than a line is cut
      if (line) lines.push(line), line = "";
      lines.push(w.slice(0, width));
      w = w.slice(width);
    }
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines;
}

/** White to deep blue, by weight in [0, 1]. */
function color(w: number): string {
  const t = Math.max(0, Math.min(1, w));
  const mix = (a: number, b: number) => Math.round(a + (b - a) * t);
  return `rgb(${mix(255, 8)},${mix(255, 48)},${mix(255, 107)})`;
}

/**
 * Renders `weights[i][j]` (query i, key j) as an SVG heatmap with the token
 * labels on both axes and the weight written in each cell.
 *
 * @example
 * ```ts
 * import { attentionSvg } from "@heed/heed/models";
 * import { assert } from "@std/assert";
 *
 * const svg = attentionSvg([[0.9, 0.1], [0.3, 0.7]], ["a", "b"], ["x", "y"], { title: "demo" });
 * assert(svg.startsWith("<svg") && svg.includes(">demo<"));
 * ```
 */
export function attentionSvg(
  weights: readonly (readonly number[])[],
  rowLabels: readonly string[],
  colLabels: readonly string[],
  opts: HeatmapOptions = {},
): string {
  if (
    weights.length !== rowLabels.length ||
    weights.some((r) => r.length !== colLabels.length)
  ) {
    throw new TypeError(
      `attentionSvg: weights are ${weights.length}x${
        weights[0]?.length ?? 0
      } but there are ${rowLabels.length} row and ${colLabels.length} column labels`,
    );
  }
  const cell = opts.cell ?? 34;
  const font = 13;
  const charW = font * 0.62;
  const left = 16 + charW * Math.max(4, ...rowLabels.map((l) => l.length));
  const footer = 360;
  const width = Math.max(left + cell * colLabels.length + 16, left + footer);
  // The title wraps at word boundaries to the figure's width.
  const titleChars = Math.max(20, Math.floor((width - 16) / (15 * 0.62)));
  const titleLines = opts.title ? wrap(opts.title, titleChars) : [];
  const top = (opts.title ? 14 + 20 * titleLines.length : 10) +
    charW * Math.max(4, ...colLabels.map((l) => l.length)) + 8;
  const max = Math.max(1e-9, ...weights.flat());
  const height = top + cell * rowLabels.length + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${
      Math.ceil(width)
    }" height="${Math.ceil(height)}" ` +
    `font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="${font}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  titleLines.forEach((line, i) =>
    parts.push(
      `<text x="16" y="${22 + 20 * i}" font-size="15" font-weight="bold">${
        escapeXml(line)
      }</text>`,
    )
  );
  colLabels.forEach((l, j) => {
    const x = left + j * cell + cell / 2 + font / 3;
    parts.push(
      `<text transform="translate(${x.toFixed(1)},${
        (top - 6).toFixed(1)
      }) rotate(-60)">${escapeXml(l)}</text>`,
    );
  });
  rowLabels.forEach((l, i) => {
    const y = top + i * cell + cell / 2 + font / 3;
    parts.push(
      `<text x="${(left - 6).toFixed(1)}" y="${
        y.toFixed(1)
      }" text-anchor="end">${escapeXml(l)}</text>`,
    );
    weights[i]!.forEach((w, j) => {
      const v = w / max;
      const x = left + j * cell, yy = top + i * cell;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${
          yy.toFixed(1)
        }" width="${cell}" height="${cell}" fill="${color(v)}" stroke="#ddd"/>`,
      );
      parts.push(
        `<text x="${(x + cell / 2).toFixed(1)}" y="${
          (yy + cell / 2 + 4).toFixed(1)
        }" text-anchor="middle" font-size="10" ` +
          `fill="${v > 0.55 ? "white" : "#333"}">${
            w.toFixed(2).replace(/^0/, "")
          }</text>`,
      );
    });
  });
  parts.push(
    `<text x="${left}" y="${
      (height - 14).toFixed(1)
    }" fill="#555" font-size="11">rows: queries, columns: keys; darker = more attention (max ${
      max.toFixed(2)
    })</text>`,
  );
  parts.push("</svg>");
  return parts.join("\n");
}
