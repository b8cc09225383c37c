// An exclusive lock on a run folder: `run.lock`, written under a temporary
// name, linked into place (a link never replaces a file) and held with an
// advisory OS lock (flock) for the life of the process.
//
// Liveness comes from the OS lock, not from the pid: the OS drops it when
// the holder exits, even on `kill -9`, and no permission beyond
// `--allow-read`/`--allow-write` is needed (checking a pid would need
// `--allow-run` or `/proc`, which Deno gates behind `--allow-all`). The pid,
// host, start time and command in the file are for the error message.

import {
  lstatOrNull,
  RunDirError,
  safeTarget,
  tempName,
  writeAll,
} from "./_safe_fs.ts";

/** The lock file's name inside a run folder. */
export const LOCK_NAME = "run.lock";

/** Who holds a run folder, as its lock file says. */
export interface LockHolder {
  /** Process id. */
  readonly pid: number;
  /** Host name (`unknown` when it could not be read). */
  readonly hostname: string;
  /** ISO time the lock was taken. */
  readonly started: string;
  /** The command line of the holder. */
  readonly command: string;
}

/** A held lock on a run folder; release it with `release()` or `await using`. */
export interface RunLock extends AsyncDisposable {
  /** The lock file. */
  readonly path: string;
  /** What this process wrote into the lock file. */
  readonly holder: LockHolder;
  /** A notice when a stale lock of a dead run was taken over, else null. */
  readonly notice: string | null;
  /** Removes the lock file and drops the OS lock; idempotent. */
  release(): Promise<void>;
}

/** Options of {@link lockRunDir}. */
export interface LockOptions {
  /** The command recorded in the lock file (default `Deno.args` joined). */
  readonly command?: string;
  /** As in the safe writes: the folder the run folder must stay inside. */
  readonly root?: string;
}

/** A second run on a folder that a live run holds. */
export class RunLockedError extends RunDirError {
  /** The holder, as its lock file says (null when unreadable). */
  readonly holder: LockHolder | null;
  /** Builds the error for the lock file at `path`. */
  constructor(path: string, holder: LockHolder | null, why: string) {
    super(path, `${why} (lock file ${path})`);
    this.name = "RunLockedError";
    this.holder = holder;
  }
}

let cachedHost: string | null = null;

function granted(desc: Deno.PermissionDescriptor): boolean {
  return Deno.permissions.querySync(desc).state === "granted";
}

/**
 * The host name: from `Deno.hostname()` with `--allow-sys`, else from
 * /etc/hostname; never prompts for a permission.
 */
export function hostName(): string {
  if (cachedHost !== null) return cachedHost;
  cachedHost = "unknown";
  try {
    if (granted({ name: "sys", kind: "hostname" })) {
      cachedHost = Deno.hostname();
    } else if (granted({ name: "read", path: "/etc/hostname" })) {
      cachedHost = Deno.readTextFileSync("/etc/hostname").trim() || "unknown";
    }
  } catch { /* no host name to be had */ }
  return cachedHost;
}

/** Parses a lock file's text; null when it is not a holder record. */
function parseHolder(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text);
    if (
      h !== null && typeof h === "object" && Number.isSafeInteger(h.pid) &&
      typeof h.hostname === "string" && typeof h.started === "string" &&
      typeof h.command === "string"
    ) {
      const cut = (s: string) => s.slice(0, 200);
      return {
        pid: h.pid,
        hostname: cut(h.hostname),
        started: cut(h.started),
        command: cut(h.command),
      };
    }
  } catch { /* a torn or foreign file: no holder */ }
  return null;
}

function describe(h: LockHolder | null): string {
  return h === null
    ? "a run whose lock file cannot be read"
    : `pid ${h.pid} on ${h.hostname} (started ${h.started}, command ${
      JSON.stringify(h.command)
    })`;
}

async function readAll(f: Deno.FsFile): Promise<string> {
  await f.seek(0, Deno.SeekMode.Start);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(4096);
  for (let n = await f.read(buf); n !== null && total < 65536;) {
    chunks.push(buf.slice(0, n));
    total += n;
    n = await f.read(buf);
  }
  const all = new Uint8Array(total);
  chunks.reduce((at, c) => (all.set(c, at), at + c.length), 0);
  return new TextDecoder().decode(all);
}

/** Closes `f`, ignoring a file already closed. */
function closeQuietly(f: Deno.FsFile): void {
  try {
    f.close();
  } catch { /* closed */ }
}

/**
 * Takes the exclusive lock on run folder `dir` (`dir/run.lock`). A folder
 * held by a live process is a {@link RunLockedError} naming the holder; a
 * lock left by a dead run on this host is taken over, with a `notice`. The
 * lock is released by `release()`, at normal exit (an `unload` handler) and,
 * for the OS lock, when the process dies.
 *
 * The lock file is written, synced and OS-locked under a temporary name,
 * then linked to `run.lock` (a link never replaces a file), so `run.lock`
 * always holds a complete record and is locked from its first moment.
 */
export async function lockRunDir(
  dir: string,
  opts: LockOptions = {},
): Promise<RunLock> {
  const holder: LockHolder = {
    pid: Deno.pid,
    hostname: hostName(),
    started: new Date().toISOString(),
    command: opts.command ?? Deno.args.join(" "),
  };
  const { path } = await safeTarget(dir, LOCK_NAME, opts);
  const tmp = `${dir.replace(/[\\/]+$/, "")}/${tempName(LOCK_NAME)}`;
  const mine = await Deno.open(tmp, {
    read: true,
    write: true,
    createNew: true,
  });
  let keep = false;
  try {
    await mine.tryLock(true); // nobody else knows this file yet
    await writeAll(
      mine,
      new TextEncoder().encode(JSON.stringify(holder) + "\n"),
    );
    await mine.syncData();
    const ino = (await mine.stat()).ino;
    for (let attempt = 0; attempt < 5; attempt++) {
      await safeTarget(dir, LOCK_NAME, opts); // refuses a planted link
      try {
        await Deno.link(tmp, path);
        keep = true;
        return held(path, mine, ino, holder, null);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) break; // our temp was cleaned
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      let old: Deno.FsFile;
      try {
        old = await Deno.open(path, { read: true });
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue; // released meanwhile
        throw e;
      }
      try {
        const h = parseHolder(await readAll(old));
        if (!(await old.tryLock(true))) {
          throw new RunLockedError(
            path,
            h,
            `${dir} is in use by another run: ${describe(h)}`,
          );
        }
        // unlocked: its run has ended, unless the file was replaced meanwhile
        const now = await lstatOrNull(path);
        if (now === null || now.ino !== (await old.stat()).ino) continue;
        if (h !== null && h.hostname !== holder.hostname) {
          throw new RunLockedError(
            path,
            h,
            `${dir} is locked by a run on another host: ${
              describe(h)
            }; delete the lock file if that run has ended`,
          );
        }
        // holding the dead run's OS lock, nobody else can replace it now
        await Deno.rename(tmp, path);
        keep = true;
        return held(
          path,
          mine,
          ino,
          holder,
          `${dir}: took over the lock of a run that has ended: ${describe(h)}`,
        );
      } finally {
        closeQuietly(old);
      }
    }
  } finally {
    if (!keep) closeQuietly(mine);
    await Deno.remove(tmp).catch(() => {});
  }
  throw new RunLockedError(
    path,
    null,
    `${dir}: the lock changed hands repeatedly; try again`,
  );
}

function held(
  path: string,
  f: Deno.FsFile,
  ino: number | null,
  holder: LockHolder,
  notice: string | null,
): RunLock {
  let done = false;
  const removeIfMine = () => {
    try {
      const now = Deno.lstatSync(path);
      if (ino === null || now.ino === ino) Deno.removeSync(path);
    } catch { /* already gone */ }
  };
  const onUnload = () => {
    if (done) return;
    done = true;
    removeIfMine();
  };
  globalThis.addEventListener("unload", onUnload);
  const release = (): Promise<void> => {
    if (!done) {
      done = true;
      globalThis.removeEventListener("unload", onUnload);
      removeIfMine(); // unlink before unlocking: a waiter re-checks the inode
      f.close();
    }
    return Promise.resolve();
  };
  return {
    path,
    holder,
    notice,
    release,
    [Symbol.asyncDispose]: release,
  };
}
