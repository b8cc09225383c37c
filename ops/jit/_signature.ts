/**
 * Input signatures: what a traced program depends on besides its tensor
 * inputs' values. Two calls with the same signature share one program.
 * Private to `ops/jit/`.
 *
 * @module
 */

import type { Aval } from "../dtype.ts";
import { type Backend, defaultBackend } from "../backend.ts";
import { backendOf } from "../_convert.ts";
import { Tensor } from "../tensor.ts";
import {
  type Leaf,
  type TreeDef,
  treeFlatten,
  treeUnflatten,
} from "../pytree.ts";
import { Key, keyFromData, keyOperand, type KeyStep } from "../random_key.ts";

/** The flat view of a call's arguments. */
export interface Signature {
  /** The cache key: structure, shapes, dtypes, backends and static values. */
  readonly key: string;
  /** The tensor leaves of the non-static arguments, in order. */
  readonly tensors: readonly Tensor[];
  /**
   * The argument each of {@link tensors} comes from (-1 for the words of a
   * PRNG key, which the signature made).
   */
  readonly argnums: readonly number[];
  /** Their shapes and dtypes. */
  readonly avals: readonly Aval[];
  /** The backend of the first tensor that has storage, if any. */
  readonly backend: Backend | undefined;
  /** The arguments with the tensor leaves replaced by `tensors`. */
  readonly rebuild: (tensors: readonly Tensor[]) => unknown[];
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;

/**
 * A string that identifies a static value: primitives by value, arrays and
 * plain objects by content, anything else (functions, class instances) by
 * identity.
 */
export function staticKey(v: unknown): string {
  switch (typeof v) {
    case "number":
      return Object.is(v, -0) ? "n:-0" : `n:${v}`;
    case "string":
      return `s:${JSON.stringify(v)}`;
    case "boolean":
    case "undefined":
    case "bigint":
      return `${typeof v}:${String(v)}`;
    case "symbol":
      return `sym:${String(v.description)}`;
  }
  if (v === null) return "null";
  if (Array.isArray(v)) return `[${v.map(staticKey).join(",")}]`;
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    const o = v as Record<string, unknown>;
    return `{${
      Object.keys(o).map((k) => `${JSON.stringify(k)}:${staticKey(o[k])}`)
        .join(",")
    }}`;
  }
  let id = objectIds.get(v as object);
  if (id === undefined) objectIds.set(v as object, id = nextObjectId++);
  return `#${id}`;
}

/** Checks `staticArgnums` and returns it as a set. */
export function staticSet(
  op: string,
  nums: number | readonly number[] | undefined,
): ReadonlySet<number> {
  return argnumSet(op, "staticArgnums", nums);
}

/** Checks an option of argument numbers (`name`) and returns it as a set. */
export function argnumSet(
  op: string,
  name: string,
  nums: number | readonly number[] | undefined,
): ReadonlySet<number> {
  const list = nums === undefined
    ? []
    : typeof nums === "number"
    ? [nums]
    : nums;
  if (!Array.isArray(list)) {
    throw new TypeError(
      `${op}: ${name} must be a number or an array of numbers, got ${typeof nums}`,
    );
  }
  for (const n of list) {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(
        `${op}: ${name} must hold non-negative integers, got ${n}`,
      );
    }
  }
  return new Set(list);
}

/** A PRNG key met in an argument: a program input like a tensor leaf. */
class KeyLeaf {
  constructor(readonly key: Key) {}
}

/**
 * `treeFlatten` with PRNG keys as leaves: a key (a class instance, so a
 * static part for `treeFlatten`) becomes a {@link KeyLeaf} in leaf order.
 */
function flattenWithKeys(x: unknown): [(Leaf | KeyLeaf)[], TreeDef] {
  const [leaves, def] = treeFlatten(x);
  const out: (Leaf | KeyLeaf)[] = [];
  let i = 0;
  const walk = (d: TreeDef): TreeDef => {
    switch (d.kind) {
      case "leaf":
        out.push(leaves[i++]!);
        return d;
      case "static":
        if (!(d.value instanceof Key)) return d;
        out.push(new KeyLeaf(d.value));
        return { kind: "leaf" };
      case "array":
        return { kind: "array", children: d.children.map(walk) };
      case "object":
        return { kind: "object", keys: d.keys, children: d.children.map(walk) };
    }
  };
  const keyed = walk(def);
  return [out, keyed];
}

/** The cache key of a key's path (its steps are static). */
const pathKey = (path: readonly KeyStep[]): string =>
  path.map(([a, b]) => `${a}:${b}`).join(",");

/**
 * The signature of a call. Arguments in `statics` are keyed by value and
 * passed through; in the others, tensor leaves become program inputs, and
 * number leaves are static too (keyed by value), so a traced function sees
 * exactly the JS numbers an eager call would. PRNG keys become int32 `[2]`
 * inputs too (their words), with their path (see `keyOperand`) static, so
 * one program serves every key: the traced function sees a traced key.
 */
export function signatureOf(
  op: string,
  args: readonly unknown[],
  statics: ReadonlySet<number>,
): Signature {
  for (const n of statics) {
    if (n >= args.length) {
      throw new RangeError(
        `${op}: staticArgnums ${n} is out of range for ${args.length} argument(s)`,
      );
    }
  }
  const parts: string[] = [];
  const inputs: (Tensor | KeyLeaf)[] = [];
  const argnums: number[] = [];
  const slots: { leaves: (Leaf | KeyLeaf)[]; def: TreeDef }[] = [];
  args.forEach((a, i) => {
    if (statics.has(i)) return void parts.push(`static ${staticKey(a)}`);
    const [leaves, def] = flattenWithKeys(a);
    slots[i] = { leaves, def };
    const ls = leaves.map((l) => {
      if (l instanceof KeyLeaf) {
        // A traced key (from an outer jit) is already a tensor and a path.
        const path = l.key.traced ? keyOperand(l.key).path : [];
        inputs.push(l);
        argnums.push(-1);
        return `key[${pathKey(path)}]`;
      }
      if (!(l instanceof Tensor)) return staticKey(l);
      inputs.push(l);
      argnums.push(i);
      return `${l.dtype}[${l.shape}]@${backendOf([l])?.name ?? "traced"}`;
    });
    parts.push(`${treeKey(def)} ${ls.join(" ")}`);
  });
  // Host keys are uploaded to the backend of the tensor arguments.
  const backend = backendOf(
    inputs.filter((x): x is Tensor => x instanceof Tensor),
  );
  const paths: (readonly KeyStep[])[] = [];
  const tensors = inputs.map((x) => {
    if (x instanceof Tensor) return x;
    const op = keyOperand(x.key, backend);
    paths.push(op.path);
    return op.data;
  });
  return {
    // The default backend holds the constants a trace creates, as eager ops.
    key: `${parts.join(" | ")} || ${defaultBackend()}`,
    tensors,
    argnums,
    avals: tensors.map((t) => ({ shape: t.shape, dtype: t.dtype })),
    backend,
    rebuild: (ins) => {
      let k = 0, j = 0;
      const leaf = (l: Leaf | KeyLeaf) =>
        l instanceof Tensor
          ? ins[k++]!
          : l instanceof KeyLeaf
          ? keyFromData(ins[k++]!, paths[j++])
          : l;
      return args.map((a, i) => {
        const slot = slots[i];
        if (!slot) return a;
        return treeUnflatten(slot.def, slot.leaves.map(leaf));
      });
    },
  };
}

/** A key for a pytree structure, static parts by value. */
function treeKey(def: ReturnType<typeof treeFlatten>[1]): string {
  switch (def.kind) {
    case "leaf":
      return "*";
    case "static":
      return staticKey(def.value);
    case "array":
      return `[${def.children.map(treeKey).join(",")}]`;
    case "object":
      return `{${
        def.keys.map((k, i) =>
          `${JSON.stringify(k)}:${treeKey(def.children[i]!)}`
        )
          .join(",")
      }}`;
  }
}
