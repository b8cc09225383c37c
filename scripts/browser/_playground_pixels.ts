// Pixel checks for the playground's flows: every heatmap cell has the
// colour of its value, and a screenshot has many distinct colours (it
// rendered something, not a blank or one-colour page).

import type { Page } from "npm:playwright-core@1.65.2";
import { colour } from "../../web/heatmap.ts";
import { type ComposeResult, fail } from "./_playground_checks.ts";

/** Heatmap `index`'s cells read back from its canvas match colour(value). */
export async function checkPixels(
  page: Page,
  r: ComposeResult,
  index: number,
): Promise<void> {
  const layout = r.layouts[index];
  const rows = r.weights[index];
  if (!layout || !rows) fail(`no heatmap ${index}`);
  // One pixel per cell, near its top-left corner (away from the printed value).
  const points = rows.flatMap((row, i) =>
    row.map((_, j) => [
      layout.x0 + j * layout.cell + 2,
      layout.y0 + i * layout.cell + 2,
    ])
  );
  const pixels = await page.evaluate(
    ([sel, pts]) => {
      const c = document.querySelector(sel as string) as HTMLCanvasElement;
      const ctx = c.getContext("2d")!;
      return (pts as number[][]).map(([x, y]) =>
        Array.from(ctx.getImageData(x!, y!, 1, 1).data.slice(0, 3))
      );
    },
    [`canvas[data-heatmap="${index}"]`, points] as const,
  );
  rows.flat().forEach((v, n) => {
    const want = colour(v, layout.scale);
    const got = pixels[n]!;
    if (want.some((c, k) => Math.abs(c - got[k]!) > 1)) {
      fail(
        `cell ${n} (value ${v}) is rgb(${got}), expected rgb(${
          want.join(",")
        })`,
      );
    }
  });
}

/** How many distinct colours a PNG (a screenshot) has, decoded by the page. */
export function distinctColours(page: Page, png: Uint8Array): Promise<number> {
  let bin = "";
  for (const b of png) bin += String.fromCharCode(b);
  return page.evaluate(async (b64: string) => {
    const blob = await (await fetch(`data:image/png;base64,${b64}`)).blob();
    const bmp = await createImageBitmap(blob);
    const canvas = new OffscreenCanvas(bmp.width, bmp.height);
    const ctx = canvas.getContext("2d")!;
    ctx.drawImage(bmp, 0, 0);
    const data = ctx.getImageData(0, 0, bmp.width, bmp.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 4) {
      seen.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
    }
    return seen.size;
  }, btoa(bin));
}
