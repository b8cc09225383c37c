// The loaders' sources besides paths: bytes, Blobs and Files (their name
// in errors and for the format), file: URLs, and unreadable URL schemes;
// checkpoints from bytes and Blobs. (http(s) URLs are fetched in the
// browser run, `deno task test:browser`, which serves them.)

import { assertEquals, assertRejects } from "@std/assert";
import {
  DataError,
  loadCsv,
  loadJsonl,
  loadLabelledText,
  loadParallel,
} from "../../data/mod.ts";
import { loadCheckpoint, serializeCheckpoint } from "../../models/mod.ts";
import { type Tensor, tensor } from "../../mod.ts";

const CSV = "text,label\nhello,greet\nbye,leave\n";
const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("loadCsv() reads bytes, a Blob and a File the same as the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.csv`, CSV);
    const fromPath = await loadCsv(`${dir}/a.csv`);
    const fromUrl = await loadCsv(new URL(`file://${dir}/a.csv`));
    const fromBytes = await loadCsv(bytes(CSV));
    const fromBlob = await loadCsv(new Blob([CSV]));
    const fromFile = await loadCsv(new File([CSV], "a.csv"));
    for (const t of [fromUrl, fromBytes, fromBlob, fromFile]) {
      assertEquals(t.objects(), fromPath.objects());
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors name a File by its name, and bytes as bytes", async () => {
  const badBytes = new Uint8Array([...bytes('{"a":1}\n'), 0xff, 0x0a]);
  await assertRejects(
    () => loadJsonl(new File([badBytes], "rows.jsonl")),
    DataError,
    "rows.jsonl:2: invalid UTF-8 byte 0xff",
  );
  await assertRejects(() => loadJsonl(badBytes), DataError, "bytes:2:");
  // A File's extension gives loadLabelledText its format; bytes need one.
  const file = new File([bytes("text\tlabel\nhi\tgreet\n")], "train.tsv");
  assertEquals((await loadLabelledText(file)).labels.size, 1);
  await assertRejects(
    () => loadLabelledText(bytes("text\tlabel\nhi\tgreet\n")),
    DataError,
  );
});

Deno.test("a URL that is neither file: nor fetchable is refused, naming what to pass", async () => {
  await assertRejects(
    () => loadParallel({ de: new URL("ftp://example.com/train.de") }),
    DataError,
    "cannot read a ftp: URL; pass a local file path, an http(s) URL, a Blob or the bytes",
  );
});

Deno.test("loadCheckpoint() reads bytes and a Blob as it reads a file", async () => {
  const data = await serializeCheckpoint({
    params: { w: tensor([1, 2]) },
    metadata: { step: 4 },
  });
  for (const src of [data, new Blob([data as Uint8Array<ArrayBuffer>])]) {
    const ck = await loadCheckpoint<{ w: Tensor }>(src);
    assertEquals(await ck.params.w.array(), [1, 2]);
    assertEquals(ck.metadata.step, 4);
  }
  const damaged = data.slice(0, data.length - 1);
  await assertRejects(() => loadCheckpoint(damaged), Error, "bytes:");
});
