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
    "scatter_add",
  ]);
});

/** The cycles (strongly connected groups of 2+ files) of `entry`'s local import graph. */
async function importCycles(entry: string): Promise<string[][]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: {
      specifier: string;
      dependencies?: {
        code?: { specifier: string };
        type?: { specifier: string };
      }[];
    }[];
  };
  const edges = new Map<string, string[]>();
  for (const m of graph.modules) {
    if (!m.specifier.startsWith("file:")) continue;
    const deps = (m.dependencies ?? []).flatMap((d) => [d.code, d.type])
      .map((d) => d?.specifier)
      .filter((s): s is string => s?.startsWith("file:") ?? false);
    edges.set(m.specifier, deps);
  }
  // Tarjan's strongly connected components.
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1) cycles.push(group);
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

Deno.test("the backend registry and the backends import each other in no cycle", async () => {
  const ops = new URL("../../ops/", import.meta.url);
  assertEquals(await importCycles(new URL("backend.ts", ops).pathname), []);
  assertEquals(await importCycles(new URL("mod.ts", ops).pathname), []);
  // Positive control: two files that import each other are one cycle.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.ts`, 'import "./b.ts";\n');
    await Deno.writeTextFile(`${dir}/b.ts`, 'import "./a.ts";\n');
    assertEquals((await importCycles(`${dir}/a.ts`)).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
