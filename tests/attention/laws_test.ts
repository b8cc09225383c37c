// The laws of attention (checkAttentionLaws) on every built-in spec, on
// every backend. The "backends" law compares all backends with each other,
// so it runs once, from the CPU; the other laws run with the backend as
// the default (fewer runs off the CPU, where each readback is slow).

import { assert } from "@std/assert";
import { defaultBackend } from "../../ops/mod.ts";
import { checkAttentionLaws } from "../../testing/mod.ts";
import { testEachBackend } from "../_helpers.ts";
import { BUILT_IN_SPECS } from "./_specs.ts";

for (const { name, spec, opts } of BUILT_IN_SPECS) {
  testEachBackend(`the laws of attention hold for ${name}`, async () => {
    const onCpu = defaultBackend() === "cpu";
    const checked = await checkAttentionLaws(spec, {
      ...opts,
      runs: onCpu ? 15 : 2,
      laws: { ...opts?.laws, backends: onCpu },
    });
    // Never vacuous: the structural laws always run.
    for (
      const law of [
        "shapes",
        "masking",
        "permutation",
        "modules",
        "multiHead",
      ] as const
    ) {
      assert(checked.includes(law), `${law} was not checked`);
    }
  });
}
