/// <reference lib="dom" />
// The Backends section: switch heed's default backend (WebGPU, wasm, CPU)
// for the page and the training worker, and see each step's time on each
// backend: composing (build, run, read back), checking the laws, and one
// training step.

import { backends, info, setBackend } from "../mod.ts";
import { button, byId, el } from "./_dom.ts";
import type { BackendChoice } from "./train_protocol.ts";

/** The steps whose times the table shows. */
export type Step = "compose" | "laws" | "train step";
const STEPS: readonly Step[] = ["compose", "laws", "train step"];
const ALL: readonly BackendChoice[] = ["webgpu", "wasm", "cpu"];

/** The Backends section's handle. */
export interface BackendView {
  current(): BackendChoice;
  /** Makes `name` the backend of the page and of the next training run. */
  use(name: BackendChoice): Promise<void>;
  /** Records a step's time on `backend` (default: the current one). */
  time(step: Step, ms: number, backend?: BackendChoice): void;
  /** The recorded times, by backend and step (read by the browser tests). */
  times(): Record<string, Partial<Record<Step, number>>>;
}

/** A short description of the wasm threads and the adapter. */
function describe(): string {
  const i = info();
  const t = i.wasmThreads;
  const threads = t === null
    ? "wasm not started"
    : `wasm on ${t.threads} thread${t.threads === 1 ? "" : "s"}${
      t.reason ? ` (${t.reason})` : ""
    }`;
  const gpu = i.adapter
    ? `WebGPU adapter: ${i.adapter.vendor} ${i.adapter.architecture}`
    : "no WebGPU adapter";
  const iso = (globalThis as { crossOriginIsolated?: boolean })
      .crossOriginIsolated
    ? "cross-origin isolated"
    : "not isolated";
  return `default ${i.default}; ${threads}; ${gpu}; page ${iso}`;
}

/** Builds the section inside #backends; `onSwitch` recomputes the page. */
export function backendView(
  start: BackendChoice,
  onSwitch: () => Promise<unknown>,
): BackendView {
  let current = start;
  const recorded: Record<string, Partial<Record<Step, number>>> = {};
  const table = byId("backend-times");
  const render = () => {
    table.replaceChildren(
      el(
        "tr",
        {},
        el("th", {}, "backend"),
        ...STEPS.map((s) => el("th", {}, s)),
      ),
      ...ALL.map((b) =>
        el(
          "tr",
          { class: b === current ? "current" : "" },
          el("th", {}, b),
          ...STEPS.map((s) => {
            const ms = recorded[b]?.[s];
            return el(
              "td",
              { "data-time": `${b}.${s}` },
              ms === undefined ? "–" : `${ms.toFixed(1)} ms`,
            );
          }),
        )
      ),
    );
    byId("backend-info").textContent = describe();
  };
  const use = async (name: BackendChoice) => {
    await setBackend(name);
    current = name;
    for (const b of ALL) {
      const r = document.querySelector<HTMLInputElement>(
        `[data-field="backend.${b}"]`,
      );
      if (r) r.checked = b === name;
    }
    render();
    await onSwitch();
  };
  const available = backends();
  byId("backend-form").replaceChildren(
    ...ALL.map((b) => {
      const r = el("input", {
        type: "radio",
        name: "backend",
        value: b,
        "data-field": `backend.${b}`,
      });
      r.checked = b === current;
      r.disabled = !available.includes(b);
      r.addEventListener("change", () => void use(b));
      return el("label", {}, r, ` ${b}`);
    }),
    button("timeAll", "time compose on every backend", async () => {
      const back = current;
      for (const b of ALL.filter((x) => available.includes(x))) await use(b);
      await use(back);
    }),
  );
  render();
  return {
    current: () => current,
    use,
    time(step, ms, backend = current) {
      (recorded[backend] ??= {})[step] = ms;
      render();
    },
    times: () => recorded,
  };
}
