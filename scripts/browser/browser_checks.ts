// Checks that only mean something in a page (bundled by run.ts with the
// parity tests; names start with "browser: "): every entry point loads,
// the wasm backend's threads follow the page's cross-origin isolation,
// WebGPU uses the page's adapter under the same default policy as Deno,
// and the loaders read URLs, Blobs and bytes.

import { assert, assertEquals, assertRejects } from "@std/assert";
import * as heed from "../../mod.ts";
import * as ops from "../../ops/mod.ts";
import * as attention from "../../attention/mod.ts";
import * as data from "../../data/mod.ts";
import * as testing from "../../testing/mod.ts";
import * as models from "../../models/mod.ts";
import { ThreadPool } from "../../ops/backends/wasm/_threads.ts";

const query = new URLSearchParams(location.search);
const isolated = (globalThis as { crossOriginIsolated?: boolean })
  .crossOriginIsolated === true;
const threads = query.get("threads");
const backends = (query.get("backends") ?? "").split(",");

Deno.test("browser: every entry point of heed loads in the page", () => {
  const entries = { heed, ops, attention, data, testing, models };
  for (const [name, m] of Object.entries(entries)) {
    assert(Object.keys(m).length > 3, `${name} exports almost nothing`);
  }
  assertEquals(typeof heed.tensor, "function");
  assertEquals(typeof models.loadCheckpoint, "function");
});

Deno.test("browser: the wasm backend's threads follow the page's isolation", async () => {
  await heed.initBackend("wasm");
  const status = heed.info().wasmThreads;
  if (status === null) {
    throw new Error(
      "info().wasmThreads is null after the wasm backend started",
    );
  }
  const cores = Math.min(16, navigator.hardwareConcurrency || 1);
  if (threads === "many") {
    assert(isolated, "the isolated page is not cross-origin isolated");
    assertEquals(status.requested, cores);
    assertEquals(status.threads, cores, `threads: ${JSON.stringify(status)}`);
    assertEquals(status.reason, null);
    if (cores > 1) {
      // Matmuls big enough to be split: a worker must take part of one. A
      // worker that wakes late finds every unit taken (other processes,
      // SwiftShader's threads, share 2 cores), so try a few, yielding.
      const before = ThreadPool.workerClaims();
      const tries: string[] = [];
      for (let i = 0; i < 15 && ThreadPool.workerClaims() === before; i++) {
        const t0 = performance.now();
        const y = await heed.withBackend("wasm", () => {
          const a = heed.ones([512, 512]);
          return heed.sum(heed.matmul(a, a));
        });
        assertEquals(await y.item(), 512 ** 3);
        tries.push(`${(performance.now() - t0).toFixed(0)} ms`);
        await new Promise((r) => setTimeout(r, 20 * i));
      }
      assert(
        ThreadPool.workerClaims() > before,
        `no Web Worker took part of ${tries.length} threaded matmuls (${ThreadPool.workersStarted()} started; ${
          tries.join(", ")
        })`,
      );
    }
  } else if (threads === "one") {
    assert(!isolated, "the plain page is cross-origin isolated");
    assertEquals(status.threads, 1);
    if (cores > 1) {
      assert(
        status.reason?.includes("not cross-origin isolated"),
        `the reason does not name the isolation: ${status.reason}`,
      );
    }
    const y = await heed.withBackend("wasm", () => {
      const a = heed.ones([256, 256]);
      return heed.sum(heed.matmul(a, a));
    });
    assertEquals(await y.item(), 256 ** 3);
    assertEquals(ThreadPool.workersStarted(), 0);
  }
});

Deno.test("browser: WebGPU uses the page's adapter, and the default policy is Deno's", async () => {
  if (!backends.includes("webgpu")) return;
  const i = await heed.init();
  if (i.adapter === null) throw new Error("no WebGPU adapter in the page");
  assert(i.backends.includes("webgpu"));
  // SwiftShader is a software adapter: the policy picks wasm, as under Deno.
  assertEquals(i.default, i.adapter.isSoftware ? "wasm" : "webgpu");
  const y = await heed.withBackend(
    "webgpu",
    () => heed.sum(heed.mul(heed.arange(10), 2)),
  );
  assertEquals(await y.item(), 90);
});

const CSV = "text,category\nhello there,greeting\nbye now,farewell\n";

Deno.test("browser: the loaders read URLs, relative paths, Blobs and bytes", async () => {
  const opts = { schema: { text: "string", category: "string" } } as const;
  const fromUrl = await data.loadCsv(
    new URL("/fixture.csv", location.href),
    opts,
  );
  assertEquals(fromUrl.numRows(), 2);
  const fromPath = await data.loadCsv("../fixture.csv", opts);
  assertEquals(fromPath.array("category"), ["greeting", "farewell"]);
  const bytes = new TextEncoder().encode(CSV);
  assertEquals((await data.loadCsv(bytes, opts)).numRows(), 2);
  const file = new File([bytes], "mine.csv");
  const labelled = await data.loadLabelledText(file, {
    textColumn: "text",
    labelColumn: "category",
  });
  assertEquals(labelled.labels.size, 2);
  await assertRejects(
    () => data.loadCsv(new URL("/missing.csv", location.href)),
    data.DataError,
    "file not found (HTTP 404)",
  );
  const set = await data.loadDataset("banking77", {
    path: "/datasets/banking77/",
  });
  assertEquals(set.test.numRows(), 3080);
});

Deno.test("browser: checkpoints load from bytes, a Blob and a blob: URL", async () => {
  const w = heed.tensor([1, 2, 3]);
  const bytes = await models.serializeCheckpoint({
    params: { w },
    metadata: { step: 3 },
  });
  const blob = new Blob([bytes as Uint8Array<ArrayBuffer>]);
  const url = URL.createObjectURL(blob);
  try {
    for (const src of [bytes, blob, new URL(url)]) {
      const ck = await models.loadCheckpoint<{ w: heed.Tensor }>(src);
      assertEquals(await ck.params.w.array(), [1, 2, 3]);
      assertEquals(ck.metadata.step, 3);
    }
  } finally {
    URL.revokeObjectURL(url);
  }
});
