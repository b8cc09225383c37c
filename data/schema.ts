/**
 * Column schemas: the columns a file must have and the type of each.
 *
 * @module
 */

/** The type of a column's values. */
export type ColumnType = "string" | "number" | "integer" | "boolean";

/**
 * Required columns and their types, for example
 * `{ text: "string", label: "integer" }`. Columns not named are kept as
 * they are (strings for CSV/TSV, JSON values for JSON).
 */
export type Schema = Readonly<Record<string, ColumnType>>;

/** A value that a schema accepts, after conversion. */
export type SchemaValue = string | number | boolean;

const TYPES: readonly ColumnType[] = ["string", "number", "integer", "boolean"];
const INTEGER = /^[+-]?\d+$/;

/** Throws a `TypeError` naming `op` if `schema` is not a valid schema. */
export function checkSchema(op: string, schema: Schema): void {
  for (const [name, type] of Object.entries(schema)) {
    if (!TYPES.includes(type)) {
      throw new TypeError(
        `${op}: schema column ${JSON.stringify(name)} has unknown type ${
          JSON.stringify(type)
        } (use ${TYPES.join(", ")})`,
      );
    }
  }
}

/** A field that cannot be converted: the problem, for an error message. */
export interface ConversionProblem {
  readonly problem: string;
}

function show(v: unknown): string {
  const s = typeof v === "string" ? JSON.stringify(v) : String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Converts one CSV/TSV text field to `type`, or describes why not. */
export function convertText(
  text: string,
  type: ColumnType,
): SchemaValue | ConversionProblem {
  switch (type) {
    case "string":
      return text;
    case "number": {
      const t = text.trim();
      const n = Number(t);
      return t !== "" && Number.isFinite(n)
        ? n
        : { problem: `expected a number, got ${show(text)}` };
    }
    case "integer": {
      const t = text.trim();
      const n = Number(t);
      return INTEGER.test(t) && Number.isSafeInteger(n)
        ? n
        : { problem: `expected an integer, got ${show(text)}` };
    }
    case "boolean": {
      const t = text.trim().toLowerCase();
      if (t === "true" || t === "1") return true;
      if (t === "false" || t === "0") return false;
      return { problem: `expected true/false, got ${show(text)}` };
    }
  }
  return type satisfies never;
}

/** Checks one JSON value against `type`, or describes why it fails. */
export function checkJsonValue(
  value: unknown,
  type: ColumnType,
): SchemaValue | ConversionProblem {
  const ok = type === "integer"
    ? Number.isSafeInteger(value)
    : type === "number"
    ? typeof value === "number" && Number.isFinite(value)
    : type === "string"
    ? typeof value === "string"
    : typeof value === "boolean";
  if (ok) return value as SchemaValue;
  const article = type === "integer" ? "an" : "a";
  return {
    problem: `expected ${article} ${type}, got ${
      value === undefined ? "nothing" : show(value)
    }`,
  };
}

/** Whether a conversion result is a problem. */
export function isProblem(
  v: SchemaValue | ConversionProblem,
): v is ConversionProblem {
  return typeof v === "object";
}
