/**
 * Child processes of `run.ts`: `deno run -A script args`, with the parent's
 * environment and niceness, driven by lines on stdin and answering
 * `@@tag {json}` lines on stdout; stderr is kept for error messages.
 *
 * @module
 */

/** A running child. */
export interface Child {
  /** Sends `command` and waits for the next `@@tag` line (its JSON). */
  ask(command: string, tag: string): Promise<unknown>;
  /** Closes stdin, then waits for the exit: the last `@@tag` line (or null), stderr, exit code. */
  finish(tag: string): Promise<{ line: unknown; stderr: string; code: number }>;
  /** Sends `quit` and waits for the exit. */
  close(): Promise<void>;
}

/** Starts `deno run -A script ...args`. */
export function spawnChild(script: string, args: readonly string[]): Child {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = proc.stdin.getWriter();
  const enc = new TextEncoder();
  let stderr = "";
  const errDone = (async () => {
    const dec = new TextDecoder();
    for await (const c of proc.stderr) {
      stderr += dec.decode(c, { stream: true });
    }
  })();
  const lines = (async function* () {
    const dec = new TextDecoder();
    let buf = "";
    for await (const c of proc.stdout) {
      buf += dec.decode(c, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        yield buf.slice(0, i);
        buf = buf.slice(i + 1);
      }
    }
    if (buf !== "") yield buf;
  })();
  const next = async (tag: string): Promise<unknown | null> => {
    for (;;) {
      const r = await lines.next();
      if (r.done) return null;
      if (r.value.startsWith(`@@${tag} `)) {
        return JSON.parse(r.value.slice(tag.length + 3));
      }
    }
  };
  let closed = false;
  const closeIn = async () => {
    if (!closed) {
      closed = true;
      await writer.close().catch(() => {});
    }
  };
  return {
    async ask(command, tag) {
      await writer.write(enc.encode(command + "\n"));
      const got = await next(tag);
      if (got === null) {
        await errDone;
        throw new Error(
          `child ${script} ended without an answer: ${stderr.slice(-600)}`,
        );
      }
      return got;
    },
    async finish(tag) {
      await closeIn();
      let line: unknown = null;
      for (;;) {
        const got = await next(tag);
        if (got === null) break;
        line = got;
      }
      const { code } = await proc.status;
      await errDone;
      return { line, stderr, code };
    },
    async close() {
      if (!closed) await writer.write(enc.encode("quit\n")).catch(() => {});
      await closeIn();
      for await (const _ of lines) { /* drain */ }
      await proc.status;
      await errDone;
    },
  };
}
