/**
 * `--attention` on the command line: a name or composition stays text (the
 * model parses it); a path is imported as the user's attention module, from
 * its real absolute path, which the checkpoint then records.
 *
 * @module
 */

import type { AttentionModule } from "../../attention/mod.ts";
import { importAttention } from "../arch/attention_resolve.ts";
import { isAttentionPath } from "./_flags.ts";

/** The module a `--attention` value stands for (text for a name or composition). */
export async function cliAttention(
  value: string,
): Promise<string | AttentionModule<unknown>> {
  if (!isAttentionPath(value)) return value;
  const path = value.startsWith("file:") ? new URL(value).pathname : value;
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new RangeError(`--attention: no such file ${value}`);
    }
    throw e;
  }
  return await importAttention(real);
}
