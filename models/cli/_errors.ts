// The top of every heed command (`train`, `predict`, `eval`): any error
// becomes one line on stderr, `<command>: <what>` (with `<file>:<line>: `
// when the error carries a data file's location), and a non-zero exit code.
// A stack trace is printed only with `--debug`, a flag rather than an
// environment variable, since the tasks name every variable they may read.

/** A mistake in how the command was called; exits with code 2. */
export class UsageError extends Error {
  /** Builds the error; the message names the flag. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Options of {@link describeError}. */
export interface DescribeOptions {
  /** The folder the tasks may write (default `runs`). */
  readonly writable?: string;
}

/** One line and an exit code for an error. */
export interface ErrorLine {
  /** `<command>: <what>`, without a newline. */
  readonly line: string;
  /** 2 for a usage error, else 1. */
  readonly code: number;
}

const GRANT =
  /Requires (\w+) access to "?(.*?)"?, run again with the (--allow-[\w-]+) flag/;
const OS_PATH = /\(os error \d+\):? \w+ '(.*)'/;

function permissionLine(msg: string, writable: string): string {
  const m = GRANT.exec(msg);
  if (m === null) return `a permission is missing: ${msg}`;
  const [, kind, what, flag] = m;
  switch (kind) {
    case "write":
      return `no permission to write ${what}: the task may write only inside ${writable}/ (--allow-write=${writable}); choose an --out inside ${writable}/`;
    case "read":
      return `no permission to read ${what} (${flag})`;
    case "env":
      return `no permission to read the environment variable ${what}: the task lists the variables heed may read in --allow-env`;
    default:
      return `no ${kind} permission for ${what} (${flag})`;
  }
}

/** The location prefix of an error that carries a data file's `source` and `line`. */
function located(e: Error, msg: string): string {
  const { source, line } = e as { source?: unknown; line?: unknown };
  if (typeof source !== "string" || source === "") return msg;
  const where = typeof line === "number" ? `${source}:${line}` : source;
  return msg.startsWith(source) ? msg : `${where}: ${msg}`;
}

/**
 * Turns an error into one line for command `name`: Deno's permission
 * refusals name the permission and the folder the task may write; a missing
 * file names the path; data errors keep their `file:line:` prefix.
 *
 * @example
 * ```ts
 * import { describeError } from "./_errors.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const e = new Deno.errors.NotCapable(
 *   'Requires write access to "/etc/x", run again with the --allow-write flag',
 * );
 * assertEquals(
 *   describeError("train", e).line,
 *   "train: no permission to write /etc/x: the task may write only inside runs/ (--allow-write=runs); choose an --out inside runs/",
 * );
 * ```
 */
export function describeError(
  name: string,
  e: unknown,
  opts: DescribeOptions = {},
): ErrorLine {
  const err = e instanceof AggregateError && e.errors.length > 0
    ? e.errors[0]
    : e;
  if (!(err instanceof Error)) {
    return { line: `${name}: ${oneLine(String(err))}`, code: 1 };
  }
  let msg = oneLine(err.message || err.name);
  if (err instanceof Deno.errors.NotCapable) {
    msg = permissionLine(msg, opts.writable ?? "runs");
  } else if (
    err instanceof Deno.errors.NotFound ||
    err instanceof Deno.errors.PermissionDenied ||
    err instanceof Deno.errors.IsADirectory ||
    err instanceof Deno.errors.NotADirectory
  ) {
    const path = OS_PATH.exec(msg)?.[1];
    const what = err instanceof Deno.errors.NotFound
      ? "no such file or folder"
      : err instanceof Deno.errors.PermissionDenied
      ? "the system refuses access (permission denied)"
      : err instanceof Deno.errors.IsADirectory
      ? "is a folder, not a file"
      : "a part of the path is not a folder";
    if (path !== undefined) msg = `${path}: ${what}`;
  } else {
    msg = located(err, msg);
  }
  if (msg.startsWith(`${name}: `)) msg = msg.slice(name.length + 2);
  return { line: `${name}: ${msg}`, code: err instanceof UsageError ? 2 : 1 };
}

function oneLine(s: string): string {
  return s.trim().split(/\s*\n\s*/).filter((l) => l !== "").join("; ");
}

function report(name: string, e: unknown, debug: boolean): number {
  const { line, code } = describeError(name, e);
  console.error(line);
  if (debug) {
    for (let x: unknown = e, depth = 0; x != null && depth < 8; depth++) {
      console.error(x instanceof Error ? x.stack ?? String(x) : String(x));
      x = x instanceof Error ? x.cause : undefined;
      if (x != null) console.error("caused by:");
    }
  }
  return code;
}

/**
 * Runs a command's `main` with `args` (less `--debug`) and exits with its
 * code. Any error, thrown or from a promise nobody awaited, becomes one
 * line on stderr and exit code 1 (2 for a {@link UsageError}); `--debug`
 * adds the stack trace. Ctrl-C and SIGTERM exit (130, 143) through the
 * `unload` handlers, which release a run folder's lock.
 */
export async function runMain(
  name: string,
  main: (args: string[]) => number | Promise<number>,
  args: readonly string[],
): Promise<never> {
  const debug = args.includes("--debug");
  const rest = args.filter((a) => a !== "--debug");
  const fail = (e: unknown) => Deno.exit(report(name, e, debug));
  globalThis.addEventListener("unhandledrejection", (ev) => {
    ev.preventDefault();
    fail(ev.reason);
  });
  globalThis.addEventListener("error", (ev) => {
    ev.preventDefault();
    fail(ev.error ?? ev.message);
  });
  // exiting (rather than dying) on Ctrl-C or SIGTERM runs the `unload`
  // handlers, so the run folder's lock is released
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    try {
      Deno.addSignalListener(sig, () => {
        console.error(`${name}: interrupted`);
        Deno.exit(code);
      });
    } catch { /* the signal does not exist here (Windows) */ }
  }
  let code: number;
  try {
    code = await main(rest);
  } catch (e) {
    return fail(e);
  }
  return Deno.exit(Number.isInteger(code) ? code : 1);
}
