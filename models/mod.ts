/**
 * Models and training: layers, a classifier and an encoder-decoder
 * translator whose attention is any named spec, greedy and beam decoding,
 * pure optimisers and schedules, metrics, and the training loops behind
 * `deno task train`.
 *
 * @example Train a classifier step by step
 * ```ts
 * import { carry, key, tensor, valueAndGrad, crossEntropy } from "@heed/heed";
 * import { adamw, applyClassifier, initClassifier } from "@heed/heed/models";
 * import { assert } from "@std/assert";
 *
 * const config = { vocabSize: 20, numClasses: 3, dModel: 16, heads: 2, layers: 1, maxLen: 8 };
 * const ids = tensor(new Int32Array([4, 5, 6, 0, 7, 8, 0, 0]), { shape: [2, 4] });
 * const mask = tensor(new Int32Array([1, 1, 1, 0, 1, 1, 0, 0]), { shape: [2, 4] });
 * const y = tensor(new Int32Array([0, 2]));
 * const loss = (p: ReturnType<typeof initClassifier>) =>
 *   crossEntropy(applyClassifier(p, config, { ids, mask }).logits, y);
 * const opt = adamw({ lr: 1e-2 });
 * let state = { params: initClassifier(key(0), config), opt: opt.init(initClassifier(key(0), config)) };
 * const before = await loss(state.params).item() as number;
 * for (let i = 0; i < 20; i++) {
 *   state = carry(state, (s) => {
 *     const [, g] = valueAndGrad(loss)(s.params);
 *     const next = opt.update(s.params, g, s.opt);
 *     return { params: next.params, opt: next.state };
 *   });
 * }
 * assert((await loss(state.params).item() as number) < before);
 * ```
 *
 * @module
 */

export * from "./arch/layers.ts";
export * from "./train/optim.ts";
export * from "./train/schedules.ts";
export * from "./arch/attention_specs.ts";
export * from "./arch/classifier.ts";
export * from "./arch/translator.ts";
export * from "./arch/decoding.ts";
export * from "./train/metrics.ts";
export {
  type ClassifierTrainOptions,
  type ClassifierTrainResult,
  type EpochMetrics,
  predictClasses,
  type StepProgress,
  trainClassifier,
} from "./train/classify.ts";
export {
  type DecodeFn,
  trainTranslator,
  translateTable,
  type TranslationEpochMetrics,
  type TranslationProgress,
  type TranslatorTrainOptions,
  type TranslatorTrainResult,
} from "./train/translate.ts";
export * from "./train/checkpoint.ts";
export { attentionSvg, type HeatmapOptions } from "./heatmap.ts";
export * from "./arch/gru.ts";
export * from "./inference.ts";
