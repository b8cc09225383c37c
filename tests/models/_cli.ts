// Helpers of the command-line tests: run a CLI main with its output
// captured, read a line of a dry run's plan, write a tiny Multi30k folder.

/** Runs `fn` with console output captured: its exit code and the output. */
export async function quiet(
  fn: () => Promise<number>,
): Promise<[number, string]> {
  const log = console.log, err = console.error;
  const out: string[] = [];
  console.log = console.error = (...a: unknown[]) => out.push(a.join(" "));
  try {
    return [await fn(), out.join("\n")];
  } finally {
    console.log = log;
    console.error = err;
  }
}

/** What a dry run's plan prints after `label`. */
export function planned(log: string, label: string): string {
  const m = new RegExp(`^\\s+${label}\\s+(.*)$`, "m").exec(log);
  if (m === null) throw new Error(`no ${label} in:\n${log}`);
  return m[1]!;
}

/** Writes a three-sentence Multi30k folder (train 12, val 3, test 3 pairs) into `dir`; returns `dir`. */
export async function tinyMulti30k(dir: string): Promise<string> {
  const de = ["ein hund läuft", "eine katze schläft", "der mann isst"];
  const en = ["a dog runs", "a cat sleeps", "the man eats"];
  const stems = [["train", 12], ["val", 3], ["test_2016_flickr", 3]] as const;
  for (const [stem, n] of stems) {
    for (const [lang, side] of [["de", de], ["en", en]] as const) {
      await Deno.writeTextFile(
        `${dir}/${stem}.${lang}`,
        Array.from({ length: n }, (_, i) => side[i % 3]).join("\n") + "\n",
      );
    }
  }
  return dir;
}
