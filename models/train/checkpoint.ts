/**
 * Checkpoints as safetensors files: parameter and optimiser-state pytrees
 * plus JSON metadata (config, vocabulary, step, PRNG key). Writes are atomic
 * (a temp file in the same folder, then a rename) and reads check every
 * claim the header makes, so a damaged file is a {@link CheckpointError},
 * never a crash, a hang or a huge allocation.
 *
 * File layout: tensors are named by their dotted pytree path under `params`
 * or `optState` (`params.encoder.0.w`); number leaves are F64 scalars. The
 * safetensors `__metadata__` holds:
 *
 * - `heed.version`: `"1"`;
 * - `heed.tree`: JSON of the pytree structures, naming each leaf's tensor;
 * - `heed.crc32`: a CRC-32 of the tensors and metadata, so flipped bits in
 *   the data are an error rather than different numbers;
 * - every key of `state.metadata`, its value JSON-encoded (`step` →
 *   `"1200"`, `config` → `"{...}"`). Keys starting with `heed.` are
 *   reserved.
 *
 * @module
 */

import { tensor, type TreeDef, treeUnflatten } from "../../ops/mod.ts";
import {
  CheckpointError,
  encodeSafetensors,
  type HostTensor,
} from "./_safetensors_format.ts";
import {
  type DecodeOptions,
  decodeSafetensors,
} from "./_safetensors_decode.ts";
import { type Json, parseStrictJson } from "./_safetensors_json.ts";
import { contentCrc, CRC_KEY } from "./_safetensors_crc.ts";
import { checkMetadata } from "./_checkpoint_metadata.ts";
import {
  type LeafRef,
  packTree,
  type TreeNode,
  unpackNode,
} from "./_safetensors_tree.ts";

export {
  CheckpointError,
  encodeSafetensors,
  type HostTensor,
  MAX_HEADER_BYTES,
  type SafetensorsDtype,
} from "./_safetensors_format.ts";
export {
  type DecodeOptions,
  decodeSafetensors,
  type Safetensors,
} from "./_safetensors_decode.ts";

/**
 * Checkpoint metadata. Every value must be JSON-serialisable (finite
 * numbers, strings, booleans, null, arrays and plain objects).
 */
export interface CheckpointMetadata {
  /** Optimiser steps taken. */
  readonly step?: number;
  /** The model or training configuration. */
  readonly config?: unknown;
  /** The vocabulary or tokenizer, as JSON. */
  readonly vocab?: unknown;
  /** The PRNG key's two uint32 words (`key.words`). */
  readonly prngKey?: readonly number[];
  /** Anything else, JSON-serialisable. */
  readonly [key: string]: unknown;
}

/** What a checkpoint holds. */
export interface CheckpointState<
  P = unknown,
  O = unknown,
  M extends object = CheckpointMetadata,
> {
  /** Model parameters: a pytree of tensors (numbers, strings and keys allowed). */
  readonly params: P;
  /** Optimiser state, a pytree like `params`. */
  readonly optState?: O;
  /** JSON metadata (see {@link CheckpointMetadata} for the keys heed reads). */
  readonly metadata?: M;
}

/** A loaded checkpoint: pytrees of heed tensors and the metadata. */
export interface Checkpoint<
  P = unknown,
  O = unknown,
  M extends object = CheckpointMetadata,
> {
  /** Model parameters. */
  readonly params: P;
  /** Optimiser state, when one was saved. */
  readonly optState?: O;
  /**
   * The metadata, JSON-decoded. Typed as the `M` the caller names: heed
   * checks that it is JSON, not that it has M's shape.
   */
  readonly metadata: M;
}

/** Options of {@link saveCheckpoint}. */
export interface SaveOptions {
  /**
   * Writes the bytes to a (new, temporary) path. Defaults to creating the
   * file, writing and syncing it to disk. Tests inject failures here.
   */
  readonly writeFile?: (path: string, data: Uint8Array) => Promise<void>;
}

const VERSION = "1";

/** Host tensors of the dtypes heed tensors hold. */
type HeedHostTensor = Exclude<HostTensor, { dtype: "float64" }>;

/**
 * Encodes a checkpoint as safetensors bytes, reading every tensor back to
 * the host.
 *
 * @example Bytes round trip
 * ```ts
 * import { deserializeCheckpoint, serializeCheckpoint } from "@heed/heed/models";
 * import { type Tensor, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = await serializeCheckpoint({ params: { w: tensor([1, 2]) }, metadata: { step: 7 } });
 * const ck = deserializeCheckpoint<{ w: Tensor }>(bytes);
 * assertEquals([await ck.params.w.array(), ck.metadata.step], [[1, 2], 7]);
 * ```
 */
export async function serializeCheckpoint(
  state: CheckpointState<unknown, unknown, object>,
): Promise<Uint8Array> {
  const meta = checkMetadata(state.metadata ?? {});
  const tensors = new Map<string, HostTensor>();
  const tree: Record<string, TreeNode> = {
    params: await packTree("params", state.params, tensors),
  };
  if (state.optState !== undefined) {
    tree.optState = await packTree("optState", state.optState, tensors);
  }
  const all = Object.fromEntries(tensors);
  const header = {
    ...meta,
    "heed.version": VERSION,
    "heed.tree": JSON.stringify(tree),
  };
  return encodeSafetensors(all, {
    ...header,
    [CRC_KEY]: contentCrc(all, header),
  });
}

/**
 * Decodes checkpoint bytes (from {@link serializeCheckpoint}) into heed
 * tensors on the default backend. Throws {@link CheckpointError} for any
 * damage, naming `opts.source`.
 */
export function deserializeCheckpoint<
  P = unknown,
  O = unknown,
  M extends object = CheckpointMetadata,
>(
  bytes: Uint8Array,
  opts: DecodeOptions = {},
): Checkpoint<P, O, M> {
  const source = opts.source ?? "checkpoint";
  const fail = (p: string) => new CheckpointError(source, p);
  const { tensors, metadata } = decodeSafetensors(bytes, { ...opts, source });
  const version = metadata["heed.version"];
  if (version !== VERSION) {
    throw fail(
      version === undefined
        ? "not a heed checkpoint (no heed.version in __metadata__)"
        : `unsupported heed.version ${JSON.stringify(version)}`,
    );
  }
  // files without a CRC (older heed, other tools) are checked structurally only
  const crc = metadata[CRC_KEY];
  if (crc !== undefined && crc !== contentCrc(tensors, metadata)) {
    throw fail(
      `the content does not match its CRC-32 (${crc}): the file is damaged`,
    );
  }
  let tree: Json;
  try {
    tree = parseStrictJson(metadata["heed.tree"] ?? "", 1024);
  } catch (e) {
    throw fail(`heed.tree is not valid JSON: ${(e as Error).message}`);
  }
  if (
    !(tree instanceof Map) || !tree.has("params") ||
    [...tree.keys()].some((k) => k !== "params" && k !== "optState")
  ) {
    throw fail(
      "heed.tree must be an object with params (and optionally optState)",
    );
  }
  // check the whole file before creating any tensor, so a bad file
  // allocates nothing on the device
  const used = new Set<string>();
  const plan = (
    node: Json,
  ): { def: TreeDef; leaves: (number | HeedHostTensor)[] } => {
    const refs: LeafRef[] = [];
    let def: TreeDef;
    try {
      def = unpackNode(node, refs);
    } catch (e) {
      throw fail(`heed.tree: ${(e as Error).message}`);
    }
    const leaves = refs.map(({ name, isNumber }) => {
      const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
      const quoted = JSON.stringify(name);
      if (t === undefined) {
        throw fail(`heed.tree names tensor ${quoted}, which the file lacks`);
      }
      if (used.has(name)) throw fail(`heed.tree uses tensor ${quoted} twice`);
      used.add(name);
      if (isNumber) {
        if (t.dtype !== "float64" || t.shape.length !== 0) {
          throw fail(`number leaf ${quoted} is not an F64 scalar`);
        }
        return t.data[0]!;
      }
      if (t.dtype === "float64") {
        throw fail(`tensor ${quoted} is F64, which heed tensors do not hold`);
      }
      return t;
    });
    return { def, leaves };
  };
  const paramsPlan = plan(tree.get("params")!);
  const optNode = tree.get("optState");
  const optPlan = optNode === undefined ? undefined : plan(optNode);
  for (const name of Object.keys(tensors)) {
    if (!used.has(name)) {
      throw fail(`tensor ${JSON.stringify(name)} is not part of heed.tree`);
    }
  }
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (k.startsWith("heed.")) continue;
    let value: unknown;
    try {
      value = JSON.parse(v);
    } catch {
      throw fail(`metadata ${JSON.stringify(k)} is not JSON`);
    }
    Object.defineProperty(meta, k, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  const build = ({ def, leaves }: NonNullable<typeof optPlan>): unknown =>
    treeUnflatten(
      def,
      leaves.map((t) =>
        typeof t === "number"
          ? t
          : tensor(t.data, { shape: [...t.shape], dtype: t.dtype })
      ),
    );
  const params = build(paramsPlan) as P;
  const optState = optPlan === undefined ? undefined : build(optPlan) as O;
  return optState === undefined
    ? { params, metadata: meta as M }
    : { params, optState, metadata: meta as M };
}

async function writeSynced(path: string, data: Uint8Array): Promise<void> {
  const f = await Deno.open(path, { write: true, createNew: true });
  try {
    let at = 0;
    while (at < data.length) at += await f.write(data.subarray(at));
    await f.syncData();
  } finally {
    f.close();
  }
}

/**
 * Saves a checkpoint to `path` atomically: the bytes go to a hidden temp
 * file in the same folder (`.<name>.<random>.tmp`), which is renamed over
 * `path` only once fully written and synced. A crash leaves either the old
 * file or the new one under `path`, never a partial one (at worst a stray
 * temp file). Needs `--allow-read` and `--allow-write` for the folder.
 *
 * @example Save and load
 * ```ts
 * import { loadCheckpoint, saveCheckpoint } from "@heed/heed/models";
 * import { key, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * const params = { w: tensor([[1, 2], [3, 4]]), b: tensor([0, 1], { dtype: "int32" }) };
 * await saveCheckpoint(`${dir}/model.safetensors`, {
 *   params,
 *   metadata: { step: 3, config: { hidden: 2 }, prngKey: [...key(0).words] },
 * });
 * const ck = await loadCheckpoint<typeof params>(`${dir}/model.safetensors`);
 * assertEquals(await ck.params.w.array(), [[1, 2], [3, 4]]);
 * assertEquals(ck.metadata.config, { hidden: 2 });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveCheckpoint(
  path: string,
  state: CheckpointState<unknown, unknown, object>,
  opts: SaveOptions = {},
): Promise<void> {
  const bytes = await serializeCheckpoint(state);
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1;
  const tmp = `${path.slice(0, cut)}.${
    path.slice(cut)
  }.${crypto.randomUUID()}.tmp`;
  try {
    await (opts.writeFile ?? writeSynced)(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Where {@link loadCheckpoint} reads from: a path or `file:` URL (under
 * Deno), an `http(s)` URL (with `fetch`), a `Blob`, or the file's bytes.
 */
export type CheckpointSource = string | URL | Blob | Uint8Array;

/** The bytes of a checkpoint source and its name for errors. */
async function checkpointBytes(
  src: CheckpointSource,
): Promise<{ bytes: Uint8Array; source: string }> {
  if (src instanceof Uint8Array) return { bytes: src, source: "bytes" };
  if (typeof Blob === "function" && src instanceof Blob) {
    const name = (src as { name?: unknown }).name;
    return {
      bytes: new Uint8Array(await src.arrayBuffer()),
      source: typeof name === "string" && name !== "" ? name : "blob",
    };
  }
  const remote = src instanceof URL
    ? src.protocol !== "file:"
    : /^https?:\/\//i.test(src as string);
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (remote || deno === undefined) {
    const url = src instanceof URL ? src : new URL(
      src as string,
      (globalThis as { location?: { href?: string } }).location?.href,
    );
    const res = await fetch(url);
    if (!res.ok) {
      await res.body?.cancel();
      throw new CheckpointError(
        url.href,
        `cannot fetch it: HTTP ${res.status}`,
      );
    }
    return { bytes: new Uint8Array(await res.arrayBuffer()), source: url.href };
  }
  const path = src as string | URL;
  const source = path instanceof URL ? decodeURIComponent(path.pathname) : path;
  return { bytes: await deno.readFile(path), source };
}

/**
 * Loads a checkpoint written by {@link saveCheckpoint} from a path, URL,
 * `Blob` or bytes. A damaged file is a {@link CheckpointError} naming the
 * source; a missing local one is Deno's `NotFound`. A path needs
 * `--allow-read`; in a browser a relative path is fetched from the page.
 */
export async function loadCheckpoint<
  P = unknown,
  O = unknown,
  M extends object = CheckpointMetadata,
>(
  path: CheckpointSource,
  opts: Omit<DecodeOptions, "source"> = {},
): Promise<Checkpoint<P, O, M>> {
  // reads exactly the file's bytes; the header's claims are checked before
  // anything else is allocated
  const { bytes, source } = await checkpointBytes(path);
  return deserializeCheckpoint<P, O, M>(bytes, { ...opts, source });
}
