// Hostile input, part 1: damaged and mismatched checkpoints, through the real
// `deno task predict|eval|train --resume` command lines. Each is one clear
// line and a non-zero exit; the checkpoint, run.json and metrics.jsonl stay
// byte for byte, and nothing outside the run folder changes.

import { assertEquals } from "@std/assert";
import {
  assertOneLineError,
  copyRun,
  leftovers,
  outsideOf,
  records,
  rewriteCheckpoint,
  sandbox,
  task,
  TINY,
  trainTiny,
} from "./_hostile.ts";

/** A tiny Multi30k-style folder (`train`, `val`, `test_2016_flickr`). */
async function tinyMulti30k(dir: string): Promise<void> {
  await Deno.mkdir(dir);
  const de = ["ein hund läuft", "eine katze schläft", "der mann isst"];
  const en = ["a dog runs", "a cat sleeps", "the man eats"];
  for (
    const [stem, n] of [["train", 30], ["val", 6], [
      "test_2016_flickr",
      6,
    ]] as const
  ) {
    const idx = Array.from({ length: n }, (_, i) => (i * 7 + n) % 3);
    await Deno.writeTextFile(
      `${dir}/${stem}.de`,
      idx.map((i) => de[i]).join("\n") + "\n",
    );
    await Deno.writeTextFile(
      `${dir}/${stem}.en`,
      idx.map((i) => en[i]).join("\n") + "\n",
    );
  }
}

type Damage = (path: string) => Promise<void>;

/** Flips `n` bytes at `at` (negative: from the end). */
function flip(at: number, n: number): Damage {
  return async (path) => {
    const b = await Deno.readFile(path);
    const start = at < 0 ? b.length + at : at;
    for (let i = start; i < start + n; i++) b[i]! ^= 0x5a;
    await Deno.writeFile(path, b);
  };
}

/** Stores parameter `name` (and its best copy) as I32: same bytes, another dtype. */
function asInt32(name: string): Damage {
  return (path) =>
    rewriteCheckpoint(path, (tensors) => {
      for (const k of [`params.${name}`, `optState.best.${name}`]) {
        const t = tensors[k]!;
        const d = t.data;
        tensors[k] = {
          dtype: "int32",
          shape: t.shape,
          data: new Int32Array(d.buffer, d.byteOffset, d.byteLength / 4),
        };
      }
    });
}

/** Transposes the shape of parameter `name` (and its best copy). */
function transposed(name: string): Damage {
  return (path) =>
    rewriteCheckpoint(path, (tensors) => {
      for (const k of [`params.${name}`, `optState.best.${name}`]) {
        const t = tensors[k]!;
        tensors[k] = { ...t, shape: [...t.shape].reverse() } as typeof t;
      }
    });
}

/** Claims one layer more in the configuration than the tensors hold. */
const moreLayers: Damage = (path) =>
  rewriteCheckpoint(path, (_, metadata) => {
    const config = JSON.parse(metadata.config!);
    config.layers += 1;
    metadata.config = JSON.stringify(config);
  });

Deno.test("damaged and mismatched checkpoints are refused in one line by predict, eval and train --resume, and left as they were", async (t) => {
  await using sb = await sandbox();
  const base = await trainTiny(sb, "base");
  await tinyMulti30k(`${sb.dir}/mt`);
  const mt = await task(sb, "train", [
    "--task",
    "translate",
    "--data",
    "mt",
    "--epochs",
    "1",
    "--backend",
    "cpu",
    "--out",
    "runs/mt",
  ]);
  assertEquals(mt.code, 0, mt.stderr);
  const translator: Damage = (path) =>
    Deno.copyFile(`${sb.dir}/runs/mt/checkpoint.safetensors`, path);
  const size = (await Deno.stat(`${sb.dir}/${base}/checkpoint.safetensors`))
    .size;

  // [what, damage, what predict/eval say, what train --resume says]
  const cases: [string, Damage, string, string][] = [
    [
      "a checkpoint truncated to half",
      (p) => Deno.truncate(p, Math.floor(size / 2)),
      "checkpoint.safetensors: ",
      "checkpoint.safetensors: ",
    ],
    [
      "a checkpoint cut a byte short",
      (p) => Deno.truncate(p, size - 1),
      "checkpoint.safetensors: ",
      "checkpoint.safetensors: ",
    ],
    ["bytes flipped in the tensor data", flip(-4096, 64), "CRC-32", "CRC-32"],
    [
      "bytes flipped in the header",
      flip(40, 8),
      "checkpoint.safetensors: ",
      "checkpoint.safetensors: ",
    ],
    [
      "a parameter stored as I32 instead of F32",
      asInt32("embed.table"),
      'parameter "embed.table" is int32 (I32) in the checkpoint; the model expects float32 (F32)',
      'parameter "embed.table" is int32 (I32) in the checkpoint; the model expects float32 (F32)',
    ],
    [
      "a parameter of the wrong shape",
      transposed("head.w"),
      'parameter "head.w" has shape [2,128] in the checkpoint; the model expects [128,2]',
      'parameter "head.w" has shape [2,128]',
    ],
    [
      "a configuration with one layer more than the tensors",
      moreLayers,
      'the checkpoint lacks parameter "blocks.2.',
      // --layers is part of the model's configuration now, and --resume
      // keeps the checkpoint's: the 3-layer model then finds 2 layers of
      // tensors, as predict and eval do.
      'the checkpoint lacks parameter "blocks.2.',
    ],
    [
      "a translation checkpoint in a classifier folder",
      translator,
      "holds a translator, but runs/case7/run.json records a classifier run",
      '--resume: the task differs from the checkpoint\'s: task is "translate" in the checkpoint, "classify" now',
    ],
  ];
  for (const [i, [what, damage, loading, resuming]] of cases.entries()) {
    await t.step(what, async () => {
      const out = await copyRun(sb, base, `case${i}`);
      await damage(`${sb.dir}/${out}/checkpoint.safetensors`);
      const before = await records(sb, out);
      const guard = await outsideOf(sb, out);
      const p = await task(sb, "predict", ["--out", out, "hello there"]);
      assertOneLineError(p, "predict", loading);
      const e = await task(sb, "eval", ["--out", out]);
      assertOneLineError(e, "eval", loading);
      const r = await task(sb, "train", [
        "--data",
        "base.csv",
        ...TINY,
        "--epochs",
        "2",
        "--out",
        out,
        "--resume",
      ]);
      assertOneLineError(r, "train", resuming);
      assertEquals(await records(sb, out), before, "the run's files changed");
      assertEquals(await leftovers(`${sb.dir}/${out}`), []);
      await guard.check();
    });
  }

  await t.step(
    "the undamaged run still loads (the cases above are not vacuous)",
    async () => {
      const out = await copyRun(sb, base, "intact");
      const p = await task(sb, "predict", ["--out", out, "hello there"]);
      assertEquals(p.code, 0, p.stderr);
      const r = await task(sb, "train", [
        "--data",
        "base.csv",
        ...TINY,
        "--epochs",
        "2",
        "--out",
        out,
        "--resume",
      ]);
      assertEquals(r.code, 0, r.stderr);
    },
  );
});
