// Every library module loads in a browser: no module outside the
// command-line programs (models/cli) imports `node:` at its top (type-only
// imports are erased) or uses `Deno` at its top level; inside functions,
// where it runs only when called, `Deno` is fine. `deno task test:browser`
// loads the entry points in Chromium; this checks every file, statically.

import { assertEquals } from "@std/assert";

const ROOT = new URL("../", import.meta.url);
const LIBRARY = ["ops", "attention", "data", "models", "testing"];
const EXCLUDED = ["models/cli/"];

/** Blanks comments and the insides of strings, regexes aside, keeping offsets and newlines. */
function blankCommentsAndStrings(src: string): string {
  let out = "";
  let i = 0;
  // Template literals nest through `${ ... }`; the stack holds brace depths.
  const templates: number[] = [];
  let depth = 0;
  const blank = (s: string) => s.replace(/[^\n]/g, " ");
  while (i < src.length) {
    const c = src[i]!, n = src[i + 1];
    if (c === "/" && n === "/") {
      const end = src.indexOf("\n", i);
      const j = end < 0 ? src.length : end;
      out += blank(src.slice(i, j));
      i = j;
    } else if (c === "/" && n === "*") {
      const end = src.indexOf("*/", i + 2);
      const j = end < 0 ? src.length : end + 2;
      out += blank(src.slice(i, j));
      i = j;
    } else if (
      c === '"' || c === "'" || c === "`" ||
      (c === "}" && templates.at(-1) === depth)
    ) {
      // A string, or the rest of a template after `${ ... }`.
      if (c === "}") templates.pop();
      const quote = c === "}" ? "`" : c;
      let j = i + 1;
      while (j < src.length && src[j] !== quote) {
        if (src[j] === "\\") j++;
        else if (quote === "`" && src[j] === "$" && src[j + 1] === "{") break;
        j++;
      }
      if (quote === "`" && src[j] === "$") {
        out += src[i] + blank(src.slice(i + 1, j)) + "${";
        templates.push(depth);
        i = j + 2;
      } else {
        out += src[i] + blank(src.slice(i + 1, j)) + (src[j] ?? "");
        i = j + 1;
      }
    } else {
      if (c === "{") depth++;
      else if (c === "}") depth--;
      out += c;
      i++;
    }
  }
  return out;
}

/**
 * Top-level statements whose text outside brackets is types only: type
 * aliases, interfaces, declarations, and function and class headers (the
 * return type of `function f(): Promise<Deno.FileInfo> {`).
 */
const SIGNATURE =
  /^\s*(export\s+)?(default\s+)?(declare\s+)?(type|interface|(async\s+)?function\b|(abstract\s+)?class)\b/;

/** The line numbers where `Deno` is used outside every `{}`, `()` and `[]`, outside type declarations. */
function topLevelDeno(src: string): number[] {
  const code = blankCommentsAndStrings(src);
  const lines: number[] = [];
  let depth = 0, line = 1, statement = "";
  for (let i = 0; i < code.length; i++) {
    const c = code[i]!;
    if (c === "\n") line++;
    if (c === "{" || c === "(" || c === "[") depth++;
    else if (c === "}" || c === ")" || c === "]") depth--;
    if (depth === 0 && (c === ";" || c === "}")) statement = "";
    else if (depth === 0) statement += c;
    if (
      depth === 0 && code.startsWith("Deno", i) &&
      !/[\w$.]/.test(code[i - 1] ?? "") && !/[\w$]/.test(code[i + 4] ?? "")
    ) {
      // `type X = Deno.FileInfo`, `interface` members, signatures: erased.
      if (!SIGNATURE.test(statement)) {
        lines.push(line);
      }
    }
  }
  return lines;
}

/** Static imports and re-exports from `node:` that are not type-only. */
function nodeImports(src: string): string[] {
  const code = blankCommentsAndStrings(src);
  const found: string[] = [];
  const re =
    /(^|[;\n])\s*(import|export)\s+(?!type\b)[^;]*?\bfrom\s*(["'])|(^|[;\n])\s*import\s*(["'])/g;
  for (const m of code.matchAll(re)) {
    const at = m.index + m[0].length;
    // The specifier's text is blanked in `code`; read it from `src`.
    if (src.startsWith("node:", at)) {
      found.push(src.slice(at, src.indexOf(src[at - 1]!, at)));
    }
  }
  return found;
}

async function* libraryFiles(): AsyncGenerator<string> {
  yield "mod.ts";
  for (const dir of LIBRARY) {
    const stack = [dir];
    while (stack.length) {
      const d = stack.pop()!;
      for await (const e of Deno.readDir(new URL(`${d}/`, ROOT))) {
        const path = `${d}/${e.name}`;
        if (EXCLUDED.some((x) => `${path}/`.startsWith(x))) continue;
        if (e.isDirectory && e.name !== "datasets") stack.push(path);
        else if (e.isFile && path.endsWith(".ts")) yield path;
      }
    }
  }
}

Deno.test("the scanner finds top-level Deno and node: imports, and only those", () => {
  const bad = [
    'const v = Deno.env.get("HEED_X");',
    'import { Worker } from "node:worker_threads";',
    'export { Worker } from "node:worker_threads";',
    'import "node:process";',
    "export const cwd = Deno.cwd();",
  ];
  for (const src of bad) {
    const hits = topLevelDeno(src).length + nodeImports(src).length;
    assertEquals(hits, 1, `not flagged: ${src}`);
  }
  const fine = [
    'import type { Worker } from "node:worker_threads";',
    "function f() { return Deno.cwd(); }",
    "export async function g(): Promise<void> { await Deno.readFile('x'); }",
    "class A { b = Deno.pid; }",
    "type Info = Deno.FileInfo;",
    "export async function s(p: string): Promise<Deno.FileInfo | null> { return null; }",
    "function d(): typeof Deno | undefined { return undefined; }",
    "export interface I { f: Deno.FsFile; }",
    '// Deno.env.get("X")\n/* import { x } from "node:fs"; */',
    'const s = "Deno.cwd()"; const t = `${1} Deno.cwd() ${"}"}`;',
    'const w = await import("./x.ts"); function h() { return import("node:worker_threads"); }',
  ];
  for (const src of fine) {
    assertEquals(topLevelDeno(src), [], `flagged: ${src}`);
    assertEquals(nodeImports(src), [], `flagged: ${src}`);
  }
});

Deno.test("no library module outside models/cli uses Deno or imports node: at its top level", async () => {
  const problems: string[] = [];
  let files = 0;
  for await (const path of libraryFiles()) {
    files++;
    const src = await Deno.readTextFile(new URL(path, ROOT));
    for (const line of topLevelDeno(src)) {
      problems.push(`${path}:${line}: top-level use of Deno`);
    }
    for (const spec of nodeImports(src)) {
      problems.push(`${path}: imports "${spec}" at the top (import it lazily)`);
    }
  }
  assertEquals(problems, []);
  // Never vacuous: the walk saw the library.
  assertEquals(files > 100, true, `only ${files} files found`);
});
