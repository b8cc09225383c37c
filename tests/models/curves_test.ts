// The training curves SVG: its lines, points, ticks and labels for one and
// ten epochs, missing and non-finite values left out, text escaped; and the
// train command writing curves.svg beside metrics.jsonl.

import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import {
  curvesSvg,
  escapeXml,
  metricsRecords,
} from "../../models/train/curves.ts";
import { main as train } from "../../models/cli/train.ts";

/** The `points` of the polyline of class `name`, as [x, y] pairs. */
function polyline(svg: string, name: string): number[][] | null {
  const m = svg.match(
    new RegExp(`<polyline class="${name}"[^>]* points="([^"]*)"`),
  );
  return m ? m[1]!.split(" ").map((p) => p.split(",").map(Number)) : null;
}

const circles = (svg: string, name: string) =>
  svg.match(new RegExp(`<circle class="${name}"`, "g"))?.length ?? 0;

/** Checks the SVG is whole: balanced tags, numbers, entities, nothing external. */
function wellFormed(svg: string): void {
  assert(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert(svg.trimEnd().endsWith("</svg>"));
  for (const tag of ["svg", "text", "title", "circle"]) {
    const open = svg.match(new RegExp(`<${tag}[ >]`, "g"))?.length ?? 0;
    const close = svg.match(new RegExp(`</${tag}>`, "g"))?.length ?? 0;
    assertEquals(open, close, `<${tag}> opened ${open}, closed ${close}`);
  }
  assert(!/NaN|Infinity|undefined/.test(svg), "a non-number leaked in");
  assert(!/href|<script|url\(/i.test(svg), "refers to something outside");
  // every & starts an entity
  assert(!/&(?!amp;|lt;|gt;|quot;|#39;)/.test(svg), "a bare &");
}

Deno.test("curvesSvg: one epoch gives one point per panel, with labels", () => {
  const svg = curvesSvg([{ epoch: 1, loss: 2.6, validAccuracy: 0.79 }]);
  wellFormed(svg);
  assertEquals(polyline(svg, "loss")!.length, 1);
  assertEquals(polyline(svg, "metric")!.length, 1);
  assertEquals([circles(svg, "loss"), circles(svg, "metric")], [1, 1]);
  for (
    const label of [
      "Training curves",
      "Training loss",
      "Validation accuracy (%)",
      ">epoch<",
      ">1<",
      "epoch 1: 2.6000",
      "epoch 1: 79.0000",
    ]
  ) assertStringIncludes(svg, label);
  assertStringIncludes(svg, 'width="640" height="360"');
});

Deno.test("curvesSvg: ten epochs, loss falling and accuracy rising", () => {
  const records = Array.from({ length: 10 }, (_, i) => ({
    epoch: i + 1,
    loss: 3 / (i + 1),
    validAccuracy: 0.5 + 0.04 * i,
    seconds: 1,
  }));
  const svg = curvesSvg(records, { title: "banking77" });
  wellFormed(svg);
  const loss = polyline(svg, "loss")!, acc = polyline(svg, "metric")!;
  assertEquals([loss.length, acc.length], [10, 10]);
  assertEquals([circles(svg, "loss"), circles(svg, "metric")], [10, 10]);
  for (let i = 1; i < 10; i++) {
    assert(loss[i]![0]! > loss[i - 1]![0]!, "x grows with the epoch");
    assert(loss[i]![1]! > loss[i - 1]![1]!, "a falling loss goes down");
    assert(acc[i]![1]! < acc[i - 1]![1]!, "a rising accuracy goes up");
  }
  // every point inside the 640×360 picture
  for (const [x, y] of [...loss, ...acc]) {
    assert(x! > 0 && x! < 640 && y! > 30 && y! < 360, `${x},${y}`);
  }
  for (const e of ["1", "5", "10"]) assertStringIncludes(svg, `>${e}</text>`);
  assertStringIncludes(svg, "epoch 10: 86.0000");
  assertStringIncludes(svg, ">banking77</text>");
});

Deno.test("curvesSvg: translation plots BLEU", () => {
  const svg = curvesSvg([
    { epoch: 1, loss: 4, validBleu: 3.5, validChrf: 20 },
    { epoch: 2, loss: 3, validBleu: 7.25, validChrf: 28 },
  ]);
  wellFormed(svg);
  assertStringIncludes(svg, "Validation BLEU");
  assertStringIncludes(svg, "epoch 2: 7.2500");
  assertEquals(polyline(svg, "metric")!.length, 2);
});

Deno.test("curvesSvg: NaN, null, missing and infinite values are skipped", () => {
  const svg = curvesSvg([
    { epoch: 1, loss: 2, validAccuracy: 0.5 },
    { epoch: 2, loss: NaN, validAccuracy: null },
    { epoch: 3, loss: Infinity },
    { epoch: 4, loss: "1", validAccuracy: 0.7 },
    { epoch: 5, loss: 1, validAccuracy: 0.8 },
    { loss: 0.5, validAccuracy: 0.9 },
    { epoch: NaN, loss: 0.5 },
  ]);
  wellFormed(svg);
  assertEquals(polyline(svg, "loss")!.length, 2);
  assertEquals(polyline(svg, "metric")!.length, 3);
  for (const v of ["1: 2.0000", "5: 1.0000", "4: 70.0000", "5: 80.0000"]) {
    assertStringIncludes(svg, `epoch ${v}`);
  }
  assert(!/epoch [23]:/.test(svg), "epochs 2 and 3 have no finite value");

  const empty = curvesSvg([]);
  wellFormed(empty);
  assertEquals(polyline(empty, "loss"), null);
  assertStringIncludes(empty, "no data");
  const noMetric = curvesSvg([{ epoch: 1, loss: 1, validAccuracy: null }]);
  wellFormed(noMetric);
  assertEquals(polyline(noMetric, "metric"), null);
  assertStringIncludes(noMetric, "Validation accuracy (%)");
});

Deno.test("curvesSvg: text is escaped", () => {
  assertEquals(
    escapeXml(`<a href="x">&'`),
    "&lt;a href=&quot;x&quot;&gt;&amp;&#39;",
  );
  const svg = curvesSvg([{ epoch: 1, loss: 1, score: 2 }], {
    title: `runs/<script>alert("x")</script> & 'co'`,
    metric: { key: "score", label: "F1 <macro> & more" },
  });
  wellFormed(svg);
  assert(!svg.includes("<script"));
  assertStringIncludes(
    svg,
    "runs/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;",
  );
  assertStringIncludes(svg, "F1 &lt;macro&gt; &amp; more");
});

Deno.test("metricsRecords reads epochs, skipping torn and summary lines", () => {
  const text = [
    '{"epoch":1,"loss":2}',
    '{"epoch":2,"loss":1.5}',
    '{"epoch":2,"loss":1.4}',
    '{"epoch":3,"lo',
    "[1,2]",
    "null",
    '{"test_accuracy":0.9}',
    "",
  ].join("\n");
  const records = metricsRecords(text);
  assertEquals(records.map((r) => [r.epoch, r.loss]), [[1, 2], [2, 1.4]]);
});

const ROWS = [
  ...["hello there", "hi", "good morning", "hey", "howdy"].map((t) =>
    `${t}\tgreet`
  ),
  ...["bye", "see you", "good night", "farewell", "ciao"].map((t) =>
    `${t}\tleave`
  ),
];

/** Runs the train CLI in-process on a tiny TSV, output captured. */
async function tinyTrain(dir: string, out: string): Promise<[number, string]> {
  await Deno.writeTextFile(
    `${dir}/train.tsv`,
    "text\tcategory\n" + [...ROWS, ...ROWS].join("\n") + "\n",
  );
  await Deno.writeTextFile(
    `${dir}/test.tsv`,
    "text\tcategory\n" + ROWS.slice(3, 7).join("\n") + "\n",
  );
  const log = console.log, err = console.error;
  const lines: string[] = [];
  console.log = console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    const code = await train([
      ...["--data", `${dir}/train.tsv`, "--test", `${dir}/test.tsv`],
      ...["--epochs", "2", "--batch-size", "8", "--backend", "cpu"],
      ...["--out", out],
    ]);
    return [code, lines.join("\n")];
  } finally {
    console.log = log;
    console.error = err;
  }
}

Deno.test("train writes curves.svg beside metrics.jsonl", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_curves_" });
  try {
    const out = `${dir}/run`;
    const [code, log] = await tinyTrain(dir, out);
    assertEquals(code, 0, log);
    const svg = await Deno.readTextFile(`${out}/curves.svg`);
    wellFormed(svg);
    const epochs = metricsRecords(
      await Deno.readTextFile(`${out}/metrics.jsonl`),
    );
    assertEquals(epochs.length, 2);
    assertEquals(polyline(svg, "loss")!.length, 2);
    assertEquals(polyline(svg, "metric")!.length, 2);
    assertStringIncludes(svg, "Validation accuracy (%)");
    assertStringIncludes(svg, escapeXml(out));
    assertEquals(
      [...Deno.readDirSync(out)].filter((e) => e.name.endsWith(".tmp")),
      [],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train refuses a curves.svg link before training", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_curves_link_" });
  try {
    const out = `${dir}/run`;
    await Deno.mkdir(out);
    await Deno.writeTextFile(`${dir}/victim`, "keep");
    await Deno.symlink(`${dir}/victim`, `${out}/curves.svg`);
    await assertRejects(() => tinyTrain(dir, out), Error, "curves.svg");
    assertEquals(await Deno.readTextFile(`${dir}/victim`), "keep");
    await assertRejects(() => Deno.stat(`${out}/metrics.jsonl`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
