// Writes into a run folder that never go through a symbolic link.
//
// Deno checks `--allow-write=runs` against the path as written, not the file
// it reaches: `runs/x/attention.svg -> /etc/passwd` or a folder link
// `runs/x -> /elsewhere` would let a run write outside `runs`. Every write
// here first checks that the folder's real path lies inside its root (by
// default the first folder of a relative path, `runs` for `runs/a/x`, so
// `runs/x -> /elsewhere` is refused) and that
// the file itself is not a link (lstat). New files are opened exclusively
// (`createNew`, O_EXCL, which never follows a link) and renamed into place.

/** A run-folder write or read that heed refuses, naming the path. */
export class RunDirError extends Error {
  /** The path concerned. */
  readonly path: string;
  /** Builds the error for `path`. */
  constructor(path: string, message: string) {
    super(message);
    this.name = "RunDirError";
    this.path = path;
  }
}

/** Options of the run-folder writes. */
export interface SafeOptions {
  /**
   * The folder the run folder must stay inside once links are resolved
   * (default: a relative path's first folder, `runs` for `runs/a/x`, or
   * `.` for a bare name; an absolute path's parent).
   */
  readonly root?: string;
}

function parentOf(path: string): string {
  const p = path.replace(/[\\/]+$/, "");
  const cut = Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\"));
  return cut < 0 ? "." : cut === 0 ? "/" : p.slice(0, cut);
}

/** The default root of run folder `dir` (see {@link SafeOptions.root}). */
export function defaultRoot(dir: string): string {
  const p = dir.replace(/[\\/]+$/, "");
  if (/^([a-zA-Z]:)?[\\/]/.test(p)) return parentOf(p); // absolute
  const rel = p.replace(/^(\.[\\/])+/, "");
  const first = rel.split(/[\\/]/)[0]!;
  return first === rel || first === "." || first === "" ? "." : first;
}

function isInside(child: string, root: string): boolean {
  const r = root.endsWith("/") || root.endsWith("\\") ? root : `${root}/`;
  return child === root || child.startsWith(r) ||
    child.startsWith(r.replace(/\/$/, "\\"));
}

/** lstat that returns null for a missing path. */
export async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function linkNote(path: string): Promise<string> {
  try {
    return ` (to ${await Deno.readLink(path)})`;
  } catch {
    return "";
  }
}

/**
 * Checks that run folder `dir` exists and that its real path lies inside
 * `opts.root` (see {@link SafeOptions.root}); returns the real path.
 */
export async function checkRunDir(
  dir: string,
  opts: SafeOptions = {},
): Promise<string> {
  const root = opts.root ?? defaultRoot(dir);
  let realDir: string, realRoot: string;
  try {
    [realDir, realRoot] = await Promise.all([
      Deno.realPath(dir),
      Deno.realPath(root),
    ]);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new RunDirError(dir, `run folder ${dir} does not exist`);
  }
  if (!isInside(realDir, realRoot)) {
    const how = /(^|[\\/])\.\.([\\/]|$)/.test(dir)
      ? `through ..; choose an --out inside ${root}`
      : "through a symbolic link; heed does not write through links: remove the link or choose another --out";
    throw new RunDirError(
      dir,
      `run folder ${dir} leads outside ${root} (to ${realDir}) ${how}`,
    );
  }
  return realDir;
}

/**
 * Creates run folder `dir` (and its parents) after checking that the
 * deepest folder that already exists does not lead out of the root through
 * a link, so no folder is ever created outside it; then checks `dir`.
 */
export async function ensureRunDir(
  dir: string,
  opts: SafeOptions = {},
): Promise<string> {
  const root = opts.root ?? defaultRoot(dir);
  let existing = dir.replace(/[\\/]+$/, "");
  while (existing !== root && (await lstatOrNull(existing)) === null) {
    const up = parentOf(existing);
    if (up === existing) break;
    existing = up;
  }
  if (existing !== root) await checkRunDir(existing, { root });
  await Deno.mkdir(dir, { recursive: true });
  return await checkRunDir(dir, opts);
}

/**
 * The path `dir/name` after checking that `name` is a plain file name, that
 * `dir` passes {@link checkRunDir} and that `dir/name` is not a symbolic
 * link. Returns the path and the target's lstat (null if absent).
 */
export async function safeTarget(
  dir: string,
  name: string,
  opts: SafeOptions = {},
): Promise<{ path: string; info: Deno.FileInfo | null }> {
  if (
    name === "" || name === "." || name === ".." || /[\\/\0]/.test(name)
  ) {
    throw new RunDirError(
      `${dir}/${name}`,
      `run folder: ${JSON.stringify(name)} is not a plain file name`,
    );
  }
  await checkRunDir(dir, opts);
  const path = `${dir.replace(/[\\/]+$/, "")}/${name}`;
  const info = await lstatOrNull(path);
  if (info?.isSymlink) {
    throw new RunDirError(
      path,
      `${path} is a symbolic link${await linkNote(
        path,
      )}; heed does not write through links: remove it or choose another --out`,
    );
  }
  if (info !== null && !info.isFile) {
    throw new RunDirError(path, `${path} exists and is not a regular file`);
  }
  return { path, info };
}

/** The hidden temporary name of a write to `name` (as `saveCheckpoint` uses). */
export function tempName(name: string): string {
  return `.${name}.${crypto.randomUUID()}.tmp`;
}

/** Writes all of `data` to an open file. */
export async function writeAll(
  f: Deno.FsFile,
  data: Uint8Array,
): Promise<void> {
  let at = 0;
  while (at < data.length) at += await f.write(data.subarray(at));
}

/**
 * Replaces `dir/name` with `data` atomically: a new hidden temporary file
 * (opened exclusively) is written, synced and renamed over the target, so a
 * crash leaves the old file or the new one, never a mix. Refuses links.
 */
export async function writeFileAtomic(
  dir: string,
  name: string,
  data: Uint8Array | string,
  opts: SafeOptions = {},
): Promise<void> {
  const { path } = await safeTarget(dir, name, opts);
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  const tmp = `${parentOf(path)}/${tempName(name)}`;
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true });
    try {
      await writeAll(f, bytes);
      await f.syncData();
    } finally {
      f.close();
    }
    // a link planted since the check is replaced, not followed: rename
    // swaps the directory entry itself
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Appends `line` and a newline to `dir/name`, creating it exclusively when
 * absent. Refuses links (also one swapped in between the check and the
 * open, by comparing the opened file's inode). If the file ends in a torn
 * line (no final newline), a newline is written first so the new line stays
 * whole.
 */
export async function appendLine(
  dir: string,
  name: string,
  line: string,
  opts: SafeOptions = {},
): Promise<void> {
  if (line.includes("\n")) {
    throw new RangeError(`appendLine: the line for ${name} contains a newline`);
  }
  const { path, info } = await safeTarget(dir, name, opts);
  const f = info === null
    ? await Deno.open(path, { read: true, append: true, createNew: true })
    : await Deno.open(path, { read: true, append: true });
  try {
    const opened = await f.stat();
    if (info !== null && opened.ino !== null && opened.ino !== info.ino) {
      throw new RunDirError(path, `${path} changed while it was being opened`);
    }
    let prefix = "";
    if (opened.size > 0) {
      await f.seek(-1, Deno.SeekMode.End);
      const last = new Uint8Array(1);
      await f.read(last);
      if (last[0] !== 0x0a) prefix = "\n";
    }
    await writeAll(f, new TextEncoder().encode(`${prefix}${line}\n`));
  } finally {
    f.close();
  }
}

/**
 * Reads `dir/name` as text, refusing links and files over `maxBytes`; null
 * when the file does not exist.
 */
export async function readTextSafe(
  dir: string,
  name: string,
  opts: SafeOptions & { readonly maxBytes?: number } = {},
): Promise<string | null> {
  const { path, info } = await safeTarget(dir, name, opts);
  if (info === null) return null;
  const max = opts.maxBytes ?? 64 << 20;
  if (info.size > max) {
    throw new RunDirError(
      path,
      `${path} is ${info.size} bytes, more than the ${max} heed reads`,
    );
  }
  const f = await Deno.open(path, { read: true });
  try {
    const opened = await f.stat();
    if (opened.ino !== null && opened.ino !== info.ino) {
      throw new RunDirError(path, `${path} changed while it was being opened`);
    }
    const buf = new Uint8Array(Math.min(opened.size, max));
    let at = 0;
    while (at < buf.length) {
      const n = await f.read(buf.subarray(at));
      if (n === null) break;
      at += n;
    }
    return new TextDecoder().decode(buf.subarray(0, at));
  } finally {
    f.close();
  }
}
