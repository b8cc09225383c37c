// The messages between the page (train_view.ts) and the training worker
// (train_worker.ts).

import type { ComposeState } from "./spec.ts";

/** The backends the page can choose. */
export type BackendChoice = "cpu" | "wasm" | "webgpu";

/** What to train. */
export interface TrainRequest {
  readonly type: "train";
  readonly backend: BackendChoice;
  /** The first `classes` categories of banking77. */
  readonly classes: number;
  /** Training sentences per class (validation: up to 20 per class from the test split). */
  readonly perClass: number;
  readonly epochs: number;
  readonly seed: number;
  /** Train with the composed attention (null: scaled dot-product softmax). */
  readonly attention: ComposeState | null;
}

/** Classify a sentence with the trained model. */
export interface ClassifyRequest {
  readonly type: "classify";
  readonly text: string;
}

/** Page → worker. */
export type ToWorker = TrainRequest | ClassifyRequest;

/** One class and its probability. */
export interface Guess {
  readonly label: string;
  readonly p: number;
}

/** Worker → page. */
export type FromWorker =
  | { readonly type: "status"; readonly text: string }
  | {
    readonly type: "start";
    readonly labels: readonly string[];
    readonly train: number;
    readonly valid: number;
    readonly steps: number;
    readonly initialLoss: number;
    readonly backend: string;
    /** The attention trained, in words (e.g. "bilinear + softmax"). */
    readonly attention: string;
    /** The worker's wasm threads (null unless wasm started there). */
    readonly wasmThreads: {
      readonly threads: number;
      readonly reason: string | null;
    } | null;
  }
  | {
    readonly type: "step";
    readonly epoch: number;
    readonly step: number;
    readonly steps: number;
    /** The epoch's running mean loss, when fit read it back (at most once a second). */
    readonly loss: number | null;
  }
  | {
    readonly type: "epoch";
    readonly epoch: number;
    readonly loss: number;
    readonly validAccuracy: number;
    /** Mean wall time of one training step, ms. */
    readonly stepMs: number;
  }
  | {
    readonly type: "done";
    readonly initialLoss: number;
    /** Mean training loss of the final parameters, without dropout. */
    readonly finalLoss: number;
    readonly validAccuracy: number;
    readonly seconds: number;
  }
  | {
    readonly type: "classified";
    readonly tokens: readonly string[];
    readonly top: readonly Guess[];
    /** Block 1's weights averaged over the heads, `[T][T]`. */
    readonly weights: readonly (readonly number[])[];
  }
  | { readonly type: "error"; readonly message: string };
