// The shape rule of `flash_attention`: operands checked against the
// kernel (count, shapes, dtypes), then the mode's output aval. Private to
// ops/ (shape_rules.ts uses it).

import { type Aval, fmtShape, sameShape } from "../dtype.ts";
import {
  flashArity,
  flashFloatInputs,
  flashOutput,
  type FlashParams,
} from "../backends/flash.ts";
import { FLASH_MODES } from "../backends/flash.ts";
import type { Params } from "../primitives.ts";

function expect(got: Aval, want: Aval, what: string, mode: string): void {
  if (got.dtype !== want.dtype || !sameShape(got.shape, want.shape)) {
    throw new TypeError(
      `flash_attention: ${mode}: ${what} must be ${want.dtype}${
        fmtShape(want.shape)
      }, got ${got.dtype}${fmtShape(got.shape)}`,
    );
  }
}

/** The avals a kernel's inputs must have: `[q_0, (q_1), k, v, ...captured]`. */
export function flashInputAvals(params: FlashParams): Aval[] {
  const k = params.kernel;
  const f = (rows: number, width: number): Aval => ({
    shape: [...k.batch, rows, width],
    dtype: "float32",
  });
  return [
    ...Array.from({ length: k.queries }, () => f(k.tq, k.d)),
    f(k.tk, k.d),
    f(k.tk, k.dv),
    ...k.captured,
  ];
}

/** Checks `inputs` against `params` and returns the output aval. */
export function flashShape(
  inputs: readonly Aval[],
  loose: Params<"flash_attention">,
): Aval {
  const params = loose as FlashParams;
  const { kernel, mode } = params;
  if (!FLASH_MODES.includes(mode)) {
    throw new TypeError(`flash_attention: unknown mode "${String(mode)}"`);
  }
  if (kernel.queries !== 1 && kernel.queries !== 2) {
    throw new TypeError(
      `flash_attention: queries must be 1 or 2, got ${kernel.queries}`,
    );
  }
  const n = flashArity(kernel, mode);
  if (inputs.length !== n) {
    throw new TypeError(
      `flash_attention: ${mode} takes ${n} operands, got ${inputs.length}`,
    );
  }
  const want = flashInputAvals(params);
  const names = [
    ...(kernel.queries === 2 ? ["q_0", "q_1"] : ["q"]),
    "k",
    "v",
    ...kernel.captured.map((_, c) => `captured tensor ${c}`),
  ];
  want.forEach((a, i) => expect(inputs[i]!, a, names[i]!, mode));
  const out = flashOutput(params);
  if (mode === "forward" || mode === "weights") return out;
  const fwd = flashOutput({ ...params, mode: "forward" });
  expect(inputs[want.length]!, fwd, "the forward output", mode);
  if (mode === "tangent") {
    flashFloatInputs(kernel).forEach((i, t) =>
      expect(
        inputs[want.length + 1 + t]!,
        want[i]!,
        `${names[i]}'s tangent`,
        mode,
      )
    );
  } else expect(inputs[want.length + 1]!, fwd, "the cotangent", mode);
  return out;
}
