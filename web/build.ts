// Bundles the playground with `deno bundle`: web/main.ts to app.js and
// web/train_worker.ts to worker.js, for the browser, as ES modules. The
// bundle is rebuilt when any of heed's sources is newer than it.

/** The repository's root. */
export const ROOT: URL = new URL("../", import.meta.url);

/** The default output folder, web/dist/ (ignored by git). */
export const DIST: URL = new URL("dist/", import.meta.url);

/** The bundles and their entry points. */
const ENTRIES: Readonly<Record<string, string>> = {
  "app.js": "web/main.ts",
  "worker.js": "web/train_worker.ts",
};

/** Folders whose TypeScript ends up in the bundles. */
const SOURCES = ["web", "ops", "attention", "data", "models", "testing"];

async function newestSource(): Promise<number> {
  let newest = (await Deno.stat(new URL("mod.ts", ROOT))).mtime?.getTime() ?? 0;
  const walk = async (dir: URL): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      if (e.name === "dist" || e.name.startsWith(".")) continue;
      const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
      if (e.isDirectory) await walk(u);
      else if (/\.(ts|js|html)$/.test(e.name)) {
        newest = Math.max(newest, (await Deno.stat(u)).mtime?.getTime() ?? 0);
      }
    }
  };
  for (const s of SOURCES) await walk(new URL(`${s}/`, ROOT));
  return newest;
}

async function builtAt(out: URL): Promise<number> {
  let oldest = Infinity;
  for (const name of Object.keys(ENTRIES)) {
    try {
      oldest = Math.min(
        oldest,
        (await Deno.stat(new URL(name, out))).mtime?.getTime() ?? 0,
      );
    } catch {
      return 0; // missing
    }
  }
  return oldest;
}

/** Bundles `entry` (a path under the repository) for the browser into `out`. */
export async function bundleOne(entry: string, out: URL): Promise<void> {
  const res = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--format",
      "esm",
      "--external",
      "node:*",
      "-o",
      out.pathname,
      entry,
    ],
    cwd: ROOT.pathname,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!res.success) throw new Error(`deno bundle ${entry} failed`);
}

/**
 * Builds app.js and worker.js into `out` unless they are newer than every
 * source (or `force`). Resolves to whether it built.
 */
export async function buildPlayground(
  out: URL = DIST,
  opts: { readonly force?: boolean } = {},
): Promise<boolean> {
  if (!opts.force && (await builtAt(out)) > (await newestSource())) {
    return false;
  }
  await Deno.mkdir(out, { recursive: true });
  await Promise.all(
    Object.entries(ENTRIES).map(([name, entry]) =>
      bundleOne(entry, new URL(name, out))
    ),
  );
  return true;
}
