// The wasm backend without shared memory, as on a page that is not
// cross-origin isolated: one thread, an unshared memory that grows, the
// same results as the CPU reference, and the reason in threadStatus() and
// info(). (The real pages run in `deno task test:browser`; here the page's
// `crossOriginIsolated = false` is imitated.)

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import * as h from "../../../mod.ts";
import { CpuBackend } from "../../../ops/backends/cpu.ts";
import { WasmBackend } from "../../../ops/backends/wasm/backend.ts";
import { Arena } from "../../../ops/backends/wasm/_arena.ts";
import { sharedMemoryUnavailable } from "../../../ops/backends/wasm/_threads.ts";
import type { Aval } from "../../../ops/dtype.ts";
import { assertAllClose, randomValues } from "../../_helpers.ts";

/** Runs `fn` as if on a page without cross-origin isolation. */
function notIsolated<T>(fn: () => T): T {
  const g = globalThis as { crossOriginIsolated?: boolean };
  g.crossOriginIsolated = false;
  try {
    return fn();
  } finally {
    delete g.crossOriginIsolated;
  }
}

Deno.test("without cross-origin isolation the wasm backend runs on one thread and says why", async () => {
  const b = notIsolated(() => WasmBackend.createSync({ threads: 4 }));
  try {
    await b.ready();
    const s = b.threadStatus();
    assertEquals([b.threads, s.threads, s.requested], [1, 1, 4]);
    assertStringIncludes(s.reason ?? "", "not cross-origin isolated");
    assertStringIncludes(s.reason ?? "", "Cross-Origin-Embedder-Policy");
    // A matmul big enough to be threaded, on the unshared memory.
    const cpu = new CpuBackend();
    const aval: Aval = { shape: [150, 150], dtype: "float32" };
    const x = randomValues(150 * 150, 3);
    const p = {
      lhsContract: [1],
      rhsContract: [0],
      lhsBatch: [],
      rhsBatch: [],
    };
    const run = async (be: WasmBackend | CpuBackend) => {
      const o = { handle: be.upload(x, aval), aval };
      const c = be.run("dot_general", [o, o], p, aval);
      return await be.read(c, aval);
    };
    await assertAllClose(await run(b), await run(cpu), {
      rtol: 1e-4,
      atol: 1e-4,
    });
  } finally {
    b.close();
  }
});

Deno.test("sharedMemoryUnavailable() is null under Deno and names the headers on a plain page", () => {
  assertEquals(sharedMemoryUnavailable(), null);
  const why = notIsolated(sharedMemoryUnavailable);
  assertStringIncludes(why ?? "", "Cross-Origin-Opener-Policy: same-origin");
});

Deno.test("an unshared arena grows and its views follow the new buffer", () => {
  const arena = new Arena(2, false);
  assert(!(arena.memory.buffer instanceof SharedArrayBuffer));
  const a = arena.alloc(1024);
  arena.f32[a.ptr / 4] = 7;
  const big = arena.alloc(4 * 2 ** 20); // past the 2 pages: the memory grows
  arena.f32[big.ptr / 4 + 2 ** 20 - 1] = 9;
  assertEquals(arena.f32[a.ptr / 4], 7);
  assertEquals(arena.f32[big.ptr / 4 + 2 ** 20 - 1], 9);
});

Deno.test("info().wasmThreads reports the started wasm backend's threads", async () => {
  await h.initBackend("wasm");
  const s = h.info().wasmThreads;
  if (s === null) {
    throw new Error("info().wasmThreads is null after initBackend");
  }
  assertEquals(s, (h.getBackend("wasm") as WasmBackend).threadStatus());
  assertEquals(s.reason === null, s.threads === s.requested);
});
