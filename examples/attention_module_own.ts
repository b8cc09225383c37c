/**
 * Your own attention module, trained from the command line. A module is
 * `{ id, init(key, dims), build(params, context) }`: `init` makes the
 * parameters of one multi-head layer, `build` the spec they give. This one
 * is the scaled dot product with a learned distance penalty per head
 * (ALiBi whose slopes start at 0 and are learned), and it needs nothing
 * registered:
 *
 *     deno task train --attention examples/attention_module_own.ts --epochs 1
 *     deno task predict "how do I top up my card"
 *
 * The checkpoint records the module's id and this file's path; `predict`
 * and `eval` import it again from there (or from `--attention PATH` if the
 * file moved). Run `deno run examples/attention_module_own.ts` to check it.
 *
 * @module
 */

import {
  alibi,
  type AttentionModule,
  attentionModule,
  multiHead,
  scaledDot,
} from "@heed/heed/attention";
import { grad, key, normal, sum, type Tensor, zeros } from "@heed/heed/ops";
import { assert, assertEquals } from "@std/assert";

/** The module's parameters in one layer: one slope per head. */
export interface LearnedDistanceParams {
  /** `[H]`: how fast each head's scores fall with distance. */
  readonly slopes: Tensor;
}

/** Scaled dot product minus a learned slope × |i − j| per head. */
const learnedDistance: AttentionModule<LearnedDistanceParams> = attentionModule(
  {
    id: "learned-distance",
    description: "scaled dot product minus a learned per-head slope × |i − j|",
    init: (_key, { heads }) => ({ slopes: zeros([heads]) }),
    build: (p, { masks }) => ({
      score: scaledDot(),
      mods: [alibi(p.slopes)],
      masks: [...masks],
    }),
  },
);
export default learnedDistance;

/** Checks that the slopes get a gradient through a multi-head layer. */
export async function main(): Promise<void> {
  const mha = multiHead(learnedDistance, { heads: 2, dModel: 8 });
  const params = mha.init(key(0));
  const x = normal(key(1), [2, 5, 8]); // [B, T, dModel]
  const loss = (p: typeof params) => sum(mha.apply(p, x).output);
  const g = grad(loss)(params);
  assertEquals(g.spec.slopes.shape, [2]);
  assert((await g.spec.slopes.data()).some((v) => v !== 0));
}

if (import.meta.main) await main();
