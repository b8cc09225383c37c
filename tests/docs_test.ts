// The documentation's shape: a short README, links that lead somewhere, and
// `deno task` commands that exist.

import { assert, assertEquals } from "@std/assert";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** README.md and every docs/*.md, as paths relative to the repository. */
function markdownFiles(): string[] {
  const files = ["README.md"];
  for (const e of Deno.readDirSync(`${ROOT}/docs`)) {
    if (e.isFile && e.name.endsWith(".md")) files.push(`docs/${e.name}`);
  }
  return files.sort();
}

/** The markdown with fenced code blocks removed (links there are code). */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```[ \t]*$/gm, "");
}

/** Targets of `[text](target)` and `![alt](target)` that are not URLs. */
function relativeLinks(markdown: string): string[] {
  const out: string[] = [];
  for (const m of prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) {
      continue;
    }
    out.push(target.split("#")[0]!);
  }
  return out;
}

/** Task names after `deno task` (also as `deno@x.y.z task`), in any text. */
function taskNames(markdown: string): string[] {
  const names = [...markdown.matchAll(/\bdeno(?:@[\d.]+)? task\s+([\w:-]+)/g)]
    .map((m) => m[1]!);
  return [...new Set(names)];
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const TASKS = new Set(
  Object.keys(
    (JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)) as {
      tasks: Record<string, string>;
    }).tasks,
  ),
);

Deno.test("README.md is under 260 lines", () => {
  const lines = Deno.readTextFileSync(`${ROOT}/README.md`).split("\n").length;
  assert(lines < 260, `README.md has ${lines} lines`);
});

Deno.test("every relative link in README.md and docs/*.md points to an existing file", () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of markdownFiles()) {
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";
    for (
      const target of relativeLinks(Deno.readTextFileSync(`${ROOT}/${file}`))
    ) {
      checked++;
      const path = target.startsWith("/")
        ? `${ROOT}${target}`
        : `${ROOT}/${dir ? dir + "/" : ""}${decodeURI(target)}`;
      if (!exists(path)) broken.push(`${file}: ${target}`);
    }
  }
  assert(checked > 0, "no relative links found");
  assertEquals(broken, []);
});

Deno.test("every `deno task X` in README.md and docs/*.md names a task in deno.json", () => {
  const unknown: string[] = [];
  let checked = 0;
  for (const file of markdownFiles()) {
    for (const name of taskNames(Deno.readTextFileSync(`${ROOT}/${file}`))) {
      checked++;
      if (!TASKS.has(name)) unknown.push(`${file}: deno task ${name}`);
    }
  }
  assert(checked > 0, "no deno task mentions found");
  assertEquals(unknown, []);
});

Deno.test("the link and task checks find broken links and unknown tasks", () => {
  const md = "See [a](nowhere.md), [b](https://x.y), [c](#here).\n" +
    "Run `deno task nosuch` or `npx -y deno@2.9.6 task test`.\n" +
    "```sh\n[d](in_code.md)\n```\n";
  assertEquals(relativeLinks(md), ["nowhere.md"]);
  assertEquals(taskNames(md), ["nosuch", "test"]);
  assert(!TASKS.has("nosuch"));
  assert(!exists(`${ROOT}/nowhere.md`));
});
