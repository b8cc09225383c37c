/**
 * Turning file bytes into text: strict UTF-8 with errors that point at the
 * bad byte, BOM handling, and reading files by path or URL.
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

/** A short name for a path or URL, for error messages. */
export function sourceName(path: string | URL): string {
  return path instanceof URL
    ? (path.protocol === "file:"
      ? decodeURIComponent(path.pathname)
      : path.href)
    : path;
}

/**
 * Reads a file's bytes, turning "not found" into a `DataError` that names
 * the path (the message says what to do about it).
 */
export async function readBytes(
  path: string | URL,
  hint = "",
): Promise<Uint8Array> {
  const source = sourceName(path);
  if (path instanceof URL && path.protocol !== "file:") {
    throw new DataError(
      { source },
      `cannot read a ${path.protocol} URL; pass a local file path${hint}`,
    );
  }
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataError({ source }, `file not found${hint}`);
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new DataError({ source }, "is a directory, not a file");
    }
    throw e;
  }
}
