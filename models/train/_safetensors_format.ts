/**
 * The safetensors format on the host (types, the error class, writing): an 8-byte little-endian header length
 * N, N bytes of UTF-8 JSON (`{name: {dtype, shape, data_offsets}, ...,
 * "__metadata__": {string: string}}`, space-padded), then the tensor bytes,
 * contiguous and in little-endian order. Independent of heed's tensors.
 *
 * @module
 */

/**
 * A checkpoint file (or byte array) that cannot be read: truncated,
 * corrupted, or with a header that lies. The message names the source and
 * the problem.
 */
export class CheckpointError extends Error {
  /** The file (or other source) that failed to decode. */
  readonly source: string;

  /** Makes an error about `source`; the message is prefixed with it. */
  constructor(source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = "CheckpointError";
    this.source = source;
  }
}

/** Element types heed reads and writes (safetensors `F32`, `F64`, `I32`, `BOOL`). */
export type SafetensorsDtype = "float32" | "float64" | "int32" | "bool";

/** A tensor on the host: dtype, shape and row-major little-endian data. */
export type HostTensor =
  | {
    readonly dtype: "float32";
    readonly shape: readonly number[];
    readonly data: Float32Array;
  }
  | {
    readonly dtype: "float64";
    readonly shape: readonly number[];
    readonly data: Float64Array;
  }
  | {
    readonly dtype: "int32";
    readonly shape: readonly number[];
    readonly data: Int32Array;
  }
  | {
    readonly dtype: "bool";
    readonly shape: readonly number[];
    readonly data: Uint8Array;
  };

/** safetensors' own cap on the header size. */
export const MAX_HEADER_BYTES = 100_000_000;

export const CODES: Record<SafetensorsDtype, { code: string; bytes: number }> =
  {
    float32: { code: "F32", bytes: 4 },
    float64: { code: "F64", bytes: 8 },
    int32: { code: "I32", bytes: 4 },
    bool: { code: "BOOL", bytes: 1 },
  };
export const BY_CODE = new Map(
  (Object.keys(CODES) as SafetensorsDtype[]).map((d) => [CODES[d].code, d]),
);
export const LITTLE_ENDIAN =
  new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function fmt(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/** Little-endian bytes of a host tensor's data (bools normalised to 0/1). */
function dataBytes(t: HostTensor): Uint8Array {
  if (t.dtype === "bool") return t.data.map((v) => (v !== 0 ? 1 : 0));
  const raw = new Uint8Array(
    t.data.buffer,
    t.data.byteOffset,
    t.data.byteLength,
  );
  if (LITTLE_ENDIAN) return raw;
  const out = new Uint8Array(raw.length);
  const w = CODES[t.dtype].bytes;
  for (let i = 0; i < raw.length; i += w) {
    for (let j = 0; j < w; j++) out[i + j] = raw[i + w - 1 - j]!;
  }
  return out;
}

function checkHostTensor(name: string, t: HostTensor): void {
  const where = `encodeSafetensors: tensor ${JSON.stringify(name)}`;
  const spec = CODES[t?.dtype as SafetensorsDtype];
  if (spec === undefined) {
    throw new TypeError(`${where} has unknown dtype ${String(t?.dtype)}`);
  }
  const ctor = {
    float32: Float32Array,
    float64: Float64Array,
    int32: Int32Array,
    bool: Uint8Array,
  }[t.dtype];
  if (!(t.data instanceof ctor)) {
    throw new TypeError(`${where}: ${t.dtype} data must be a ${ctor.name}`);
  }
  if (
    !Array.isArray(t.shape) ||
    t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)
  ) {
    throw new TypeError(`${where} has an invalid shape ${String(t.shape)}`);
  }
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (n !== t.data.length) {
    throw new TypeError(
      `${where}: shape ${
        fmt(t.shape)
      } needs ${n} values, data has ${t.data.length}`,
    );
  }
}

/**
 * Encodes tensors and string metadata as a safetensors byte array. Tensors
 * are laid out widest dtype first (then in the order given), so each one is
 * aligned to its element size; the header is padded with spaces to a
 * multiple of 8 bytes.
 *
 * @example Round trip
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeSafetensors(
 *   { w: { dtype: "float32", shape: [2], data: new Float32Array([1, 2]) } },
 *   { note: "hi" },
 * );
 * const back = decodeSafetensors(bytes);
 * assertEquals([...back.tensors.w!.data], [1, 2]);
 * assertEquals(back.metadata, { note: "hi" });
 * ```
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, HostTensor>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new TypeError(
          `encodeSafetensors: metadata ${
            JSON.stringify(k)
          } must be a string, got ${typeof v}`,
        );
      }
    }
    if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const named = Object.entries(tensors);
  for (const [name, t] of named) {
    if (name === "__metadata__") {
      throw new TypeError(
        'encodeSafetensors: "__metadata__" is not a valid tensor name',
      );
    }
    checkHostTensor(name, t);
  }
  // wider elements first (stable), so every tensor starts aligned to its
  // element size: the data buffer itself starts at a multiple of 8
  named.sort((a, b) => CODES[b[1].dtype].bytes - CODES[a[1].dtype].bytes);
  for (const [name, t] of named) {
    const bytes = dataBytes(t);
    Object.defineProperty(header, name, {
      value: {
        dtype: CODES[t.dtype].code,
        shape: [...t.shape],
        data_offsets: [offset, offset + bytes.length],
      },
      enumerable: true,
    });
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  if (n > MAX_HEADER_BYTES) {
    throw new RangeError(
      `encodeSafetensors: header of ${n} bytes exceeds ${MAX_HEADER_BYTES}`,
    );
  }
  const out = new Uint8Array(8 + n + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(n), true);
  out.fill(0x20, 8, 8 + n);
  out.set(json, 8);
  let at = 8 + n;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
