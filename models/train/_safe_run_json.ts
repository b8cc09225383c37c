// The schema of run.json, checked field by field. The file is untrusted on
// read (a user or another program may have edited it), so a problem names
// the field and the expected type, never the value found.

/** What `eval` and `predict` need to know about a run besides its checkpoint. */
export interface RunInfo {
  /** The task trained. */
  readonly task: "classify" | "translate";
  /** The user's `--data` path as given at train time; null for the bundled data. */
  readonly data?: string | null;
  /** classify: the user's `--test` file, or null (held out of `data`). */
  readonly test?: string | null;
  /** classify: the user's `--valid` file, or null (held out of train). */
  readonly valid?: string | null;
  /** classify: the text column's name. */
  readonly textColumn?: string;
  /** classify: the label column's name. */
  readonly labelColumn?: string;
  /** The architecture (`classifier`, `transformer`, `gru`). */
  readonly model?: string;
  /** The `--attention` value: a name, a composition or a module's path. */
  readonly attention?: string;
  /** The `--seed`, which fixes the train/test split of a user's CSV. */
  readonly seed?: number;
  /** The fraction of a user's CSV held out as test. */
  readonly testFraction?: number;
  /** Rows of the user's data at train time. */
  readonly rows?: number;
  /** `sha256:<hex>` of the user's data at train time. */
  readonly dataHash?: string;
  /** classify: `sha256:<hex>` of the user's `--test` file at train time. */
  readonly testHash?: string;
  /** translate: the learning rate's warm-up steps (`--warmup`). */
  readonly warmup?: number;
}

type Check = (v: unknown) => string | null;

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const name: Check = (v) =>
  typeof v === "string" && NAME.test(v)
    ? null
    : "must be a short lower-case name";

/** One line of at most `max` characters, not empty. */
function line(v: unknown, max: number): boolean {
  return typeof v === "string" && v.length > 0 && v.length <= max &&
    // deno-lint-ignore no-control-regex
    !/[\u0000-\u001f\u007f]/.test(v);
}

const path: Check = (v) =>
  v === null || line(v, 4096)
    ? null
    : "must be a file path (one line, at most 4096 characters) or null";

const column: Check = (v) =>
  line(v, 256)
    ? null
    : "must be a column name (one line, at most 256 characters)";

const hash: Check = (v) =>
  typeof v === "string" && /^sha256:[0-9a-f]{64}$/.test(v)
    ? null
    : "must be sha256: and 64 hex digits";

const FIELDS: Readonly<Record<keyof RunInfo, Check>> = {
  task: (v) =>
    v === "classify" || v === "translate"
      ? null
      : 'must be "classify" or "translate"',
  data: path,
  test: path,
  valid: path,
  textColumn: column,
  labelColumn: column,
  model: name,
  attention: (v) =>
    line(v, 4096)
      ? null
      : "must be an --attention value (one line, at most 4096 characters)",
  seed: (v) =>
    Number.isSafeInteger(v) && (v as number) >= 0
      ? null
      : "must be a non-negative integer",
  testFraction: (v) =>
    typeof v === "number" && v > 0 && v < 1
      ? null
      : "must be a number between 0 and 1",
  rows: (v) =>
    Number.isSafeInteger(v) && (v as number) >= 0
      ? null
      : "must be a non-negative integer",
  dataHash: hash,
  testHash: hash,
  warmup: (v) =>
    Number.isSafeInteger(v) && (v as number) >= 1
      ? null
      : "must be a positive integer",
};

const REQUIRED: readonly (keyof RunInfo)[] = ["task"];

/**
 * Checks a parsed run.json against the schema; returns the first problem
 * (naming the field, never quoting a value) or null.
 */
export function checkRunInfo(v: unknown): string | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    return "is not a JSON object";
  }
  for (const [k, x] of Object.entries(v)) {
    if (!Object.hasOwn(FIELDS, k)) {
      // the key itself is not quoted: no part of the file is echoed
      return `has a field heed does not know (it knows ${
        Object.keys(FIELDS).join(", ")
      })`;
    }
    if (x === undefined) continue;
    const problem = FIELDS[k as keyof RunInfo](x);
    if (problem !== null) return `field "${k}" ${problem}`;
  }
  for (const k of REQUIRED) {
    if (!Object.hasOwn(v, k)) return `field "${k}" is missing`;
  }
  return null;
}
