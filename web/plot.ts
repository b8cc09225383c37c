/// <reference lib="dom" />
// A small SVG line plot for the training curves: loss on the left axis,
// validation accuracy (0..1) on the right, one point per epoch (epoch 0 is
// the loss before training).

const SVG = "http://www.w3.org/2000/svg";

/** One series of (x, y) points. */
export interface Series {
  readonly name: string;
  readonly colour: string;
  readonly points: readonly (readonly [number, number])[];
  /** The y range; null fits the data (from 0). */
  readonly range: readonly [number, number] | null;
}

function node(tag: string, attrs: Record<string, string | number>): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** Redraws `svg` (width × height) with `series` over x in [0, xMax]. */
export function drawPlot(
  svg: SVGSVGElement,
  series: readonly Series[],
  xMax: number,
  width = 420,
  height = 200,
): void {
  const m = { l: 40, r: 40, t: 22, b: 30 };
  const w = width - m.l - m.r, h = height - m.t - m.b;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.replaceChildren(
    node("rect", { x: 0, y: 0, width, height, fill: "#fff" }),
    node("rect", {
      x: m.l,
      y: m.t,
      width: w,
      height: h,
      fill: "none",
      stroke: "#bbb",
    }),
  );
  const x = (v: number) => m.l + (xMax > 0 ? v / xMax : 0) * w;
  series.forEach((s, k) => {
    const ys = s.points.map((p) => p[1]);
    const [lo, hi] = s.range ?? [0, Math.max(1e-9, ...ys)];
    const y = (v: number) => m.t + h - ((v - lo) / (hi - lo || 1)) * h;
    const side = k === 0 ? "start" : "end";
    const edge = k === 0 ? 4 : width - 4;
    const text = (y: number, t: string, anchor = side, at = edge) => {
      const e = node("text", {
        x: at,
        y,
        "text-anchor": anchor,
        "font-size": 11,
        fill: s.colour,
      });
      e.textContent = t;
      svg.append(e);
    };
    text(13, s.name);
    // The axis of this series: its top and bottom values at the frame.
    const axisX = k === 0 ? m.l - 4 : m.l + w + 4;
    const anchor = k === 0 ? "end" : "start";
    text(m.t + 4, hi.toPrecision(2), anchor, axisX);
    text(m.t + h, lo.toPrecision(2), anchor, axisX);
    if (s.points.length === 0) return;
    const d = s.points.map((p, i) =>
      `${i === 0 ? "M" : "L"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`
    ).join("");
    svg.append(node("path", {
      d,
      fill: "none",
      stroke: s.colour,
      "stroke-width": 2,
    }));
    for (const p of s.points) {
      svg.append(node("circle", {
        cx: x(p[0]),
        cy: y(p[1]),
        r: 3,
        fill: s.colour,
      }));
    }
  });
  const axis = node("text", {
    x: m.l + w / 2,
    y: height - 6,
    "text-anchor": "middle",
    "font-size": 11,
    fill: "#555",
  });
  axis.textContent = "epoch";
  svg.append(axis);
  const every = Math.max(1, Math.ceil(xMax / 10));
  for (let e = 0; e <= xMax; e += every) {
    const tick = node("text", {
      x: x(e),
      y: m.t + h + 13,
      "text-anchor": "middle",
      "font-size": 10,
      fill: "#555",
    });
    tick.textContent = String(e);
    svg.append(tick);
  }
}
