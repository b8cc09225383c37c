// The attention examples run under the test suite: each asserts what it
// shows, so a broken example fails here.

import { main as causalAlibi } from "../../examples/attention_causal_alibi.ts";
import { main as windowPadding } from "../../examples/attention_window_padding.ts";
import { main as customModifier } from "../../examples/attention_custom_modifier.ts";
import { main as seed } from "../../examples/attention_seed.ts";
import { main as ownModule } from "../../examples/attention_module_own.ts";

const quiet = () => {};

Deno.test("the causal + ALiBi example runs and its assertions hold", async () => {
  await causalAlibi(quiet);
});

Deno.test("the sliding window + padding example runs and its assertions hold", async () => {
  await windowPadding(quiet);
});

Deno.test("the custom modifier example runs and its assertions hold", async () => {
  await customModifier(quiet);
});

Deno.test("the seed's function example runs and its assertions hold", async () => {
  await seed(quiet);
});

Deno.test("the own attention module example runs and its gradient reaches the module's parameters", async () => {
  await ownModule();
});
