import {
  checkFinite,
  dataIdentity,
  fingerprint,
  firstDifference,
  ParamsMismatchError,
  ResumeMismatchError,
  validateParams,
  validateResume,
} from "../../models/train/validate.ts";
import {
  deserializeCheckpoint,
  serializeCheckpoint,
} from "../../models/train/checkpoint.ts";
import { init } from "../../mod.ts";
import {
  backends,
  full,
  type Tensor,
  tensor,
  withBackend,
  zeros,
} from "../../ops/mod.ts";
import {
  assertEquals,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";

await init();

/** A small model-like parameter tree with `layers` blocks. */
function params(layers: number, d = 4, dtype: "float32" | "int32" = "float32") {
  return {
    embed: zeros([10, d]),
    layers: Array.from({ length: layers }, () => ({
      attn: { wq: zeros([d, d], { dtype }), wk: zeros([d, d]) },
      norm: { g: zeros([d]), eps: 1e-5 },
    })),
  };
}

/** `tree` saved and loaded back through a checkpoint's bytes. */
async function roundTrip(tree: unknown): Promise<unknown> {
  return deserializeCheckpoint(await serializeCheckpoint({ params: tree }))
    .params;
}

Deno.test("validateParams() accepts a checkpoint of the same model", async () => {
  validateParams(params(2), await roundTrip(params(2)));
});

Deno.test("validateParams() names a parameter stored as I32 instead of F32", async () => {
  const bad = params(2);
  (bad.layers[1]!.attn as { wq: Tensor }).wq = zeros([4, 4], {
    dtype: "int32",
  });
  const loaded = await roundTrip(bad);
  const e2 = assertThrows(
    () =>
      validateParams(params(2), loaded, {
        what: "runs/x/checkpoint.safetensors",
      }),
    TypeError,
  );
  assertEquals(
    e2.message,
    'runs/x/checkpoint.safetensors: parameter "layers.1.attn.wq" is int32 (I32) in the checkpoint; the model expects float32 (F32); it does not belong to this model',
  );
  assertEquals((e2 as ParamsMismatchError).param, "layers.1.attn.wq");
});

Deno.test("validateParams() names a wrong shape", () => {
  const e = assertThrows(
    () =>
      validateParams(params(1, 4), { ...params(1, 4), embed: zeros([12, 4]) }),
    ParamsMismatchError,
  );
  assertStringIncludes(
    e.message,
    'parameter "embed" has shape [12,4] in the checkpoint; the model expects [10,4]',
  );
  const e2 = assertThrows(
    () =>
      validateParams(params(1, 4), {
        ...params(1, 4),
        embed: zeros([10, 4, 1]),
      }),
    ParamsMismatchError,
  );
  assertStringIncludes(e2.message, "[10,4,1]");
  // every tensor differs: the first is named and the rest counted
  const e3 = assertThrows(
    () => validateParams(params(2, 4), params(2, 8)),
    ParamsMismatchError,
  );
  assertStringIncludes(e3.message, '"embed"');
  assertStringIncludes(e3.message, "(and 6 more mismatches)");
});

Deno.test("validateParams() names a missing and an extra layer", async () => {
  const fewer = await roundTrip(params(1));
  const e = assertThrows(
    () => validateParams(params(2), fewer),
    ParamsMismatchError,
  );
  assertStringIncludes(
    e.message,
    'checkpoint: the checkpoint lacks parameter "layers.1.attn.wq" (float32 [4,4]), which the model expects',
  );
  const more = await roundTrip(params(3));
  const e2 = assertThrows(
    () => validateParams(params(2), more),
    ParamsMismatchError,
  );
  assertStringIncludes(
    e2.message,
    'the checkpoint has parameter "layers.2.attn.wq", which the model does not',
  );
  assertStringIncludes(e2.message, "(and 3 more mismatches)");
});

Deno.test("validateParams() takes {shape, dtype} templates and host tensors, and tells numbers from tensors", () => {
  const spec = { w: { shape: [2, 3], dtype: "float32" }, step: 0 };
  validateParams(spec, { w: zeros([2, 3]), step: 5 });
  validateParams(spec, {
    w: { dtype: "float32", shape: [2, 3], data: new Float32Array(6) },
    step: 1,
  });
  const e = assertThrows(
    () => validateParams(spec, { w: zeros([2, 3]), step: zeros([]) }),
    ParamsMismatchError,
  );
  assertStringIncludes(
    e.message,
    'parameter "step" is float32 [] in the checkpoint; the model expects a number',
  );
  assertThrows(
    () => validateParams(spec, { w: zeros([2, 3]) }),
    ParamsMismatchError,
    '"step"',
  );
  assertThrows(
    () => validateParams(spec, null),
    ParamsMismatchError,
    'lacks parameter "w"',
  );
});

const SAVED = {
  task: "classify",
  model: { dModel: 64, layers: 2, attention: "scaled-dot" },
  labels: ["card_arrival", "card_lost", "refund"],
  tokenizer: { kind: "word", vocab: ["[PAD]", "[UNK]", "card", "lost"] },
  data: { path: "my.csv", bytes: 120, hash: `sha256:${"0".repeat(64)}` },
};

Deno.test("validateResume() accepts the same run, also with object keys in another order", () => {
  validateResume(SAVED, structuredClone(SAVED));
  validateResume(SAVED, {
    ...SAVED,
    model: { layers: 2, attention: "scaled-dot", dModel: 64 },
  });
});

Deno.test("validateResume() names what differs from the checkpoint", () => {
  const cases: [object, string, string][] = [
    [
      { labels: ["card_arrival", "lost_card", "refund"] },
      "labels",
      `--resume: the labels differ from the checkpoint's: labels[1] is "card_lost" in the checkpoint, "lost_card" now`,
    ],
    [
      { labels: ["card_arrival", "card_lost"] },
      "labels",
      "labels has 3 entries in the checkpoint, 2 now",
    ],
    [
      {
        tokenizer: { kind: "word", vocab: ["[PAD]", "[UNK]", "card", "lose"] },
      },
      "tokenizer",
      `the tokenizer (vocabulary) differs from the checkpoint's: tokenizer.vocab[3] is "lost" in the checkpoint, "lose" now`,
    ],
    [
      { task: "translate" },
      "task",
      `task is "classify" in the checkpoint, "translate" now`,
    ],
    [
      { model: { ...SAVED.model, dModel: 128 } },
      "model",
      "the model configuration differs from the checkpoint's: model.dModel is 64 in the checkpoint, 128 now",
    ],
    [
      { data: { ...SAVED.data, hash: `sha256:${"1".repeat(64)}` } },
      "data",
      "the training data differs from the checkpoint's: data.hash is",
    ],
    [{ model: { ...SAVED.model, heads: 4 } }, "model", "model.heads is new"],
  ];
  for (const [change, field, message] of cases) {
    const e = assertThrows(
      () => validateResume(SAVED, { ...SAVED, ...change }),
      ResumeMismatchError,
    );
    assertEquals(e.field, field);
    assertStringIncludes(e.message, message);
    assertStringIncludes(e.message, "train into a new --out");
  }
});

Deno.test("validateResume() skips fields an older checkpoint did not save, and compares fingerprints", async () => {
  validateResume({ model: SAVED.model }, SAVED);
  // the same data moved elsewhere is the same data
  validateResume(SAVED, {
    ...SAVED,
    data: { ...SAVED.data, path: "moved/my.csv" },
  });
  assertThrows(
    () =>
      validateResume({ data: { path: "a.csv", rows: 10 } }, {
        data: { path: "a.csv", rows: 12 },
      }),
    ResumeMismatchError,
    "data.rows is 10 in the checkpoint, 12 now",
  );
  const tok = await fingerprint(SAVED.tokenizer);
  validateResume({ tokenizer: tok }, {
    tokenizer: await fingerprint(structuredClone(SAVED.tokenizer)),
  });
  const other = await fingerprint({ ...SAVED.tokenizer, vocab: ["x"] });
  assertThrows(
    () => validateResume({ tokenizer: tok }, { tokenizer: other }),
    ResumeMismatchError,
    "tokenizer",
  );
  assertEquals(firstDifference([1, { a: "x" }], [1, { a: "x" }]), null);
  assertEquals(
    firstDifference("a".repeat(50), "b"),
    `the value is "${"a".repeat(40)}…" in the checkpoint, "b" now`,
  );
});

Deno.test("dataIdentity() changes with a file's content and a folder's files", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a.csv`, "text,category\nhi,x\n");
  const a = await dataIdentity(`${dir}/a.csv`);
  assertEquals([a.path, a.bytes], [`${dir}/a.csv`, 19]);
  assertEquals(a.hash, await (await dataIdentity(`${dir}/a.csv`)).hash);
  await Deno.writeTextFile(`${dir}/a.csv`, "text,category\nho,x\n");
  assertNotEquals((await dataIdentity(`${dir}/a.csv`)).hash, a.hash);
  const f1 = await dataIdentity(dir);
  await Deno.writeTextFile(`${dir}/b.txt`, "");
  const f2 = await dataIdentity(dir);
  assertEquals(f1.bytes, f2.bytes);
  assertNotEquals(f1.hash, f2.hash);
});

Deno.test("checkFinite() names the first non-finite parameter or loss, on every backend", async () => {
  for (const b of backends()) {
    await withBackend(b, async () => {
      const good = {
        a: tensor([1, -2, 3]),
        big: full([1000], 3e38), // their sum overflows; the values are finite
        ids: tensor([1, 2], { dtype: "int32" }),
        empty: zeros([0]),
      };
      assertEquals(await checkFinite({ loss: 2.5, params: good }), null, b);
      assertEquals(
        await checkFinite({
          params: { ...good, layers: [tensor([1]), tensor([[0, NaN]])] },
        }),
        "params.layers.1",
        b,
      );
      assertEquals(
        await checkFinite({ params: { ...good, z: tensor([-Infinity]) } }),
        "params.z",
        b,
      );
      assertEquals(await checkFinite({ loss: NaN, params: good }), "loss", b);
      assertEquals(await checkFinite(tensor([Infinity])), "", b);
    });
  }
});

Deno.test("checkFinite() reads back once per tree", async () => {
  const tree = Array.from({ length: 20 }, (_, i) => tensor([i, i + 1]));
  const proto = Object.getPrototypeOf(tree[0]) as {
    data: () => Promise<unknown>;
  };
  const original = proto.data;
  let reads = 0;
  proto.data = function (this: Tensor) {
    reads++;
    return original.call(this);
  };
  try {
    assertEquals(await checkFinite(tree), null);
  } finally {
    proto.data = original;
  }
  assertEquals(reads, 1);
});
