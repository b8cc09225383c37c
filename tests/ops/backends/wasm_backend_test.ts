// wasm-specific behaviour: the assembler's encodings, kernel variants (fused
// or plain multiply-add, tile shapes, thread counts) against the CPU
// reference, the allocator's size classes and reuse, views that share
// storage, memory growth, HEED_THREADS and the default thread count, and
// the worker threads' life: shared by later backends, harmless when
// closed, and never keeping a program from exiting.

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import fc from "fast-check";
import type { Backend, Operand } from "../../../ops/backend.ts";
import type { Aval } from "../../../ops/dtype.ts";
import { CpuBackend } from "../../../ops/backends/cpu.ts";
import {
  defaultThreads,
  hasRelaxedSimd,
  MAX_THREADS,
  sizeClass,
  WasmBackend,
} from "../../../ops/backends/wasm/backend.ts";
import { Arena } from "../../../ops/backends/wasm/_arena.ts";
import { sleb, uleb } from "../../../ops/backends/wasm/_asm.ts";
import { THREAD_MIN_FLOPS } from "../../../ops/backends/wasm/_matmul_run.ts";
import { ThreadPool } from "../../../ops/backends/wasm/_threads.ts";
import { assertAllClose, randomValues } from "../../_helpers.ts";

const cpu = new CpuBackend();

// A threaded backend made from HEED_THREADS, which tests that variable too.
let threadedBackend: WasmBackend | null = null;
async function threaded(): Promise<WasmBackend> {
  if (threadedBackend) return threadedBackend;
  const prev = Deno.env.get("HEED_THREADS");
  Deno.env.set("HEED_THREADS", "2");
  try {
    threadedBackend = await WasmBackend.create();
  } finally {
    if (prev === undefined) Deno.env.delete("HEED_THREADS");
    else Deno.env.set("HEED_THREADS", prev);
  }
  assertEquals(threadedBackend.threads, 2);
  return threadedBackend;
}

function operand(
  b: Backend,
  data: Float32Array,
  shape: readonly number[],
): Operand {
  const aval: Aval = { shape, dtype: "float32" };
  return { handle: b.upload(data, aval), aval };
}

async function matmulOn(
  b: Backend,
  xs: readonly [Float32Array, readonly number[]],
  ys: readonly [Float32Array, readonly number[]],
  p: {
    lhsContract: readonly number[];
    rhsContract: readonly number[];
    lhsBatch: readonly number[];
    rhsBatch: readonly number[];
  },
  outShape: readonly number[],
): Promise<Float32Array> {
  const x = operand(b, ...xs), y = operand(b, ...ys);
  const out: Aval = { shape: outShape, dtype: "float32" };
  const c = b.run("dot_general", [x, y], p, out);
  const r = await b.read(c, out) as Float32Array;
  for (const h of [x.handle, y.handle, c]) b.free(h);
  return r;
}

Deno.test("uleb and sleb encode as the WebAssembly spec's examples", () => {
  assertEquals(uleb(624485), [0xe5, 0x8e, 0x26]);
  assertEquals(uleb(0), [0]);
  assertEquals(uleb(127), [0x7f]);
  assertEquals(uleb(128), [0x80, 0x01]);
  assertEquals(sleb(-123456), [0xc0, 0xbb, 0x78]);
  assertEquals(sleb(-1), [0x7f]);
  assertEquals(sleb(63), [0x3f]);
  assertEquals(sleb(64), [0xc0, 0x00]);
});

Deno.test("sizeClass rounds up to at most 25% waste and 64-byte alignment", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1 << 28 }), (n) => {
      const c = sizeClass(n);
      assert(c >= n && c % 64 === 0, `${n} -> ${c}`);
      assert(n < 64 || c <= n * 1.25 + 64, `${n} -> ${c}`);
    }),
  );
});

Deno.test("relaxed SIMD detection answers without throwing", () => {
  assertEquals(typeof hasRelaxedSimd(), "boolean");
});

// Every kernel variant against the CPU reference, on shapes with panel and
// tile edges, transposed operands (strides, no copy), and batches.
const VARIANTS = [
  { fma: true, tile: { mr: 4, nr: 8 }, threads: 1 },
  { fma: false, tile: { mr: 4, nr: 8 }, threads: 1 },
  { fma: hasRelaxedSimd(), tile: { mr: 6, nr: 8 }, threads: 2 },
  { fma: hasRelaxedSimd(), tile: { mr: 4, nr: 12 }, threads: 1 },
].filter((v) => !v.fma || hasRelaxedSimd());

for (const v of VARIANTS) {
  const name = `${v.tile.mr}x${v.tile.nr}, fma ${v.fma}, ${v.threads} threads`;
  Deno.test(`matmul kernel ${name} matches the cpu reference`, async () => {
    const w = v.threads > 1 ? await threaded() : await WasmBackend.create(v);
    try {
      const cases: [number, number, number, number, boolean, boolean][] = [
        [1, 1, 1, 1, false, false],
        [1, 5, 3, 7, false, false],
        [1, 17, 129, 3, true, false],
        [3, 13, 260, 9, false, true],
        [2, 67, 300, 70, true, true],
        [1, 129, 70, 257, false, false],
      ];
      for (const [bt, m, k, n, ta, tb] of cases) {
        const a = randomValues(bt * m * k, m + k),
          b = randomValues(bt * k * n, n);
        const aShape = ta ? [bt, k, m] : [bt, m, k];
        const bShape = tb ? [bt, n, k] : [bt, k, n];
        const p = {
          lhsBatch: [0],
          rhsBatch: [0],
          lhsContract: [ta ? 1 : 2],
          rhsContract: [tb ? 2 : 1],
        };
        const args = [[a, aShape], [b, bShape], p, [bt, m, n]] as const;
        const want = await matmulOn(cpu, ...args);
        const got = await matmulOn(w, ...args);
        await assertAllClose(got, want, { rtol: 1e-4, atol: 1e-4 }, name);
      }
    } finally {
      if (w !== threadedBackend) w.close();
    }
  });
}

Deno.test("a threaded matmul gives bit-identical results to one thread", async () => {
  const one = await WasmBackend.create({ threads: 1 });
  const two = await threaded();
  try {
    const n = 160;
    assert(2 * n ** 3 >= THREAD_MIN_FLOPS, "the test must reach the threads");
    const args = [
      [randomValues(n * n, 1), [n, n]],
      [randomValues(n * n, 2), [n, n]],
      { lhsContract: [1], rhsContract: [0], lhsBatch: [], rhsBatch: [] },
      [n, n],
    ] as const;
    assertEquals(await matmulOn(two, ...args), await matmulOn(one, ...args));
  } finally {
    one.close();
  }
});

Deno.test("freed blocks return to the pool and are reused", async () => {
  const w = await WasmBackend.create({ threads: 1 });
  try {
    const aval: Aval = { shape: [1000], dtype: "float32" };
    const before = w.memory();
    const x = w.upload(new Float32Array(1000).fill(2), aval);
    // A guard above x, so that freeing x leaves a hole rather than lowering the top.
    const guard = w.upload(new Float32Array(10), {
      shape: [10],
      dtype: "float32",
    });
    assertEquals(w.memory().liveBuffers, before.liveBuffers + 2);
    assertEquals(
      w.memory().liveBytes,
      before.liveBytes + sizeClass(4000) + sizeClass(40),
    );
    w.free(x);
    assertEquals(w.memory().liveBytes, before.liveBytes + sizeClass(40));
    assertEquals(w.memory().pooledBytes, before.pooledBytes + sizeClass(4000));
    const y = w.upload(new Float32Array(1000).fill(3), aval);
    assertEquals(y.ptr, x.ptr, "the freed block is reused");
    assertEquals(w.memory().pooledBytes, before.pooledBytes);
    await assertRejects(() => w.read(x, aval), Error, "freed");
    assertEquals((await w.read(y, aval))[999], 3);
    w.free(y);
    w.free(guard);
    // Everything freed: the space went back to the top, nothing is pooled.
    assertEquals(w.memory().liveBytes, before.liveBytes);
    assertEquals(w.memory().pooledBytes, before.pooledBytes);
  } finally {
    w.close();
  }
});

Deno.test("a reshape view keeps shared storage alive until both are freed", async () => {
  const w = await WasmBackend.create({ threads: 1 });
  try {
    const aval: Aval = { shape: [2, 3], dtype: "float32" };
    const x = w.upload(new Float32Array([1, 2, 3, 4, 5, 6]), aval);
    const flat: Aval = { shape: [6], dtype: "float32" };
    const v = w.run("reshape", [{ handle: x, aval }], { shape: [6] }, flat);
    w.free(x);
    assertEquals(w.isLive(v), true);
    assertEquals(Array.from(await w.read(v, flat)), [1, 2, 3, 4, 5, 6]);
    w.free(v);
    assertEquals(w.isLive(v), false);
    assertThrows(
      () => w.run("neg", [{ handle: v, aval: flat }], {}, flat),
      Error,
      "freed",
    );
  } finally {
    w.close();
  }
});

Deno.test("memory grows for large tensors and earlier tensors survive", async () => {
  const w = await WasmBackend.create({ threads: 1 });
  try {
    const small: Aval = { shape: [4], dtype: "int32" };
    const x = w.upload(new Int32Array([7, 8, 9, 10]), small);
    const n = 24 * 1024 * 1024; // 96 MiB, more than the initial memory
    const big: Aval = { shape: [n], dtype: "float32" };
    const data = new Float32Array(n);
    data[n - 1] = 5;
    const y = w.upload(data, big);
    const z = w.run(
      "add",
      [{ handle: y, aval: big }, { handle: y, aval: big }],
      {},
      big,
    );
    assertEquals((await w.read(z, big))[n - 1], 10);
    assertEquals(Array.from(await w.read(x, small)), [7, 8, 9, 10]);
    for (const b of [x, y, z]) w.free(b);
  } finally {
    w.close();
  }
});

Deno.test("HEED_THREADS rejects nonsense", async () => {
  const prev = Deno.env.get("HEED_THREADS");
  try {
    Deno.env.set("HEED_THREADS", "zero");
    await assertRejects(() => WasmBackend.create(), RangeError, "HEED_THREADS");
    Deno.env.set("HEED_THREADS", "0");
    await assertRejects(() => WasmBackend.create(), RangeError, "HEED_THREADS");
  } finally {
    if (prev === undefined) Deno.env.delete("HEED_THREADS");
    else Deno.env.set("HEED_THREADS", prev);
  }
});

Deno.test("freed neighbours coalesce, and random alloc/free never overlaps live blocks", () => {
  const arena = new Arena(16);
  const a = arena.alloc(4096), b = arena.alloc(4096), guard = arena.alloc(64);
  arena.release(a);
  arena.release(b);
  assertEquals(arena.pooledBytes, 8192, "a and b merged into one free block");
  const c = arena.alloc(8000);
  assertEquals(c.ptr, a.ptr, "the merged block serves a larger request");
  arena.release(c);
  arena.release(guard);
  assertEquals([arena.pooledBytes, arena.liveBytes], [0, 0]);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 200_000 })), {
        maxLength: 200,
      }),
      (ops) => {
        const ar = new Arena(16);
        const live: {
          ptr: number;
          cls: number;
          block: ReturnType<Arena["alloc"]>;
        }[] = [];
        for (const [free, n] of ops) {
          if (free && live.length) {
            const i = n % live.length;
            ar.release(live[i]!.block);
            live.splice(i, 1);
          } else {
            const blk = ar.alloc(n);
            for (const l of live) {
              assert(
                blk.ptr + blk.cls <= l.ptr || l.ptr + l.cls <= blk.ptr,
                "blocks overlap",
              );
            }
            live.push({ ptr: blk.ptr, cls: blk.cls, block: blk });
          }
        }
        assertEquals(ar.liveBytes, live.reduce((s, l) => s + l.cls, 0));
        for (const l of [...live]) ar.release(l.block);
        assertEquals([ar.liveBytes, ar.pooledBytes], [0, 0]);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("the default thread count is one per core, at most MAX_THREADS", () => {
  const cores = navigator.hardwareConcurrency;
  assertEquals(defaultThreads(), Math.max(1, Math.min(MAX_THREADS, cores)));
});

/** Multiplies until a worker thread has taken part (or `ms` pass). */
async function workersJoin(w: WasmBackend, ms: number): Promise<boolean> {
  const n = 256;
  const x = operand(w, randomValues(n * n, 3), [n, n]);
  const p = { lhsContract: [1], rhsContract: [0], lhsBatch: [], rhsBatch: [] };
  const out: Aval = { shape: [n, n], dtype: "float32" };
  const before = ThreadPool.workerClaims(), t0 = performance.now();
  try {
    while (performance.now() - t0 < ms) {
      w.free(w.run("dot_general", [x, x], p, out));
      if (ThreadPool.workerClaims() > before) return true;
      await new Promise((r) => setTimeout(r, 1));
    }
    return false;
  } finally {
    w.free(x.handle);
  }
}

Deno.test("a backend created after threaded jobs ran shares the same workers, and a closed one still computes", async () => {
  const first = await WasmBackend.create({ threads: 2 });
  const later = await WasmBackend.create({ threads: 2 });
  const args = [
    [randomValues(200 * 200, 5), [200, 200]],
    [randomValues(200 * 200, 6), [200, 200]],
    { lhsContract: [1], rhsContract: [0], lhsBatch: [], rhsBatch: [] },
    [200, 200],
  ] as const;
  try {
    assert(await workersJoin(first, 5000), "no worker took part (first)");
    const want = await matmulOn(cpu, ...args);
    await assertAllClose(await matmulOn(later, ...args), want, {
      rtol: 1e-4,
      atol: 1e-4,
    });
    assert(await workersJoin(later, 5000), "no worker took part (later)");
    later.close();
    await assertAllClose(await matmulOn(later, ...args), want, {
      rtol: 1e-4,
      atol: 1e-4,
    });
    assertEquals(
      await matmulOn(first, ...args),
      await matmulOn(later, ...args),
    );
  } finally {
    first.close();
    later.close();
  }
});

Deno.test("a program on the default threads computes and exits promptly", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  const mod = new URL("../../../mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import * as h from "${mod}";
const a = h.reshape(h.mul(h.arange(256 * 256), 1e-5), [256, 256]);
const c = h.matmul(a, h.transpose(a)); // threaded: 33 MFLOP
const e = h.exp(h.sin(h.reshape(c, [-1])));
const w = h.getBackend() as unknown as { name: string; threads: number };
console.log(JSON.stringify({
  backend: w.name,
  threads: w.threads,
  c: await h.sum(c).item(),
  e: await h.sum(e).item(),
}));
console.log("done");
`,
  );
  const env = Deno.env.toObject();
  delete env.HEED_THREADS;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", script],
    env: { ...env, HEED_BACKEND: "wasm", NO_COLOR: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = setTimeout(() => child.kill(), 20_000);
  let doneAt = 0;
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    text += decoder.decode(chunk);
    if (!doneAt && text.includes("done")) doneAt = performance.now();
  }
  const status = await child.status;
  const exitMs = performance.now() - doneAt;
  clearTimeout(kill);
  const err = decoder.decode(
    (await new Response(child.stderr).arrayBuffer()) as ArrayBuffer,
  );
  await Deno.remove(script);
  assertEquals(status.code, 0, err);
  assert(doneAt > 0, `the program never finished: ${text}${err}`);
  // An idle worker that kept the program alive would show here.
  assert(exitMs < 1500, `exited ${exitMs.toFixed(0)} ms after its last line`);
  const got = JSON.parse(text.split("\n")[0]!);
  assertEquals(got.backend, "wasm");
  assertEquals(got.threads, defaultThreads());
  // The same sums on the CPU reference, in float64 here.
  const n = 256, a = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) a[i] = Math.fround(Math.fround(i) * 1e-5);
  let cs = 0, es = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let k = 0; k < n; k++) d += a[i * n + k]! * a[j * n + k]!;
      cs += Math.fround(d);
      es += Math.exp(Math.sin(Math.fround(d)));
    }
  }
  await assertAllClose(got.c, cs, { rtol: 1e-4 });
  await assertAllClose(got.e, es, { rtol: 1e-4 });
});
