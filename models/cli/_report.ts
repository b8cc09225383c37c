// The one code path that writes explain.html, shared by `deno task explain`
// and `deno task predict --explain`.

import type { TrainedModel } from "../inference.ts";
import { explainClassifier, explainTranslator } from "../explain.ts";
import { explanationHtml } from "../explain_html.ts";
import { writeFileAtomic } from "../train/run_dir.ts";

/** Explains `text` with the trained model, writes `out`/explain.html, returns its path. */
export async function writeExplanation(
  trained: TrainedModel,
  text: string,
  opts: { readonly out: string; readonly beam: number },
): Promise<string> {
  const e = trained.task === "translate"
    ? await explainTranslator(trained.model, text, { beam: opts.beam })
    : await explainClassifier(trained.model, text);
  // never through a link planted in the run folder
  await writeFileAtomic(opts.out, "explain.html", explanationHtml(e));
  return `${opts.out}/explain.html`;
}
