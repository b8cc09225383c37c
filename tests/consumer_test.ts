// A user's project outside the repository imports heed by package name
// through its own deno.json and runs the README's library snippets. This is
// how the dependency pins (Arquero's Arrow library) are shown to reach a
// consumer, and how the README's examples are kept true.

import { assert, assertEquals } from "@std/assert";
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const join = (...parts: string[]): string => parts.join("/");
const README = await Deno.readTextFile(join(ROOT, "README.md"));
const VERSION =
  (JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as {
    version: string;
  }).version;

/** The permissions the README's "Use heed in your project" section states. */
const PERMISSIONS = [
  "--allow-read",
  "--allow-env=HEED_BACKEND,HEED_THREADS,HEED_WEBGPU_MATMUL",
  "--no-prompt",
];

interface Snippet {
  readonly line: number;
  readonly code: string;
  /** What `console.log` prints, from `// → ...` comments, in order. */
  readonly expected: readonly string[];
}

/** Every ```ts block of the README that imports heed by package name. */
function librarySnippets(markdown: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== "```") end++;
    const body = lines.slice(start, end);
    i = end;
    const code = body.join("\n");
    if (!/from "@heed\/heed(\/[a-z]+)?"/.test(code)) continue;
    const expected = body.flatMap((l) => {
      const m = /console\.log\(.*\); \/\/ → (.*)$/.exec(l);
      return m ? [m[1]!] : [];
    });
    out.push({ line: start, code, expected });
  }
  return out;
}

async function makeProject(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "heed_consumer_" });
  const config = {
    imports: { "@heed/heed": `jsr:@heed/heed@^${VERSION}` },
    links: [ROOT],
  };
  await Deno.writeTextFile(join(dir, "deno.json"), JSON.stringify(config));
  return dir;
}

Deno.test("the README has library snippets that import heed by package name", () => {
  const snippets = librarySnippets(README);
  assert(snippets.length >= 5, `found ${snippets.length} snippets`);
  assert(
    snippets.some((s) => s.code.includes('"@heed/heed/attention"')),
    "no attention snippet",
  );
});

Deno.test({
  name:
    "a project outside the repository imports heed by package name and runs every README snippet",
  sanitizeResources: false,
  async fn(t) {
    const dir = await makeProject();
    try {
      for (const s of librarySnippets(README)) {
        await t.step(`README.md:${s.line}`, async () => {
          const file = join(dir, `snippet_${s.line}.ts`);
          await Deno.writeTextFile(file, s.code + "\n");
          const out = await new Deno.Command(Deno.execPath(), {
            args: ["run", ...PERMISSIONS, file],
            cwd: dir,
            env: { NO_COLOR: "1" },
            stdout: "piped",
            stderr: "piped",
          }).output();
          const stdout = new TextDecoder().decode(out.stdout);
          const stderr = new TextDecoder().decode(out.stderr);
          assertEquals(
            out.code,
            0,
            `README.md:${s.line} failed in a consumer project:\n${stderr}`,
          );
          const printed = stdout.split("\n").map((l) => l.trim()).filter((l) =>
            l !== ""
          );
          assertEquals(printed, [...s.expected], `README.md:${s.line} printed`);
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a consumer project resolves the data module's pinned dependencies", async () => {
  const dir = await makeProject();
  try {
    const file = join(dir, "data_import.ts");
    await Deno.writeTextFile(
      file,
      `import { readCsv } from "@heed/heed/data";\n` +
        `console.log(readCsv("text,label\\nhi,a\\n").numRows());\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, file],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(
      out.code,
      0,
      new TextDecoder().decode(out.stderr),
    );
    assertEquals(new TextDecoder().decode(out.stdout).trim(), "1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
