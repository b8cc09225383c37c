/// <reference lib="dom" />
// The Train section: starts the training worker on a slice of banking77,
// shows a progress bar and the live loss and validation-accuracy curves,
// then classifies typed sentences and draws their attention.

import { button, byId, checkbox, el, numberInput } from "./_dom.ts";
import type { ComposeState } from "./spec.ts";
import { drawHeatmap } from "./heatmap.ts";
import { drawPlot } from "./plot.ts";
import type {
  BackendChoice,
  FromWorker,
  ToWorker,
  TrainRequest,
} from "./train_protocol.ts";

/** What a finished run reported (read by the browser tests). */
export interface TrainOutcome {
  readonly initialLoss: number;
  readonly finalLoss: number;
  readonly validAccuracy: number;
  readonly seconds: number;
  readonly epochs: readonly { loss: number; validAccuracy: number }[];
  /** The attention trained, in words. */
  readonly attention: string;
  /** The worker's wasm threads, when it trained on wasm. */
  readonly wasmThreads: Extract<FromWorker, { type: "start" }>["wasmThreads"];
}

/** The Train section's handle. */
export interface TrainView {
  /** Trains with the form's settings on `backend`; resolves when done. */
  train(opts?: Partial<TrainRequest>): Promise<TrainOutcome>;
  /** Classifies `text` with the trained model and shows its attention. */
  classify(text: string): Promise<Classified>;
  /** The last finished run and the last classified sentence (null before). */
  last(): { run: TrainOutcome | null; classified: Classified | null };
}

/** A classified sentence: its tokens, top classes and attention. */
export type Classified = Extract<FromWorker, { type: "classified" }>;

/** Builds the section inside #train. */
export function trainView(
  backend: () => BackendChoice,
  composed: () => ComposeState,
  onStepTime: (ms: number, backend: BackendChoice) => void,
): TrainView {
  let req = {
    classes: 5,
    perClass: 40,
    epochs: 4,
    seed: 0,
    useComposed: true,
  };
  const status = byId("train-status");
  const bar = byId<HTMLProgressElement>("train-progress");
  const svg = byId("train-plot") as unknown as SVGSVGElement;
  let worker: Worker | null = null;
  let lastRun: TrainOutcome | null = null;
  let lastClassified: Classified | null = null;
  const waiting = new Set<(m: FromWorker) => boolean>();

  const start = (): Worker => {
    worker?.terminate();
    const w = new Worker("worker.js", { type: "module" });
    w.onmessage = (ev: MessageEvent<FromWorker>) => {
      for (const f of [...waiting]) if (f(ev.data)) waiting.delete(f);
    };
    worker = w;
    return w;
  };
  /** Sends `msg` and feeds replies to `on` until it returns a value. */
  const ask = <T>(
    w: Worker,
    msg: ToWorker,
    on: (m: FromWorker) => T | undefined,
  ): Promise<T> =>
    new Promise((resolve, reject) => {
      waiting.add((m) => {
        if (m.type === "error") {
          reject(new Error(m.message));
          return true;
        }
        const r = on(m);
        if (r !== undefined) resolve(r);
        return r !== undefined;
      });
      w.postMessage(msg);
    });

  async function train(
    opts: Partial<TrainRequest> = {},
  ): Promise<TrainOutcome> {
    const { useComposed, ...sizes } = req;
    const r: TrainRequest = {
      type: "train",
      backend: backend(),
      attention: useComposed ? composed() : null,
      ...sizes,
      ...opts,
    };
    const epochs: { loss: number; validAccuracy: number }[] = [];
    // Running means within epochs, at fractional epochs (x = epoch − 1 + step / steps).
    const running: (readonly [number, number])[] = [];
    let initialLoss = 0, steps = 1;
    let threads: TrainOutcome["wasmThreads"] = null;
    let attention = "";
    const redraw = () =>
      drawPlot(svg, [
        {
          name: "training loss",
          colour: "#b2332b",
          points: [
            [0, initialLoss] as const,
            ...running,
            ...epochs.map((e, i) => [i + 1, e.loss] as const),
          ].sort((a, b) => a[0] - b[0]),
          range: null,
        },
        {
          name: "validation accuracy",
          colour: "#1f4e9c",
          points: epochs.map((e, i) => [i + 1, e.validAccuracy] as const),
          range: [0, 1],
        },
      ], r.epochs);
    status.className = "";
    bar.value = 0;
    byId("train-epochs").replaceChildren();
    const outcome = await ask(start(), r, (m): TrainOutcome | undefined => {
      switch (m.type) {
        case "status":
          status.textContent = m.text;
          break;
        case "start":
          initialLoss = m.initialLoss;
          steps = m.steps;
          threads = m.wasmThreads;
          attention = m.attention;
          status.textContent = `training ${m.attention} on ${m.backend}${
            m.wasmThreads ? ` (wasm on ${m.wasmThreads.threads} threads)` : ""
          }: ${m.train} sentences of ${m.labels.length} classes (${
            m.labels.join(", ")
          }), ${m.valid} to validate`;
          redraw();
          break;
        case "step":
          bar.value = ((m.epoch - 1) * m.steps + m.step) / steps;
          // fit reads the loss back at most once a second: plot new reads only.
          if (
            m.loss !== null && m.loss !== running.at(-1)?.[1] &&
            m.step < m.steps
          ) {
            running.push([m.epoch - 1 + m.step / m.steps, m.loss]);
            redraw();
          }
          break;
        case "epoch":
          epochs.push({ loss: m.loss, validAccuracy: m.validAccuracy });
          onStepTime(m.stepMs, r.backend);
          byId("train-epochs").append(el(
            "li",
            {},
            `epoch ${m.epoch}: loss ${
              m.loss.toFixed(3)
            }, validation accuracy ` +
              `${(100 * m.validAccuracy).toFixed(1)}%, ${
                m.stepMs.toFixed(0)
              } ms a step`,
          ));
          redraw();
          break;
        case "done":
          bar.value = 1;
          status.textContent = `done in ${m.seconds.toFixed(1)} s: loss ` +
            `${m.initialLoss.toFixed(3)} → ${m.finalLoss.toFixed(3)}, best ` +
            `validation accuracy ${(100 * m.validAccuracy).toFixed(1)}%`;
          status.className = "ok";
          return { ...m, epochs, wasmThreads: threads, attention };
      }
      return undefined;
    }).catch((e: unknown) => {
      status.textContent = e instanceof Error ? e.message : String(e);
      status.className = "error";
      throw e;
    });
    byId("classify-form").hidden = false;
    lastRun = outcome;
    return outcome;
  }

  async function classify(text: string): Promise<Classified> {
    if (!worker) throw new Error("train a model first");
    const m = await ask(
      worker,
      { type: "classify", text },
      (m) => m.type === "classified" ? m : undefined,
    );
    byId("classified").replaceChildren(
      ...m.top.map((g) =>
        el("li", {}, `${g.label}: ${(100 * g.p).toFixed(1)}%`)
      ),
    );
    const canvas = el("canvas", { "data-heatmap": "classified" });
    drawHeatmap(canvas, m.weights, { queries: m.tokens, keys: m.tokens });
    byId("classified-attention").replaceChildren(canvas);
    lastClassified = m;
    return m;
  }

  const text = el("input", {
    type: "text",
    size: "40",
    value: "my card has not arrived yet",
    "data-field": "classifyText",
  });
  // One run at a time: the button waits for the running one.
  const go = button("train", "train", () => {
    go.disabled = true;
    void train().catch(() => {}).finally(() => go.disabled = false);
  });
  byId("train-form").replaceChildren(
    numberInput("classes", "classes", req.classes, (v) => {
      req = { ...req, classes: Math.max(2, Math.min(77, Math.trunc(v))) };
    }, "1"),
    numberInput("perClass", "sentences per class", req.perClass, (v) => {
      req = { ...req, perClass: Math.max(1, Math.trunc(v)) };
    }, "1"),
    numberInput("epochs", "epochs", req.epochs, (v) => {
      req = { ...req, epochs: Math.max(1, Math.min(50, Math.trunc(v))) };
    }, "1"),
    checkbox(
      "useComposed",
      "with the composed attention",
      req.useComposed,
      (v) => {
        req = { ...req, useComposed: v };
      },
    ),
    go,
  );
  byId("classify-form").replaceChildren(
    el("label", {}, "sentence ", text),
    button(
      "classify",
      "classify",
      () =>
        void classify(text.value).catch((e) => {
          status.textContent = String(e);
        }),
    ),
  );
  return {
    train,
    classify,
    last: () => ({ run: lastRun, classified: lastClassified }),
  };
}
