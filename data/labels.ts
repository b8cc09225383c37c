/**
 * Label encoding: class names to integer ids and back.
 *
 * @module
 */

import type * as aq from "arquero";
import { columnList, values } from "./_columns.ts";
import type { Step } from "./clean.ts";

/** The JSON form of a {@link LabelEncoder}. */
export interface LabelEncoderJSON {
  /** The class names in id order. */
  readonly labels: readonly string[];
}

/**
 * An immutable map between class names and ids `0..n-1`, in the order of
 * `labels`.
 *
 * @example
 * ```ts
 * import { LabelEncoder } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const enc = new LabelEncoder(["neg", "pos"]);
 * assertEquals([enc.encode("pos"), enc.decode(0), enc.size], [1, "neg", 2]);
 * assertEquals(LabelEncoder.fromJSON(JSON.parse(JSON.stringify(enc))).labels, ["neg", "pos"]);
 * ```
 */
export class LabelEncoder {
  /** The class names; a name's id is its index. */
  readonly labels: readonly string[];
  #ids: Map<string, number>;

  /** Builds an encoder; the names must be distinct. */
  constructor(labels: readonly string[]) {
    this.labels = Object.freeze([...labels]);
    this.#ids = new Map(labels.map((l, i) => [l, i]));
    if (this.#ids.size !== labels.length) {
      const dup = labels.find((l, i) => labels.indexOf(l) !== i);
      throw new TypeError(
        `LabelEncoder: duplicate label ${JSON.stringify(dup)}`,
      );
    }
  }

  /**
   * An encoder for the distinct values of a table column, sorted (code
   * unit order), so that it does not depend on row order.
   *
   * @example
   * ```ts
   * import * as aq from "arquero";
   * import { LabelEncoder } from "@heed/heed/data";
   * import { assertEquals } from "@std/assert";
   *
   * const enc = LabelEncoder.fit(aq.table({ y: ["b", "a", "b"] }), "y");
   * assertEquals(enc.labels, ["a", "b"]);
   * ```
   */
  static fit(table: aq.ColumnTable, column: string): LabelEncoder {
    columnList("LabelEncoder.fit", table, column);
    const set = new Set(values(table, column).map(String));
    return new LabelEncoder([...set].sort());
  }

  /** Rebuilds an encoder from its JSON form. */
  static fromJSON(json: LabelEncoderJSON): LabelEncoder {
    if (
      !json || !Array.isArray(json.labels) ||
      !json.labels.every((l) => typeof l === "string")
    ) {
      throw new TypeError(
        "LabelEncoder.fromJSON: expected { labels: string[] }",
      );
    }
    return new LabelEncoder(json.labels);
  }

  /** The number of classes. */
  get size(): number {
    return this.labels.length;
  }

  /** Whether `label` is one of the classes. */
  has(label: string): boolean {
    return this.#ids.has(label);
  }

  /** The id of a class name; an unknown name is a `RangeError`. */
  encode(label: string): number {
    const id = this.#ids.get(label);
    if (id === undefined) {
      throw new RangeError(
        `LabelEncoder.encode: unknown label ${JSON.stringify(label)}`,
      );
    }
    return id;
  }

  /** The class name of an id; an id out of range is a `RangeError`. */
  decode(id: number): string {
    const label = this.labels[id];
    if (label === undefined) {
      throw new RangeError(
        `LabelEncoder.decode: id ${id} is out of range [0, ${this.size})`,
      );
    }
    return label;
  }

  /** The JSON form, `{ labels }`. */
  toJSON(): LabelEncoderJSON {
    return { labels: [...this.labels] };
  }
}

/**
 * A step that adds an integer column (default `"label"`) holding each
 * row's class id. A value the encoder does not know is a `RangeError`
 * naming the row.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { encodeLabels, LabelEncoder } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ category: ["pos", "neg", "pos"] });
 * const enc = new LabelEncoder(["neg", "pos"]);
 * assertEquals(encodeLabels("category", enc)(t).array("label"), [1, 0, 1]);
 * ```
 */
export function encodeLabels(
  column: string,
  encoder: LabelEncoder,
  opts: { as?: string } = {},
): Step {
  return (t) => {
    columnList("encodeLabels", t, column);
    const ids = values(t, column).map((v, row) => {
      if (typeof v === "string" && encoder.has(v)) return encoder.encode(v);
      throw new RangeError(
        `encodeLabels: row ${row} of column ${
          JSON.stringify(column)
        } has unknown label ${JSON.stringify(v)}`,
      );
    });
    return t.reify().assign({ [opts.as ?? "label"]: ids });
  };
}
