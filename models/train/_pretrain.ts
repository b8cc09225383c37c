// Masked-token pretraining of the classifier's encoder on the training
// texts themselves (BERT's objective, on the task's own data): a fraction
// of each row's tokens is replaced by a mask id, and the encoder's token
// states predict the originals through the transposed word embeddings
// (tied output weights) plus a bias. The classification head is not used.
// Every member of an ensemble pretrains on its own, as it fine-tunes: the
// loss is the sum of the members' losses.

import {
  add,
  bernoulli,
  crossEntropy,
  dispose,
  foldIn,
  type Key,
  logicalAnd,
  matmul,
  notEqual,
  slice,
  split,
  type Tensor,
  transpose,
  where,
  zeros,
} from "../../ops/mod.ts";
import { BOS_ID, type LabelledBatch } from "../../data/mod.ts";
import {
  applyClassifier,
  type ClassifierParams,
  type FullClassifierConfig,
} from "../arch/classifier.ts";
import { adamw } from "./optim.ts";
import { warmupCosine } from "./schedules.ts";
import { fit } from "./fit.ts";

/**
 * The id that replaces a masked token: `<bos>`, which a classifier's
 * input never holds, so it means only "a token was here".
 */
const MASK_ID = BOS_ID;
/** Targets of unmasked tokens: no loss. */
const IGNORE = -1;

/** What pretraining trains: the classifier and one output bias per member. */
interface PretrainParams {
  readonly model: ClassifierParams;
  /** Per member, `[vocab]`. */
  readonly bias: readonly Tensor[];
}

/** Options of {@link pretrainClassifier}. */
export interface PretrainOptions {
  /** Fresh classifier parameters. */
  readonly init: () => ClassifierParams;
  /** The classifier's configuration. */
  readonly config: FullClassifierConfig;
  /** The training batches of an epoch (fit frees them after it). */
  readonly batches: (epoch: number) => readonly LabelledBatch[];
  /** Batches in an epoch (for the learning-rate schedule). */
  readonly stepsPerEpoch: number;
  /** Epochs of pretraining. */
  readonly epochs: number;
  /** Fraction of each row's tokens masked, in (0, 1) (default 0.15). */
  readonly maskRate?: number;
  /** Peak learning rate. */
  readonly lr: number;
  /** AdamW weight decay. */
  readonly weightDecay: number;
  /** Global-norm clip (already scaled for the members). */
  readonly clip: number;
  /** The key of masks and dropout. */
  readonly key: Key;
  /** Whether steps run under jit. */
  readonly jit: boolean;
  /** Called after every epoch with its mean masked-token loss. */
  readonly onEpoch?: (epoch: number, loss: number) => void | Promise<void>;
}

/**
 * Member m of an ensemble's parameters, as a single model's (a bag-of-
 * n-grams member has no token states: it does not pretrain).
 */
function member(p: ClassifierParams, m: number): ClassifierParams {
  if (m === 0) {
    const { ensemble: _, bag: _bag, ...first } = p;
    return first;
  }
  return p.ensemble![m - 1]!;
}

/** The masked-token loss of one batch, summed over the members. */
function maskedTokenLoss(
  p: PretrainParams,
  b: LabelledBatch,
  k: Key,
  config: FullClassifierConfig,
  rate: number,
): Tensor {
  const [kMask, kDrop] = split(k, 2);
  const real = b.mask.dtype === "bool" ? b.mask : notEqual(b.mask, 0); // [B, T]
  const masked = logicalAnd(bernoulli(kMask!, rate, b.ids.shape), real); // [B, T]
  const ids = where(masked, MASK_ID, b.ids); // [B, T]
  const targets = where(masked, b.ids, IGNORE); // [B, T]
  const one = { ...config, members: 1, bag: 0 };
  const [n, t] = b.ids.shape as [number, number];
  return p.bias.map((bias, m) => {
    const params = member(p.model, m);
    const key = m === 0 ? kDrop! : foldIn(kDrop!, m);
    let states = applyClassifier(params, { ids, mask: b.mask }, {
      config: one,
      training: true,
      key,
    }).states; // [B, T (+1 with [CLS]), D]
    if (states.shape[1] !== t) {
      states = slice(states, [0, 1, 0], [n, t + 1, config.dModel]);
    }
    const logits = add(
      matmul(states, transpose(params.embed.table)), // [B, T, V]
      bias,
    );
    return crossEntropy(logits, targets, { ignoreIndex: IGNORE });
  }).reduce((a, l) => add(a, l));
}

/**
 * Pretrains fresh classifier parameters with the masked-token objective
 * and returns them (the output biases are dropped).
 */
export async function pretrainClassifier(
  opts: PretrainOptions,
): Promise<ClassifierParams> {
  const rate = opts.maskRate ?? 0.15;
  if (!(rate > 0 && rate < 1)) {
    throw new RangeError(`pretrain: maskRate must be in (0, 1), got ${rate}`);
  }
  const { config } = opts;
  const total = opts.epochs * opts.stepsPerEpoch;
  const { params } = await fit({
    init: () => ({
      model: opts.init(),
      bias: Array.from(
        { length: config.members },
        () => zeros([config.vocabSize]),
      ),
    }),
    loss: (p: PretrainParams, b: LabelledBatch, k: Key) =>
      maskedTokenLoss(p, b, k, config, rate),
    batches: opts.batches,
    optimizer: adamw({
      lr: warmupCosine({
        peak: opts.lr,
        warmup: Math.min(200, Math.floor(total / 10)),
        total,
      }),
      weightDecay: opts.weightDecay,
    }),
    clip: opts.clip,
    key: opts.key,
    epochs: opts.epochs,
    // no validation: each epoch is better than the last, the last is returned
    evaluate: (_, epoch) => ({ epoch }),
    score: (m) => m.epoch,
    onEpoch: (r) => opts.onEpoch?.(r.epoch, r.loss),
    jit: opts.jit,
  });
  dispose(params.bias);
  return params.model;
}
