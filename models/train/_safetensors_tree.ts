// Pytrees <-> named host tensors plus a JSON description of the structure.
//
// Each tensor leaf becomes a safetensors tensor named by its dotted path
// ("params.encoder.0.w"); each number leaf becomes an F64 scalar, so it comes
// back bit for bit. The structure is stored as JSON ("heed.tree") that names
// the tensor of every leaf, so names only need to be unique, not parseable.
//
// Node forms of the stored structure:
//   {"tensor": name}   a heed tensor leaf      {"number": name}  a number leaf
//   {"array": [node]}                          {"object": [[key, node]]}
//   {"value": json}    a string/boolean/null   {"undefined": true}
//   {"key": [w0, w1]}  a PRNG Key (static)

import { Key } from "../../ops/random_key.ts";
import { Tensor, type TreeDef, treeFlatten } from "../../ops/mod.ts";
import type { HostTensor } from "./_safetensors_format.ts";
import type { Json } from "./_safetensors_json.ts";

/** A stored structure node (see the file comment). */
export type TreeNode =
  | { readonly tensor: string }
  | { readonly number: string }
  | { readonly array: readonly TreeNode[] }
  | { readonly object: readonly (readonly [string, TreeNode])[] }
  | { readonly value: string | boolean | null }
  | { readonly undefined: true }
  | { readonly key: readonly [number, number] };

/**
 * Flattens `tree` under the name `root`: host tensors by name (appended to
 * `out`) and the structure node.
 */
export async function packTree(
  root: string,
  tree: unknown,
  out: Map<string, HostTensor>,
): Promise<TreeNode> {
  const [leaves, def] = treeFlatten(tree);
  const reads: Promise<void>[] = [];
  let leaf = 0;
  const unique = (path: readonly string[]): string => {
    const base = [root, ...path].join(".");
    let name = base;
    for (let k = 1; out.has(name); k++) name = `${base}~${k}`;
    return name;
  };
  const walk = (d: TreeDef, path: string[]): TreeNode => {
    switch (d.kind) {
      case "leaf": {
        const x = leaves[leaf++]!;
        const name = unique(path);
        if (typeof x === "number") {
          out.set(name, {
            dtype: "float64",
            shape: [],
            data: new Float64Array([x]),
          });
          return { number: name };
        }
        out.set(name, { dtype: "bool", shape: [], data: new Uint8Array() }); // reserve
        reads.push(readTensor(name, x).then((t) => void out.set(name, t)));
        return { tensor: name };
      }
      case "array":
        return {
          array: d.children.map((c, i) => walk(c, [...path, String(i)])),
        };
      case "object":
        return {
          object: d.keys.map((k, i) =>
            [k, walk(d.children[i]!, [...path, k])] as const
          ),
        };
      case "static":
        return staticNode(d.value, [root, ...path].join("."));
      default:
        return d satisfies never;
    }
  };
  const node = walk(def, []);
  await Promise.all(reads);
  return node;
}

async function readTensor(name: string, t: Tensor): Promise<HostTensor> {
  const shape = [...t.shape];
  const data = await t.data();
  switch (t.dtype) {
    case "float32":
      return { dtype: "float32", shape, data: data as Float32Array };
    case "int32":
      return { dtype: "int32", shape, data: data as Int32Array };
    case "bool":
      return { dtype: "bool", shape, data: data as Uint8Array };
    default:
      throw new TypeError(
        `saveCheckpoint: ${name} has unsupported dtype ${String(t.dtype)}`,
      );
  }
}

function staticNode(v: unknown, where: string): TreeNode {
  if (v === undefined) return { undefined: true };
  if (v === null || typeof v === "string" || typeof v === "boolean") {
    return { value: v };
  }
  if (v instanceof Key) return { key: [v.words[0], v.words[1]] };
  const what = v instanceof Tensor
    ? "a tensor"
    : typeof v === "object"
    ? `a ${v.constructor?.name ?? "null-prototype"} object`
    : `a ${typeof v}`;
  throw new TypeError(`saveCheckpoint: cannot store ${what} at ${where}`);
}

/** A leaf to rebuild: the host tensor it names and whether it is a number. */
export interface LeafRef {
  readonly name: string;
  readonly isNumber: boolean;
}

/**
 * Rebuilds a TreeDef and its leaf references from a stored node, checking
 * its shape. Throws `TypeError` with a description of what is wrong; the
 * caller wraps it into a CheckpointError.
 */
export function unpackNode(node: Json, leaves: LeafRef[], depth = 0): TreeDef {
  if (depth > 512) throw new TypeError("tree is nested too deeply");
  if (!(node instanceof Map) || node.size !== 1) {
    throw new TypeError("tree node is not a one-key object");
  }
  const [kind, v] = [...node][0]!;
  switch (kind) {
    case "tensor":
    case "number":
      if (typeof v !== "string") {
        throw new TypeError(`${kind} node has no tensor name`);
      }
      leaves.push({ name: v, isNumber: kind === "number" });
      return { kind: "leaf" };
    case "array":
      if (!Array.isArray(v)) throw new TypeError("array node is not a list");
      return {
        kind: "array",
        children: v.map((c) => unpackNode(c, leaves, depth + 1)),
      };
    case "object": {
      if (!Array.isArray(v)) throw new TypeError("object node is not a list");
      const keys: string[] = [], children: TreeDef[] = [];
      const seen = new Set<string>();
      for (const e of v) {
        if (
          !Array.isArray(e) || e.length !== 2 || typeof e[0] !== "string" ||
          seen.has(e[0])
        ) {
          throw new TypeError(
            "object node entry is not a [unique key, node] pair",
          );
        }
        seen.add(e[0]);
        keys.push(e[0]);
        children.push(unpackNode(e[1]!, leaves, depth + 1));
      }
      return { kind: "object", keys, children };
    }
    case "value":
      if (v !== null && typeof v !== "string" && typeof v !== "boolean") {
        throw new TypeError("value node is not a string, boolean or null");
      }
      return { kind: "static", value: v };
    case "undefined":
      if (v !== true) throw new TypeError("undefined node is not true");
      return { kind: "static", value: undefined };
    case "key": {
      const ok = Array.isArray(v) && v.length === 2 &&
        v.every((w) =>
          typeof w === "number" && Number.isInteger(w) && w >= 0 &&
          w <= 0xffffffff
        );
      if (!ok) throw new TypeError("key node is not two uint32 words");
      const [w0, w1] = v as [number, number];
      return { kind: "static", value: new Key(w0, w1) };
    }
    default:
      throw new TypeError(`unknown tree node kind ${JSON.stringify(kind)}`);
  }
}
