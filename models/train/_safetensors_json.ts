// A strict JSON parser for untrusted safetensors headers. Unlike
// `JSON.parse`, it rejects duplicate object keys (JSON.parse silently keeps
// the last one, which would let a header hide a tensor), caps the nesting
// depth, and returns objects as `Map`s so that keys such as `__proto__` are
// plain data. Errors are `SyntaxError`s with the offending offset.

/** A parsed JSON value; objects are `Map`s in key order. */
export type Json =
  | null
  | boolean
  | number
  | string
  | Json[]
  | JsonObject;

/** A parsed JSON object. */
export type JsonObject = Map<string, Json>;

const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** Parses `text` as one JSON value (surrounding whitespace allowed). */
export function parseStrictJson(text: string, maxDepth = 64): Json {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else return;
    }
  };
  const str = (): string => {
    i++; // opening quote
    let out = "";
    let start = i;
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i++);
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      const e = text[i + 1];
      if (e === "u") {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else if (e !== undefined && e in ESCAPES) {
        out += ESCAPES[e];
        i += 2;
      } else {
        fail("bad escape");
      }
      start = i;
    }
  };
  const value = (depth: number): Json => {
    ws();
    const c = text[i];
    if (c === "{" || c === "[") {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
      i++;
      ws();
      if (c === "[") {
        const arr: Json[] = [];
        if (text[i] === "]") {
          i++;
          return arr;
        }
        for (;;) {
          arr.push(value(depth + 1));
          ws();
          if (text[i] === ",") i++;
          else if (text[i] === "]") {
            i++;
            return arr;
          } else fail("expected ',' or ']'");
        }
      }
      const obj: JsonObject = new Map();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a string key");
        const k = str();
        if (obj.has(k)) fail(`duplicate key ${JSON.stringify(k)}`);
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        obj.set(k, value(depth + 1));
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return obj;
        } else fail("expected ',' or '}'");
      }
    }
    if (c === '"') return str();
    for (
      const [word, v] of [["true", true], ["false", false], [
        "null",
        null,
      ]] as const
    ) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m === null) return fail("unexpected character");
    i += m[0].length;
    return Number(m[0]);
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail("trailing characters");
  return v;
}
