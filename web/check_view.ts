/// <reference lib="dom" />
// The Check section: runs heed's checkAttentionLaws on each composed
// module, one law at a time, in the page, and shows which laws hold,
// which do not apply to the normaliser, and the shrunk counterexample of
// each one that fails.

import { key } from "../ops/mod.ts";
import { checkAttentionLaws, type LawName } from "../testing/mod.ts";
import { button, byId, el, numberInput } from "./_dom.ts";
import { type ComposeState, moduleSpec, specFactory } from "./spec.ts";

/** Every law, in the checker's order (a missing one is a compile error). */
const LAW_ORDER = {
  shapes: 0,
  masking: 1,
  permutation: 2,
  shift: 3,
  simplex: 4,
  temperature: 5,
  modules: 6,
  multiHead: 7,
  backends: 8,
  grads: 9,
} satisfies Record<LawName, number>;
const LAW_NAMES = Object.keys(LAW_ORDER) as LawName[];

/** One law's verdict on one module. */
export interface LawVerdict {
  readonly module: number;
  readonly law: LawName;
  readonly status: "holds" | "fails" | "n/a";
  /** The checker's message with the smallest counterexample, when it fails. */
  readonly message?: string;
  readonly ms: number;
}

/** Which laws the normaliser promises (as the checker decides by default). */
function applies(state: ComposeState, i: number): Record<LawName, boolean> {
  const laws = moduleSpec(state.modules[i]!, 2, key(0)).normalise!.laws;
  const all = Object.fromEntries(LAW_NAMES.map((n) => [n, true]));
  return {
    ...all as Record<LawName, boolean>,
    shift: laws.shiftInvariant,
    simplex: laws.simplex,
    temperature: laws.simplex,
    grads: laws.smooth,
  };
}

/** Checks every law on every module of `state`, calling `onVerdict` as each ends. */
export async function checkLaws(
  state: ComposeState,
  runs: number,
  onVerdict: (v: LawVerdict) => void,
): Promise<LawVerdict[]> {
  const out: LawVerdict[] = [];
  for (let i = 0; i < state.modules.length; i++) {
    const m = state.modules[i]!;
    const ok = applies(state, i);
    for (const law of LAW_NAMES) {
      const t0 = performance.now();
      let v: LawVerdict;
      if (!ok[law]) {
        v = { module: i, law, status: "n/a", ms: 0 };
      } else {
        const only = Object.fromEntries(LAW_NAMES.map((n) => [n, n === law]));
        try {
          await checkAttentionLaws(specFactory(state, i), {
            runs,
            laws: only,
            // One ALiBi slope is one head; the seed's ratio has a pole.
            ...(m.alibi !== null && { heads: 1 }),
            ...(m.score.startsWith("seed") && { inputScale: 0.5 }),
          });
          v = { module: i, law, status: "holds", ms: performance.now() - t0 };
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          const ms = performance.now() - t0;
          v = { module: i, law, status: "fails", message, ms };
        }
      }
      out.push(v);
      onVerdict(v);
    }
  }
  return out;
}

/** The Check section's handle. */
export interface CheckView {
  /** Runs the checks on the composed state and shows them. */
  run(): Promise<LawVerdict[]>;
}

/** Builds the section inside #check. */
export function checkView(
  state: () => ComposeState,
  onTime: (ms: number) => void,
): CheckView {
  let runs = 5;
  const table = byId("laws");
  const status = byId("check-status");
  const failures = byId("counterexamples");
  // One check at a time: the button waits for the running one.
  const go = button("check", "check the laws", () => {
    go.disabled = true;
    void run().catch(() => {}).finally(() => go.disabled = false);
  });
  const run = async () => {
    const s = state();
    table.replaceChildren(
      el(
        "tr",
        {},
        el("th", {}, "module"),
        el("th", {}, "law"),
        el("th", {}, ""),
      ),
    );
    failures.replaceChildren();
    status.textContent = "checking…";
    const t0 = performance.now();
    const verdicts = await checkLaws(s, runs, (v) => {
      const mark = v.status === "holds"
        ? "✓ holds"
        : v.status === "fails"
        ? "✗ fails"
        : "n/a";
      table.append(el(
        "tr",
        {
          class: v.status === "fails"
            ? "fails"
            : v.status === "n/a"
            ? "na"
            : "holds",
        },
        el("td", {}, String(v.module + 1)),
        el("td", {}, v.law),
        el("td", { "data-law": `${v.module}.${v.law}` }, mark),
      ));
      if (v.message) {
        failures.append(el("pre", { class: "error" }, v.message));
      }
    });
    const ms = performance.now() - t0;
    const failed = verdicts.filter((v) => v.status === "fails").length;
    status.textContent =
      `${failed === 0 ? "every law holds" : `${failed} failed`}` +
      ` (${runs} random problems per law, ${(ms / 1000).toFixed(1)} s)`;
    status.className = failed === 0 ? "ok" : "error";
    onTime(ms);
    return verdicts;
  };
  byId("check-form").replaceChildren(
    numberInput("runs", "random problems per law", runs, (v) => {
      runs = Math.max(1, Math.min(100, Math.trunc(v)));
    }, "1"),
    go,
  );
  return { run };
}
