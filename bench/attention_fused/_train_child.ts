/**
 * One training measurement of `run.ts` part 5, in its own process: the
 * default Multi30k Transformer (BPE, batches and loss exactly as
 * `trainTranslator` makes them) on the first `--pairs` training pairs, one
 * epoch twice through `fit` with `jit` (pass 1 traces every batch shape,
 * pass 2 finds every program cached), with either the default attention
 * (scaled dot, which takes the fused flash path) or the same spec forced
 * onto the composed path (`fused: false`) by a user attention module.
 * Prints one line `@@train {json}`: pass 2's tokens/s (wall), tokens per
 * CPU second (every thread), the final loss and VmHWM.
 *
 * Multi30k is read from `--data` (research-only licence: never copied).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { foldIn, setBackend } from "../../ops/mod.ts";
import { loadDataset, translationBatches } from "../../data/mod.ts";
import { attentionModule, scaledDot } from "../../attention/mod.ts";
import {
  type FullTranslatorConfig,
  type TranslationInput,
  translatorLoss,
  type TranslatorParams,
} from "../../models/arch/translator.ts";
import { fit } from "../../models/train/fit.ts";
import { adamw } from "../../models/train/optim.ts";
import { inverseSqrt } from "../../models/train/schedules.ts";
import { prepare } from "../../models/train/_translate_setup.ts";
import { cpuMs, emitLine, peakRssMiB } from "./_proc.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string", default: "/work/shared/data/multi30k" },
    pairs: { type: "string", default: "2000" },
    path: { type: "string", default: "fused" },
  },
});

/** scaled dot product with the model's masks, forced onto the composed path. */
const composed = attentionModule({
  id: "scaled-dot-composed",
  description: "softmax(q·k/√d), composed ops (fused: false)",
  init: () => null,
  build: (_p, { masks }) => ({
    score: scaledDot(),
    masks: [...masks],
    fused: false,
  }),
});

await setBackend("wasm");
const d = await loadDataset("multi30k", { path: flags.data });
const data = {
  train: d.train.slice(0, Number(flags.pairs)),
  valid: d.valid.slice(0, 1),
  test: d.test.slice(0, 1),
};
const r = await prepare({
  data,
  ...(flags.path === "composed" ? { model: { attention: composed } } : {}),
});
const config = r.config as FullTranslatorConfig;
const cpu0: number[] = [];
const { progress } = await fit({
  init: r.init as () => TranslatorParams,
  loss: (p: TranslatorParams, b: TranslationInput, key) =>
    translatorLoss(p, b, {
      config,
      training: true,
      key,
      labelSmoothing: r.labelSmoothing,
    }),
  batches: (epoch) => {
    const bs = translationBatches(r.trainIds, {
      ...r.batchOptions,
      key: foldIn(r.kData, 1),
    });
    cpu0[epoch - 1] = cpuMs();
    return bs;
  },
  tokens: (b) => b.src.size + b.tgtIn.size,
  optimizer: adamw({ lr: inverseSqrt({ peak: 1e-3, warmup: r.warmup }) }),
  clip: 1,
  key: r.kDrop,
  epochs: 2,
  evaluate: () => ({}),
  score: () => 0,
  jit: true,
});
const cpu = (cpuMs() - cpu0[1]!) / 1000;
const h = progress.history;
const [p1, p2] = [h[0]!, h[1]!];
const tokens = p2.tokensPerSecond * p2.seconds;
emitLine("train", {
  path: flags.path,
  tokens: Math.round(tokens),
  firstPassTokensPerSecond: p1.tokensPerSecond,
  tokensPerSecond: p2.tokensPerSecond,
  tokensPerCpuSecond: tokens / cpu,
  cpuSeconds: cpu,
  loss: p2.loss,
  peakRssMiB: peakRssMiB(),
});
Deno.exit(0);
