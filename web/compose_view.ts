/// <reference lib="dom" />
// The Compose section: a form for the pieces of each module and their
// combination, the inputs, and live results (the weights as heatmaps, the
// output, the spec as TypeScript). Every change recomputes on the current
// backend; results are serialised so a slow step never interleaves.

import { dispose, getBackend, scope } from "../ops/mod.ts";
import {
  button,
  byId,
  checkbox,
  el,
  numberInput,
  optionalNumber,
  select,
} from "./_dom.ts";
import { drawHeatmap, type HeatmapLayout, matrices } from "./heatmap.ts";
import { DEFAULT_INPUTS, type InputState, makeInputs } from "./inputs.ts";
import {
  buildAttention,
  COMBINES,
  type ComposeState,
  DEFAULT_MODULE,
  DEFAULT_STATE,
  type ModuleState,
  NORMALISERS,
  readsLengths,
  SCORES,
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
  const status = byId("compose-status");

  const update = (s: ComposeState) => {
    state = s;
    void schedule();
  };
  const setModule = (i: number, m: Partial<ModuleState>) =>
    update({
      ...state,
      modules: state.modules.map((x, j) => j === i ? { ...x, ...m } : x),
    });

  function moduleCard(m: ModuleState, i: number): HTMLElement {
    const f = (name: string) => `m${i}.${name}`;
    const set = (p: Partial<ModuleState>) => setModule(i, p);
    const card = el(
      "fieldset",
      { class: "module" },
      el("legend", {}, `module ${i + 1}`),
      select(
        f("score"),
        "score",
        SCORES,
        m.score,
        (v) => set({ score: v as ModuleState["score"] }),
      ),
      numberInput(
        f("cosineScale"),
        "cosine scale",
        m.cosineScale,
        (v) => set({ cosineScale: v }),
      ),
      el("br"),
      optionalNumber(
        f("temperature"),
        "temperature",
        m.temperature,
        0.5,
        (v) => set({ temperature: v }),
      ),
      optionalNumber(
        f("alibi"),
        "ALiBi slope",
        m.alibi,
        0.5,
        (v) => set({ alibi: v }),
      ),
      optionalNumber(
        f("softCap"),
        "soft-cap",
        m.softCap,
        2,
        (v) => set({ softCap: v }),
      ),
      el("br"),
      checkbox(f("causal"), "causal", m.causal, (v) => set({ causal: v })),
      optionalNumber(
        f("window"),
        "window ±",
        m.window,
        1,
        (v) => set({ window: v }),
      ),
      checkbox(f("padding"), "padding", m.padding, (v) => set({ padding: v })),
      el("br"),
      select(
        f("normaliser"),
        "normaliser",
        NORMALISERS,
        m.normaliser,
        (v) => set({ normaliser: v as ModuleState["normaliser"] }),
      ),
    );
    if (state.modules.length > 1) {
      card.append(button(f("remove"), "remove", () => {
        update({ ...state, modules: state.modules.filter((_, j) => j !== i) });
        renderForm();
      }));
    }
    return card;
  }

  function renderForm(): void {
    const form = byId("compose-form");
    form.replaceChildren(
      ...state.modules.map(moduleCard),
      el(
        "div",
        { class: "row" },
        button("addModule", "add a module", () => {
          if (state.modules.length >= 3) return;
          update({ ...state, modules: [...state.modules, DEFAULT_MODULE] });
          renderForm();
        }),
        select(
          "combine",
          "combine with",
          COMBINES,
          state.combine,
          (v) => update({ ...state, combine: v as ComposeState["combine"] }),
        ),
        numberInput(
          "seed",
          "parameter seed",
          state.seed,
          (v) => update({ ...state, seed: Math.trunc(v) }),
          "1",
        ),
        numberInput(
          "length",
          "valid keys (padding)",
          state.length,
          (v) => update({ ...state, length: Math.max(0, Math.trunc(v)) }),
          "1",
        ),
      ),
    );
    const setIn = (p: Partial<InputState>) => {
      inputs = { ...inputs, ...p };
      void schedule();
    };
    const sentence = el("input", {
      type: "text",
      size: "40",
      value: inputs.sentence,
      "data-field": "sentence",
    });
    sentence.addEventListener(
      "input",
      () => setIn({ sentence: sentence.value }),
    );
    byId("inputs-form").replaceChildren(
      select(
        "mode",
        "q, k, v from",
        ["sentence", "random"],
        inputs.mode,
        (v) => setIn({ mode: v as InputState["mode"] }),
      ),
      el("label", {}, "sentence ", sentence),
      numberInput(
        "t",
        "random: tokens",
        inputs.t,
        (v) => setIn({ t: Math.max(1, Math.min(16, Math.trunc(v))) }),
        "1",
      ),
      numberInput(
        "inputSeed",
        "seed",
        inputs.seed,
        (v) => setIn({ seed: Math.trunc(v) }),
        "1",
      ),
      numberInput(
        "d",
        "features d",
        inputs.d,
        (v) => setIn({ d: Math.max(1, Math.min(64, Math.trunc(v))) }),
        "1",
      ),
    );
  }

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

  function schedule(): Promise<ComposeResult> {
    const run = chain.then(compute).then(show, (e: unknown) => {
      status.textContent = e instanceof Error ? e.message : String(e);
      status.className = "error";
      throw e;
    });
    chain = run.catch(() => {});
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
