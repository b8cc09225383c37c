/**
 * The HTML of an explanation report: one self-contained page (inline SVG
 * and CSS, no scripts, no external assets). Pure string building.
 *
 * @module
 */

import { attentionSvg } from "./heatmap.ts";
import {
  type Explanation,
  type HeadMap,
  meanEntropy,
  uniformEntropy,
} from "./explain.ts";

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
h1{font-size:20px}h2{font-size:17px;margin-top:28px}h3{font-size:14px;margin:16px 0 6px}
.grid{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;border:1px solid #ddd;padding:6px}
figcaption{font-size:12px;color:#555}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}`;

const TITLES: Readonly<Record<string, string>> = {
  "self": "self-attention",
  "pooling": "the pooling query's attention",
  "encoder self": "encoder self-attention",
  "decoder self": "decoder causal self-attention",
  "cross": "decoder cross-attention",
  "additive": "additive (Bahdanau) attention",
};

/** Groups maps by kind and layer, keeping their order (encoder, then each decoder block's self and cross). */
function groups(maps: readonly HeadMap[]): HeadMap[][] {
  const by = new Map<string, HeadMap[]>();
  for (const m of maps) {
    const k = `${m.kind}/${m.layer}`;
    by.set(k, [...(by.get(k) ?? []), m]);
  }
  return [...by.values()];
}

function heatmaps(e: Explanation): string {
  const sections = groups(e.maps).map((g) => {
    const { kind, layer } = g[0]!;
    const figs = g.map((m) =>
      `<figure class="head" data-kind="${
        esc(m.kind)
      }" data-layer="${m.layer}" data-head="${m.head}"><figcaption>${
        esc(m.kind)
      }-attention, layer ${m.layer + 1}, head ${m.head + 1}</figcaption>${
        attentionSvg(m.weights, m.rows, m.cols, { cell: 28 })
      }</figure>`
    );
    return `<h3>Layer ${layer + 1}: ${
      TITLES[kind] ?? esc(kind)
    }</h3><div class="grid">${figs.join("")}</div>`;
  });
  return `<section id="heatmaps"><h2>Attention per layer and head</h2><p>Rows are queries, columns keys; darker cells carry more weight.</p>${
    sections.join("")
  }</section>`;
}

function entropyTable(e: Explanation): string {
  const rows = e.maps.map((m) =>
    `<tr><td>${esc(m.kind)}</td><td>${m.layer + 1}</td><td>${
      m.head + 1
    }</td><td class="entropy">${
      meanEntropy(m.weights).toFixed(4)
    }</td><td class="uniform">${uniformEntropy(m).toFixed(4)}</td></tr>`
  );
  return `<section id="entropy"><h2>Per-head entropy</h2><p>Mean over queries of −Σ p log p, in nats: 0 is all weight on one key; "uniform" is the entropy of equal weights on every key a query may see (log of the number of keys, or for causal attention the mean over queries i of log(i + 1)).</p><table><tr><th>attention</th><th>layer</th><th>head</th><th>entropy</th><th>uniform</th></tr>${
    rows.join("")
  }</table></section>`;
}

function alignmentSection(
  e: Explanation,
  alignment: NonNullable<Explanation["alignment"]>,
): string {
  const figs = alignment.map(({ layer, weights }) =>
    `<figure class="alignment"><figcaption>decoder block ${
      layer + 1
    }, heads averaged</figcaption>${
      attentionSvg(weights, e.outputTokens, e.inputTokens)
    }</figure>`
  );
  // each output token's most attended source token in the last block
  const last = alignment.at(-1)!.weights;
  const pairs = last.map((row, i) => {
    const j = row.reduce((b, w, k) => (w > row[b]! ? k : b), 0);
    return `<tr><td>${esc(e.outputTokens[i] ?? "")}</td><td>${
      esc(e.inputTokens[j] ?? "")
    }</td><td>${row[j]!.toFixed(3)}</td></tr>`;
  });
  return `<section id="alignment"><h2>Cross-attention alignment</h2><p>Each output token's weight on the source tokens, heads averaged, per decoder block; the table pairs each output token with the source token it weighs most in the last block.</p><div class="grid">${
    figs.join("")
  }</div><table class="pairs"><tr><th>output</th><th>source</th><th>weight</th></tr>${
    pairs.join("")
  }</table></section>`;
}

/**
 * The report page of an {@link Explanation}: heatmaps per layer and head
 * (the translator: encoder blocks, then each decoder block's self- and
 * cross-attention), the per-head entropy table, the gate's choice per
 * query (gated models only), the rollout (classifier) or the alignment
 * per decoder block (translator).
 */
export function explanationHtml(e: Explanation): string {
  const parts: string[] = [];
  parts.push(
    `<h1>heed explanation</h1><p>Input: <b>${
      esc(e.text)
    }</b><br>Prediction: <b>${esc(e.prediction)}</b></p>`,
  );
  parts.push(heatmaps(e), entropyTable(e));
  if (e.gates.length > 0) {
    const gfigs = e.gates.flatMap((g) =>
      g.weights.map((w, h) =>
        `<figure class="gate"><figcaption>gate, layer ${g.layer + 1}, head ${
          h + 1
        }: each query's weight on each module</figcaption>${
          attentionSvg(w, e.outputTokens, g.modules, { cell: 28 })
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
        barsSvg(e.inputTokens, e.rollout)
      }</section>`,
    );
  }
  if (e.alignment) parts.push(alignmentSection(e, e.alignment));
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>heed explanation</title><style>${STYLE}</style></head><body>${
    parts.join("\n")
  }</body></html>\n`;
}
