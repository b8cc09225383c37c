/**
 * RESULTS.md of `run.ts`: the command, the machine, the date, and one table
 * of figures with their ratios and goals.
 *
 * @module
 */

/** One line of the table. */
export interface Row {
  readonly part: string;
  readonly what: string;
  readonly value: string;
  readonly extra: string;
}

function machine(): string {
  let cpu = "unknown CPU";
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    cpu = /model name\s*:\s*(.+)/.exec(info)?.[1] ?? cpu;
  } catch { /* not Linux */ }
  let load = "";
  try {
    load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3)
      .join(" ");
  } catch { /* not Linux */ }
  return `${cpu}, ${navigator.hardwareConcurrency} cores; Deno ${Deno.version.deno}; load average at the end ${load}`;
}

/** The markdown report. */
export function writeReport(r: {
  rows: readonly Row[];
  notes: readonly string[];
  command: string;
  rounds: number;
}): string {
  const out = [
    "# Fused attention: benchmark results (bench/attention_fused/run.ts)",
    "",
    `- Command: \`${r.command}\``,
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${machine()}`,
    `- Times are CPU ms of the whole child process (every thread: jax-js's wasm workers count), then wall ms; min (median) over the warm rounds (parts 1-2: ${r.rounds}; part 4: up to 3), the cold first round apart; parts 3 and 5 are one child per path (part 5: one epoch twice, the second measured). The machine was shared with a training run, so the benchmark ran under \`nice -n 19\`: read the CPU-time ratios, not the wall times. heed runs with HEED_THREADS as given (1: one thread); jax-js uses its own worker pool.`,
    "",
    "| part | figure | CPU ms (or value) | wall ms / goal |",
    "|---|---|---:|---|",
    ...r.rows.map((x) => `| ${x.part} | ${x.what} | ${x.value} | ${x.extra} |`),
    "",
    ...r.notes.map((n) => `- ${n}`),
    "",
  ];
  return out.join("\n");
}
