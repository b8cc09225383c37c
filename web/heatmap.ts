/// <reference lib="dom" />
// A weights matrix drawn on a canvas: one square per (query, key), white
// at 0, blue for positive and red for negative weights, with the tokens
// along the edges. The layout is returned so a test can find each cell.

/** Where the cells of a drawn heatmap are, in canvas pixels. */
export interface HeatmapLayout {
  /** Left edge of column 0. */
  readonly x0: number;
  /** Top edge of row 0. */
  readonly y0: number;
  /** Side of one cell. */
  readonly cell: number;
  /** The largest |value|: the full colour. */
  readonly scale: number;
}

/** An RGB triple, 0..255. */
export type Rgb = readonly [number, number, number];

const BLUE: Rgb = [31, 78, 156];
const RED: Rgb = [178, 51, 43];

/** The colour of `v` when |v| = `scale` is the full colour. */
export function colour(v: number, scale: number): Rgb {
  if (!Number.isFinite(v)) return [0, 0, 0];
  const t = scale > 0 ? Math.min(1, Math.abs(v) / scale) : 0;
  const to = v >= 0 ? BLUE : RED;
  return to.map((c) => Math.round(255 + (c - 255) * t)) as unknown as Rgb;
}

function label(s: string): string {
  return s.length > 8 ? `${s.slice(0, 7)}…` : s;
}

/**
 * Draws `rows` (`[Tq][Tk]`) on `canvas` with the query tokens on the left
 * and the key tokens on top; values are printed in cells that are big
 * enough. Returns the layout.
 */
export function drawHeatmap(
  canvas: HTMLCanvasElement,
  rows: readonly (readonly number[])[],
  opts: {
    readonly queries: readonly string[];
    readonly keys: readonly string[];
  },
): HeatmapLayout {
  const tq = rows.length, tk = rows[0]?.length ?? 0;
  const cell = Math.max(14, Math.min(44, Math.floor(360 / Math.max(tq, tk))));
  const margin = 70;
  canvas.width = margin + tk * cell + 4;
  canvas.height = margin + tq * cell + 4;
  const ctx = canvas.getContext("2d")!;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const scale = Math.max(1e-12, ...rows.flat().map((v) => Math.abs(v)));
  const layout: HeatmapLayout = { x0: margin, y0: margin, cell, scale };
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#333";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  opts.queries.forEach((q, i) =>
    ctx.fillText(label(q), margin - 4, margin + (i + 0.5) * cell)
  );
  opts.keys.forEach((k, j) => {
    ctx.save();
    ctx.translate(margin + (j + 0.5) * cell, margin - 4);
    ctx.rotate(-Math.PI / 3);
    ctx.textAlign = "left";
    ctx.fillText(label(k), 0, 0);
    ctx.restore();
  });
  rows.forEach((row, i) =>
    row.forEach((v, j) => {
      const [r, g, b] = colour(v, scale);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(margin + j * cell, margin + i * cell, cell, cell);
      if (cell >= 34) {
        ctx.fillStyle = Math.abs(v) > 0.6 * scale ? "#fff" : "#222";
        ctx.textAlign = "center";
        ctx.fillText(
          v.toFixed(2),
          margin + (j + 0.5) * cell,
          margin + (i + 0.85) * cell,
        );
      }
    })
  );
  ctx.strokeStyle = "#999";
  ctx.strokeRect(margin - 0.5, margin - 0.5, tk * cell + 1, tq * cell + 1);
  return layout;
}

/** `flat` (row-major `[..., Tq, Tk]`) as `count` matrices of `[Tq][Tk]`. */
export function matrices(
  flat: ArrayLike<number>,
  tq: number,
  tk: number,
): number[][][] {
  const out: number[][][] = [];
  for (let m = 0; m * tq * tk < flat.length; m++) {
    out.push(
      Array.from(
        { length: tq },
        (_, i) =>
          Array.from({ length: tk }, (_, j) => flat[m * tq * tk + i * tk + j]!),
      ),
    );
  }
  return out;
}
