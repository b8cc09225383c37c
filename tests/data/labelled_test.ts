// Issue 12 section 6: a classifier trains on the user's own train and test
// files, CSV, TSV or JSONL, with chosen text and label columns.
import fc from "fast-check";
import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  type BadRow,
  DataError,
  LabelEncoder,
  loadLabelledText,
  readLabelledText,
} from "../../data/mod.ts";

async function withFiles(
  files: Record<string, string>,
  f: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "heed_labelled_" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const ROWS = [
  { text: 'how do they say "who is your father" in german', label: "ask" },
  { text: "thanks, bye", label: "leave" },
  { text: "hi", label: "greet" },
];

Deno.test("loadLabelledText() reads CSV, TSV and JSONL by extension into text, category and label", async () => {
  const csv = "label,text\n" +
    ROWS.map((r) => `${r.label},"${r.text.replaceAll('"', '""')}"`).join(
      "\n",
    );
  const tsv = "text\tlabel\n" +
    ROWS.map((r) => `${r.text}\t${r.label}`).join("\n");
  const jsonl = ROWS.map((r) => JSON.stringify({ ...r, id: 7 })).join("\n");
  await withFiles(
    { "a.csv": csv, "a.tsv": tsv, "a.jsonl": jsonl, "a.TAB": tsv },
    async (dir) => {
      for (const name of ["a.csv", "a.tsv", "a.jsonl", "a.TAB"]) {
        const { table, labels } = await loadLabelledText(`${dir}/${name}`);
        assertEquals(labels.labels, ["ask", "greet", "leave"], name);
        assertEquals(table.columnNames(), ["text", "category", "label"]);
        assertEquals(table.objects(), [
          { text: ROWS[0]!.text, category: "ask", label: 0 },
          { text: ROWS[1]!.text, category: "leave", label: 2 },
          { text: ROWS[2]!.text, category: "greet", label: 1 },
        ], name);
      }
    },
  );
});

Deno.test("loadLabelledText() takes textColumn, labelColumn and an explicit format", async () => {
  await withFiles(
    { "data.txt": "utterance\tintent\nhello\tgreet\n" },
    async (dir) => {
      const { table } = await loadLabelledText(`${dir}/data.txt`, {
        format: "tsv",
        textColumn: "utterance",
        labelColumn: "intent",
      });
      assertEquals(table.objects(), [{
        text: "hello",
        category: "greet",
        label: 0,
      }]);
      await assertRejects(
        () => loadLabelledText(`${dir}/data.txt`),
        DataError,
        `${dir}/data.txt: cannot tell the format from the file name (".txt"); name it .csv, .tsv or .jsonl, or pass format`,
      );
    },
  );
});

Deno.test("loadLabelledText() names the file and the columns present when a column is missing", async () => {
  await withFiles({
    "m.csv": "sentence,intent\nhi,greet\n",
    "m.jsonl":
      '{"text": "hi", "label": "greet"}\n{"text": "yo", "intent": "greet"}\n',
  }, async (dir) => {
    await assertRejects(
      () => loadLabelledText(`${dir}/m.csv`, { labelColumn: "intent" }),
      DataError,
      `${dir}/m.csv:1: missing column "text" (the file has: sentence, intent)`,
    );
    await assertRejects(
      () => loadLabelledText(`${dir}/m.jsonl`),
      DataError,
      `${dir}/m.jsonl:2: column "label": missing key (the row has: "text", "intent")`,
    );
  });
});

Deno.test("readLabelledText() names the line and column of empty text, empty labels and bad JSON values", () => {
  const cases: [string, "csv" | "tsv" | "jsonl", string][] = [
    [
      "text,label\nhi,a\n  ,b\n",
      "csv",
      'f:3: column "text": the text is empty',
    ],
    [
      "text\tlabel\nhi\ta\nyo\t\n",
      "tsv",
      'f:3: column "label": the label is empty',
    ],
    [
      '{"text": "hi", "label": "a"}\n\n{"text": 3, "label": "a"}\n',
      "jsonl",
      'f:3: column "text": expected text (a string), got 3',
    ],
    [
      '{"text": "hi", "label": 1.5}\n',
      "jsonl",
      'f:1: column "label": expected a label (a string or an integer), got 1.5',
    ],
    ['{"text": "hi", "label": "a"}\n{"text": \n', "jsonl", "f:2: invalid JSON"],
    [
      "text,label\nhi,a,extra\n",
      "csv",
      "f:2: expected 2 fields (text, label), got 3",
    ],
  ];
  for (const [text, format, message] of cases) {
    assertThrows(
      () => readLabelledText(text, { format, source: "f" }),
      DataError,
      message,
    );
  }
});

Deno.test("readLabelledText() accepts integer labels in JSONL as class names", () => {
  const { table, labels } = readLabelledText(
    '{"text": "a", "label": 10}\n{"text": "b", "label": 2}\n',
    { format: "jsonl" },
  );
  assertEquals(labels.labels, ["10", "2"]);
  assertEquals(table.array("label"), [0, 1]);
});

Deno.test("readLabelledText() with the training classes rejects a label the training file lacks", () => {
  const labels = new LabelEncoder(["greet", "leave"]);
  assertThrows(
    () =>
      readLabelledText("text,label\nhi,greet\nwhat?,ask\n", {
        format: "csv",
        labels,
        source: "test.csv",
      }),
    DataError,
    'test.csv:3: column "label": unknown label "ask" (the classes are: "greet", "leave")',
  );
  const t = readLabelledText("text,label\nbye,leave\n", {
    format: "csv",
    labels,
  });
  assertEquals(t.labels, labels);
  assertEquals(t.table.array("label"), [1]);
});

Deno.test("readLabelledText() skips bad rows only with a handler, and reports each one", () => {
  const skipped: BadRow[] = [];
  const { table } = readLabelledText("text,label\nhi,a\n,b\nyo,c,d\nok,e\n", {
    format: "csv",
    source: "s.csv",
    onBadRow: (b) => skipped.push(b),
  });
  assertEquals(table.array("text"), ["hi", "ok"]);
  assertEquals(skipped.map((b) => [b.line, b.error.message]), [
    [3, 's.csv:3: column "text": the text is empty'],
    [4, "s.csv:4: expected 2 fields (text, label), got 3"],
  ]);
  assertThrows(
    () => readLabelledText("text,label\nhi,a\n,b\nyo,c,d\n", { format: "csv" }),
    DataError,
    ":3:",
  );
});

Deno.test("readLabelledText() says so when no row is left, and checks its options", () => {
  assertThrows(
    () => readLabelledText("text,label\n", { format: "csv", source: "e.csv" }),
    DataError,
    'e.csv: the file has no labelled rows (columns "text" and "label")',
  );
  assertThrows(
    () => readLabelledText("x", { format: "csv", textColum: "t" } as never),
    TypeError,
    'unknown option "textColum"',
  );
  assertThrows(
    () => readLabelledText("x", { format: "xlsx" as never }),
    RangeError,
    'format must be "csv", "tsv" or "jsonl"',
  );
  assertThrows(() => readLabelledText("x", {}), TypeError, "pass format");
  assertThrows(
    () => readLabelledText("x", { format: "csv", textColumn: "label" }),
    TypeError,
    "both",
  );
});

Deno.test("readLabelledText() gives the rows, or an error naming the bad row's line, for generated files", () => {
  const word = fc.string({
    unit: fc.constantFrom("a", "b", " ", '"', ",", "ä", "x"),
    minLength: 1,
    maxLength: 6,
  }).filter((s) => s.trim() !== "");
  const row = fc.record({ text: word, label: fc.constantFrom("p", "q", "r") });
  fc.assert(
    fc.property(
      fc.array(row, { minLength: 1, maxLength: 8 }),
      fc.constantFrom<"csv" | "tsv" | "jsonl">("csv", "tsv", "jsonl"),
      fc.constantFrom("none", "emptyText", "emptyLabel", "ragged"),
      fc.nat(),
      (rows, format, mutation, pick) => {
        const i = pick % rows.length;
        const cells = rows.map((r) => [r.text, r.label]);
        if (mutation === "emptyText") cells[i]![0] = "";
        if (mutation === "emptyLabel") cells[i]![1] = "";
        // CSV quotes every field; TSV only those that start with a quote
        // (the rest are literal, quotes included).
        const quoted = (f: string) => `"${f.replaceAll('"', '""')}"`;
        const enc = (f: string) =>
          format === "csv" || f.startsWith('"') ? quoted(f) : f;
        const lines = format === "jsonl"
          ? cells.map(([text, label], k) =>
            JSON.stringify(
              mutation === "ragged" && k === i ? { text } : { text, label },
            )
          )
          : [
            ["text", "label"].join(format === "csv" ? "," : "\t"),
            ...cells.map((c, k) =>
              [...c, ...(mutation === "ragged" && k === i ? ["z"] : [])]
                .map(enc).join(format === "csv" ? "," : "\t")
            ),
          ];
        const line = format === "jsonl" ? i + 1 : i + 2;
        let got;
        try {
          got = readLabelledText(lines.join("\n"), { format, source: "g" });
        } catch (e) {
          if (!(e instanceof DataError)) throw e;
          if (mutation === "none") {
            throw new Error(`valid file rejected: ${e.message}`);
          }
          assertEquals([e.source, e.line], ["g", line], e.message);
          return;
        }
        assertEquals(mutation, "none", "a bad row was accepted");
        assertEquals(got.table.array("text"), rows.map((r) => r.text));
        assertEquals(
          got.table.array("category"),
          rows.map((r) => r.label),
        );
      },
    ),
    { numRuns: 300 },
  );
});
