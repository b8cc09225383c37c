/**
 * From what a model's config says about its attention to the module itself.
 * A config holds a string (a built-in name or the `--attention` syntax), a
 * module, or, once written to a checkpoint, the module's record
 * `{ id, source? }` (JSON keeps a module's data and drops its functions). A
 * record's module is found among the modules the caller gives, or imported
 * from its source file; otherwise loading says which module it needs.
 *
 * @module
 */

import {
  type AttentionModule,
  attentionModule,
  isAttentionModule,
} from "../../attention/mod.ts";
import { parseAttention } from "./attention_syntax.ts";

/** What a checkpoint keeps of a module: its id, and the file it came from. */
export interface AttentionRecord {
  /** The module's id. */
  readonly id: string;
  /** Where its code was read: an absolute path or a URL (absent for a module given in code). */
  readonly source?: string;
  /** The module's one-line description. */
  readonly description?: string;
}

/** A model's attention, as a config holds it. */
export type AttentionChoice =
  | string
  | AttentionModule<unknown>
  | AttentionRecord;

/** A module that a checkpoint needs and the caller did not give. */
export class MissingModuleError extends Error {
  /** The needed module's id. */
  readonly id: string;
  /** Creates the error for module `id`. */
  constructor(id: string, message: string) {
    super(message);
    this.name = "MissingModuleError";
    this.id = id;
  }
}

/** Options of {@link resolveAttention}. */
export interface ResolveOptions {
  /** Modules the caller has, matched to a record by id. */
  readonly modules?: readonly AttentionModule<unknown>[];
}

/**
 * The module `choice` stands for: a string is parsed, a module is itself,
 * a record is found by id among `opts.modules` (or, without a source, parsed
 * from its id). A record with no module available is a
 * {@link MissingModuleError} naming the module and its source.
 *
 * @example
 * ```ts
 * import { MissingModuleError, namedSpec, resolveAttention } from "@heed/heed/models";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(resolveAttention("cosine").id, "cosine");
 * assertEquals(resolveAttention({ id: "cosine" }).id, "cosine");
 * const mine = { ...namedSpec("cosine"), id: "mine" };
 * assertEquals(resolveAttention({ id: "mine" }, { modules: [mine] }), mine);
 * assertThrows(() => resolveAttention({ id: "mine", source: "/x/mine.ts" }), MissingModuleError, '"mine"');
 * ```
 */
export function resolveAttention(
  choice: AttentionChoice,
  opts: ResolveOptions = {},
): AttentionModule<unknown> {
  if (typeof choice === "string") return parseAttention(choice);
  if (isAttentionModule(choice)) return choice;
  const given = opts.modules?.find((m) => m.id === choice.id);
  if (given) return given;
  if (choice.source === undefined) {
    try {
      return parseAttention(choice.id);
    } catch { /* not a built-in: fall through to the error */ }
  }
  throw missing(choice);
}

function missing(r: AttentionRecord, why?: string): MissingModuleError {
  return new MissingModuleError(
    r.id,
    `the model needs the attention module "${r.id}"${
      r.source ? ` from ${r.source}` : ""
    }, which is not available${why ? ` (${why})` : ""}: ${
      r.source ? "restore that file, or give the module" : "give the module"
    } (--attention PATH.ts on the command line, { modules: [m] } in code)`,
  );
}

/** The record a checkpoint keeps for `choice`: a string stays a string. */
export function attentionRecord(
  choice: AttentionChoice,
): string | AttentionRecord {
  if (typeof choice === "string") return choice;
  const m = choice as AttentionRecord;
  const source = (choice as { source?: unknown }).source;
  return {
    id: m.id,
    ...(typeof source === "string" ? { source } : {}),
    ...(typeof m.description === "string"
      ? { description: m.description }
      : {}),
  };
}

/** `config` as a checkpoint keeps it: its attention as a string or a record. */
export function storedConfig<C extends object>(config: C): C {
  const a = (config as { attention?: AttentionChoice }).attention;
  return a === undefined || typeof a === "string"
    ? config
    : { ...config, attention: attentionRecord(a) };
}

/**
 * Imports a user's attention module from a file (an absolute path or a
 * URL): its default export, or its export named `attention`. Needs only
 * read permission for a local file. The module remembers `source`, so a
 * checkpoint can say where to find it again.
 *
 * @example
 * ```ts
 * import { importAttention } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * const file = await Deno.makeTempFile({ suffix: ".ts" });
 * await Deno.writeTextFile(file, `export default { id: "mine", init: () => null,
 *   build: (_p: unknown, ctx: { masks: unknown[] }) => ({ score: (q: unknown) => q, masks: ctx.masks }) };`);
 * const m = await importAttention(file);
 * assertEquals([m.id, (m as { source?: string }).source], ["mine", file]);
 * await Deno.remove(file);
 * ```
 */
export async function importAttention(
  source: string,
): Promise<AttentionModule<unknown> & { readonly source: string }> {
  const url =
    /^[a-z][a-z0-9+.-]*:/i.test(source) && !/^[a-z]:[\\/]/i.test(source)
      ? source
      : new URL(`file://${source.startsWith("/") ? "" : "/"}${source}`).href;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (e) {
    throw new TypeError(
      `attention module ${source}: cannot import it: ${
        (e as Error).message.split("\n")[0]
      }`,
    );
  }
  const m = mod.default ?? mod.attention;
  if (m === undefined) {
    throw new TypeError(
      `attention module ${source}: export the module as default or as "attention" (exports: ${
        Object.keys(mod).join(", ") || "none"
      })`,
    );
  }
  try {
    attentionModule(m as AttentionModule<unknown>);
  } catch (e) {
    throw new TypeError(`attention module ${source}: ${(e as Error).message}`);
  }
  const um = m as AttentionModule<unknown>;
  return {
    id: um.id,
    ...(um.description === undefined ? {} : { description: um.description }),
    source,
    init: (k, d) => um.init(k, d),
    build: (p, c) => um.build(p, c),
  };
}

/**
 * Like {@link resolveAttention}, and a record with a source whose module is
 * not given is imported from that source (its id must match). A file that
 * is gone or differs is a {@link MissingModuleError} naming the module.
 */
export async function loadAttention(
  choice: AttentionChoice,
  opts: ResolveOptions = {},
): Promise<AttentionModule<unknown>> {
  if (typeof choice === "string" || isAttentionModule(choice)) {
    return resolveAttention(choice, opts);
  }
  const given = opts.modules?.find((m) => m.id === choice.id);
  if (given || choice.source === undefined) {
    return resolveAttention(choice, opts);
  }
  let m: AttentionModule<unknown>;
  try {
    m = await importAttention(choice.source);
  } catch (e) {
    throw missing(choice, (e as Error).message);
  }
  if (m.id !== choice.id) {
    throw missing(choice, `${choice.source} now exports "${m.id}"`);
  }
  return m;
}
