/**
 * Fused against composed `attention(spec)` on WebGPU at a few shapes: Σ|out|
 * and Σ|∂q|, Σ|∂k|, Σ|∂v| of `sum(out · ct)`, which must agree (run.ts part
 * 4 found them apart). Prints one JSON line per shape and path, and
 * "DISAGREE" where the fused path differs by more than 1e-3 relative.
 *
 * Run: `HEED_THREADS=1 deno run -A bench/attention_fused/webgpu_check.ts [--shapes=1x2x64x64,1x1x256x64]`
 *
 * @module
 */

import * as h from "../../mod.ts";
import { attention, scaledDot } from "../../attention/mod.ts";

const arg = Deno.args.find((a) => a.startsWith("--shapes="))?.slice(9) ??
  "1x2x64x64,1x1x128x64,1x1x256x64,1x8x64x64,1x4x128x64";
await h.init();
await h.setBackend("webgpu");
for (const text of arg.split(",")) {
  const shape = text.split("x").map(Number); // [B, H, T, d]
  const [q, k, v, ct] = [0, 1, 2, 3].map((i) => h.normal(h.key(i), shape));
  const sums: number[][] = [];
  for (const fused of [false, true]) {
    const attend = attention({ score: scaledDot(), fused });
    const loss = (a: h.Tensor, b: h.Tensor, c: h.Tensor) =>
      h.sum(h.mul(attend(a, b, c).output, ct!));
    const out = await h.sum(h.abs(attend(q!, k!, v!).output)).item() as number;
    const g = h.grad(loss, { argnums: [0, 1, 2] })(q!, k!, v!) as h.Tensor[];
    const s = [out];
    for (const x of g) s.push(await h.sum(h.abs(x)).item() as number);
    sums.push(s);
  }
  const bad = sums[1]!.some((x, i) =>
    !(Math.abs(x - sums[0]![i]!) <= 1e-3 * Math.abs(sums[0]![i]!))
  );
  console.log(
    JSON.stringify({ shape, composed: sums[0], fused: sums[1] }),
    bad ? "DISAGREE" : "agree",
  );
}
Deno.exit(0);
