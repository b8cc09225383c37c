// Every backend dispatches by one exhaustive per-primitive table. The types
// make a missing entry a compile error; these tests pin what the tables
// hold at run time, including the wasm entries that run the CPU reference.

import { assertEquals } from "@std/assert";
import { PRIMITIVES } from "../../ops/primitives.ts";
import {
  KERNELS as WASM_KERNELS,
  onCpu,
} from "../../ops/backends/wasm/_dispatch.ts";
import { KERNELS as WEBGPU_KERNELS } from "../../ops/backends/webgpu/_plan.ts";

const sorted = (xs: Iterable<string>) => [...xs].sort();

Deno.test("the wasm and WebGPU tables have one entry per primitive", () => {
  assertEquals(sorted(Object.keys(WASM_KERNELS)), sorted(PRIMITIVES));
  assertEquals(sorted(Object.keys(WEBGPU_KERNELS)), sorted(PRIMITIVES));
  assertEquals(new Set(PRIMITIVES).size, PRIMITIVES.length);
});

Deno.test("wasm's CPU-reference fallbacks are explicit table entries", () => {
  const fallbacks = Object.entries(WASM_KERNELS)
    .filter(([, k]) => k === onCpu)
    .map(([p]) => p);
  assertEquals(sorted(fallbacks), [
    "argmax",
    "argmin",
    "custom_lin",
    "iota",
    "random_uniform",
    "scatter_add",
  ]);
});
