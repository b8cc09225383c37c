/// <reference lib="dom" />
// The Compose section's form: a card per module (score, modifiers, masks,
// normaliser), the combination, and the inputs. Controls read the current
// state from the handle when they fire, so a card never writes back a
// stale copy.

import {
  button,
  byId,
  checkbox,
  el,
  numberInput,
  optionalNumber,
  select,
} from "./_dom.ts";
import type { InputState } from "./inputs.ts";
import {
  COMBINES,
  type ComposeState,
  DEFAULT_MODULE,
  type ModuleState,
  NORMALISERS,
  SCORES,
} from "./spec.ts";

/** What the form reads and writes. */
export interface FormHandle {
  state(): ComposeState;
  inputs(): InputState;
  setState(s: ComposeState): void;
  setInputs(i: InputState): void;
}

function moduleCard(h: FormHandle, m: ModuleState, i: number): HTMLElement {
  const f = (name: string) => `m${i}.${name}`;
  const set = (p: Partial<ModuleState>) => {
    const s = h.state();
    h.setState({
      ...s,
      modules: s.modules.map((x, j) => j === i ? { ...x, ...p } : x),
    });
  };
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
  if (h.state().modules.length > 1) {
    card.append(button(f("remove"), "remove", () => {
      const s = h.state();
      h.setState({ ...s, modules: s.modules.filter((_, j) => j !== i) });
      renderComposeForm(h);
    }));
  }
  return card;
}

/** (Re)builds the module cards and the input controls from `h`'s state. */
export function renderComposeForm(h: FormHandle): void {
  const state = h.state(), inputs = h.inputs();
  const update = (s: ComposeState) => h.setState(s);
  byId("compose-form").replaceChildren(
    ...state.modules.map((m, i) => moduleCard(h, m, i)),
    el(
      "div",
      { class: "row" },
      button("addModule", "add a module", () => {
        const s = h.state();
        if (s.modules.length >= 3) return;
        update({ ...s, modules: [...s.modules, DEFAULT_MODULE] });
        renderComposeForm(h);
      }),
      select(
        "combine",
        "combine with",
        COMBINES,
        state.combine,
        (v) => update({ ...h.state(), combine: v as ComposeState["combine"] }),
      ),
      numberInput(
        "seed",
        "parameter seed",
        state.seed,
        (v) => update({ ...h.state(), seed: Math.trunc(v) }),
        "1",
      ),
      numberInput(
        "length",
        "valid keys (padding)",
        state.length,
        (v) => update({ ...h.state(), length: Math.max(0, Math.trunc(v)) }),
        "1",
      ),
    ),
  );
  const setIn = (p: Partial<InputState>) =>
    h.setInputs({ ...h.inputs(), ...p });
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
