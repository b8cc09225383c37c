/**
 * The HTML of an explanation report: one self-contained page (inline SVG
 * and CSS, no scripts, no external assets). Pure string building.
 *
 * @module
 */

import { attentionSvg } from "./heatmap.ts";
import { type Explanation, meanEntropy } from "./explain.ts";

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Horizontal bars, one per label, for weights in [0, 1]. */
function barsSvg(labels: readonly string[], values: readonly number[]): string {
  const h = 22, w = 360, left = 140;
  const top = Math.max(1e-12, ...values);
  const rows = labels.map((l, i) => {
    const v = values[i]!, y = i * h;
    return `<text x="${left - 6}" y="${y + 15}" text-anchor="end">${
      esc(l)
    }</text><rect x="${left}" y="${y + 3}" width="${
      (w * v / top).toFixed(1)
    }" height="${h - 6}" fill="rgb(8,48,107)"/><text x="${
      left + w * v / top + 4
    }" y="${y + 15}">${v.toFixed(3)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${
    left + w + 60
  }" height="${labels.length * h}" font-family="sans-serif" font-size="12">${
    rows.join("")
  }</svg>`;
}

const STYLE = `body{font-family:sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:17px;margin-top:28px}
.grid{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;border:1px solid #ddd;padding:6px}
figcaption{font-size:12px;color:#555}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}`;

/**
 * The report page of an {@link Explanation}: heatmaps per layer and head,
 * the per-head entropy table, the gate's choice per query (gated models
 * only), the rollout (classifier) or the alignment (translator).
 */
export function explanationHtml(e: Explanation): string {
  const parts: string[] = [];
  const keys = e.colTokens.length;
  parts.push(
    `<h1>heed explanation</h1><p>Input: <b>${
      esc(e.text)
    }</b><br>Prediction: <b>${esc(e.prediction)}</b></p>`,
  );
  const figs = e.maps.map((m) =>
    `<figure class="head" data-layer="${m.layer}" data-head="${m.head}"><figcaption>${m.kind}-attention, layer ${
      m.layer + 1
    }, head ${m.head + 1}</figcaption>${
      attentionSvg(m.weights, e.rowTokens, e.colTokens, { cell: 28 })
    }</figure>`
  );
  parts.push(
    `<section id="heatmaps"><h2>Attention per layer and head</h2><p>Rows are queries, columns keys; darker cells carry more weight.</p><div class="grid">${
      figs.join("")
    }</div></section>`,
  );
  const rows = e.maps.map((m) =>
    `<tr><td>${m.kind}</td><td>${m.layer + 1}</td><td>${
      m.head + 1
    }</td><td class="entropy">${meanEntropy(m.weights).toFixed(4)}</td></tr>`
  );
  parts.push(
    `<section id="entropy"><h2>Per-head entropy</h2><p>Mean over queries of −Σ p log p, in nats; 0 is one key, log ${keys} = ${
      Math.log(keys).toFixed(4)
    } is uniform over all keys.</p><table><tr><th>attention</th><th>layer</th><th>head</th><th>entropy</th></tr>${
      rows.join("")
    }</table></section>`,
  );
  if (e.gates.length > 0) {
    const gfigs = e.gates.flatMap((g) =>
      g.weights.map((w, h) =>
        `<figure class="gate"><figcaption>gate, layer ${g.layer + 1}, head ${
          h + 1
        }: each query's weight on each module</figcaption>${
          attentionSvg(w, e.rowTokens, g.modules, { cell: 28 })
        }</figure>`
      )
    );
    parts.push(
      `<section id="gates"><h2>The gate's choice per query</h2><div class="grid">${
        gfigs.join("")
      }</div></section>`,
    );
  }
  if (e.rollout) {
    parts.push(
      `<section id="rollout"><h2>Attention rollout to the prediction</h2><p>Product over layers of (0.5·mean over heads + 0.5·I), rows normalised (Abnar &amp; Zuidema, 2020), read at what the classifier pools.</p>${
        barsSvg(e.colTokens, e.rollout)
      }</section>`,
    );
  }
  if (e.alignment) {
    parts.push(
      `<section id="alignment"><h2>Cross-attention alignment</h2><p>Each output token's weight on the source tokens, heads averaged.</p>${
        attentionSvg(e.alignment, e.rowTokens, e.colTokens)
      }</section>`,
    );
  }
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>heed explanation</title><style>${STYLE}</style></head><body>${
    parts.join("\n")
  }</body></html>\n`;
}
