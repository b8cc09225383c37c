// assertAllClose and CheckFailure, as @heed/heed/testing exports them.

import { assert, assertRejects } from "@std/assert";
import { tensor } from "../../ops/mod.ts";
import * as testing from "../../testing/mod.ts";
import { assertAllClose, CheckFailure } from "../../testing/mod.ts";
import { testEachBackend } from "../_helpers.ts";

Deno.test("@heed/heed/testing exports CheckFailure and assertAllClose", () => {
  assert(new CheckFailure("x") instanceof Error);
  assert(new CheckFailure("x").name === "CheckFailure");
  assert(typeof testing.assertAllClose === "function");
  // Helpers stay private: an explicit list, no `export *`.
  assert(!("rng" in testing) && !("host" in testing) && !("LAWS" in testing));
});

testEachBackend(
  "assertAllClose() passes values within atol + rtol·|expected|",
  async () => {
    await assertAllClose(tensor([1, 2, 3]), [1, 2, 3]);
    await assertAllClose(tensor([[100, -1]]), tensor([[100.05, -1]]), {
      rtol: 1e-3,
    });
    await assertAllClose(tensor([1e-7, 0]), [0, 5e-7]); // default atol 1e-6
    await assertAllClose([NaN, Infinity, -Infinity], [
      NaN,
      Infinity,
      -Infinity,
    ]);
    await assertAllClose(new Float32Array([0.5]), 0.5);
  },
);

testEachBackend(
  "assertAllClose() fails with a CheckFailure naming the element",
  async () => {
    await assertRejects(
      () => assertAllClose(tensor([1, 2, 3]), [1, 2, 3.01], { msg: "row 0" }),
      CheckFailure,
      "row 0: element 2 is 3, expected 3.01",
    );
    // rtol scales with |expected|, atol does not.
    await assertRejects(
      () => assertAllClose([100.2], [100], { rtol: 1e-3 }),
      CheckFailure,
      "element 0",
    );
    await assertAllClose([100.05], [100], { rtol: 1e-3 });
    await assertRejects(
      () => assertAllClose([0.5], [0], { atol: 0.1 }),
      CheckFailure,
    );
    await assertAllClose([0.05], [0], { atol: 0.1 });
  },
);

testEachBackend(
  "assertAllClose() compares NaN, infinities, shapes and sizes strictly",
  async () => {
    await assertRejects(() => assertAllClose([NaN], [0]), CheckFailure);
    await assertRejects(() => assertAllClose([0], [NaN]), CheckFailure);
    await assertRejects(
      () => assertAllClose([Infinity], [-Infinity], { atol: Infinity }),
      CheckFailure,
    );
    await assertRejects(() => assertAllClose([1e38], [Infinity]), CheckFailure);
    await assertRejects(
      () => assertAllClose(tensor([1, 2], { shape: [2, 1] }), tensor([1, 2])),
      CheckFailure,
      "shapes differ: [2,1] vs [2]",
    );
    await assertRejects(
      () => assertAllClose(tensor([1, 2]), [1, 2, 3]),
      CheckFailure,
      "sizes differ: 2 values, expected 3",
    );
  },
);

Deno.test("assertAllClose() refuses unknown options and negative tolerances", async () => {
  await assertRejects(
    () => assertAllClose([1], [1], { rtoll: 1 } as never),
    TypeError,
    'assertAllClose: unknown option "rtoll" (known: rtol, atol, msg)',
  );
  await assertRejects(
    () => assertAllClose([1], [1], { atol: -1 }),
    RangeError,
    "must be ≥ 0",
  );
  await assertRejects(
    () => assertAllClose({} as never, [1]),
    TypeError,
    "cannot compare actual",
  );
});
