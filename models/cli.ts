/**
 * `deno task train`: the training command line. Training arrives with the
 * models issue; until then this says what is coming and exits cleanly.
 *
 * @module
 */

if (import.meta.main) {
  console.log(
    [
      "heed train: not built yet.",
      "Coming: `deno task train` trains an attention classifier on the bundled",
      "banking77 data (or a translator on Tatoeba) and prints test accuracy/BLEU.",
      "What works today: the tensor core, autodiff and data pipelines; run `deno task test`.",
    ].join("\n"),
  );
}
