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
import { attentionModule, scaledDot } from "../../attention/mod.ts";
import { measureTranslateTraining } from "../_train_jit_translate.ts";
import { emitLine } from "./_proc.ts";

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

const m = await measureTranslateTraining("jit", {
  data: flags.data,
  pairs: Number(flags.pairs),
  backend: "wasm",
  ...(flags.path === "composed" ? { model: { attention: composed } } : {}),
});
emitLine("train", {
  path: flags.path,
  tokens: m.tokens,
  firstPassTokensPerSecond: m.firstPassTokensPerSecond,
  tokensPerSecond: m.tokensPerSecond,
  tokensPerCpuSecond: m.tokens / m.cpuSeconds,
  cpuSeconds: m.cpuSeconds,
  loss: m.loss,
  peakRssMiB: m.peakRssMiB,
});
Deno.exit(0);
