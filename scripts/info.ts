// `deno task info`: the backends heed finds, the default, and the WebGPU
// adapter's description, limits and whether it is a software adapter.

import { init } from "../mod.ts";

const i = await init(); // probes the adapter and picks the default

console.log(`backends: ${i.backends.join(", ")}`);
console.log(`default:  ${i.default}`);
if (!i.adapter) {
  console.log("webgpu:   no adapter");
} else {
  const a = i.adapter;
  console.log(
    `webgpu:   ${a.description || "(no description)"}${
      a.isSoftware ? " [software adapter, not a GPU]" : ""
    }`,
  );
  console.log(
    `vendor:   ${a.vendor || "-"}  architecture: ${a.architecture || "-"}`,
  );
  console.log(`features: ${a.features.join(", ") || "-"}`);
  for (const [k, v] of Object.entries(a.limits)) console.log(`  ${k}: ${v}`);
}
