/// <reference lib="dom" />
// The attention playground's entry (bundled to app.js by build.ts): starts
// heed, builds the four sections and recomputes the composition. The
// sections' handles are on `globalThis.playground` for the browser tests
// and for anyone poking at the page from the console.

import { init } from "../mod.ts";
import { backendView } from "./backend_view.ts";
import { checkView } from "./check_view.ts";
import { composeView } from "./compose_view.ts";
import { colour } from "./heatmap.ts";
import type { BackendChoice } from "./train_protocol.ts";
import { trainView } from "./train_view.ts";
import { byId } from "./_dom.ts";

async function main(): Promise<void> {
  const found = await init();
  const start = found.default as BackendChoice;
  let compose: ReturnType<typeof composeView> | null = null;
  const backend = backendView(start, () => compose!.refresh());
  compose = composeView((ms) => backend.time("compose", ms));
  const check = checkView(
    () => compose.state(),
    (ms) => backend.time("laws", ms),
  );
  const train = trainView(
    () => backend.current(),
    () => compose.state(),
    (ms, b) => backend.time("train step", ms, b),
  );
  Object.assign(globalThis, {
    playground: { compose, check, train, backend, colour },
  });
  await compose.refresh();
  byId("loading").hidden = true;
  document.body.dataset.ready = "true";
}

main().catch((e: unknown) => {
  const msg = e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e);
  byId("loading").textContent = `The playground failed to start: ${msg}`;
  document.body.dataset.ready = "error";
  throw e;
});
