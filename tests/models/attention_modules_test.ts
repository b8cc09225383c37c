// Attention modules in the models: the --attention syntax, multi-module
// (gated) classifiers, a user's module from a file through train, resume
// and predict, and a checkpoint whose module is gone.

import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  multiHead,
  padding,
  type Spec,
  type SpecParams,
} from "../../attention/mod.ts";
import { grad, key, normal, ones, sum, tensor } from "../../ops/mod.ts";
import {
  initTranslator,
  translatorLoss,
} from "../../models/arch/translator.ts";
import {
  applyClassifier,
  ATTENTION_NAMES,
  importAttention,
  loadClassifier,
  loadTranslator,
  MissingModuleError,
  parseAttention,
  translateText,
} from "../../models/mod.ts";
import {
  trainTranslator,
  type TranslatorTrainOptions,
} from "../../models/train/translate.ts";
import { parseTrainArgs } from "../../models/cli/args.ts";
import { main as train } from "../../models/cli/train.ts";
import { main as predict } from "../../models/cli/predict.ts";
import { trainClassifier } from "../../models/train/classify.ts";
import { LabelEncoder, loadDataset } from "../../data/mod.ts";
import * as aq from "arquero";
import { quiet } from "./_cli.ts";

const DIMS = { heads: 2, dHead: 4 };
const CTX = { masks: [padding()], role: "encoder" } as const;

function spec(text: string): Spec {
  const m = parseAttention(text);
  const built = m.build(m.init(key(0), DIMS), CTX);
  if (typeof built === "function") throw new Error(`${text} builds no spec`);
  return built;
}

Deno.test("parseAttention: every built-in name is a module with that id", () => {
  for (const name of ATTENTION_NAMES) {
    assertEquals(parseAttention(name).id, name);
    assertEquals(spec(name).masks?.length, 1);
  }
});

Deno.test("parseAttention: a composition parses to the spec of its pieces", () => {
  const s = spec(
    "score=seed-ratio,mods=temp:0.5+alibi,masks=window:3,norm=signed",
  );
  assertEquals(s.score.name, "seedRatioScore");
  assertEquals(s.mods!.map((f) => f.name), ["temperatureMod", "alibiMod"]);
  assertEquals(s.masks!.length, 2); // padding from the context + window
  assertEquals(s.normalise!.name, "signedSumNormalise");
  // no norm: attention()'s default (softmax)
  assertEquals(spec("score=cosine").normalise, undefined);
  assertEquals(spec("score=dot,norm=sparsemax").score.name, "dotScore");
});

Deno.test("parseAttention: a composition's parameters are per piece, with the temperature's log", async () => {
  const m = parseAttention("score=bilinear,mods=temp:0.5");
  const p = m.init(key(0), DIMS) as Record<string, { shape: number[] }>;
  assertEquals(Object.keys(p).sort(), ["mods1_logT", "score0_w"]);
  assertEquals(p.score0_w!.shape, [2, 4, 4]);
  const logT =
    await (p.mods1_logT as unknown as { data(): Promise<Float32Array> })
      .data();
  assert(Math.abs(logT[0]! - Math.log(0.5)) < 1e-6);
});

Deno.test("parseAttention: modules combine by concat, mix and gate", () => {
  for (
    const text of [
      "concat:scaled-dot/cosine",
      "mix=0.7+0.3:scaled-dot/score=dot",
      "mix:scaled-dot/cosine",
      "gate:scaled-dot/score=seed-ratio,mods=temp,norm=softmax",
    ]
  ) {
    const m = parseAttention(text);
    assertEquals(m.id, text);
    const p = m.init(key(0), DIMS) as Record<string, unknown>;
    assert(typeof m.build(p, CTX) === "function", text);
    assertEquals("gate_w" in p, text.startsWith("gate"), text);
  }
  const g = parseAttention("gate:scaled-dot/cosine/sparsemax").init(
    key(0),
    DIMS,
  ) as Record<string, { shape: number[] }>;
  assertEquals(g.gate_w!.shape, [2, 4, 3]);
});

Deno.test("parseAttention: an invalid composition is a one-line error naming the part and the choices", () => {
  const bad: [string, string][] = [
    ["nope", "built-in name"],
    [
      "score=nope",
      'unknown score "nope" (choose dot, scaled-dot, bilinear, cosine, seed-ratio, seed-gated)',
    ],
    ["score=dot,norm=soft", 'unknown norm "soft" (choose softmax, sparsemax'],
    [
      "score=dot,mods=warp",
      'unknown mods "warp" (choose temp, alibi, softcap)',
    ],
    ["score=dot,masks=window:0", "window:0"],
    ["score=dot,masks=window:2.5", "a positive integer"],
    ["score=dot,masks=causal:3", "takes no argument"],
    [
      "score=dot,colour=red",
      'unknown part "colour" (choose score, mods, masks, norm)',
    ],
    ["norm=softmax", "needs score="],
    ["score=dot+cosine", "score takes one value"],
    ["score=dot,score=cosine", 'part "score" given twice'],
    ["gate:scaled-dot", "two or more modules"],
    ["mix=0.5:scaled-dot/cosine", "expected 2 numbers"],
    ["gate=1:scaled-dot/cosine", "takes no value"],
    ["gate:scaled-dot/score=nope", 'unknown score "nope"'],
    ["", "empty"],
  ];
  for (const [text, msg] of bad) {
    const e = assertThrows(() => parseAttention(text), RangeError, msg, text);
    assert(!e.message.includes("\n"), `one line: ${e.message}`);
  }
  // the CLI checks the value up front, paths are taken as they are
  assertThrows(
    () => parseTrainArgs(["--attention", "score=nope"]),
    RangeError,
    "unknown score",
  );
  assertEquals(
    parseTrainArgs(["--attention", "./mine.ts"]).attention,
    "./mine.ts",
  );
});

const GREET = ["hello there", "hi", "hi there friend", "good morning", "hey"];
const LEAVE = ["bye", "see you", "bye then friend", "good night", "farewell"];
const ROWS = [
  ...GREET.map((t) => [t, 0]),
  ...LEAVE.map((t) => [t, 1]),
] as const;

function table(n: number) {
  const rows = Array.from({ length: n }, (_, i) => ROWS[i % ROWS.length]!);
  return aq.table({
    text: rows.map((r) => r[0]),
    label: rows.map((r) => r[1]),
  });
}

Deno.test("a gated two-module classifier trains, and its gate values are readable", async () => {
  const labels = new LabelEncoder(["greet", "leave"]);
  const r = await trainClassifier({
    data: { train: table(40), test: table(10), labels },
    valid: table(10),
    model: {
      attention: "gate:scaled-dot/cosine",
      dModel: 16,
      heads: 2,
      layers: 1,
    },
    epochs: 2,
    batchSize: 8,
    lr: 1e-2,
  });
  const block = r.params.blocks[0]!.attn.spec as Record<
    string,
    { data(): Promise<Float32Array> }
  >;
  // the gate's parameters moved from their zero start
  assert((await block.gate_w!.data()).some((x) => x !== 0));
  const enc = Array.from(r.tokenizer.encode("hello there"));
  const out = applyClassifier(r.params, {
    ids: tensor([enc], { dtype: "int32" }),
    mask: ones([1, enc.length], { dtype: "int32" }),
  }, { config: r.config });
  assertEquals(out.gates.length, 1);
  assertEquals(out.gates[0]!.shape, [1, 2, enc.length, 2]); // [B, H, T, K]
  const rowSums = await sum(out.gates[0]!, { axis: -1 }).data();
  for (const s of rowSums) assert(Math.abs(s - 1) < 1e-5);
});

const USER_MODULE = (attentionUrl: string) => `
import { bias, scaledDot } from "${attentionUrl}";
import { zeros } from "${
  attentionUrl.replace("attention/mod.ts", "ops/mod.ts")
}";
/** Scaled dot product with a learned bias per head. */
export default {
  id: "biased-dot",
  description: "scaled dot product plus a learned per-head bias",
  init: (_key: unknown, dims: { heads: number }) => ({ b: zeros([dims.heads, 1, 1]) }),
  build: (p: { b: never }, ctx: { masks: never[] }) => ({ score: scaledDot(), mods: [bias(p.b)], masks: ctx.masks }),
};
`;

Deno.test("a user's module from a .ts file trains, checkpoints, resumes and predicts; without the file, loading names the module", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_attn_" });
  try {
    const url = new URL("../../attention/mod.ts", import.meta.url).href;
    await Deno.writeTextFile(`${dir}/biased.ts`, USER_MODULE(url));
    await Deno.writeTextFile(
      `${dir}/train.csv`,
      "text,category\n" +
        Array.from(
          { length: 4 },
          () => ROWS.map(([t, l]) => `${t},${l ? "leave" : "greet"}`),
        ).flat().join("\n") + "\n",
    );
    const out = `${dir}/run`;
    const common = [
      "--data",
      `${dir}/train.csv`,
      "--batch-size",
      "8",
      "--attention",
      `${dir}/biased.ts`,
      "--out",
      out,
    ];
    let [code, log] = await quiet(() => train([...common, "--epochs", "1"]));
    assertEquals(code, 0, log);
    const meta = (await loadClassifier(`${out}/checkpoint.safetensors`)).config
      .attention as { id: string };
    assertEquals(meta.id, "biased-dot");
    [code, log] = await quiet(() =>
      train([...common, "--epochs", "2", "--resume"])
    );
    assertEquals(code, 0, log);
    assertStringIncludes(log, "epoch 2");
    const model = await loadClassifier(`${out}/checkpoint.safetensors`);
    const b = model.params.blocks[0]!.attn.spec as { b: { shape: number[] } };
    assertEquals(b.b.shape, [4, 1, 1]);
    [code, log] = await quiet(() => predict(["--out", out, "hello there"]));
    assertEquals(code, 0, log);
    // the module's file is gone: a new process's predict names the module and where it was
    await Deno.remove(`${dir}/biased.ts`);
    const cli = new URL("../../models/cli/predict.ts", import.meta.url);
    const res = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-read",
        "--allow-env",
        cli.pathname,
        "--out",
        out,
        "hi",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(res.stderr);
    assertEquals(res.code, 1, err);
    assertStringIncludes(
      err,
      `the model needs the attention module "biased-dot" from ${await Deno
        .realPath(dir)}/biased.ts, which is not available`,
    );
    assert(err.trim().split("\n").length === 1, err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a checkpoint of a module given in code loads only with that module, and names it otherwise", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_attn_" });
  try {
    const mine = { ...parseAttention("score=dot,mods=temp"), id: "my-dot" };
    const labels = new LabelEncoder(["greet", "leave"]);
    const path = `${dir}/ck.safetensors`;
    await trainClassifier({
      data: { train: table(20), test: table(4), labels },
      valid: table(4),
      model: { attention: mine, dModel: 8, heads: 2, layers: 1 },
      epochs: 1,
      batchSize: 8,
      checkpoint: { path, resume: false },
    });
    const e = await assertRejects(
      () => loadClassifier(path),
      MissingModuleError,
      `${path}: the model needs the attention module "my-dot", which is not available`,
    );
    assertEquals(e.id, "my-dot");
    const m = await loadClassifier(path, { modules: [mine] });
    assertEquals(m.config.attention, mine);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a translator with a user's module from a file trains, resumes, reloads from the recorded file and translates", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_attn_tr_" });
  try {
    const url = new URL("../../attention/mod.ts", import.meta.url).href;
    await Deno.writeTextFile(`${dir}/biased.ts`, USER_MODULE(url));
    const mine = await importAttention(`${dir}/biased.ts`);
    const d = await loadDataset("tatoeba");
    const base: TranslatorTrainOptions = {
      data: {
        train: d.train.slice(0, 60),
        valid: d.valid.slice(0, 4),
        test: d.test.slice(0, 4),
      },
      vocabSize: 120,
      model: {
        dModel: 8,
        heads: 2,
        encLayers: 1,
        decLayers: 1,
        ffHidden: 16,
        attention: mine,
      },
      validSentences: 4,
      beam: 1,
      warmup: 5,
      maxTokens: 1024,
    };
    const path = `${dir}/t.safetensors`;
    await trainTranslator({
      ...base,
      epochs: 1,
      checkpoint: { path, resume: false },
    });
    const r = await trainTranslator({
      ...base,
      epochs: 2,
      checkpoint: { path, resume: true },
    });
    assertEquals(r.history.length, 2);
    const t = await loadTranslator(path);
    if (t.arch !== "transformer") throw new Error(`arch ${t.arch}`);
    assertEquals((t.config.attention as { id: string }).id, "biased-dot");
    const b = t.params.dec[0]!.cross.spec as { b: { shape: number[] } };
    assertEquals(b.b.shape, [2, 1, 1]);
    const out = await translateText(t, "ich bin hier", { beam: 1 });
    assertEquals(typeof out.text, "string");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the translator takes a composition and a gated module in all three attentions, and every parameter gets a finite gradient", async () => {
  for (
    const attention of [
      "score=seed-ratio,mods=temp,norm=softmax",
      "gate:scaled-dot/seed-gated",
    ]
  ) {
    const config = {
      srcVocab: 8,
      tgtVocab: 8,
      dModel: 8,
      heads: 2,
      encLayers: 1,
      decLayers: 1,
      ffHidden: 16,
      maxLen: 6,
      dropout: 0,
      attention,
    };
    const params = initTranslator(key(0), config);
    const i32 = (x: number[][]) => tensor(x, { dtype: "int32" });
    const batch = {
      src: i32([[4, 5, 6], [7, 4, 0]]),
      srcMask: i32([[1, 1, 1], [1, 1, 0]]),
      tgtIn: i32([[2, 6, 5], [2, 4, 7]]),
      tgtOut: i32([[6, 5, 3], [4, 7, 3]]),
      tgtMask: i32([[1, 1, 1], [1, 1, 1]]),
    };
    const g = grad((p: typeof params) => translatorLoss(p, batch, { config }))(
      params,
    );
    const cross = g.dec[0]!.cross.spec as Record<
      string,
      { data(): Promise<Float32Array> }
    >;
    const leaf = attention.startsWith("gate") ? cross.gate_w! : cross.score0_q!;
    const v = await leaf.data();
    assert(v.every(Number.isFinite) && v.some((x) => x !== 0), attention);
  }
});

Deno.test("multiHead takes a parsed module and returns the gate of a gated one", async () => {
  const m = parseAttention("gate:scaled-dot/seed-softmax");
  const mha = multiHead(m, { heads: 2, dModel: 8 });
  const r = mha.apply(mha.init(key(0)), normal(key(1), [1, 3, 8]));
  assertEquals(r.output.shape, [1, 3, 8]);
  assertEquals(r.weights.shape, [1, 2, 3, 3]);
  assertEquals(r.gate!.shape, [1, 2, 3, 2]); // zero start: an even split
  for (const g of await r.gate!.data()) assert(Math.abs(g - 0.5) < 1e-6);
  // a built-in name is taken too
  const named = multiHead<SpecParams>("cosine", { heads: 2, dModel: 8 });
  assertEquals(named.init(key(0)).spec!.scale!.shape, [2, 1, 1]);
  assertThrows(
    () => multiHead("nope" as "cosine", { heads: 2, dModel: 8 }),
    RangeError,
    'unknown attention "nope"',
  );
  const c = multiHead(parseAttention("concat:scaled-dot/cosine"), {
    heads: 2,
    dModel: 8,
  });
  const rc = c.apply(c.init(key(0)), normal(key(1), [1, 3, 8]));
  assertEquals([rc.output.shape, rc.weights.shape, rc.gate], [[1, 3, 8], [
    1,
    2,
    3,
    3,
  ], undefined]);
});
