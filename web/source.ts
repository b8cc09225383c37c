// The composed spec as the TypeScript that builds it (spec.ts builds the
// same function from the same state; tests/web/source_test.ts runs this
// text and compares the two).

import type { ComposeState, ModuleState, NormaliserName } from "./spec.ts";

/** Where the inputs of the printed program come from. */
export interface SourceInputs {
  /** Tokens of the sequence. */
  readonly t: number;
  /** Features of q, k and v. */
  readonly d: number;
  /** The seed of random q, k, v (key(seed), key(seed + 1), key(seed + 2)). */
  readonly inputSeed: number;
  /** The page's sentence, when its words are the inputs there. */
  readonly sentence?: string;
}

const NORMALISER_CALLS: Record<Exclude<NormaliserName, "broken">, string> = {
  softmax: "softmaxNormaliser()",
  sparsemax: "sparsemaxNormaliser()",
  sigmoid: "sigmoidNormaliser()",
  identity: "identityNormaliser()",
  signedSum: "signedSumNormaliser()",
};

/** The heed names that a call expression uses (its leading identifiers). */
function namesIn(code: string): string[] {
  return [...code.matchAll(/\b([a-zA-Z]+)\(/g)].map((m) => m[1]!);
}

function scoreCall(m: ModuleState, k: string): string {
  const w = (kk: string, shape: string) =>
    `mul(normal(${kk}, ${shape}), 1 / Math.sqrt(d))`;
  switch (m.score) {
    case "dot":
      return "dot()";
    case "scaledDot":
      return "scaledDot()";
    case "cosine":
      return `cosine(${m.cosineScale})`;
    case "bilinear":
      return `bilinear(${w(k, "[d, d]")})`;
    case "seedRatio":
    case "seedGated":
      return `${m.score}(${w(k, "[d, d]")})`;
    case "additive":
      return `additive({\n      w1: ${w(`${k}a`, "[d, d]")},\n      w2: ${
        w(`${k}b`, "[d, d]")
      },\n      v: ${w(`${k}c`, "[d]")},\n    })`;
  }
  return m.score satisfies never;
}

function moduleSource(m: ModuleState, i: number, name: string): string[] {
  const k = `k${i}`;
  const lines: string[] = [];
  if (m.score === "additive") {
    lines.push(`const [${k}a, ${k}b, ${k}c] = split(${k}, 3);`);
  }
  const mods: string[] = [];
  if (m.temperature !== null) mods.push(`temperature(${m.temperature})`);
  if (m.alibi !== null) mods.push(`alibi(tensor([${m.alibi}]))`);
  if (m.softCap !== null) mods.push(`softCap(${m.softCap})`);
  const masks: string[] = [];
  if (m.causal) masks.push("causal()");
  if (m.window !== null) masks.push(`slidingWindow(${m.window})`);
  if (m.padding) masks.push("padding()");
  const norm = m.normaliser === "broken"
    ? "brokenSoftmax"
    : NORMALISER_CALLS[m.normaliser];
  lines.push(
    `const ${name} = attention({`,
    `  score: ${scoreCall(m, k).replaceAll("\n    ", "\n  ")},`,
    `  mods: [${mods.join(", ")}],`,
    `  masks: [${masks.join(", ")}],`,
    `  normalise: ${norm},`,
    `});`,
  );
  return lines;
}

const BROKEN = [
  "// Deliberately wrong: a softmax that forgets the mask but claims every law.",
  "const brokenSoftmax = normaliser(",
  "  (s) => softmax(s, { axis: -1 }),",
  "  { simplex: true, shiftInvariant: true, smooth: true },",
  ");",
];

/** The composition as a TypeScript program on random q, k, v. */
export function specSource(state: ComposeState, inputs: SourceInputs): string {
  const n = state.modules.length;
  const body: string[] = [];
  if (state.modules.some((m) => m.normaliser === "broken")) {
    body.push(...BROKEN, "");
  }
  body.push(
    `const d = ${inputs.d}, t = ${inputs.t};`,
    `const [${
      [...state.modules.map((_, i) => `k${i}`), "kGate"].join(", ")
    }] = split(key(${state.seed}), ${n + 1});`,
  );
  const names = n === 1 ? ["attend"] : state.modules.map((_, i) => `a${i}`);
  state.modules.forEach((m, i) => body.push(...moduleSource(m, i, names[i]!)));
  if (n > 1) {
    const combine = state.combine === "concat"
      ? "concatenate()"
      : state.combine === "mixture"
      ? `mixture([${Array(n).fill(`1 / ${n}`).join(", ")}])`
      : `gate({ w: mul(normal(kGate, [d, ${n}]), 1 / Math.sqrt(d)) })`;
    body.push(`const attend = modules([${names.join(", ")}], ${combine});`);
  }
  const s = inputs.inputSeed;
  body.push(
    "",
    inputs.sentence === undefined
      ? "// q, k, v: [1, t, d] (one sequence); random here."
      : `// q, k, v: [1, t, d]; the page embeds the words of ${
        JSON.stringify(inputs.sentence)
      },\n// this program draws random ones.`,
    `const q = normal(key(${s}), [1, t, d]);`,
    `const k = normal(key(${s + 1}), [1, t, d]);`,
    `const v = normal(key(${s + 2}), [1, t, d]);`,
    state.modules.some((m) => m.padding)
      ? `const { output, weights } = attend(q, k, v, { lengths: [${state.length}] });`
      : "const { output, weights } = attend(q, k, v);",
  );
  const code = body.join("\n");
  const OPS = ["key", "mul", "normal", "softmax", "split", "tensor"];
  const used = new Set(namesIn(code));
  used.add("key").add("split").add("normal");
  const ops = OPS.filter((x) => used.has(x));
  const att = [...used].filter((x) =>
    !OPS.includes(x) && !["sqrt", "fill", "Array"].includes(x) &&
    x !== "attend" && !/^(a\d|brokenSoftmax)$/.test(x)
  ).sort();
  return [
    `import { ${att.join(", ")} } from "@heed/heed/attention";`,
    `import { ${ops.join(", ")} } from "@heed/heed/ops";`,
    "",
    code,
    "",
  ].join("\n");
}
