/**
 * Turning file bytes into text: strict UTF-8 with errors that point at the
 * bad byte, BOM handling, and reading files by path, URL, Blob or bytes.
 *
 * @module
 */

import { DataError } from "./errors.ts";

const DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Text or raw file bytes, as every reader accepts. */
export type TextInput = string | Uint8Array;

/** Offset of the first byte that is not valid UTF-8, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number, min: number;
    if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/**
 * Decodes bytes as strict UTF-8 (or passes a string through) and strips a
 * leading byte-order mark. Invalid bytes throw a {@link DataError} with the
 * line and byte offset; UTF-16 input is named as such.
 */
export function decodeText(input: TextInput, source: string): string {
  let text: string;
  if (typeof input === "string") {
    text = input;
  } else {
    const [b0, b1] = [input[0], input[1]];
    if ((b0 === 0xff && b1 === 0xfe) || (b0 === 0xfe && b1 === 0xff)) {
      throw new DataError(
        { source, line: 1 },
        "the file is UTF-16 (it starts with a UTF-16 byte-order mark); re-encode it as UTF-8",
      );
    }
    try {
      text = DECODER.decode(input);
    } catch {
      const at = firstInvalidUtf8(input);
      let line = 1;
      for (let i = 0; i < at; i++) if (input[i] === 0x0a) line++;
      const hex = input[at]?.toString(16).padStart(2, "0") ?? "??";
      throw new DataError(
        { source, line },
        `invalid UTF-8 byte 0x${hex} at byte offset ${at}; re-encode the file as UTF-8`,
      );
    }
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Where a loader reads a file from: a path or `file:` URL (under Deno), an
 * `http:`/`https:` URL (or a string starting with one; read with `fetch`),
 * a `Blob` (a `File` from a page's file input), or the bytes themselves.
 * In a browser a relative path is resolved against the page and fetched.
 */
export type FileSource = string | URL | Blob | Uint8Array;

/** A short name for a file source, for error messages. */
export function sourceName(path: FileSource): string {
  if (path instanceof Uint8Array) return "bytes";
  if (typeof Blob === "function" && path instanceof Blob) {
    const name = (path as { name?: unknown }).name;
    return typeof name === "string" && name !== "" ? name : "blob";
  }
  return path instanceof URL
    ? (path.protocol === "file:"
      ? decodeURIComponent(path.pathname)
      : path.href)
    : String(path);
}

/** The Deno namespace when running under Deno (undefined in a browser). */
function deno(): typeof Deno | undefined {
  return (globalThis as { Deno?: typeof Deno }).Deno;
}

/** The page's address in a browser, or undefined. */
function pageUrl(): string | undefined {
  const loc = (globalThis as { location?: { href?: unknown } }).location;
  return typeof loc?.href === "string" ? loc.href : undefined;
}

/**
 * Where to fetch `path` from, or null when it is a local file: URLs other
 * than `file:`, strings that start with `http://` or `https://`, and, in a
 * browser (no `Deno`), any other string, relative to the page.
 */
function fetchUrl(path: string | URL): URL | null {
  if (path instanceof URL) return path.protocol === "file:" ? null : path;
  if (/^https?:\/\//i.test(path)) return new URL(path);
  if (deno() !== undefined) return null;
  const base = pageUrl();
  return base === undefined ? null : new URL(path, base);
}

async function fetchBytes(
  url: URL,
  source: string,
  hint: string,
): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new DataError(
      { source },
      `cannot fetch it: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new DataError(
      { source },
      res.status === 404
        ? `file not found (HTTP 404)${hint}`
        : `cannot fetch it: HTTP ${res.status} ${res.statusText}`.trimEnd(),
    );
  }
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Reads a file's bytes from any {@link FileSource}, turning "not found"
 * into a `DataError` that names the source (the message says what to do
 * about it). Local files need Deno; URLs need `fetch` (and, under Deno,
 * `--allow-net`).
 */
export async function readBytes(
  path: FileSource,
  hint = "",
): Promise<Uint8Array> {
  if (path instanceof Uint8Array) return path;
  const source = sourceName(path);
  if (typeof Blob === "function" && path instanceof Blob) {
    return new Uint8Array(await path.arrayBuffer());
  }
  const p = path as string | URL;
  const url = fetchUrl(p);
  if (url !== null) {
    if (!["http:", "https:", "blob:", "data:"].includes(url.protocol)) {
      throw new DataError(
        { source },
        `cannot read a ${url.protocol} URL; pass a local file path, an http(s) URL, a Blob or the bytes${hint}`,
      );
    }
    return await fetchBytes(url, source, hint);
  }
  const d = deno();
  if (d === undefined) {
    throw new DataError(
      { source },
      `cannot read a local file outside Deno; pass an http(s) URL, a Blob or the bytes${hint}`,
    );
  }
  try {
    return await d.readFile(p);
  } catch (e) {
    if (e instanceof d.errors.NotFound) {
      throw new DataError({ source }, `file not found${hint}`);
    }
    if (e instanceof d.errors.IsADirectory) {
      throw new DataError({ source }, "is a directory, not a file");
    }
    throw e;
  }
}
