// Checkpoint tests: the safetensors byte layout, round trips (host tensors
// and heed pytrees, as properties), every header lie we can name, and atomic
// writes. Files go under a temp dir:
//   deno test --allow-read=$TMP --allow-write=$TMP tests/models/checkpoint_test.ts
// where $TMP is the system temp dir (/tmp on Linux).

import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertThrows,
} from "@std/assert";
import fc from "fast-check";
import { Key, type Tensor, tensor } from "../../ops/mod.ts";
import {
  CheckpointError,
  decodeSafetensors,
  deserializeCheckpoint,
  encodeSafetensors,
  type HostTensor,
  loadCheckpoint,
  saveCheckpoint,
  serializeCheckpoint,
} from "../../models/train/checkpoint.ts";

// ---------------------------------------------------------------- helpers

/** Builds a safetensors file from a header object (or raw header text) and data. */
function rawFile(header: unknown, data: number[] = [], pad = 0): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text + " ".repeat(pad));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const F32_ONE = [0x00, 0x00, 0x80, 0x3f]; // 1.0f little-endian

function decodeFails(bytes: Uint8Array, message: string): void {
  const e = assertThrows(
    () => decodeSafetensors(bytes, { source: "bad.safetensors" }),
    CheckpointError,
    message,
  );
  assert(e.message.startsWith("bad.safetensors: "), e.message);
}

/** A tensor, key or pytree as plain comparable data. */
async function plain(x: unknown): Promise<unknown> {
  if (x instanceof Key) return { key: [...x.words] };
  if (typeof x === "object" && x !== null && "data" in x && "dtype" in x) {
    const t = x as Tensor;
    return { dtype: t.dtype, shape: [...t.shape], data: [...await t.data()] };
  }
  if (Array.isArray(x)) return await Promise.all(x.map(plain));
  if (typeof x === "object" && x !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) {
      Object.defineProperty(o, k, {
        value: await plain(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return o;
  }
  return x;
}

// ---------------------------------------------------------------- format

Deno.test("encodeSafetensors() writes the spec's byte layout", () => {
  const bytes = encodeSafetensors({
    a: { dtype: "float32", shape: [1], data: new Float32Array([1]) },
  });
  const header = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
  // 54 bytes of JSON, padded with spaces to 56
  assertEquals(header.length, 54);
  assertEquals([...bytes.subarray(0, 8)], [56, 0, 0, 0, 0, 0, 0, 0]);
  assertEquals(new TextDecoder().decode(bytes.subarray(8, 64)), header + "  ");
  assertEquals([...bytes.subarray(64)], F32_ONE);
});

Deno.test("encodeSafetensors() aligns every tensor to its element size", () => {
  const bytes = encodeSafetensors({
    b: { dtype: "bool", shape: [3], data: new Uint8Array([1, 0, 1]) },
    i: { dtype: "int32", shape: [1], data: new Int32Array([7]) },
    d: { dtype: "float64", shape: [], data: new Float64Array([0.1]) },
  });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(n % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assertEquals(header.d.data_offsets, [0, 8]);
  assertEquals(header.i.data_offsets, [8, 12]);
  assertEquals(header.b.data_offsets, [12, 15]);
});

Deno.test("decodeSafetensors() reads a file written by another tool", () => {
  // metadata first, padding spaces, as Python's safetensors writes
  const bytes = rawFile(
    {
      __metadata__: { format: "pt" },
      x: { dtype: "F32", shape: [1, 1], data_offsets: [0, 4] },
      y: { dtype: "I32", shape: [0], data_offsets: [4, 4] },
    },
    F32_ONE,
    5,
  );
  const r = decodeSafetensors(bytes);
  assertEquals(r.metadata, { format: "pt" });
  assertEquals(r.tensors.x, {
    dtype: "float32",
    shape: [1, 1],
    data: new Float32Array([1]),
  });
  assertEquals(r.tensors.y, {
    dtype: "int32",
    shape: [0],
    data: new Int32Array(),
  });
});

Deno.test("decodeSafetensors() keeps names such as __proto__ as plain data", () => {
  const bytes = encodeSafetensors(
    {
      ["__proto__"]: { dtype: "int32", shape: [], data: new Int32Array([3]) },
    } as Record<string, HostTensor>,
    { ["__proto__"]: "m" } as Record<string, string>,
  );
  const r = decodeSafetensors(bytes);
  assertEquals(Object.keys(r.tensors), ["__proto__"]);
  assertEquals(Object.getPrototypeOf(r.tensors), Object.prototype);
  assertEquals(Object.keys(r.metadata), ["__proto__"]);
});

const hostTensor: fc.Arbitrary<HostTensor> = fc
  .tuple(
    fc.constantFrom("float32", "float64", "int32", "bool"),
    fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
  )
  .chain(([dtype, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    switch (dtype) {
      case "float32":
        return fc.float32Array({ minLength: n, maxLength: n }).map((
          data,
        ): HostTensor => ({ dtype, shape, data }));
      case "float64":
        return fc.float64Array({ minLength: n, maxLength: n }).map((
          data,
        ): HostTensor => ({ dtype, shape, data }));
      case "int32":
        return fc.int32Array({ minLength: n, maxLength: n }).map((
          data,
        ): HostTensor => ({ dtype, shape, data }));
      default:
        return fc.array(fc.boolean(), { minLength: n, maxLength: n })
          .map((b): HostTensor => ({
            dtype: "bool",
            shape,
            data: Uint8Array.from(b, Number),
          }));
    }
  });

Deno.test("decodeSafetensors() inverts encodeSafetensors() for every dtype and shape", () => {
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.string().filter((s) => s !== "__metadata__"),
        hostTensor,
        { maxKeys: 6 },
      ),
      fc.dictionary(fc.string(), fc.string(), { maxKeys: 4 }),
      (tensors, metadata) => {
        const r = decodeSafetensors(encodeSafetensors(tensors, metadata));
        assertEquals(r.tensors, tensors);
        assertEquals(r.metadata, metadata);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("encodeSafetensors() rejects inconsistent tensors", () => {
  assertThrows(
    () =>
      encodeSafetensors({
        a: { dtype: "float32", shape: [3], data: new Float32Array(2) },
      }),
    TypeError,
    "shape [3] needs 3 values, data has 2",
  );
  assertThrows(
    () =>
      encodeSafetensors({
        a: {
          dtype: "int32",
          shape: [1],
          data: new Float32Array(1),
        } as unknown as HostTensor,
      }),
    TypeError,
    "must be a Int32Array",
  );
  assertThrows(
    () =>
      encodeSafetensors({
        __metadata__: { dtype: "int32", shape: [], data: new Int32Array(1) },
      }),
    TypeError,
    "__metadata__",
  );
  assertThrows(
    () => encodeSafetensors({}, { a: 1 } as unknown as Record<string, string>),
    TypeError,
    "must be a string",
  );
});

// ---------------------------------------------------------------- header lies

const ENTRY = { dtype: "F32", shape: [1], data_offsets: [0, 4] };

Deno.test("decodeSafetensors() rejects short files and lying header lengths before allocating", () => {
  decodeFails(new Uint8Array(5), "5 bytes, too short");
  const huge = (n: bigint) => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, n, true);
    return b;
  };
  decodeFails(
    huge(2n ** 53n),
    "header length 9007199254740992 exceeds the 100000000-byte limit",
  );
  decodeFails(huge(2n ** 64n - 1n), "exceeds the 100000000-byte limit");
  decodeFails(huge(9n), "runs past the end of the 16-byte file");
  decodeFails(huge(0n), "does not start with '{'");
  const good = rawFile({ a: ENTRY }, F32_ONE);
  decodeFails(good.subarray(0, 30), "runs past the end");
  decodeFails(
    good.subarray(0, good.length - 1),
    "outside the 3-byte data buffer",
  );
  assertThrows(
    () => decodeSafetensors(good, { maxHeaderBytes: 16 }),
    CheckpointError,
    "exceeds the 16-byte limit",
  );
});

Deno.test("decodeSafetensors() rejects invalid UTF-8 and JSON", () => {
  const bad = rawFile('{"a":1}');
  bad[10] = 0xff;
  decodeFails(bad, "not valid UTF-8");
  decodeFails(rawFile('{"a":'), "not valid JSON");
  decodeFails(rawFile("[1,2]"), "does not start with '{'");
  decodeFails(rawFile('{"a":{}} x'), "trailing characters");
  decodeFails(
    rawFile('{"a":' + "[".repeat(50) + "]".repeat(50) + "}"),
    "nesting deeper",
  );
  decodeFails(rawFile('{"a":"\x01"}'), "control character");
});

Deno.test("decodeSafetensors() rejects duplicate names that JSON.parse would hide", () => {
  const text = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
    '"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}';
  decodeFails(rawFile(text, F32_ONE), 'duplicate key "a"');
});

Deno.test("decodeSafetensors() rejects wrong field types and unknown dtypes", () => {
  const file = (entry: unknown, data = F32_ONE) => rawFile({ a: entry }, data);
  decodeFails(file(5), "is 5, not an object");
  decodeFails(file({ ...ENTRY, extra: 1 }), 'unknown field "extra"');
  decodeFails(file({ ...ENTRY, dtype: 3 }), "not a string");
  decodeFails(file({ ...ENTRY, dtype: "F16" }), 'unsupported dtype "F16"');
  decodeFails(file({ ...ENTRY, dtype: "Q9" }), 'unsupported dtype "Q9"');
  decodeFails(
    file({ ...ENTRY, shape: [-1] }),
    "not a list of non-negative integers",
  );
  decodeFails(
    file({ ...ENTRY, shape: [1.5] }),
    "not a list of non-negative integers",
  );
  decodeFails(
    file({ ...ENTRY, shape: ["1"] }),
    "not a list of non-negative integers",
  );
  decodeFails(
    file({ ...ENTRY, shape: 1 }),
    "not a list of non-negative integers",
  );
  decodeFails(file({ dtype: "F32", data_offsets: [0, 4] }), "shape undefined");
  decodeFails(
    file({ ...ENTRY, data_offsets: [0] }),
    "not two non-negative integers",
  );
  decodeFails(
    file({ ...ENTRY, data_offsets: [-4, 0] }),
    "not two non-negative integers",
  );
  decodeFails(
    file({ ...ENTRY, data_offsets: [0, 4.5] }),
    "not two non-negative integers",
  );
  decodeFails(
    file({ ...ENTRY, data_offsets: [0, 2 ** 53] }),
    "not two non-negative integers",
  );
  decodeFails(
    rawFile({ __metadata__: { a: 1 } }),
    '__metadata__ "a" is 1, not a string',
  );
  decodeFails(rawFile({ __metadata__: [] }), "__metadata__ is not an object");
});

Deno.test("decodeSafetensors() rejects offsets and sizes that disagree", () => {
  const two = [...F32_ONE, ...F32_ONE];
  // span out of bounds, reversed, wrong size for the shape
  decodeFails(
    rawFile({ a: { ...ENTRY, data_offsets: [4, 8] } }, F32_ONE),
    "outside the 4-byte data buffer",
  );
  decodeFails(
    rawFile({ a: { ...ENTRY, data_offsets: [4, 0] } }, two),
    "outside",
  );
  decodeFails(
    rawFile({ a: { ...ENTRY, shape: [2] } }, F32_ONE),
    "F32 [2] needs 8 bytes but data_offsets span 4",
  );
  decodeFails(
    rawFile({ a: { ...ENTRY, shape: [2 ** 40, 2 ** 40] } }, F32_ONE),
    "larger than the 4-byte data buffer",
  );
  // overlap, gap, uncovered tail
  decodeFails(rawFile({ a: ENTRY, b: ENTRY }, two), "expected 4 (overlap)");
  decodeFails(
    rawFile({ a: { ...ENTRY, data_offsets: [4, 8] } }, two),
    "starts at byte 4, expected 0 (gap)",
  );
  decodeFails(rawFile({ a: ENTRY }, two), "4 bytes after the last tensor");
  // a bool must be 0 or 1
  decodeFails(
    rawFile({ a: { dtype: "BOOL", shape: [1], data_offsets: [0, 1] } }, [2]),
    "holds byte 2",
  );
});

// ---------------------------------------------------------------- pytrees

const leafTensor: fc.Arbitrary<Tensor> = fc
  .tuple(
    fc.constantFrom("float32", "int32", "bool"),
    fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
  )
  .chain(([dtype, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const vals = dtype === "float32"
      ? fc.float32Array({ minLength: n, maxLength: n }).map((d) =>
        tensor(d, { shape, dtype })
      )
      : dtype === "int32"
      ? fc.int32Array({ minLength: n, maxLength: n }).map((d) =>
        tensor(d, { shape, dtype })
      )
      : fc.array(fc.boolean(), { minLength: n, maxLength: n }).map((b) =>
        tensor(Uint8Array.from(b, Number), { shape, dtype })
      );
    return vals;
  });

const leaf = fc.oneof(
  { weight: 4, arbitrary: leafTensor },
  fc.double(), // numbers, incl. NaN, ±Infinity and -0
  fc.constantFrom(null, undefined, true, "relu"),
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => new Key(a, b)),
);
const KEYS = fc.constantFrom(
  "w",
  "b",
  "a.b",
  "0",
  "",
  "__proto__",
  "ü",
  "layers",
);
const tree = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("node"), { maxLength: 3 }),
    fc.uniqueArray(fc.tuple(KEYS, tie("node")), {
      maxLength: 3,
      selector: ([k]) => k,
    }).map((es) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of es) {
        Object.defineProperty(o, k, {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return o;
    }),
  ),
})).node;
const json = fc.jsonValue({ maxDepth: 3 }).map((v) =>
  JSON.parse(JSON.stringify(v)) as unknown
);

Deno.test("saveCheckpoint() and loadCheckpoint() round-trip random pytrees", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_ckpt_" });
  try {
    let i = 0;
    await fc.assert(
      fc.asyncProperty(
        tree,
        fc.option(tree, { nil: undefined }),
        fc.record({
          step: fc.nat(),
          config: json,
          vocab: fc.array(fc.string()),
          prngKey: fc.tuple(fc.nat(), fc.nat()),
        }),
        async (params, optState, metadata) => {
          const path = `${dir}/ck${i++ % 3}.safetensors`;
          await saveCheckpoint(
            path,
            optState === undefined
              ? { params, metadata }
              : { params, optState, metadata },
          );
          const ck = await loadCheckpoint(path);
          assertEquals(await plain(ck.params), await plain(params));
          assertEquals("optState" in ck, optState !== undefined);
          assertEquals(await plain(ck.optState), await plain(optState));
          assertEquals(ck.metadata, metadata);
        },
      ),
      { numRuns: 60 },
    );
    assertEquals(
      [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")),
      [],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serializeCheckpoint() names tensors by dotted path and records the structure", async () => {
  const bytes = await serializeCheckpoint({
    params: { enc: [{ w: tensor([1]) }], n: 2 },
    optState: { m: { enc: [{ w: tensor([0]) }] } },
    metadata: { step: 5 },
  });
  const r = decodeSafetensors(bytes);
  assertEquals(Object.keys(r.tensors).sort(), [
    "optState.m.enc.0.w",
    "params.enc.0.w",
    "params.n",
  ]);
  assertEquals(r.tensors["params.n"], {
    dtype: "float64",
    shape: [],
    data: new Float64Array([2]),
  });
  assertEquals(r.metadata.step, "5");
  assertEquals(r.metadata["heed.version"], "1");
  assert(r.metadata["heed.tree"]!.includes('{"tensor":"params.enc.0.w"}'));
});

Deno.test("serializeCheckpoint() keeps colliding dotted names apart", async () => {
  const params = { "a.b": tensor([1]), a: { b: tensor([2]) } };
  const ck = deserializeCheckpoint<typeof params>(
    await serializeCheckpoint({ params }),
  );
  assertEquals(await ck.params["a.b"].array(), [1]);
  assertEquals(await ck.params.a.b.array(), [2]);
});

Deno.test("serializeCheckpoint() rejects values JSON or the tree cannot store", async () => {
  const p = { w: tensor([1]) };
  await assertRejects(
    () => serializeCheckpoint({ params: p, metadata: { config: { lr: NaN } } }),
    TypeError,
    "config.lr is NaN",
  );
  await assertRejects(
    () => serializeCheckpoint({ params: p, metadata: { vocab: new Map() } }),
    TypeError,
    "a Map object",
  );
  await assertRejects(
    () => serializeCheckpoint({ params: p, metadata: { "heed.tree": "x" } }),
    TypeError,
    "reserved",
  );
  await assertRejects(
    () => serializeCheckpoint({ params: p, metadata: { step: -1 } }),
    TypeError,
    "step",
  );
  await assertRejects(
    () => serializeCheckpoint({ params: p, metadata: { prngKey: [1] } }),
    TypeError,
    "prngKey",
  );
  await assertRejects(
    () => serializeCheckpoint({ params: { f: new Date(0) } }),
    TypeError,
    "a Date object at params.f",
  );
});

Deno.test("deserializeCheckpoint() rejects trees that lie about their tensors", () => {
  const t = {
    "params.w": { dtype: "float32", shape: [1], data: new Float32Array([1]) },
  } as const;
  const meta = (tree: unknown) => ({
    "heed.version": "1",
    "heed.tree": JSON.stringify(tree),
  });
  const fails = (bytes: Uint8Array, msg: string) =>
    assertThrows(
      () => deserializeCheckpoint(bytes, { source: "c.st" }),
      CheckpointError,
      msg,
    );
  fails(encodeSafetensors(t), "not a heed checkpoint");
  fails(
    encodeSafetensors(t, { "heed.version": "9" }),
    'unsupported heed.version "9"',
  );
  fails(
    encodeSafetensors(t, meta({ params: { tensor: "params.x" } })),
    'names tensor "params.x", which the file lacks',
  );
  fails(
    encodeSafetensors(
      t,
      meta({
        params: { array: [{ tensor: "params.w" }, { tensor: "params.w" }] },
      }),
    ),
    "twice",
  );
  fails(
    encodeSafetensors(t, meta({ params: { number: "params.w" } })),
    "not an F64 scalar",
  );
  fails(encodeSafetensors(t, meta({ params: { value: 1 } })), "value node");
  fails(
    encodeSafetensors(t, meta({ params: { weird: 1 } })),
    "unknown tree node kind",
  );
  fails(
    encodeSafetensors(t, meta({ params: { value: null } })),
    '"params.w" is not part of heed.tree',
  );
  fails(
    encodeSafetensors(t, meta({ params: { tensor: "params.w" }, x: 1 })),
    "must be an object with params",
  );
  fails(
    encodeSafetensors(t, {
      ...meta({ params: { tensor: "params.w" } }),
      step: "{",
    }),
    '"step" is not JSON',
  );
});

// ---------------------------------------------------------------- files

Deno.test("saveCheckpoint() replaces a file atomically through a temp file in the same folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_ckpt_" });
  try {
    const path = `${dir}/model.safetensors`;
    await saveCheckpoint(path, { params: { w: tensor([1]) } });
    const seen: string[] = [];
    await saveCheckpoint(path, { params: { w: tensor([2]) } }, {
      writeFile: async (tmp, data) => {
        seen.push(tmp);
        await Deno.writeFile(tmp, data, { createNew: true });
      },
    });
    assertEquals(seen.length, 1);
    assert(
      seen[0]!.startsWith(`${dir}/.model.safetensors.`) &&
        seen[0]!.endsWith(".tmp"),
      seen[0],
    );
    const ck = await loadCheckpoint<{ w: Tensor }>(path);
    assertEquals(await ck.params.w.array(), [2]);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [
      "model.safetensors",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saveCheckpoint() leaves the old file intact when a write dies midway", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_ckpt_" });
  try {
    const path = `${dir}/model.safetensors`;
    await saveCheckpoint(path, {
      params: { w: tensor([1, 2, 3]) },
      metadata: { step: 1 },
    });
    const before = await Deno.readFile(path);
    // the "crash": half the bytes reach the disk, then the write fails
    const crash = async (tmp: string, data: Uint8Array) => {
      await Deno.writeFile(tmp, data.subarray(0, data.length >> 1), {
        createNew: true,
      });
      throw new Error("disk full");
    };
    await assertRejects(
      () =>
        saveCheckpoint(path, {
          params: { w: tensor([9, 9, 9]) },
          metadata: { step: 2 },
        }, { writeFile: crash }),
      Error,
      "disk full",
    );
    assertEquals(await Deno.readFile(path), before);
    assertEquals((await loadCheckpoint(path)).metadata.step, 1);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [
      "model.safetensors",
    ]);
    // a half-written temp file is itself a clear error, never a crash
    const half = before.subarray(0, before.length >> 1);
    await Deno.writeFile(`${dir}/half.safetensors`, half);
    const e = await assertRejects(
      () => loadCheckpoint(`${dir}/half.safetensors`),
      CheckpointError,
    );
    assert(e.message.startsWith(`${dir}/half.safetensors: `), e.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadCheckpoint() reports a missing file as NotFound", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_ckpt_" });
  try {
    const e = await assertRejects(() =>
      loadCheckpoint(`${dir}/none.safetensors`)
    );
    assertInstanceOf(e, Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
