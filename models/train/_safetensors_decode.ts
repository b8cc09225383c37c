/**
 * Reading safetensors bytes, checking every claim the header makes.
 *
 * @module
 */

import { type Json, parseStrictJson } from "./_safetensors_json.ts";
import {
  BY_CODE,
  CheckpointError,
  CODES,
  fmt,
  type HostTensor,
  LITTLE_ENDIAN,
  MAX_HEADER_BYTES,
  type SafetensorsDtype,
} from "./_safetensors_format.ts";

/** The contents of a safetensors file. */
export interface Safetensors {
  /** Tensors by name, in header order. */
  readonly tensors: Record<string, HostTensor>;
  /** The `__metadata__` string map (empty when absent). */
  readonly metadata: Record<string, string>;
}

/** Options of {@link decodeSafetensors}. */
export interface DecodeOptions {
  /** Name used in error messages (a file path). Default `"safetensors"`. */
  readonly source?: string;
  /** Largest header accepted, in bytes. Default 100,000,000 (as safetensors). */
  readonly maxHeaderBytes?: number;
}

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function isIndex(x: Json | undefined): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function describe(x: Json | undefined): string {
  const s = x instanceof Map ? "an object" : JSON.stringify(x) ?? String(x);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function readEntry(
  err: (p: string) => CheckpointError,
  name: string,
  info: Json,
  bufLen: number,
): Entry {
  const t = `tensor ${JSON.stringify(name)}`;
  if (!(info instanceof Map)) {
    throw err(`${t} is ${describe(info)}, not an object`);
  }
  for (const k of info.keys()) {
    if (k !== "dtype" && k !== "shape" && k !== "data_offsets") {
      throw err(`${t} has an unknown field ${JSON.stringify(k)}`);
    }
  }
  const code = info.get("dtype");
  if (typeof code !== "string") {
    throw err(`${t} has dtype ${describe(code)}, not a string`);
  }
  const dtype = BY_CODE.get(code);
  if (dtype === undefined) {
    throw err(
      `${t} has unsupported dtype ${
        JSON.stringify(code)
      } (heed reads F32, F64, I32, BOOL)`,
    );
  }
  const shape = info.get("shape");
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw err(
      `${t} has shape ${describe(shape)}, not a list of non-negative integers`,
    );
  }
  const offs = info.get("data_offsets");
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isIndex)) {
    throw err(
      `${t} has data_offsets ${describe(offs)}, not two non-negative integers`,
    );
  }
  const [begin, end] = offs as [number, number];
  if (begin > end || end > bufLen) {
    throw err(
      `${t} has data_offsets [${begin},${end}] outside the ${bufLen}-byte data buffer`,
    );
  }
  // element count, stopping early once it cannot fit the buffer
  let numel = shape.includes(0) ? 0 : 1;
  for (const d of numel === 0 ? [] : shape) {
    numel *= d;
    if (numel > bufLen) {
      throw err(
        `${t} has shape ${
          fmt(shape)
        }, larger than the ${bufLen}-byte data buffer`,
      );
    }
  }
  const size = numel * CODES[dtype].bytes;
  if (size !== end - begin) {
    throw err(
      `${t}: ${code} ${fmt(shape)} needs ${size} bytes but data_offsets span ${
        end - begin
      }`,
    );
  }
  return { name, dtype, shape, begin, end };
}

function readData(
  e: Entry,
  bytes: Uint8Array,
  err: (p: string) => CheckpointError,
): HostTensor {
  const src = bytes.subarray(e.begin, e.end);
  const w = CODES[e.dtype].bytes;
  const buf = new ArrayBuffer(src.length);
  const dst = new Uint8Array(buf);
  if (LITTLE_ENDIAN || w === 1) dst.set(src);
  else {
    for (let i = 0; i < src.length; i += w) {
      for (let j = 0; j < w; j++) dst[i + j] = src[i + w - 1 - j]!;
    }
  }
  switch (e.dtype) {
    case "float32":
      return { dtype: e.dtype, shape: e.shape, data: new Float32Array(buf) };
    case "float64":
      return { dtype: e.dtype, shape: e.shape, data: new Float64Array(buf) };
    case "int32":
      return { dtype: e.dtype, shape: e.shape, data: new Int32Array(buf) };
    case "bool": {
      const bad = dst.findIndex((v) => v > 1);
      if (bad >= 0) {
        throw err(
          `tensor ${JSON.stringify(e.name)} holds byte ${
            dst[bad]
          } at ${bad}, not a bool`,
        );
      }
      return { dtype: e.dtype, shape: e.shape, data: dst };
    }
    default:
      return e.dtype satisfies never;
  }
}

/**
 * Decodes a safetensors byte array, checking everything a header could lie
 * about: the header length against the size (before anything is
 * allocated), UTF-8 and JSON validity, duplicate names, field types, dtypes,
 * that each tensor's byte span matches its shape, and that the spans tile
 * the data buffer with no gaps or overlaps. Every failure is a
 * {@link CheckpointError}.
 *
 * @example A truncated file is a clear error
 * ```ts
 * import { CheckpointError, decodeSafetensors, encodeSafetensors } from "@heed/heed/models";
 * import { assertThrows } from "@std/assert";
 *
 * const bytes = encodeSafetensors({ b: { dtype: "int32", shape: [3], data: new Int32Array([1, 2, 3]) } });
 * assertThrows(() => decodeSafetensors(bytes.subarray(0, 20), { source: "x.safetensors" }), CheckpointError, "x.safetensors:");
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  opts: DecodeOptions = {},
): Safetensors {
  const source = opts.source ?? "safetensors";
  const err = (p: string) => new CheckpointError(source, p);
  const max = opts.maxHeaderBytes ?? MAX_HEADER_BYTES;
  if (!(bytes instanceof Uint8Array)) {
    throw err("expected a Uint8Array of file bytes");
  }
  if (bytes.length < 8) {
    throw err(
      `file is ${bytes.length} bytes, too short for the 8-byte header length`,
    );
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(
    0,
    true,
  );
  if (n > BigInt(max)) {
    throw err(`header length ${n} exceeds the ${max}-byte limit`);
  }
  const headerLen = Number(n);
  if (8 + headerLen > bytes.length) {
    throw err(
      `header length ${headerLen} runs past the end of the ${bytes.length}-byte file (truncated?)`,
    );
  }
  if (headerLen === 0 || bytes[8] !== 0x7b) {
    throw err("header does not start with '{'");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(8, 8 + headerLen),
    );
  } catch {
    throw err("header is not valid UTF-8");
  }
  let header: Json;
  try {
    header = parseStrictJson(text, 8);
  } catch (e) {
    throw err(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!(header instanceof Map)) throw err("header is not a JSON object");
  const data = bytes.subarray(8 + headerLen);
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of header) {
    if (name !== "__metadata__") {
      entries.push(readEntry(err, name, info, data.length));
      continue;
    }
    if (!(info instanceof Map)) throw err("__metadata__ is not an object");
    for (const [k, v] of info) {
      if (typeof v !== "string") {
        throw err(
          `__metadata__ ${JSON.stringify(k)} is ${describe(v)}, not a string`,
        );
      }
      Object.defineProperty(metadata, k, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  // the spans must tile [0, data.length) exactly
  const sorted = [...entries].sort((a, b) =>
    a.begin - b.begin || a.end - b.end
  );
  let at = 0;
  for (const e of sorted) {
    if (e.begin !== at) {
      throw err(
        `tensor ${
          JSON.stringify(e.name)
        } starts at byte ${e.begin}, expected ${at} (${
          e.begin > at ? "gap" : "overlap"
        })`,
      );
    }
    at = e.end;
  }
  if (at !== data.length) {
    throw err(
      `${
        data.length - at
      } bytes after the last tensor are not covered by any tensor`,
    );
  }
  const tensors: Record<string, HostTensor> = {};
  for (const e of entries) {
    Object.defineProperty(tensors, e.name, {
      value: readData(e, data, err),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { tensors, metadata };
}
