/**
 * Training under jit against eager training, side by side in one run: N
 * steps of the default banking77 classifier (the `deno task train`
 * defaults: batch 64, rows cut to 128 tokens, AdamW with warm-up + cosine,
 * clipping, label smoothing, dropout) through `fit`, once with
 * `jit: false` and once with `jit: true`, each in its own process so that
 * each peak resident set is its own.
 *
 *   deno run -A bench/train_jit.ts [--steps=20] [--rounds=2] [--backend=wasm]
 *     [--pad-to=1]
 *
 * With `--task=translate`, the Multi30k Transformer instead (see
 * bench/_train_jit_translate.ts): training tokens/s on the first
 * `--pairs` pairs, then evaluation sentences/s of a trained run on the first
 * `--sentences` test sentences per beam width, eager and jit alternating:
 *
 *   deno run -A bench/train_jit.ts --task=translate
 *     [--data=../shared/data/multi30k] [--pairs=3000] [--rounds=2]
 *     [--model=runs/m30k_60] [--sentences=200] [--beams=1,4]
 *     [--part=train|eval|both]
 *
 * The N batches run twice: pass 1 traces every new batch shape (bucketed
 * batches differ in padded length), pass 2 finds every program cached.
 * Prints per mode: tokens/s of each pass, the first step's seconds (for
 * jit: tracing and compiling included), the median cached step, programs
 * compiled, peak RSS; then the jit/eager ratios of tokens/s.
 *
 * @module
 */

import {
  type BackendName,
  crossEntropy,
  dispose,
  foldIn,
  type Key,
  key,
  pad,
  setBackend,
  split,
} from "../ops/mod.ts";
import {
  batches,
  type LabelledBatch,
  loadDataset,
  tokenize,
  trainWordTokenizer,
} from "../data/mod.ts";
import {
  applyClassifier,
  classifierConfig,
  type ClassifierParams,
  initClassifier,
} from "../models/arch/classifier.ts";
import { fit } from "../models/train/fit.ts";
import { adamw } from "../models/train/optim.ts";
import { warmupCosine } from "../models/train/schedules.ts";
import {
  type EvalMeasured,
  measureTranslateEval,
  measureTranslateTraining,
  type TrainMeasured,
} from "./_train_jit_translate.ts";

/** What one mode measured. */
interface Measured {
  readonly mode: "eager" | "jit";
  readonly steps: number;
  /** Pass 1 over the N batches: every new batch shape traces (jit). */
  readonly firstPassTokensPerSecond: number;
  /** Pass 2 over the same batches: every program cached. */
  readonly tokensPerSecond: number;
  readonly firstStepSeconds: number;
  /** Median step seconds of pass 2 (dispatch time; the pass total waits for the device). */
  readonly cachedStepSeconds: number;
  readonly programs: number;
  readonly peakRssMiB: number;
  readonly loss: number;
}

/** Runs `steps` training steps in one mode and returns what it measured. */
async function measure(
  mode: "eager" | "jit",
  steps: number,
  backend: BackendName,
  padTo: number,
): Promise<Measured> {
  await setBackend(backend);
  const data = await loadDataset("banking77");
  const tokenizer = trainWordTokenizer(data.train.array("text") as string[], {
    lower: true,
    minFreq: 1,
  });
  const cap = 128;
  const ids = tokenize("text", tokenizer, { as: () => "ids" })(data.train)
    .reify();
  const cut = ids.assign({
    ids: (ids.array("ids") as Int32Array[]).map((x) =>
      x.length > cap ? x.subarray(0, cap) : x
    ),
  });
  let maxLen = 1;
  for (const x of cut.array("ids") as Int32Array[]) {
    maxLen = Math.max(maxLen, x.length);
  }
  const config = classifierConfig({
    vocabSize: tokenizer.vocab.size,
    numClasses: data.labels.size,
    maxLen: Math.ceil(maxLen / padTo) * padTo,
  });
  // --pad-to=8 pads each batch's length up to a multiple of 8 (masked), so
  // fewer distinct shapes reach jit; the default 1 keeps the train task's.
  // Tokens are counted before padding, so tokens/s compare across --pad-to.
  const tokensOf = new WeakMap<LabelledBatch, number>();
  const padded = (b: LabelledBatch): LabelledBatch => {
    const t = b.ids.shape[1]!, extra = Math.ceil(t / padTo) * padTo - t;
    if (extra === 0) return b;
    const w = [[0, 0], [0, extra]] as const;
    const out = { ...b, ids: pad(b.ids, w, 0), mask: pad(b.mask, w, 0) };
    tokensOf.set(out, b.ids.size);
    dispose([b.ids, b.mask]);
    return out;
  };
  const [kInit, kData, kDrop] = split(key(0), 3);
  // The same N batches in both passes (fit frees each epoch's batches).
  const firstN = () => {
    const all = batches(cut, "ids", {
      batchSize: 64,
      key: foldIn(kData, 1),
      labels: "label",
    });
    dispose(all.slice(steps));
    return all.slice(0, steps).map(padded);
  };
  const total = Math.ceil(cut.numRows() / 64) * 20;
  const times: number[][] = [[], []];
  const t0: number[] = [];
  let rss = Deno.memoryUsage().rss;
  const sample = () => (rss = Math.max(rss, Deno.memoryUsage().rss));
  const { progress, programs } = await fit({
    init: () => initClassifier(kInit, config),
    loss: (p: ClassifierParams, b: LabelledBatch, k: Key) =>
      crossEntropy(
        applyClassifier(p, b, { config, training: true, key: k }).logits,
        b.labels,
        { labelSmoothing: 0.1 },
      ),
    batches: (epoch) => {
      const bs = firstN();
      t0[epoch - 1] = performance.now();
      return bs;
    },
    tokens: (b) => tokensOf.get(b) ?? b.ids.size,
    optimizer: adamw({
      lr: warmupCosine({ peak: 2e-3, warmup: 200, total }),
      weightDecay: 0.01,
    }),
    clip: 1,
    key: kDrop,
    epochs: 2,
    evaluate: () => ({}),
    score: () => 0,
    jit: mode === "jit",
    onStep: (p) => {
      times[p.epoch - 1]!.push(performance.now());
      sample();
    },
  });
  sample();
  const [r1, r2] = progress.history as [
    (typeof progress.history)[0],
    (typeof progress.history)[0],
  ];
  const steps2 = times[1]!.map((t, i) => t - (i ? times[1]![i - 1]! : t0[1]!))
    .sort((a, b) => a - b);
  return {
    mode,
    steps,
    firstPassTokensPerSecond: r1.tokensPerSecond,
    tokensPerSecond: r2.tokensPerSecond,
    firstStepSeconds: (times[0]![0]! - t0[0]!) / 1000,
    cachedStepSeconds: steps2[steps2.length >> 1]! / 1000,
    programs,
    peakRssMiB: rss / 2 ** 20,
    loss: r2.loss,
  };
}

/** Runs this script as a child with `args`; returns its last stdout line as JSON. */
async function child<T>(args: readonly string[]): Promise<T> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...args],
    stderr: "inherit",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  if (!out.success) {
    throw new Error(`train_jit: the run ${args.join(" ")} failed`);
  }
  return JSON.parse(lines.at(-1)!) as T;
}

/** Prints rows of `results` under `cols`, then returns nothing. */
function table<R extends { mode: string }>(
  results: readonly R[],
  cols: readonly (readonly [string, (r: R) => string])[],
): void {
  console.log(["mode  ", ...cols.map(([h]) => h)].join("  "));
  for (const r of results) {
    console.log(
      [r.mode.padEnd(6), ...cols.map(([h, f]) => f(r).padStart(h.length))]
        .join("  "),
    );
  }
}

/** The translator: training tokens/s, then evaluation sentences/s, eager and jit taking turns. */
async function translateMain(
  args: Record<string, string>,
  rounds: number,
): Promise<void> {
  const common = [
    `--task=translate`,
    `--backend=${args.backend}`,
    `--data=${args.data}`,
  ];
  if (args.part !== "eval") {
    const runs: TrainMeasured[][] = [];
    for (let round = 0; round < rounds; round++) {
      const r: TrainMeasured[] = [];
      for (const mode of ["eager", "jit"] as const) {
        r.push(
          await child<TrainMeasured>([
            ...common,
            `--mode=${mode}`,
            `--part=train`,
            `--pairs=${args.pairs}`,
          ]),
        );
      }
      runs.push(r);
    }
    const best = (i: number) =>
      runs.map((r) => r[i]!).reduce((a, b) =>
        b.tokensPerSecond > a.tokensPerSecond ? b : a
      );
    const [e, j] = [best(0), best(1)];
    console.log(
      `Multi30k Transformer (defaults), first ${args.pairs} pairs: one epoch of ${e.steps} batches, twice, on ${args.backend}; best of ${rounds} alternating rounds`,
    );
    table([e, j], [
      ["tokens/s pass 1", (r) => r.firstPassTokensPerSecond.toFixed(0)],
      ["tokens/s pass 2", (r) => r.tokensPerSecond.toFixed(0)],
      ["first step s", (r) => r.firstStepSeconds.toFixed(2)],
      ["median step s", (r) => r.cachedStepSeconds.toFixed(3)],
      ["programs", (r) => String(r.programs)],
      ["kernel modules", (r) => String(r.modules)],
      ["peak RSS MiB", (r) => r.peakRssMiB.toFixed(0)],
      ["loss pass 2", (r) => r.loss.toFixed(4)],
      ["CPU s pass 2", (r) => r.cpuSeconds.toFixed(1)],
    ]);
    console.log(
      `jit / eager tokens/s: ${
        (j.tokensPerSecond / e.tokensPerSecond).toFixed(2)
      }× cached (pass 2), ${
        (j.firstPassTokensPerSecond / e.firstPassTokensPerSecond).toFixed(2)
      }× with tracing (pass 1); per round, cached: ${
        runs.map(([e, j]) =>
          `${(j!.tokensPerSecond / e!.tokensPerSecond).toFixed(2)}×`
        ).join(" ")
      }`,
    );
  }
  if (args.part === "train") return;
  if (!args.model) {
    throw new TypeError(
      "train_jit: --task=translate evaluates --model=<trained run folder>; pass it, or --part=train",
    );
  }
  const runs: EvalMeasured[][][] = [];
  for (let round = 0; round < rounds; round++) {
    const r: EvalMeasured[][] = [];
    for (const mode of ["eager", "jit"] as const) {
      r.push(
        await child<EvalMeasured[]>([
          ...common,
          `--mode=${mode}`,
          `--part=eval`,
          `--model=${args.model}`,
          `--sentences=${args.sentences}`,
          `--beams=${args.beams}`,
        ]),
      );
    }
    runs.push(r);
  }
  const beams = runs[0]![0]!.map((x) => x.beam);
  beams.forEach((beam, bi) => {
    const best = (i: number) =>
      runs.map((r) => r[i]![bi]!).reduce((a, b) =>
        b.sentencesPerSecond > a.sentencesPerSecond ? b : a
      );
    const [e, j] = [best(0), best(1)];
    const differ = e.hypotheses.filter((h, i) => h !== j.hypotheses[i]).length;
    console.log(
      `\nevaluation, beam ${beam}: the first ${e.sentences} test sentences, twice (pass 1 compiles), ${args.model}`,
    );
    table([e, j], [
      ["sent/s pass 1", (r) => r.firstPassSentencesPerSecond.toFixed(1)],
      ["sent/s pass 2", (r) => r.sentencesPerSecond.toFixed(1)],
      ["s pass 1", (r) => r.seconds[0].toFixed(1)],
      ["s pass 2", (r) => r.seconds[1].toFixed(1)],
      ["CPU s pass 2", (r) => r.cpuSeconds.toFixed(1)],
      ["programs", (r) => String(r.programs)],
      ["BLEU lower", (r) => r.bleuLower.toFixed(2)],
      ["peak RSS MiB", (r) => r.peakRssMiB.toFixed(0)],
    ]);
    console.log(
      `jit / eager sentences/s: ${
        (j.sentencesPerSecond / e.sentencesPerSecond).toFixed(2)
      }× cached, ${
        (j.firstPassSentencesPerSecond / e.firstPassSentencesPerSecond).toFixed(
          2,
        )
      }× with compiling; translations differing: ${differ} of ${e.sentences}; per round, cached: ${
        runs.map(([e, j]) =>
          `${
            (j![bi]!.sentencesPerSecond / e![bi]!.sentencesPerSecond).toFixed(2)
          }×`
        ).join(" ")
      }`,
    );
  });
}

if (import.meta.main) {
  const args: Record<string, string> = {
    task: "classify",
    steps: "20",
    backend: "wasm",
    rounds: "2",
    "pad-to": "1",
    data: "../shared/data/multi30k",
    pairs: "3000",
    sentences: "200",
    beams: "1,4",
    part: "both",
  };
  for (const a of Deno.args) {
    const m =
      /^--(task|steps|backend|mode|rounds|pad-to|data|pairs|model|sentences|beams|part)=(.*)$/
        .exec(a);
    if (!m) throw new TypeError(`train_jit: unknown argument ${a}`);
    args[m[1]!] = m[2]!;
  }
  for (const k of ["steps", "rounds", "pad-to", "pairs", "sentences"]) {
    const v = Number(args[k]);
    if (!Number.isInteger(v) || v < 1 || (k === "steps" && v < 2)) {
      throw new RangeError(
        `train_jit: --${k} must be an integer ≥ ${k === "steps" ? 2 : 1}, got ${
          args[k]
        }`,
      );
    }
  }
  if (!["classify", "translate"].includes(args.task!)) {
    throw new TypeError(
      `train_jit: --task is classify or translate, got ${args.task}`,
    );
  }
  if (!["train", "eval", "both"].includes(args.part!)) {
    throw new TypeError(
      `train_jit: --part is train, eval or both, got ${args.part}`,
    );
  }
  const steps = Number(args.steps);
  const backend = args.backend as BackendName;
  const rounds = Number(args.rounds), padTo = Number(args["pad-to"]);
  const mode = args.mode === "eager" || args.mode === "jit" ? args.mode : null;
  if (args.task === "translate" && mode) {
    // A child: one mode, its result as the last line of stdout.
    console.log(JSON.stringify(
      args.part === "eval"
        ? await measureTranslateEval(mode, {
          data: args.data!,
          model: args.model!,
          sentences: Number(args.sentences),
          beams: args.beams!.split(",").map(Number),
          backend,
        })
        : await measureTranslateTraining(mode, {
          data: args.data!,
          pairs: Number(args.pairs),
          backend,
        }),
    ));
  } else if (args.task === "translate") {
    await translateMain(args, rounds);
  } else if (mode) {
    console.log(JSON.stringify(await measure(mode, steps, backend, padTo)));
  } else {
    // Rounds alternate the modes, so load from elsewhere on a shared
    // machine falls on both; each mode reports its best round.
    const runs: Measured[][] = [];
    for (let round = 0; round < rounds; round++) {
      const results: Measured[] = [];
      for (const mode of ["eager", "jit"] as const) {
        results.push(
          await child<Measured>([
            `--mode=${mode}`,
            `--steps=${steps}`,
            `--backend=${backend}`,
            `--pad-to=${padTo}`,
          ]),
        );
      }
      runs.push(results);
    }
    const best = (i: number) =>
      runs.map((r) => r[i]!).reduce((a, b) =>
        b.tokensPerSecond > a.tokensPerSecond ? b : a
      );
    const results = [best(0), best(1)];
    console.log(
      `banking77 classifier (train defaults), ${steps} steps on ${backend}, best of ${rounds} alternating rounds${
        padTo > 1 ? `, lengths padded to a multiple of ${padTo}` : ""
      }`,
    );
    table(results, [
      ["tokens/s pass 1", (r) => r.firstPassTokensPerSecond.toFixed(0)],
      ["tokens/s pass 2", (r) => r.tokensPerSecond.toFixed(0)],
      ["first step s", (r) => r.firstStepSeconds.toFixed(2)],
      ["median step s", (r) => r.cachedStepSeconds.toFixed(3)],
      ["programs", (r) => String(r.programs)],
      ["peak RSS MiB", (r) => r.peakRssMiB.toFixed(0)],
      ["loss pass 2", (r) => r.loss.toFixed(4)],
    ]);
    const [e, j] = results as [Measured, Measured];
    const ratio = (f: (r: Measured) => number) => (f(j) / f(e)).toFixed(2);
    console.log(
      `jit / eager tokens/s: ${
        ratio((r) => r.tokensPerSecond)
      }× cached (pass 2), ${
        ratio((r) => r.firstPassTokensPerSecond)
      }× with tracing (pass 1); median cached step ${
        (e.cachedStepSeconds / j.cachedStepSeconds).toFixed(2)
      }× faster`,
    );
    console.log(
      `per round, cached: ${
        runs.map(([e, j]) =>
          `${(j!.tokensPerSecond / e!.tokensPerSecond).toFixed(2)}×`
        ).join(" ")
      }`,
    );
  }
}
