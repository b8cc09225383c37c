/**
 * Checks before a checkpoint is used: that its parameters match the model
 * (every name, dtype and shape), that a `--resume` continues the same run
 * (task, model, labels, tokenizer, data), and that training has stayed
 * finite.
 *
 * @example A parameter stored as I32 instead of F32
 * ```ts
 * import { validateParams } from "./validate.ts";
 * import { tensor } from "../../ops/mod.ts";
 * import { assertThrows } from "@std/assert";
 *
 * const expected = { w: { shape: [2], dtype: "float32" } };
 * const loaded = { w: tensor([1, 2], { dtype: "int32" }) };
 * assertThrows(
 *   () => validateParams(expected, loaded, { what: "runs/x/checkpoint.safetensors" }),
 *   TypeError,
 *   'parameter "w" is int32 (I32) in the checkpoint; the model expects float32 (F32)',
 * );
 * ```
 *
 * @module
 */

import { Tensor } from "../../ops/mod.ts";

export { checkFinite } from "./_safe_finite.ts";
export { type DataIdentity, dataIdentity, fingerprint } from "./_safe_hash.ts";

/** A tensor's shape and dtype, as a template leaf. */
export interface TensorSpec {
  /** Extent of each axis. */
  readonly shape: readonly number[];
  /** Element type (`float32`, `int32`, `bool`). */
  readonly dtype: string;
}

/** A template leaf: a tensor's shape and dtype, or a number. */
export type LeafSpec = TensorSpec | "number";

const CODE: Readonly<Record<string, string>> = {
  float32: "F32",
  float64: "F64",
  int32: "I32",
  bool: "BOOL",
};

function isPlain(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== "object") return false;
  const p = Object.getPrototypeOf(x);
  return p === Object.prototype || p === null;
}

function isSpec(x: unknown): x is TensorSpec {
  return isPlain(x) && Array.isArray(x.shape) && typeof x.dtype === "string";
}

/**
 * The leaves of a pytree by dotted path (`layers.1.attn.wq`): tensors,
 * `{ shape, dtype }` specs (host tensors included) and numbers. Other
 * values (null, strings, keys) are static and not listed.
 */
export function leafSpecs(tree: unknown): Map<string, LeafSpec> {
  const out = new Map<string, LeafSpec>();
  const walk = (x: unknown, path: string[], depth: number): void => {
    if (depth > 64) throw new TypeError("leafSpecs: the tree is too deep");
    const at = path.join(".");
    if (x instanceof Tensor) out.set(at, { shape: x.shape, dtype: x.dtype });
    else if (typeof x === "number") out.set(at, "number");
    else if (isSpec(x)) out.set(at, { shape: x.shape, dtype: x.dtype });
    else if (Array.isArray(x)) {
      x.forEach((c, i) => walk(c, [...path, String(i)], depth + 1));
    } else if (isPlain(x)) {
      for (const [k, c] of Object.entries(x)) walk(c, [...path, k], depth + 1);
    }
  };
  walk(tree, [], 0);
  return out;
}

function fmtLeaf(s: LeafSpec): string {
  return s === "number" ? "a number" : `${s.dtype} [${s.shape.join(",")}]`;
}

function fmtDtype(d: string): string {
  return CODE[d] === undefined ? d : `${d} (${CODE[d]})`;
}

/** A checkpoint whose parameters do not match the model. */
export class ParamsMismatchError extends TypeError {
  /** The dotted path of the first mismatching parameter. */
  readonly param: string;
  /** Builds the error for parameter `param`. */
  constructor(param: string, message: string) {
    super(message);
    this.name = "ParamsMismatchError";
    this.param = param;
  }
}

/** Options of {@link validateParams}. */
export interface ValidateParamsOptions {
  /** What is being loaded, for the message (default `checkpoint`). */
  readonly what?: string;
}

/**
 * Checks that `loaded` (a checkpoint's parameter pytree: tensors or host
 * tensors) has exactly the leaves of `expected` (the tree `init` gives for
 * the run's configuration, or a tree of `{ shape, dtype }`), with the same
 * dtypes and shapes. Throws a {@link ParamsMismatchError} naming the first
 * mismatch (missing, dtype, shape, then extra names) and how many follow.
 */
export function validateParams(
  expected: unknown,
  loaded: unknown,
  opts: ValidateParamsOptions = {},
): void {
  const what = opts.what ?? "checkpoint";
  const want = leafSpecs(expected), have = leafSpecs(loaded);
  const problems: [string, string][] = [];
  for (const [path, w] of want) {
    const h = have.get(path);
    const name = JSON.stringify(path);
    if (h === undefined) {
      problems.push([
        path,
        `the checkpoint lacks parameter ${name} (${
          fmtLeaf(w)
        }), which the model expects`,
      ]);
    } else if (w === "number" || h === "number") {
      if (w !== h) {
        problems.push([
          path,
          `parameter ${name} is ${
            fmtLeaf(h)
          } in the checkpoint; the model expects ${fmtLeaf(w)}`,
        ]);
      }
    } else if (w.dtype !== h.dtype) {
      problems.push([
        path,
        `parameter ${name} is ${
          fmtDtype(h.dtype)
        } in the checkpoint; the model expects ${fmtDtype(w.dtype)}`,
      ]);
    } else if (
      w.shape.length !== h.shape.length ||
      w.shape.some((n, i) => n !== h.shape[i])
    ) {
      problems.push([
        path,
        `parameter ${name} has shape [${
          h.shape.join(",")
        }] in the checkpoint; the model expects [${w.shape.join(",")}]`,
      ]);
    }
  }
  for (const path of have.keys()) {
    if (!want.has(path)) {
      problems.push([
        path,
        `the checkpoint has parameter ${
          JSON.stringify(path)
        }, which the model does not`,
      ]);
    }
  }
  if (problems.length === 0) return;
  const [path, first] = problems[0]!;
  const more = problems.length - 1;
  throw new ParamsMismatchError(
    path,
    `${what}: ${first}${
      more > 0 ? ` (and ${more} more mismatch${more > 1 ? "es" : ""})` : ""
    }; it does not belong to this model`,
  );
}

/** What must agree between a checkpoint and a `--resume` run. */
export interface RunIdentity {
  /** `classify` or `translate`. */
  readonly task?: string;
  /** The full model configuration (JSON). */
  readonly model?: unknown;
  /** Class names in id order. */
  readonly labels?: readonly string[];
  /** The tokenizer (its JSON), or its {@link fingerprint}. */
  readonly tokenizer?: unknown;
  /** The training data: path, rows, content hash. */
  readonly data?: unknown;
}

/** A `--resume` whose run differs from the checkpoint's. */
export class ResumeMismatchError extends Error {
  /** The field that differs (`labels`, `tokenizer`, ...). */
  readonly field: string;
  /** Builds the error for `field`. */
  constructor(field: string, message: string) {
    super(message);
    this.name = "ResumeMismatchError";
    this.field = field;
  }
}

function show(v: unknown): string {
  if (typeof v === "string") {
    return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  }
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v !== null && typeof v === "object") return "an object";
  return String(v);
}

/**
 * The first place where two JSON values differ, as `path: a vs b`, or null
 * when they are equal (object key order ignored).
 */
export function firstDifference(
  a: unknown,
  b: unknown,
  path = "",
): string | null {
  const at = (p: string) => (path === "" ? p : `${path}${p}`);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], at(`[${i}]`));
      if (d !== null) return d;
    }
    if (a.length === b.length) return null;
    return `${
      path || "the list"
    } has ${a.length} entries in the checkpoint, ${b.length} now`;
  }
  if (isPlain(a) && isPlain(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const p = path === "" ? k : `${path}.${k}`;
      if (!Object.hasOwn(a, k)) {
        return `${p} is new (absent from the checkpoint)`;
      }
      if (!Object.hasOwn(b, k)) return `${p} is in the checkpoint but not now`;
      const d = firstDifference(a[k], b[k], p);
      if (d !== null) return d;
    }
    return null;
  }
  if (Object.is(a, b) || (a === b)) return null;
  return `${path || "the value"} is ${show(a)} in the checkpoint, ${
    show(b)
  } now`;
}

/** Whether two data identities carry the same content hash. */
function sameContent(a: unknown, b: unknown): boolean {
  const hash = (x: unknown) =>
    isPlain(x) && typeof x.hash === "string" ? x.hash : undefined;
  return hash(a) !== undefined && hash(a) === hash(b);
}

const FIELD_NAMES: readonly [keyof RunIdentity, string][] = [
  ["task", "task"],
  ["labels", "labels"],
  // before the model: a model configuration may hold the vocabulary's words
  ["tokenizer", "tokenizer (vocabulary)"],
  ["model", "model configuration"],
  ["data", "training data"],
];

/**
 * Refuses a `--resume` whose task, model, labels, tokenizer or data differ
 * from those saved in the checkpoint, with a {@link ResumeMismatchError}
 * naming the field and the first difference. A field missing on either side
 * (an older checkpoint) is not compared; data with the same content hash
 * passes even from another path.
 */
export function validateResume(saved: RunIdentity, current: RunIdentity): void {
  for (const [field, label] of FIELD_NAMES) {
    const a = saved[field], b = current[field];
    if (a === undefined || b === undefined) continue;
    if (field === "data" && sameContent(a, b)) continue; // moved, not changed
    const d = firstDifference(a, b, field);
    if (d !== null) {
      throw new ResumeMismatchError(
        field,
        `--resume: the ${label} differ${
          label.endsWith("s") ? "" : "s"
        } from the checkpoint's: ${d}; resume with the same settings and data, or train into a new --out`,
      );
    }
  }
}
