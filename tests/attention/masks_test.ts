// Masks and their combinators, checked as 0/1 visibility matrices.

import { assertEquals, assertThrows } from "@std/assert";
import {
  and,
  attention,
  causal,
  dot,
  identityNormaliser,
  type MaskFn,
  not,
  or,
  padding,
  segments,
  slidingWindow,
} from "../../attention/mod.ts";
import { ones, tensor } from "../../ops/mod.ts";
import type { AttentionOptions } from "../../attention/mod.ts";
import { testEachBackend, values } from "../_helpers.ts";

/** 1 where visible, 0 where masked, for scores [...shape, tq, tk]. */
function visible(
  masks: MaskFn[],
  shape: number[],
  tq: number,
  tk: number,
  opts: AttentionOptions = {},
): Promise<number[]> {
  const f = attention({
    score: (_q, _k, ctx) => ones(ctx.shape),
    masks,
    normalise: identityNormaliser(),
  });
  return values(
    f(
      ones([...shape, tq, 1]),
      ones([...shape, tk, 1]),
      ones([...shape, tk, 1]),
      opts,
    ).weights,
  );
}

/** The expected matrix from a predicate. */
function grid(
  tq: number,
  tk: number,
  ok: (i: number, j: number) => boolean,
): number[] {
  return [...Array(tq).keys()].flatMap((i) =>
    [...Array(tk).keys()].map((j) => (ok(i, j) ? 1 : 0))
  );
}

testEachBackend("causal() lets query i see keys j ≤ i", async () => {
  assertEquals(
    await visible([causal()], [], 4, 4),
    grid(4, 4, (i, j) => j <= i),
  );
});

testEachBackend(
  "causal() with a query offset aligns a decoding step to the end",
  async () => {
    assertEquals(
      await visible([causal()], [], 2, 5, { queryOffset: 3 }),
      grid(2, 5, (i, j) => j <= i + 3),
    );
  },
);

testEachBackend("slidingWindow() keeps −before ≤ j − i ≤ after", async () => {
  assertEquals(
    await visible([slidingWindow(2, 1)], [], 5, 5),
    grid(5, 5, (i, j) => j - i >= -2 && j - i <= 1),
  );
  assertEquals(
    await visible([slidingWindow(1)], [], 4, 4),
    grid(4, 4, (i, j) => Math.abs(i - j) <= 1),
  );
});

testEachBackend(
  "padding() hides keys beyond each example's length, over every head",
  async () => {
    const w = await visible([padding()], [2, 3], 2, 4, { lengths: [1, 3] });
    const perHead = [1, 3].map((n) => grid(2, 4, (_i, j) => j < n));
    assertEquals(w, perHead.flatMap((g) => [g, g, g].flat()));
  },
);

testEachBackend(
  "padding() takes a boolean key mask, alone or with lengths",
  async () => {
    const keyMask = tensor([[true, false, true], [true, true, true]]);
    const w = await visible([padding()], [2], 1, 3, {
      keyMask,
      lengths: tensor([3, 2], { dtype: "int32" }),
    });
    assertEquals(w, [1, 0, 1, 1, 1, 0]);
  },
);

testEachBackend(
  "segments() keeps attention inside each packed document",
  async () => {
    const ids = tensor([[0, 0, 1, 1]], { dtype: "int32" });
    const w = await visible([segments(), causal()], [1], 4, 4, {
      segments: ids,
    });
    assertEquals(w, grid(4, 4, (i, j) => j <= i && (i < 2) === (j < 2)));
  },
);

testEachBackend(
  "segments() compares query ids with separate key ids",
  async () => {
    const w = await visible([segments()], [1], 2, 3, {
      segments: tensor([[5, 7]], { dtype: "int32" }),
      kvSegments: tensor([[7, 5, 5]], { dtype: "int32" }),
    });
    assertEquals(w, [0, 1, 1, 1, 0, 0]);
  },
);

testEachBackend("and(), or() and not() combine masks as logic", async () => {
  const a = causal(), b = slidingWindow(1);
  const g = (p: (i: number, j: number) => boolean) => grid(4, 4, p);
  assertEquals(
    await visible([and(a, b)], [], 4, 4),
    g((i, j) => j <= i && Math.abs(i - j) <= 1),
  );
  assertEquals(
    await visible([or(a, b)], [], 4, 4),
    g((i, j) => j <= i || Math.abs(i - j) <= 1),
  );
  assertEquals(await visible([not(a)], [], 4, 4), g((i, j) => j > i));
  assertEquals(
    await visible([a, b], [], 4, 4),
    await visible([and(a, b)], [], 4, 4),
  );
});

Deno.test("masks that need per-call data say what is missing", () => {
  const x = ones([2, 1]);
  assertThrows(
    () => attention({ score: dot(), masks: [padding()] })(x, x, x),
    TypeError,
    "opts.lengths",
  );
  assertThrows(
    () => attention({ score: dot(), masks: [segments()] })(x, x, x),
    TypeError,
    "opts.segments",
  );
  assertThrows(() => slidingWindow(-1), RangeError, "before");
  assertThrows(() => and(), TypeError);
});
