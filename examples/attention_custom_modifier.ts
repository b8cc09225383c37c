/**
 * A user's own score modifier, with a learnable parameter, plugged in next
 * to built-in pieces with no registration, then checked like any built-in:
 * its gradient against finite differences, and the laws of attention.
 * Run: `deno run examples/attention_custom_modifier.ts`.
 *
 * The modifier is a log-distance decay: s'_ij = s_ij − λ · log(1 + |pos_i − pos_j|).
 *
 * @module
 */

import {
  attention,
  causal,
  type ModFn,
  scaledDot,
  type Spec,
} from "@heed/heed/attention";
import {
  abs,
  cast,
  grad,
  key,
  log1p,
  mul,
  normal,
  sub,
  sum,
  type Tensor,
  tensor,
} from "@heed/heed/ops";
import { checkAttentionLaws, checkGrads } from "@heed/heed/testing";
import { assert } from "@std/assert";

/** The custom modifier: a log-distance decay whose strength λ is learnable. */
export function logDecay(lambda: Tensor): ModFn {
  return (s, ctx) => {
    const dist = cast(abs(sub(ctx.qPos, ctx.kPos)), "float32"); // [..., Tq, Tk]
    return sub(s, mul(lambda, log1p(dist)));
  };
}

/** The spec, built from its parameters (so `grad` reaches λ). */
export function spec(lambda: Tensor): Spec {
  return { score: scaledDot(), mods: [logDecay(lambda)], masks: [causal()] };
}

/** Runs the example, asserting what it shows; `log` prints. */
export async function main(
  log: (line: string) => void = console.log,
): Promise<void> {
  const x = normal(key(2), [1, 5, 4]); // [B, T, d]
  const target = normal(key(3), [1, 5, 4]);

  // A loss, and its gradient with respect to λ.
  const loss = (lambda: Tensor) => {
    const out = attention(spec(lambda))(x, x, x).output;
    return sum(mul(sub(out, target), sub(out, target)));
  };
  const lambda = tensor(0.5);
  const g = grad(loss)(lambda);
  log(
    `loss ${(await loss(lambda).item() as number).toFixed(4)}, dloss/dλ ${
      (await g.item() as number).toFixed(4)
    }`,
  );
  assert(Number.isFinite(await g.item() as number));

  // The derivative, both modes, against finite differences.
  await checkGrads((l: Tensor) => attention(spec(l))(x, x, x).output, [lambda]);
  log("checkGrads: forward and reverse mode agree with finite differences");

  // The laws every spec must obey (positions move with permuted keys, masks
  // give exact zeros, ...).
  const laws = await checkAttentionLaws(() => spec(tensor(0.3)), { runs: 8 });
  log(`checkAttentionLaws: ${laws.join(", ")}`);
}

if (import.meta.main) await main();
