// Fuzz test: at least 10,000 mutated checkpoints, made in memory from valid
// ones (bit flips, truncation, byte insertion and deletion, a rewritten
// header length, header fields rewritten with lies, broken UTF-8). Each must
// either decode to a valid result or throw CheckpointError: never another
// error, a crash or a hang. Needs no permissions:
//   deno test tests/models/checkpoint_fuzz_test.ts

import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import { Key, type Tensor, tensor, treeLeaves } from "../../ops/mod.ts";
import {
  CheckpointError,
  decodeSafetensors,
  deserializeCheckpoint,
  encodeSafetensors,
  type HostTensor,
  serializeCheckpoint,
} from "../../models/train/checkpoint.ts";

const RUNS = 10_000;

// ---------------------------------------------------------------- valid inputs

/** A pool of valid heed checkpoints, covering every dtype, scalars and empties. */
async function checkpointPool(): Promise<Uint8Array[]> {
  const f = (n: number, shape: number[]) =>
    tensor(Float32Array.from({ length: n }, (_, i) => i / 3), { shape });
  const states = [
    { params: { w: f(6, [2, 3]), b: f(3, [3]) } },
    {
      params: {
        emb: f(8, [4, 2]),
        layers: [{
          w: f(4, [2, 2]),
          ids: tensor(new Int32Array([1, -2]), { shape: [2] }),
        }, {
          mask: tensor(new Uint8Array([1, 0, 1]), {
            shape: [3],
            dtype: "bool",
          }),
        }],
        scale: 0.5,
        act: "gelu",
        none: null,
        gone: undefined,
        k: new Key(1, 2),
      },
      optState: { step: 3, m: { emb: f(8, [4, 2]) } },
      metadata: {
        step: 3,
        config: { dim: 2, heads: [1, 2] },
        vocab: ["<pad>", "a"],
        prngKey: [7, 9],
      },
    },
    {
      params: {
        s: tensor(2.5),
        e: tensor(new Float32Array(0), { shape: [0, 4] }),
      },
    },
    { params: f(1, []), metadata: { note: "scalar root" } },
  ];
  return await Promise.all(states.map((s) => serializeCheckpoint(s)));
}

const hostTensor: fc.Arbitrary<HostTensor> = fc
  .tuple(
    fc.constantFrom("float32", "float64", "int32", "bool"),
    fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
  )
  .map(([dtype, shape]): HostTensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    switch (dtype) {
      case "float32":
        return {
          dtype,
          shape,
          data: Float32Array.from({ length: n }, (_, i) => i),
        };
      case "float64":
        return {
          dtype,
          shape,
          data: Float64Array.from({ length: n }, (_, i) => -i),
        };
      case "int32":
        return {
          dtype,
          shape,
          data: Int32Array.from({ length: n }, (_, i) => i * 7),
        };
      default:
        return {
          dtype: "bool",
          shape,
          data: Uint8Array.from({ length: n }, (_, i) => i & 1),
        };
    }
  });

/** Fresh plain safetensors files (no heed tree), generated per case. */
const plainFile = fc
  .tuple(
    fc.dictionary(
      fc.string({ maxLength: 6 }).filter((s) => s !== "__metadata__"),
      hostTensor,
      { maxKeys: 4 },
    ),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 6 }), {
      maxKeys: 2,
    }),
  )
  .map(([t, m]) => encodeSafetensors(t, m));

// ---------------------------------------------------------------- mutations

function headerOf(
  bytes: Uint8Array,
): { n: number; json: Record<string, unknown> } {
  const n = Number(
    new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true),
  );
  return {
    n,
    json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))),
  };
}

function withHeader(
  bytes: Uint8Array,
  text: string,
  oldLen: number,
  pad: number,
): Uint8Array {
  const h = new TextEncoder().encode(text + " ".repeat(pad));
  const data = bytes.subarray(8 + oldLen);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const LIES: unknown[] = [
  -1,
  0,
  1,
  3,
  4.5,
  2 ** 31,
  2 ** 32 + 4,
  2 ** 53,
  2 ** 64,
  1e308,
  -0,
  "4",
  null,
  true,
  [],
  {},
  [1, 2, 3],
  [0],
  [-1, 4],
  [4, 0],
  [0, 2 ** 53],
  "F16",
  "BF16",
  "I64",
  "U8",
  "F32",
  "F64",
  "I32",
  "BOOL",
  "",
  "__metadata__",
];
const lie = fc.oneof(
  fc.constantFrom(...LIES),
  fc.integer({ min: -8, max: 64 }),
  fc.array(fc.integer({ min: -2, max: 40 }), { maxLength: 4 }),
);

type Mutation = (b: Uint8Array) => Uint8Array;

const bitFlips = fc.array(
  fc.tuple(
    fc.nat(),
    fc.integer({ min: 0, max: 7 }),
    fc.constantFrom("header", "data", "anywhere"),
  ),
  { minLength: 1, maxLength: 4 },
)
  .map((flips): Mutation => (b) => {
    const out = b.slice();
    const headerEnd = Math.min(out.length, 8 + headerOf(b).n);
    for (const [pos, bit, region] of flips) {
      if (out.length === 0) break;
      const i = region === "header"
        ? pos % headerEnd
        : region === "data" && out.length > headerEnd
        ? headerEnd + (pos % (out.length - headerEnd))
        : pos % out.length;
      out[i]! ^= 1 << bit;
    }
    return out;
  });
const truncate = fc.nat().map((k): Mutation => (b) =>
  b.subarray(0, k % (b.length + 1))
);
const insert = fc.tuple(
  fc.nat(),
  fc.uint8Array({ minLength: 1, maxLength: 16 }),
).map(([k, ins]): Mutation => (b) => {
  const i = k % (b.length + 1);
  const out = new Uint8Array(b.length + ins.length);
  out.set(b.subarray(0, i));
  out.set(ins, i);
  out.set(b.subarray(i), i + ins.length);
  return out;
});
const remove = fc.tuple(fc.nat(), fc.integer({ min: 1, max: 16 })).map(
  ([k, n]): Mutation => (b) => {
    const i = k % (b.length + 1);
    const out = new Uint8Array(Math.max(0, b.length - n));
    out.set(b.subarray(0, i).subarray(0, out.length));
    out.set(b.subarray(i + n).subarray(0, Math.max(0, out.length - i)), i);
    return out;
  },
);
const lengthLie = fc.oneof(
  fc.constantFrom(
    0n,
    1n,
    7n,
    2n ** 32n,
    2n ** 53n,
    2n ** 63n,
    2n ** 64n - 1n,
    100_000_001n,
  )
    .map((v) => ({ v, relative: false })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({
    v,
    relative: false,
  })),
  // a few bytes off the true length
  fc.integer({ min: -16, max: 16 }).map((d) => ({
    v: BigInt(d),
    relative: true,
  })),
).map(({ v, relative }): Mutation => (b) => {
  const out = b.slice();
  const n = relative ? BigInt(headerOf(b).n) + v : v;
  new DataView(out.buffer).setBigUint64(0, n < 0n ? 0n : n, true);
  return out;
});
const fieldLie = fc.tuple(
  fc.nat(),
  fc.constantFrom(
    "dtype",
    "shape",
    "data_offsets",
    "offset0",
    "offset1",
    "shape0",
    "delete",
    "extra",
    "entry",
    "metadata",
    "tree",
    "duplicate",
    "shift",
  ),
  lie,
  fc.integer({ min: 0, max: 9 }),
).map(([pick, field, value, pad]): Mutation => (b) => {
  const { n, json } = headerOf(b);
  const names = Object.keys(json).filter((k) => k !== "__metadata__");
  let text: string;
  if (field === "metadata" || field === "tree") {
    const meta = (json.__metadata__ ?? {}) as Record<string, unknown>;
    if (field === "metadata") {
      meta[
        Object.keys(meta)[pick % Math.max(1, Object.keys(meta).length)] ?? "k"
      ] = value;
    } else if (typeof meta["heed.tree"] === "string") {
      // rename a tensor reference or replace a node
      const s = meta["heed.tree"] as string;
      meta["heed.tree"] = pick % 2
        ? s.replace(
          /"tensor":"[^"]*"/,
          `"tensor":${JSON.stringify(String(value))}`,
        )
        : s.replace(/\{"(number|tensor)"/, `{"${String(value)}"`);
    }
    json.__metadata__ = meta;
    text = JSON.stringify(json);
  } else if (names.length === 0) {
    json[String(value)] = { dtype: "F32", shape: [1], data_offsets: [0, 4] };
    text = JSON.stringify(json);
  } else {
    const name = names[pick % names.length]!;
    const e = json[name] as Record<string, unknown>;
    const offs = e.data_offsets as unknown[];
    const shape = e.shape as unknown[];
    switch (field) {
      case "offset0":
        offs[0] = value;
        break;
      case "offset1":
        offs[1] = value;
        break;
      case "shape0":
        shape.length > 0 ? (shape[0] = value) : shape.push(value);
        break;
      case "delete":
        delete e[["dtype", "shape", "data_offsets"][pick % 3]!];
        break;
      case "extra":
        e.extra = value;
        break;
      case "entry":
        json[name] = value;
        break;
      case "duplicate":
        break;
      case "shift": {
        // move a whole span: sizes still agree, so only the tiling check can object
        const size = Math.max(
          1,
          Math.abs(Number.isInteger(value) ? (value as number) : 4),
        );
        const d = pick % 2 ? -size : size;
        offs[0] = (offs[0] as number) + d;
        offs[1] = (offs[1] as number) + d;
        break;
      }
      default:
        e[field] = value;
    }
    text = JSON.stringify(json);
    if (field === "duplicate") {
      // a second entry with the same name, which JSON.parse would hide
      text = text.slice(0, -1) +
        `,${JSON.stringify(name)}:${
          JSON.stringify({ dtype: "F32", shape: [0], data_offsets: [0, 0] })
        }}`;
    }
  }
  return withHeader(b, text, n, pad);
});
const badUtf8 = fc.tuple(
  fc.nat(),
  fc.constantFrom(0xff, 0xc0, 0xed, 0x80, 0xf8),
).map(([k, byte]): Mutation => (b) => {
  const out = b.slice();
  const n = headerOf(b).n;
  out[8 + (k % n)] = byte;
  return out;
});

const mutation = fc.oneof(
  { weight: 2, arbitrary: bitFlips },
  { weight: 1, arbitrary: truncate },
  { weight: 1, arbitrary: insert },
  { weight: 1, arbitrary: remove },
  { weight: 1, arbitrary: lengthLie },
  { weight: 4, arbitrary: fieldLie },
  { weight: 1, arbitrary: badUtf8 },
);

// ---------------------------------------------------------------- checks

function checkDecoded(r: ReturnType<typeof decodeSafetensors>): void {
  const ctors = {
    float32: Float32Array,
    float64: Float64Array,
    int32: Int32Array,
    bool: Uint8Array,
  };
  for (const t of Object.values(r.tensors)) {
    assert(t.data instanceof ctors[t.dtype]);
    assertEquals(t.data.length, t.shape.reduce((a, b) => a * b, 1));
    if (t.dtype === "bool") assert(t.data.every((v) => v <= 1));
  }
  for (const v of Object.values(r.metadata)) assertEquals(typeof v, "string");
}

function checkCheckpoint(ck: ReturnType<typeof deserializeCheckpoint>): void {
  for (const x of [...treeLeaves(ck.params), ...treeLeaves(ck.optState)]) {
    if (typeof x === "number") continue;
    const t = x as Tensor;
    assert(["float32", "int32", "bool"].includes(t.dtype));
    assert(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0));
  }
}

/** Phrases of the documented problems, most specific first. */
const PROBLEMS = [
  "too short",
  "exceeds the",
  "runs past the end",
  "does not start with",
  "not valid UTF-8",
  "heed.tree is not valid JSON",
  "header is not valid JSON",
  "not a JSON object",
  "unknown field",
  "unsupported dtype",
  "has dtype",
  "not a list of non-negative integers",
  "not two non-negative integers",
  "outside the",
  "larger than the",
  "bytes but data_offsets span",
  "(gap)",
  "(overlap)",
  "not covered by any tensor",
  "not a bool",
  "not a heed checkpoint",
  "__metadata__",
  "heed.version",
  "which the file lacks",
  "twice",
  "not an F64 scalar",
  "F64, which heed tensors",
  "not part of heed.tree",
  "heed.tree",
  "is not JSON",
  ", not an object",
];

/** "ok" on success, the error's first words for a CheckpointError; rethrows anything else. */
function attempt<T>(f: () => T, check: (r: T) => void): string {
  let r: T;
  try {
    r = f();
  } catch (e) {
    if (e instanceof CheckpointError) {
      const kind = PROBLEMS.find((p) => e.message.includes(p));
      return kind ?? `other: ${e.message}`;
    }
    throw e;
  }
  check(r);
  return "ok";
}

Deno.test(`decoding survives ${RUNS} mutated checkpoints with a valid result or a CheckpointError`, async () => {
  const pool = await checkpointPool();
  for (const b of pool) checkCheckpoint(deserializeCheckpoint(b)); // the seeds are valid
  const outcomes = new Map<string, number>();
  let tried = 0, slowest = 0;
  const start = performance.now();
  fc.assert(
    fc.property(
      fc.oneof(fc.constantFrom(...pool), plainFile),
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      (seed, muts) => {
        const t0 = performance.now();
        const bytes = muts.reduce((b, m) => safe(m, b), seed);
        const a = attempt(
          () => decodeSafetensors(bytes, { source: "fuzz.safetensors" }),
          checkDecoded,
        );
        const b = attempt(
          () => deserializeCheckpoint(bytes, { source: "fuzz.safetensors" }),
          checkCheckpoint,
        );
        for (const o of [`decode: ${a}`, `checkpoint: ${b}`]) {
          outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
        }
        tried++;
        slowest = Math.max(slowest, performance.now() - t0);
      },
    ),
    { numRuns: RUNS, seed: 20240601 },
  );
  const secs = (performance.now() - start) / 1000;
  console.log(
    `tried ${tried} mutated checkpoints in ${secs.toFixed(1)} s (slowest ${
      slowest.toFixed(1)
    } ms)`,
  );
  for (const [k, v] of [...outcomes].sort((x, y) => y[1] - x[1])) {
    console.log(`  ${String(v).padStart(6)}  ${k}`);
  }
  assertEquals(tried, RUNS);
  // both paths see successes and many different errors
  assert(
    (outcomes.get("decode: ok") ?? 0) > 0 &&
      (outcomes.get("checkpoint: ok") ?? 0) > 0,
  );
  assert(
    [...outcomes.keys()].filter((k) => k.startsWith("decode:")).length > 15,
  );
  assert(slowest < 2000, `one case took ${slowest} ms`);
});

/** Applies a mutation written for well-formed input; a mutated input it cannot parse passes through. */
function safe(m: Mutation, b: Uint8Array): Uint8Array {
  try {
    return m(b);
  } catch {
    return b; // the seed was already mutated past JSON.parse; keep it as is
  }
}
