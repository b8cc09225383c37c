// A CRC-32 of a checkpoint's content (each tensor's name, dtype, shape and
// bytes, and the metadata), stored as `heed.crc32`. The decoder's structural
// checks catch a damaged header; this catches flipped bits in the data,
// which would otherwise load as different numbers without a word.

import type { HostTensor } from "./_safetensors_format.ts";

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function update(crc: number, bytes: Uint8Array): number {
  let c = crc;
  for (let i = 0; i < bytes.length; i++) {
    c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  }
  return c;
}

/**
 * The CRC-32 (IEEE) of `tensors` (names sorted; bytes as the host holds
 * them, little-endian on every platform heed runs on) and of `metadata`
 * (keys sorted, `heed.crc32` left out), as 8 hex digits.
 */
export function contentCrc(
  tensors: Readonly<Record<string, HostTensor>>,
  metadata: Readonly<Record<string, string>>,
): string {
  const enc = new TextEncoder();
  let c = 0xffffffff;
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name]!;
    c = update(c, enc.encode(`${name}\0${t.dtype}\0${t.shape.join(",")}\0`));
    const d = t.data;
    c = update(c, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  for (const k of Object.keys(metadata).sort()) {
    if (k !== CRC_KEY) c = update(c, enc.encode(`${k}\0${metadata[k]}\0`));
  }
  return ((c ^ 0xffffffff) >>> 0).toString(16).padStart(8, "0");
}

/** The metadata key of {@link contentCrc}. */
export const CRC_KEY = "heed.crc32";
