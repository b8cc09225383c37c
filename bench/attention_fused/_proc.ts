/**
 * What the children of `run.ts` share: CPU time of this process (every
 * thread), its peak resident set, the `@@<tag> {json}` line protocol and
 * reading stdin line by line.
 *
 * @module
 */

import process from "node:process";

/** CPU ms (user + system, every thread) this process has used (Linux /proc; else process.cpuUsage). */
export function cpuMs(): number {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]!
      .split(" ");
    const hz = 100; // USER_HZ on Linux
    return (Number(f[11]) + Number(f[12])) * (1000 / hz);
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
}

/** Peak resident set of this process in MiB (Linux VmHWM; else the current RSS). */
export function peakRssMiB(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    if (kb) return Number(kb) / 1024;
  } catch { /* not Linux */ }
  return Deno.memoryUsage().rss / 2 ** 20;
}

/** Prints one protocol line `@@tag {json}` that run.ts reads. */
export function emitLine(tag: string, value: unknown): void {
  console.log(`@@${tag} ${JSON.stringify(value)}`);
}

/** The lines of stdin, as they arrive. */
export async function* readLines(): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of Deno.stdin.readable) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
    }
  }
  if (buf.trim() !== "") yield buf.trim();
}
