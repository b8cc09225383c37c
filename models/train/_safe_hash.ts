// Content fingerprints for `--resume` and `eval`: SHA-256 of a JSON value
// (keys sorted, so key order does not matter) or of a data file or folder.

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o).sort().map((k) => [k, canonical(o[k])]),
    );
  }
  return v;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return `sha256:${
    [...d].map((b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}

/**
 * `sha256:<hex>` of a JSON value (object keys sorted), e.g. a tokenizer's
 * JSON, to store in a checkpoint and compare on `--resume` cheaply.
 *
 * @example
 * ```ts
 * import { fingerprint } from "./validate.ts";
 * import { assertEquals, assertNotEquals } from "@std/assert";
 *
 * assertEquals(await fingerprint({ a: 1, b: 2 }), await fingerprint({ b: 2, a: 1 }));
 * assertNotEquals(await fingerprint(["x"]), await fingerprint(["y"]));
 * ```
 */
export async function fingerprint(value: unknown): Promise<string> {
  return await sha256(
    new TextEncoder().encode(JSON.stringify(canonical(value)) ?? "undefined"),
  );
}

/** What identifies a run's data: the path as given, its size and content hash. */
export interface DataIdentity {
  /** The path as given to `--data` (null for bundled data). */
  readonly path: string | null;
  /** Total bytes of the file (or of the folder's files). */
  readonly bytes: number;
  /** `sha256:<hex>` of the content (a folder: of each file's name and hash). */
  readonly hash: string;
}

/**
 * The identity of a data file, or of a folder's regular files (not
 * recursive, names sorted). Reads every byte once; a CSV of a few hundred
 * MB takes about a second.
 */
export async function dataIdentity(path: string): Promise<DataIdentity> {
  const info = await Deno.stat(path);
  if (info.isFile) {
    const bytes = await Deno.readFile(path);
    return { path, bytes: bytes.length, hash: await sha256(bytes) };
  }
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) if (e.isFile) names.push(e.name);
  names.sort();
  let total = 0;
  const parts: string[] = [];
  for (const n of names) {
    const bytes = await Deno.readFile(`${path}/${n}`);
    total += bytes.length;
    parts.push(`${n}\t${await sha256(bytes)}`);
  }
  return {
    path,
    bytes: total,
    hash: await sha256(new TextEncoder().encode(parts.join("\n"))),
  };
}
