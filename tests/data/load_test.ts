import * as aq from "arquero";
import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertThrows,
} from "@std/assert";
import {
  type BadRow,
  DataError,
  loadCsv,
  loadParallel,
  loadTsv,
  readArrow,
  readCsv,
  readJson,
  readJsonl,
  readParallel,
  readTsv,
} from "../../data/mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const BANKING = new URL("../../data/datasets/banking77/", import.meta.url);

Deno.test("readCsv() reads quoted commas, doubled quotes, line breaks and CRLF", () => {
  const csv =
    'text,category\r\n"a, b",x\r\n"say ""hi""",y\r\n"two\r\nlines",z\r\n';
  const t = readCsv(csv);
  assertEquals(t.columnNames(), ["text", "category"]);
  assertEquals(t.array("text"), ["a, b", 'say "hi"', "two\r\nlines"]);
  assertEquals(t.array("category"), ["x", "y", "z"]);
});

Deno.test("readCsv() strips a UTF-8 BOM from text and from bytes", () => {
  const csv = "\ufeffa,b\n1,2\n";
  assertEquals(readCsv(csv).columnNames(), ["a", "b"]);
  assertEquals(readCsv(enc(csv)).columnNames(), ["a", "b"]);
});

Deno.test("readCsv() accepts a last row without a line break, and LF, CR line ends", () => {
  assertEquals(readCsv("a,b\n1,2").objects(), [{ a: "1", b: "2" }]);
  assertEquals(readCsv("a,b\r1,2\r3,4").array("b"), ["2", "4"]);
});

Deno.test("readCsv() keeps empty fields and trailing delimiters", () => {
  assertEquals(readCsv("a,b,c\n,,\n1,,\n").objects(), [
    { a: "", b: "", c: "" },
    { a: "1", b: "", c: "" },
  ]);
});

Deno.test("readCsv() passes over blank lines in wide files but keeps them as rows in one-column files", () => {
  assertEquals(readCsv("a,b\n\n1,2\n\n\n3,4\n").array("a"), ["1", "3"]);
  assertEquals(readCsv("text\nx\n\ny\n").array("text"), ["x", "", "y"]);
  assertEquals(readCsv("\n\ntext\nx\n").array("text"), ["x"]);
});

Deno.test("readCsv() converts and checks schema types, naming the line and column", () => {
  const t = readCsv("n,f,b\n1,2.5,true\n-3,1e3,0\n", {
    schema: { n: "integer", f: "number", b: "boolean" },
  });
  assertEquals(t.objects(), [{ n: 1, f: 2.5, b: true }, {
    n: -3,
    f: 1000,
    b: false,
  }]);
  const err = assertThrows(
    () =>
      readCsv("n,f\n1,2\n2.5,3\n", {
        schema: { n: "integer" },
        source: "t.csv",
      }),
    DataError,
  );
  assertEquals([err.line, err.column], [3, "n"]);
  assertEquals(
    err.message,
    't.csv:3: column "n": expected an integer, got "2.5"',
  );
});

Deno.test("readCsv() gives a clear error for an empty file", () => {
  for (const text of ["", "\n\n", "\ufeff", "\r\n"]) {
    assertThrows(
      () => readCsv(text, { source: "e.csv" }),
      DataError,
      "e.csv: the file is empty",
    );
  }
});

Deno.test("readCsv() names the file and line of a ragged row", () => {
  const err = assertThrows(
    () => readCsv("text,category\nhi,a\nbye,b,extra\n", { source: "r.csv" }),
    DataError,
  );
  assertEquals(
    err.message,
    "r.csv:3: expected 2 fields (text, category), got 3",
  );
  assertInstanceOf(err, TypeError);
});

Deno.test("readCsv() names the line and character of a stray quote", () => {
  const err = assertThrows(
    () => readCsv('a,b\n1,2\n3,he said "hi"\n', { source: "q.csv" }),
    DataError,
  );
  assertEquals([err.line, err.column], [3, 11]);
  assert(err.message.includes("stray quote"));
});

Deno.test("readCsv() rejects text after a closing quote", () => {
  assertThrows(
    () => readCsv('a,b\n"x"y,2\n'),
    DataError,
    "after a closing quote",
  );
});

Deno.test("readCsv() reports an unterminated quote where it opens (a truncated file)", () => {
  const err = assertThrows(
    () => readCsv('a,b\n1,2\n3,"unfinished\nmore'),
    DataError,
  );
  assertEquals(err.line, 3);
  assert(err.message.includes("unterminated"));
});

Deno.test("readCsv() names the line and byte of invalid UTF-8", () => {
  const bytes = new Uint8Array([...enc("a,b\n1,2\n3,"), 0xff, ...enc("\n")]);
  const err = assertThrows(
    () => readCsv(bytes, { source: "u.csv" }),
    DataError,
  );
  assertEquals(err.line, 3);
  assert(err.message.includes("invalid UTF-8 byte 0xff at byte offset 10"));
  const utf16 = new Uint8Array([0xff, 0xfe, 0x61, 0x00]);
  assertThrows(() => readCsv(utf16), DataError, "UTF-16");
});

Deno.test("readCsv() rejects missing schema columns, empty and duplicate header names", () => {
  assertThrows(
    () =>
      readCsv("text\nhi\n", { schema: { label: "string" }, source: "m.csv" }),
    DataError,
    'm.csv:1: missing column "label" (the file has: text)',
  );
  assertThrows(
    () => readCsv("a,,c\n1,2,3\n"),
    DataError,
    "header field 2 is empty",
  );
  assertThrows(
    () => readCsv("a,a\n1,2\n"),
    DataError,
    'duplicate column name "a"',
  );
});

Deno.test("readCsv() skips bad rows only with a handler, and reports each one", () => {
  const skipped: BadRow[] = [];
  const t = readCsv("a,n\n1,2\n3\nx,y\n4,5\n", {
    schema: { n: "integer" },
    onBadRow: (bad) => skipped.push(bad),
    source: "s.csv",
  });
  assertEquals(t.objects(), [{ a: "1", n: 2 }, { a: "4", n: 5 }]);
  assertEquals(skipped.map((b) => [b.line, b.fields]), [[3, ["3"]], [4, [
    "x",
    "y",
  ]]]);
  assert(
    skipped.every((b) => b.error instanceof DataError && b.source === "s.csv"),
  );
});

Deno.test("readCsv() takes names from options when the file has no header", () => {
  assertEquals(readCsv("1,2\n", { header: ["x", "y"] }).objects(), [{
    x: "1",
    y: "2",
  }]);
  assertEquals(readCsv("1,2\n", { header: false }).columnNames(), ["c0", "c1"]);
});

Deno.test("readCsv() checks its options", () => {
  assertThrows(() => readCsv("a\n", { delimiter: ";;" }), RangeError);
  assertThrows(() => readCsv("a\n", { quote: "," }), RangeError);
  assertThrows(
    () => readCsv("a\n", { schema: { a: "date" as never } }),
    TypeError,
    "unknown type",
  );
});

Deno.test("readTsv() reads quoted and unquoted tabs; quote: null reads quotes literally", () => {
  assertEquals(readTsv('en\tde\n"Say ""aah."""\tSag „Ah!“\n').array("en"), [
    'Say "aah."',
  ]);
  assertEquals(readTsv('a\tb\n5" tall\tx\n', { quote: null }).array("a"), [
    '5" tall',
  ]);
});

Deno.test("loadCsv() reads banking77, quoted fields included", async () => {
  const t = await loadCsv(new URL("train.csv", BANKING), {
    schema: { text: "string", category: "string" },
  });
  assertEquals(t.numRows(), 10003);
  const quoted = (t.array("text") as string[]).filter((s) =>
    s.includes('"pending"')
  );
  assert(quoted.length > 0);
  assert((t.array("text") as string[]).some((s) => s.includes(",")));
});

Deno.test("loadTsv() reads the Tatoeba pairs", async () => {
  const t = await loadTsv(
    new URL("../../data/datasets/tatoeba_deu_eng/deu.txt", import.meta.url),
    {
      header: ["en", "de"],
    },
  );
  assertEquals(t.numRows(), 50002); // 50,001 pairs after the spurious "1\t2"
  assertEquals(
    (t.array("en") as string[]).filter((s) => s === 'Say "aah."').length,
    1,
  );
});

Deno.test("loaders name the missing file", async () => {
  const err = await assertRejects(
    () => loadCsv("/nonexistent/x.csv"),
    DataError,
  );
  assertEquals(err.message, "/nonexistent/x.csv: file not found");
});

Deno.test("readJson() reads row objects and rejects ragged or mistyped rows", () => {
  const t = readJson('[{"a": 1, "b": "x"}, {"b": "y", "a": 2}]', {
    schema: { a: "integer" },
  });
  assertEquals(t.objects(), [{ a: 1, b: "x" }, { a: 2, b: "y" }]);
  assertThrows(
    () => readJson('[{"a": 1}, {"b": 2}]', { source: "j.json" }),
    DataError,
    'j.json: column "a": row 2: missing key',
  );
  assertThrows(
    () => readJson('[{"a": 1}, {"a": 2, "c": 3}]'),
    DataError,
    "unexpected key",
  );
  assertThrows(
    () => readJson('[{"a": "1"}]', { schema: { a: "number" } }),
    DataError,
    "expected a number",
  );
  assertThrows(() => readJson("[1]"), DataError, "expected an object");
  assertThrows(
    () => readJson('{"a": [1]}'),
    DataError,
    "expected a JSON array",
  );
  assertThrows(() => readJson(""), DataError, "empty");
  const err = assertThrows(
    () => readJson('[\n{"a": 1},\n{"a" 1}\n]', { source: "b.json" }),
    DataError,
  );
  assertEquals(err.line, 3);
});

Deno.test("readJsonl() names the line of a broken row and can skip it with notice", () => {
  const text = '{"a": 1}\n\n{"a": \n{"a": 3}\n';
  assertThrows(
    () => readJsonl(text, { source: "l.jsonl" }),
    DataError,
    "l.jsonl:3: invalid JSON",
  );
  const lines: number[] = [];
  const t = readJsonl(text, { onBadRow: (b) => lines.push(b.line) });
  assertEquals([t.array("a"), lines], [[1, 3], [3]]);
  assertThrows(
    () => readJsonl('{"a": 1}\n{"b": 1}\n'),
    DataError,
    ':2: column "a": row: missing key',
  );
  assertThrows(() => readJsonl("\n\n"), DataError, "empty");
});

Deno.test("readArrow() round-trips an Arquero table and rejects garbage", () => {
  const t = aq.table({ text: ["a", "b"], n: [1, 2] });
  assertEquals(
    readArrow(aq.toArrowIPC(t), { schema: { text: "string", n: "integer" } })
      .objects(),
    t.objects(),
  );
  assertThrows(
    () => readArrow(enc("not arrow at all"), { source: "x.arrow" }),
    DataError,
    "x.arrow: not a valid Arrow IPC file",
  );
  assertThrows(() => readArrow(new Uint8Array()), DataError, "empty");
  assertThrows(
    () => readArrow(aq.toArrowIPC(t), { schema: { n: "string" } }),
    DataError,
    "expected a string",
  );
  assertThrows(
    () => readArrow(aq.toArrowIPC(t), { schema: { z: "string" } }),
    DataError,
    'missing column "z"',
  );
});

Deno.test("readParallel() keeps lines aligned and names both files when counts differ", () => {
  const t = readParallel({ de: "a\n\nc\n", en: "A\r\nB\r\nC" });
  assertEquals(t.objects(), [{ de: "a", en: "A" }, { de: "", en: "B" }, {
    de: "c",
    en: "C",
  }]);
  assertThrows(
    () =>
      readParallel({ de: "a\nb\n", en: "A\n" }, {
        sources: { de: "x.de", en: "x.en" },
      }),
    DataError,
    "x.en:2: parallel files are not aligned: x.de has 2 lines, x.en has 1",
  );
  assertThrows(() => readParallel({ de: "" }), DataError, "empty");
});

const MULTI30K = "/work/shared/data/multi30k";

Deno.test("loadParallel() reads Multi30k from a path", async () => {
  try {
    await Deno.stat(MULTI30K);
  } catch {
    console.log(`skipped: ${MULTI30K} is absent`);
    return;
  }
  const t = await loadParallel({
    de: `${MULTI30K}/val.de`,
    en: `${MULTI30K}/val.en`,
  });
  assertEquals(t.numRows(), 1014);
});
