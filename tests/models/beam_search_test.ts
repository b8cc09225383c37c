// Beam search over a toy decoder whose next-token distribution depends on
// the whole prefix: with a beam as wide as every hypothesis it finds the
// best length-penalised sequence by brute force; with beam 1 it is greedy
// decoding; and a wider beam never scores worse than a narrower one.

import { assertEquals } from "@std/assert";
import fc from "fast-check";
import { logSoftmax, type Tensor, tensor } from "../../mod.ts";
import { beamSearch, type StepDecoder } from "../../models/arch/decoding.ts";

const BOS = 0, EOS = 1, V = 4;

/** Deterministic logits from a seed and a prefix (any hash will do). */
function logitsOf(seed: number, prefix: readonly number[]): number[] {
  let x = seed >>> 0;
  for (const t of prefix) x = Math.imul(x ^ (t + 0x9e37), 0x85ebca6b) >>> 0;
  return Array.from({ length: V }, (_, w) => {
    const y = Math.imul(x ^ (w * 0x27d4eb2d), 0xc2b2ae35) >>> 0;
    return ((y % 1000) / 1000) * 4 - 2 + (w === BOS ? -50 : 0);
  });
}

function logProbs(seed: number, prefix: readonly number[]): number[] {
  const l = logitsOf(seed, prefix);
  const m = Math.max(...l);
  const z = Math.log(l.reduce((a, x) => a + Math.exp(x - m), 0)) + m;
  return l.map((x) => x - z);
}

/** A toy decoder for `b` sentences; sentence s uses seed seeds[s]. */
function toy(seeds: readonly number[], maxLen = 64): StepDecoder<number> {
  let k = 1;
  return {
    batch: seeds.length,
    maxLen,
    start: (kk) => (k = kk, 0),
    reorder: (s) => s,
    step: (s, prefixes) => {
      const rows = prefixes.map((p, r) =>
        logitsOf(seeds[Math.floor(r / k)]!, p)
      );
      const logits: Tensor = tensor(Float32Array.from(rows.flat()), {
        shape: [rows.length, V],
      });
      return { logp: logSoftmax(logits), state: s };
    },
    release: () => {},
    close: () => {},
  };
}

const lp = (n: number, alpha: number) =>
  alpha === 0 ? 1 : ((5 + n) / 6) ** alpha;

/** The best score over every sequence of at most maxLen tokens. */
function bruteForce(seed: number, maxLen: number, alpha: number) {
  let best = { tokens: [] as number[], score: -Infinity };
  const walk = (prefix: number[], logp: number) => {
    const lps = logProbs(seed, prefix);
    for (let w = 0; w < V; w++) {
      if (w === BOS) continue;
      const next = [...prefix, w], total = logp + lps[w]!;
      const n = next.length - 1;
      if (w === EOS || n === maxLen) {
        const score = total / lp(n, alpha);
        if (score > best.score) best = { tokens: next.slice(1), score };
      } else walk(next, total);
    }
  };
  walk([BOS], 0);
  const body = best.tokens[best.tokens.length - 1] === EOS
    ? best.tokens.slice(0, -1)
    : best.tokens;
  return { body, score: best.score };
}

function scoreOf(
  seed: number,
  body: readonly number[],
  maxLen: number,
  alpha: number,
) {
  let prefix = [BOS], total = 0;
  for (const t of body) {
    total += logProbs(seed, prefix)[t]!;
    prefix = [...prefix, t];
  }
  if (body.length < maxLen) {
    total += logProbs(seed, prefix)[EOS]!;
    return total / lp(body.length + 1, alpha);
  }
  return total / lp(body.length, alpha);
}

Deno.test("beam search as wide as every hypothesis finds the brute-force best", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 1, max: 4 }),
      fc.constantFrom(0, 0.6, 1),
      async (seeds, maxLen, alpha) => {
        const out = await beamSearch(toy(seeds), {
          bos: BOS,
          eos: EOS,
          maxLen,
          beam: 3 ** maxLen,
          alpha,
        });
        seeds.forEach((seed, s) => {
          const want = bruteForce(seed, maxLen, alpha);
          const got = scoreOf(seed, [...out[s]!], maxLen, alpha);
          // float32 log-probabilities on the device: scores agree closely
          if (Math.abs(got - want.score) > 1e-4) {
            assertEquals([...out[s]!], want.body, `seed ${seed}`);
          }
        });
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("beam 1 is greedy decoding", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.nat(),
      fc.integer({ min: 1, max: 6 }),
      async (seed, maxLen) => {
        const [out] = await beamSearch(toy([seed]), {
          bos: BOS,
          eos: EOS,
          maxLen,
          beam: 1,
          alpha: 0,
        });
        const greedy: number[] = [];
        let prefix = [BOS];
        for (let t = 0; t < maxLen; t++) {
          const l = logProbs(seed, prefix);
          const w = l.indexOf(Math.max(...l));
          if (w === EOS) break;
          greedy.push(w);
          prefix = [...prefix, w];
        }
        assertEquals([...out!], greedy);
      },
    ),
    { numRuns: 40 },
  );
});
