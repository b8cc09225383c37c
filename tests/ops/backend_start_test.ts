// Importing heed does nothing: no adapter probe, no worker, no environment
// read, no top-level await. Each check runs in a fresh process, and each
// has a positive control showing that the same probe does see the work once
// a tensor or `init()` asks for it.

import { assert, assertEquals } from "@std/assert";
import type { Aval } from "../../ops/dtype.ts";
import type { Backend } from "../../ops/backends/contract.ts";
import { CpuBackend } from "../../ops/backends/cpu.ts";
import { WasmBackend } from "../../ops/backends/wasm/backend.ts";
import { ThreadPool } from "../../ops/backends/wasm/_threads.ts";

const ROOT = new URL("../../", import.meta.url);
const CONFIG = new URL("deno.json", ROOT).pathname;

/** Runs `source` as a program in a fresh process; returns its last stdout line. */
async function runProgram(
  source: string,
  env: Record<string, string> = {},
): Promise<string> {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(script, source);
    const base = Deno.env.toObject();
    delete base.HEED_BACKEND;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--config", CONFIG, "--allow-read", "--allow-env", script],
      env: { ...base, NO_COLOR: "1", ...env },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const err = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, `${text}\n${err}`);
    return text.trim().split("\n").at(-1)!;
  } finally {
    await Deno.remove(script);
  }
}

const COUNTERS = `
const counts = { adapter: 0, webWorkers: 0, env: 0 };
const gpu = (navigator as { gpu?: GPU }).gpu;
if (gpu) {
  const request = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = (o?: GPURequestAdapterOptions) => {
    counts.adapter++;
    return request(o);
  };
}
const WebWorker = globalThis.Worker;
globalThis.Worker = class extends WebWorker {
  constructor(...a: ConstructorParameters<typeof Worker>) {
    counts.webWorkers++;
    super(...a);
  }
};
const get = Deno.env.get.bind(Deno.env);
Deno.env.get = (k: string) => {
  counts.env++;
  return get(k);
};
const { ThreadPool } = await import("${
  new URL("ops/backends/wasm/_threads.ts", ROOT).href
}");
const snapshot = () => ({ ...counts, nodeWorkers: ThreadPool.workersStarted() });
`;

Deno.test("importing heed requests no adapter, starts no worker and reads no environment", async () => {
  const line = await runProgram(
    `${COUNTERS}
const h = await import("${new URL("mod.ts", ROOT).href}");
await new Promise((r) => setTimeout(r, 200));
const imported = snapshot();
// Positive control: the first tensor starts wasm and its threads.
const x = h.tensor([1, 2, 3]);
await h.sum(x).item();
await h.setBackend("wasm"); // waits until the threads have attached
const used = snapshot();
await h.init();
console.log(JSON.stringify({ imported, used, probed: snapshot() }));
`,
    { HEED_THREADS: "2" },
  );
  const { imported, used, probed } = JSON.parse(line);
  assertEquals(imported, { adapter: 0, webWorkers: 0, env: 0, nodeWorkers: 0 });
  assert(used.env > 0, "the first tensor reads HEED_BACKEND");
  assertEquals(used.adapter, 0, "no probe without init()");
  assert(used.nodeWorkers >= 1, "the wasm backend starts its threads");
  assertEquals(probed.adapter, "gpu" in navigator ? 1 : 0);
});

Deno.test("no module of heed's entry points has a top-level await", async () => {
  const config = JSON.parse(await Deno.readTextFile(CONFIG));
  const entries = Object.values(config.exports as Record<string, string>)
    .map((p) => new URL(p, ROOT).pathname);
  // Positive control: require() refuses a graph with top-level await.
  const tla = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(tla, "export const a = await Promise.resolve(1);\n");
  try {
    const line = await runProgram(
      `import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const result: Record<string, string> = {};
for (const path of ${JSON.stringify([tla, ...entries])}) {
  try {
    require(path);
    result[path] = "sync";
  } catch (e) {
    const code = (e as { code?: string }).code;
    result[path] = code === "ERR_REQUIRE_ASYNC_MODULE" ? "top-level await" : String(e);
  }
}
console.log(JSON.stringify(result));
`,
    );
    const result = JSON.parse(line);
    assertEquals(result[tla], "top-level await");
    for (const e of entries) assertEquals([e, result[e]], [e, "sync"]);
  } finally {
    await Deno.remove(tla);
  }
});

Deno.test("HEED_BACKEND=webgpu without init() says to call init or setBackend", async () => {
  const line = await runProgram(
    `const h = await import("${new URL("mod.ts", ROOT).href}");
try {
  h.tensor([1]);
  console.log("no error");
} catch (e) {
  console.log((e as Error).message);
}
`,
    { HEED_BACKEND: "webgpu" },
  );
  assert(line.includes("await init()"), line);
  assert(line.includes('await setBackend("webgpu")'), line);
});

Deno.test("without HEED_BACKEND or init() the default is wasm, started on the first tensor", async () => {
  const line = await runProgram(
    `const h = await import("${new URL("mod.ts", ROOT).href}");
const before = Object.keys(h.memory());
const x = h.tensor([1, 2]);
console.log(JSON.stringify({ before, after: Object.keys(h.memory()), on: x.backend.name, info: h.info() }));
`,
  );
  const got = JSON.parse(line);
  assertEquals(got.before, []);
  assertEquals(got.after, ["wasm"]);
  assertEquals(got.on, "wasm");
  assertEquals(got.info.probed, false);
  assertEquals(got.info.adapter, null);
});

/** Runs a program that imports heed as `h`; returns its last line, parsed. */
async function runWithHeed(
  body: string,
  env: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const line = await runProgram(
    `const h = await import("${new URL("mod.ts", ROOT).href}");
const out: Record<string, unknown> = {};
try {
${body}
} catch (e) {
  out.error = \`\${(e as Error).name}: \${(e as Error).message}\`;
}
console.log(JSON.stringify(out));
`,
    env,
  );
  return JSON.parse(line);
}

Deno.test("HEED_BACKEND=cpu starts only the CPU reference, on the first tensor", async () => {
  const got = await runWithHeed(
    `out.on = h.tensor([1]).backend.name;
out.started = Object.keys(h.memory());`,
    { HEED_BACKEND: "cpu" },
  );
  assertEquals(got, { on: "cpu", started: ["cpu"] });
});

Deno.test("an unknown HEED_BACKEND is a RangeError naming the known backends", async () => {
  const got = await runWithHeed(`h.tensor([1]);`, { HEED_BACKEND: "tpu" });
  assertEquals(
    got.error,
    'RangeError: HEED_BACKEND: unknown backend "tpu" (known: cpu, webgpu, wasm)',
  );
});

Deno.test("init() keeps a default chosen by setBackend", async () => {
  const got = await runWithHeed(
    `await h.setBackend("cpu");
const found = await h.init();
out.default = found.default;
out.on = h.tensor([1]).backend.name;`,
  );
  assertEquals(got, { default: "cpu", on: "cpu" });
});

Deno.test("init() after tensors exist keeps their backend as the default and only probes", async () => {
  const got = await runWithHeed(
    `const x = h.tensor([1, 2]);
const found = await h.init();
out.default = found.default;
out.probed = found.probed;
out.sum = await h.add(x, h.tensor([3, 4])).array();`,
  );
  assertEquals(got, { default: "wasm", probed: true, sum: [4, 6] });
});

const hasAdapter = "gpu" in navigator &&
  (await navigator.gpu.requestAdapter()) !== null;

Deno.test({
  name: "init() picks wasm on a software adapter and WebGPU on a hardware one",
  ignore: !hasAdapter,
  fn: async () => {
    const software = await runWithHeed(
      `out.info = await h.init();
out.on = h.tensor([1]).backend.name;`,
    );
    const info = software.info as { adapter: { isSoftware: boolean } };
    // This check needs the software adapter that CI has (llvmpipe).
    if (info.adapter.isSoftware) assertEquals(software.on, "wasm");
    // The same adapter, described as hardware.
    const hardware = await runWithHeed(
      `const gpu = navigator.gpu;
const request = gpu.requestAdapter.bind(gpu);
gpu.requestAdapter = async (o) => {
  const a = await request(o);
  return a && new Proxy(a, {
    get(t, k) {
      if (k === "info") {
        return { description: "Test GPU", vendor: "test", architecture: "", isFallbackAdapter: false };
      }
      const v = Reflect.get(t, k, t);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
};
const found = await h.init();
out.default = found.default;
out.on = h.tensor([1]).backend.name;`,
    );
    assertEquals(hardware, { default: "webgpu", on: "webgpu" });
  },
});

Deno.test({
  name: "HEED_BACKEND=webgpu works after init()",
  ignore: !hasAdapter,
  fn: async () => {
    const got = await runWithHeed(
      `await h.init();
const x = h.tensor([1, 2]);
out.on = x.backend.name;
out.sum = await h.sum(h.mul(x, 3)).item();`,
      { HEED_BACKEND: "webgpu" },
    );
    assertEquals(got, { on: "webgpu", sum: 9 });
  },
});

/** `x · xᵀ` of a `[256, 256]` matrix on `b` (34 MFLOP: a threaded size). */
async function gram(b: Backend): Promise<Float32Array> {
  const n = 256, aval: Aval = { shape: [n, n], dtype: "float32" };
  const data = Float32Array.from({ length: n * n }, (_, i) => (i % 7) - 3);
  const x = { handle: b.upload(data, aval), aval };
  const p = { lhsContract: [1], rhsContract: [1], lhsBatch: [], rhsBatch: [] };
  const c = b.run("dot_general", [x, x], p, aval);
  const out = await b.read(c, aval) as Float32Array;
  b.free(x.handle);
  b.free(c);
  return out;
}

Deno.test("a wasm backend started synchronously computes at once, on the caller until its threads attach", async () => {
  const want = await gram(new CpuBackend());
  const w = WasmBackend.createSync({ threads: 2 });
  try {
    const before = ThreadPool.workerClaims();
    assertEquals(await gram(w), want);
    assertEquals(ThreadPool.workerClaims(), before, "no worker before ready");
    await w.ready();
    let joined = false;
    for (let i = 0; i < 200 && !joined; i++) {
      assertEquals(await gram(w), want);
      joined = ThreadPool.workerClaims() > before;
    }
    assert(joined, "a worker took part once the threads attached");
  } finally {
    w.close();
  }
});
