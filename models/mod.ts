/**
 * Models and training. `arch/`: layers, a classifier, an encoder-decoder
 * Transformer and a GRU translator, each `init(key, config)` plus
 * `apply(params, inputs, { config, ... })`, and one beam search for both
 * translators (beam 1 is greedy). Every attention layer takes an attention
 * module: a built-in name, the `--attention` syntax ({@link parseAttention}),
 * several modules combined ({@link combineModules}), or a user's own.
 * `train/`: {@link fit}, the one training
 * loop, with pure optimisers and schedules, metrics and checkpoints.
 * `inference.ts`: classify or translate a text, score a test set.
 *
 * @example Train a classifier with fit
 * ```ts
 * import { crossEntropy, key, tensor, type Tensor } from "@heed/heed";
 * import {
 *   adamw,
 *   applyClassifier,
 *   type ClassifierParams,
 *   fit,
 *   initClassifier,
 * } from "@heed/heed/models";
 * import { assert } from "@std/assert";
 *
 * const config = { vocabSize: 20, numClasses: 3, dModel: 16, heads: 2, layers: 1, maxLen: 8 };
 * type Batch = { ids: Tensor; mask: Tensor; y: Tensor };
 * const batch = (): Batch => ({
 *   ids: tensor(new Int32Array([4, 5, 6, 0, 7, 8, 0, 0]), { shape: [2, 4] }),
 *   mask: tensor([[true, true, true, false], [true, true, false, false]]),
 *   y: tensor(new Int32Array([0, 2])),
 * });
 * const loss = (p: ClassifierParams, b: Batch) =>
 *   crossEntropy(applyClassifier(p, b, { config }).logits, b.y);
 * const { progress } = await fit({
 *   init: () => initClassifier(key(0), config),
 *   loss,
 *   batches: () => [batch()],
 *   optimizer: adamw({ lr: 1e-2 }),
 *   key: key(1),
 *   epochs: 20,
 *   evaluate: () => ({}),
 *   score: () => 0,
 * });
 * assert(progress.history[19]!.loss < progress.history[0]!.loss);
 * ```
 *
 * @module
 */

// Architectures
export {
  type DropoutLayerOptions,
  embed,
  type EmbeddingParams,
  feedForward,
  type FeedForwardParams,
  initEmbedding,
  initFeedForward,
  initLayerNorm,
  initLearnedPositions,
  initLinear,
  type LayerNormParams,
  linear,
  type LinearParams,
  positions,
  sinusoidalPositions,
  trainDropout,
  type TrainOptions,
} from "./arch/layers.ts";
export {
  ATTENTION_NAMES,
  type AttentionName,
  checkAttentionName,
  isAttentionName,
  MASKS,
  type NamedSpec,
  namedSpec,
  type SpecParams,
} from "./arch/attention_specs.ts";
export { ATTENTION_PIECES, parseAttention } from "./arch/attention_syntax.ts";
export {
  type Combination,
  type CombinedParams,
  combineModules,
} from "./arch/attention_combine.ts";
export {
  type AttentionChoice,
  type AttentionRecord,
  attentionRecord,
  importAttention,
  loadAttention,
  MissingModuleError,
  resolveAttention,
  type ResolveOptions,
  storedConfig,
} from "./arch/attention_resolve.ts";
export { type BagParams } from "./arch/_bag.ts";
export {
  applyClassifier,
  type BlockParams,
  type ClassifierConfig,
  classifierConfig,
  type ClassifierInput,
  type ClassifierOptions,
  type ClassifierOutput,
  type ClassifierParams,
  encoderAttention,
  type FullClassifierConfig,
  initClassifier,
  type Pooling,
} from "./arch/classifier.ts";
export {
  applyTranslator,
  decode,
  type DecodeOutput,
  type DecoderBlock,
  type DecoderInput,
  encode,
  type EncoderBlock,
  encodeWithWeights,
  type FullTranslatorConfig,
  initTranslator,
  type SourceBatch,
  type TranslationInput,
  type TranslatorConfig,
  translatorConfig,
  translatorLoss,
  type TranslatorLossOptions,
  type TranslatorOptions,
  type TranslatorOutput,
  type TranslatorParams,
} from "./arch/translator.ts";
export {
  applyGru,
  type GruCell,
  gruCell,
  type GruCellInput,
  type GruConfig,
  gruDecoder,
  type GruDecoderState,
  gruDecodeStep,
  gruEncode,
  gruLoss,
  type GruLossOptions,
  type GruOptions,
  type GruParams,
  gruProjectKeys,
  type GruStepInput,
  initGru,
} from "./arch/gru.ts";
export {
  type BeamOptions,
  beamSearch,
  DECODE_BUCKET,
  decoderPrograms,
  type StepDecoder,
  transformerDecoder,
  type TransformerDecoderOptions,
  type TransformerEncoded,
} from "./arch/decoding.ts";

// Training
export {
  type Average,
  type EpochRecord,
  fit,
  type FitCheckpoint,
  type FitMetadata,
  type FitOptions,
  type FitProgress,
  type FitResult,
  loadFitCheckpoint,
  type StepProgress,
} from "./train/fit.ts";
export {
  adam,
  type AdamOptions,
  type AdamState,
  adamw,
  type AdamWOptions,
  clipByGlobalNorm,
  globalNorm,
  type LearningRate,
  type Optimizer,
  sgd,
  type SgdOptions,
  type SgdState,
} from "./train/optim.ts";
export {
  constant,
  inverseSqrt,
  type InverseSqrtOptions,
  type LinearOptions,
  linearSchedule,
  type Schedule,
  warmupCosine,
  type WarmupCosineOptions,
} from "./train/schedules.ts";
export {
  accuracy,
  type BleuOptions,
  type BleuScore,
  type BleuSmoothing,
  type ChrfOptions,
  type ChrfScore,
  confusionMatrix,
  corpusBleu,
  corpusChrf,
  macroF1,
  tokenize13a,
} from "./train/metrics.ts";
export {
  type Checkpoint,
  CheckpointError,
  type CheckpointMetadata,
  type CheckpointSource,
  type CheckpointState,
  type DecodeOptions,
  decodeSafetensors,
  deserializeCheckpoint,
  encodeSafetensors,
  type HostTensor,
  loadCheckpoint,
  type Safetensors,
  type SafetensorsDtype,
  saveCheckpoint,
  type SaveOptions,
  serializeCheckpoint,
} from "./train/checkpoint.ts";
export {
  type ClassifierCheckpointMeta,
  type ClassifierMeta,
  type ClassifierTrainOptions,
  type ClassifierTrainResult,
  type ClassifierValidation,
  type EpochMetrics,
  planClassifier,
  trainClassifier,
} from "./train/classify.ts";
export { countParameters, type TrainingPlan } from "./train/plan.ts";
export {
  planTranslator,
  trainTranslator,
  type TranslationEpochMetrics,
  type TranslatorCheckpointMeta,
  type TranslatorDecay,
  type TranslatorMeta,
  type TranslatorTrainOptions,
  type TranslatorTrainResult,
  type TranslatorValidation,
} from "./train/translate.ts";

// Inference
export {
  type Classification,
  type ClassifierModel,
  type ClassifierScores,
  classifyText,
  evaluateClassifier,
  evaluateTranslator,
  loadClassifier,
  type LoadedTranslator,
  type LoadOptions,
  loadTrained,
  loadTranslator,
  predictClasses,
  stepDecoder,
  type TrainedModel,
  translateTable,
  translateText,
  type Translation,
  type TranslationScores,
  type TranslatorModel,
} from "./inference.ts";
export { attentionSvg, type HeatmapOptions } from "./heatmap.ts";
