// The SVG heatmap: one cell per weight, labels escaped, a long title
// wrapped to the figure's width instead of widening it, and bad input
// refused.

import { assert, assertEquals, assertThrows } from "@std/assert";
import { attentionSvg } from "../../models/heatmap.ts";

const W = [[0.9, 0.1], [0.3, 0.7]];

Deno.test("attentionSvg draws a cell per weight and escapes labels", () => {
  const svg = attentionSvg(W, ["<a>", "b&c"], ["x", '"y"'], { title: "t" });
  assertEquals(svg.match(/<rect x=/g)?.length, 4);
  assert(svg.includes("&lt;a&gt;") && svg.includes("b&amp;c"));
  assert(svg.includes("&quot;y&quot;"));
  assert(!svg.includes("<a>"));
});

Deno.test("attentionSvg wraps a long title instead of widening the figure", () => {
  const width = (s: string) => Number(/width="(\d+)"/.exec(s)![1]);
  const short = attentionSvg(W, ["a", "b"], ["x", "y"], { title: "short" });
  const title = "a rather long title ".repeat(12).trim();
  const long = attentionSvg(W, ["a", "b"], ["x", "y"], { title });
  assertEquals(width(long), width(short));
  const lines = [...long.matchAll(/font-weight="bold">([^<]*)</g)].map((m) =>
    m[1]!
  );
  assert(lines.length > 1, `${lines.length} title line(s)`);
  assertEquals(lines.join(" "), title);
});

Deno.test("attentionSvg refuses labels that do not match the weights", () => {
  assertThrows(() => attentionSvg(W, ["a"], ["x", "y"]), TypeError, "labels");
});
