/**
 * Pytrees: nested plain objects and arrays whose leaves are tensors or
 * numbers. Transforms flatten their arguments to leaves and rebuild results
 * with the same structure.
 *
 * @module
 */

import { Tensor } from "./tensor.ts";

/** A leaf of a pytree. */
export type Leaf = Tensor | number;

/**
 * A nested structure of plain objects and arrays with tensor (or number)
 * leaves. Other values (strings, booleans, `null`, class instances) are
 * kept as static parts of the structure.
 */
export type Pytree =
  | Leaf
  | readonly Pytree[]
  | { readonly [key: string]: Pytree }
  | string
  | boolean
  | null
  | undefined;

/** The structure of a pytree, without its leaves. */
export type TreeDef =
  | { readonly kind: "leaf" }
  | { readonly kind: "static"; readonly value: unknown }
  | { readonly kind: "array"; readonly children: readonly TreeDef[] }
  | {
    readonly kind: "object";
    readonly keys: readonly string[];
    readonly children: readonly TreeDef[];
  };

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== "object") return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * Splits a pytree into its leaves (depth-first, object keys in insertion
 * order) and its structure.
 *
 * @example
 * ```ts
 * import { treeFlatten, treeUnflatten } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const [leaves, def] = treeFlatten({ a: 1, b: [2, 3] });
 * assertEquals(leaves, [1, 2, 3]);
 * assertEquals(treeUnflatten(def, [4, 5, 6]), { a: 4, b: [5, 6] });
 * ```
 */
export function treeFlatten(tree: unknown): [Leaf[], TreeDef] {
  const leaves: Leaf[] = [];
  const walk = (x: unknown): TreeDef => {
    if (x instanceof Tensor || typeof x === "number") {
      leaves.push(x);
      return { kind: "leaf" };
    }
    if (Array.isArray(x)) return { kind: "array", children: x.map(walk) };
    if (isPlainObject(x)) {
      const keys = Object.keys(x);
      return { kind: "object", keys, children: keys.map((k) => walk(x[k])) };
    }
    return { kind: "static", value: x };
  };
  const def = walk(tree);
  return [leaves, def];
}

/** Rebuilds a pytree from a structure and leaves. */
export function treeUnflatten<T = unknown>(
  def: TreeDef,
  leaves: readonly unknown[],
): T {
  let i = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case "leaf":
        if (i >= leaves.length) {
          throw new TypeError(
            "treeUnflatten: too few leaves for the structure",
          );
        }
        return leaves[i++];
      case "static":
        return d.value;
      case "array":
        return d.children.map(build);
      case "object": {
        const out: Record<string, unknown> = {};
        d.keys.forEach((k, j) => (out[k] = build(d.children[j]!)));
        return out;
      }
      default:
        return d satisfies never;
    }
  };
  const out = build(def);
  if (i !== leaves.length) {
    throw new TypeError(
      `treeUnflatten: ${leaves.length} leaves given, the structure has ${i}`,
    );
  }
  return out as T;
}

/** Whether two structures are the same. */
export function treeDefEqual(a: TreeDef, b: TreeDef): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case "leaf":
      return true;
    case "static":
      return Object.is(a.value, (b as typeof a).value);
    case "array": {
      const bb = b as typeof a;
      return a.children.length === bb.children.length &&
        a.children.every((c, i) => treeDefEqual(c, bb.children[i]!));
    }
    case "object": {
      const bb = b as typeof a;
      return a.keys.length === bb.keys.length &&
        a.keys.every((k, i) => k === bb.keys[i]) &&
        a.children.every((c, i) => treeDefEqual(c, bb.children[i]!));
    }
    default:
      return a satisfies never;
  }
}

/**
 * Applies `f` to every leaf of `tree` (and the matching leaves of `rest`,
 * which must have the same structure).
 *
 * @example
 * ```ts
 * import { treeMap } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(treeMap((x) => (x as number) * 2, { w: 1, b: [2] }), { w: 2, b: [4] });
 * ```
 */
export function treeMap<T = unknown>(
  f: (leaf: Leaf, ...rest: Leaf[]) => unknown,
  tree: unknown,
  ...rest: unknown[]
): T {
  const [leaves, def] = treeFlatten(tree);
  const others = rest.map((r) => {
    const [l, d] = treeFlatten(r);
    if (!treeDefEqual(def, d)) {
      throw new TypeError("treeMap: trees have different structures");
    }
    return l;
  });
  return treeUnflatten<T>(
    def,
    leaves.map((x, i) => f(x, ...others.map((o) => o[i]!))),
  );
}

/** The leaves of a pytree. */
export function treeLeaves(tree: unknown): Leaf[] {
  return treeFlatten(tree)[0];
}
