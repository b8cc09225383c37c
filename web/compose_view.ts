/// <reference lib="dom" />
// The Compose section: a form for the pieces of each module and their
// combination, the inputs, and live results (the weights as heatmaps, the
// output, the spec as TypeScript). Every change recomputes on the current
// backend; results are serialised so a slow step never interleaves.

import { dispose, getBackend, scope } from "../ops/mod.ts";
import { byId, el } from "./_dom.ts";
import { type FormHandle, renderComposeForm } from "./compose_form.ts";
import { drawHeatmap, type HeatmapLayout, matrices } from "./heatmap.ts";
import { DEFAULT_INPUTS, type InputState, makeInputs } from "./inputs.ts";
import {
  buildAttention,
  type ComposeState,
  DEFAULT_STATE,
  readsLengths,
} from "./spec.ts";
import { specSource } from "./source.ts";

/** What the last computation showed (read by the browser tests). */
export interface ComposeResult {
  /** One `[Tq][Tk]` matrix per heatmap (concat: one per module). */
  readonly weights: number[][][];
  /** `[T][dv]`. */
  readonly output: number[][];
  readonly labels: readonly string[];
  readonly layouts: readonly HeatmapLayout[];
  /** Wall time of building, running and reading back, in ms. */
  readonly ms: number;
  readonly backend: string;
  readonly state: ComposeState;
  readonly inputs: InputState;
}

/** The Compose section's handle: its state and a way to recompute. */
export interface ComposeView {
  state(): ComposeState;
  inputs(): InputState;
  /** Recomputes now and resolves to what was shown (or throws its error). */
  refresh(): Promise<ComposeResult>;
  /** Sets the state (rebuilding the form) and recomputes. */
  set(state: ComposeState, inputs?: InputState): Promise<ComposeResult>;
  last(): ComposeResult | null;
}

/** Builds the section inside the page's #compose elements. */
export function composeView(onTime: (ms: number) => void): ComposeView {
  let state = DEFAULT_STATE, inputs = DEFAULT_INPUTS;
  let last: ComposeResult | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  let queued: Promise<ComposeResult> | null = null;
  const status = byId("compose-status");

  const form: FormHandle = {
    state: () => state,
    inputs: () => inputs,
    setState(s) {
      state = s;
      void schedule();
    },
    setInputs(i) {
      inputs = i;
      void schedule();
    },
  };
  const renderForm = () => renderComposeForm(form);

  async function compute(): Promise<ComposeResult> {
    const s = state, inp = inputs;
    const t0 = performance.now();
    const r = scope(() => {
      const x = makeInputs(inp);
      const attend = buildAttention(s, inp.d);
      const opts = readsLengths(s) ? { lengths: [s.length] } : {};
      const { output, weights } = attend(x.q, x.k, x.v, opts);
      return { output, weights, labels: x.labels };
    });
    try {
      const [w, o] = await Promise.all([r.weights.data(), r.output.data()]);
      const ms = performance.now() - t0;
      const t = r.labels.length, dv = r.output.shape.at(-1)!;
      const weights = matrices(w as Float32Array, t, t);
      const output = matrices(o as Float32Array, t, dv)[0]!;
      return {
        weights,
        output,
        labels: r.labels,
        layouts: [],
        ms,
        backend: getBackend().name,
        state: s,
        inputs: inp,
      };
    } finally {
      dispose(r);
    }
  }

  function show(res: ComposeResult): ComposeResult {
    const figures: HTMLElement[] = [];
    const layouts = res.weights.map((m, i) => {
      const canvas = el("canvas", { "data-heatmap": String(i) });
      const layout = drawHeatmap(canvas, m, {
        queries: res.labels,
        keys: res.labels,
      });
      const caption = res.weights.length > 1 ? `module ${i + 1}` : "weights";
      figures.push(el("figure", {}, canvas, el("figcaption", {}, caption)));
      return layout;
    });
    byId("heatmaps").replaceChildren(...figures);
    const head = el("tr", {}, el("th", {}, "token"));
    const shown = Math.min(8, res.output[0]?.length ?? 0);
    for (let j = 0; j < shown; j++) head.append(el("th", {}, `out${j}`));
    byId("output").replaceChildren(
      head,
      ...res.output.map((row, i) =>
        el(
          "tr",
          {},
          el("th", {}, res.labels[i]!),
          ...row.slice(0, shown).map((v) => el("td", {}, v.toFixed(3))),
        )
      ),
    );
    byId("source").textContent = specSource(res.state, {
      t: res.labels.length,
      d: res.inputs.d,
      inputSeed: res.inputs.seed,
      ...(res.inputs.mode === "sentence" && { sentence: res.inputs.sentence }),
    });
    status.textContent = `${res.backend}: ${
      res.ms.toFixed(1)
    } ms to build, run and read back`;
    status.className = "ok";
    onTime(res.ms);
    last = { ...res, layouts };
    return last;
  }

  /**
   * Queues a computation after the running one. Changes that arrive while
   * one is already queued join it: it reads the state when it starts.
   */
  function schedule(): Promise<ComposeResult> {
    if (queued) return queued;
    const start = () => {
      queued = null;
      return compute();
    };
    const run = chain.then(start).then(show, (e: unknown) => {
      status.textContent = e instanceof Error ? e.message : String(e);
      status.className = "error";
      throw e;
    });
    chain = run.catch(() => {});
    queued = run;
    return run;
  }

  renderForm();
  return {
    state: () => state,
    inputs: () => inputs,
    refresh: schedule,
    set(s, i) {
      state = s;
      if (i) inputs = i;
      renderForm();
      return schedule();
    },
    last: () => last,
  };
}
