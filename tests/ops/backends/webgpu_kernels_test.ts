// WebGPU kernel generators, without a device: the metadata word that
// `opaque()` reads is inside the uniform slot and always written as zero.

import { assert, assertEquals } from "@std/assert";
import type { GpuBuffer } from "../../../ops/backends/webgpu/_kernel.ts";
import { elementwiseDispatch } from "../../../ops/backends/webgpu/_elementwise.ts";
import { reduceDispatch } from "../../../ops/backends/webgpu/_reduce.ts";
import { META_WORDS } from "../../../ops/backends/webgpu/_wgsl.ts";
import { ZERO_WORD } from "../../../ops/backends/webgpu/_wgsl_math.ts";

const buf = { bytes: 16, refs: 1, generation: 0 } as unknown as GpuBuffer;

Deno.test("elementwise and reduction metadata zero the word that opaque() reads", () => {
  assert(ZERO_WORD < META_WORDS, "the zero word lies inside the slot");
  const x = { buf, aval: { shape: [2, 3], dtype: "float32" as const } };
  const row = { buf, aval: { shape: [3], dtype: "float32" as const } };
  const ew = elementwiseDispatch("add", [x, row], {}, x.aval, buf, 65535);
  const red = reduceDispatch(
    "reduce_sum",
    x,
    { outer: 1, r: 6, inner: 1 },
    { shape: [], dtype: "float32" },
    buf,
    65535,
  );
  for (const d of [ew, red]) {
    assert(d.meta.length <= META_WORDS);
    assertEquals(d.meta[ZERO_WORD], 0);
    assert(d.source().includes(`m(${ZERO_WORD}u)`));
  }
});
