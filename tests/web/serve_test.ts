// The playground's server: isolation headers on everything it serves, the
// page, the bundles, the data sets and the API reference, nothing outside
// them; and the bundle is rebuilt only when stale.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { buildPlayground } from "../../web/build.ts";
import { playgroundHandler } from "../../web/serve.ts";

async function get(
  handler: (r: Request) => Promise<Response>,
  path: string,
): Promise<Response> {
  return await handler(new Request(`http://127.0.0.1${path}`));
}

function isolated(r: Response): void {
  assertEquals(r.headers.get("Cross-Origin-Opener-Policy"), "same-origin");
  assertEquals(r.headers.get("Cross-Origin-Embedder-Policy"), "require-corp");
}

Deno.test("playgroundHandler() serves the page and banking77 cross-origin isolated", async () => {
  const h = playgroundHandler();
  const page = await get(h, "/");
  assertEquals(page.status, 200);
  isolated(page);
  assertStringIncludes(page.headers.get("content-type")!, "text/html");
  assertStringIncludes(
    await page.text(),
    '<script type="module" src="app.js">',
  );
  const cats = await get(h, "/datasets/banking77/categories.json");
  assertEquals(cats.status, 200);
  isolated(cats);
  assertEquals((await cats.json()).length, 77);
  const csv = await get(h, "/datasets/banking77/train.csv");
  assertEquals(csv.headers.get("content-type"), "text/csv; charset=utf-8");
  assert((await csv.text()).startsWith("text,category"));
});

Deno.test("playgroundHandler() serves nothing outside its folders", async () => {
  const h = playgroundHandler();
  for (
    const path of [
      "/datasets/../deno.json",
      "/datasets/%2e%2e/%2e%2e/deno.json",
      "/datasets/..%2f..%2fdeno.json",
      "/deno.json",
      "/web/serve.ts",
      "/.git/config",
    ]
  ) {
    const r = await get(h, path);
    assert(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
    isolated(r);
    await r.body?.cancel();
  }
});

Deno.test("playgroundHandler() serves the API reference, or says how to build it", async () => {
  const r = await get(playgroundHandler(), "/api/");
  isolated(r);
  const text = await r.text();
  if (r.status === 200) assertStringIncludes(text, "<html");
  else {
    assertEquals(r.status, 404);
    assertStringIncludes(text, "deno task docs");
  }
});

Deno.test("buildPlayground() bundles app.js and worker.js, and again only when stale", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_web_test_" });
  const out = new URL(`file://${dir}/`);
  try {
    assertEquals(await buildPlayground(out), true);
    const app = await Deno.readTextFile(`${dir}/app.js`);
    assertStringIncludes(app, "checkAttentionLaws");
    assert((await Deno.stat(`${dir}/worker.js`)).size > 10_000);
    assertEquals(await buildPlayground(out), false);
    // A bundle older than the sources is rebuilt.
    await Deno.utime(`${dir}/worker.js`, 0, 0);
    assertEquals(await buildPlayground(out), true);
    const served = await get(
      playgroundHandler({ dist: out }),
      "/worker.js",
    );
    isolated(served);
    assertStringIncludes(served.headers.get("content-type")!, "javascript");
    assertEquals(
      (await served.arrayBuffer()).byteLength,
      (await Deno.stat(`${dir}/worker.js`)).size,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Fetches `url` from a child process (`deno eval` may use the network;
 * `deno task test` does not grant it to the tests).
 */
async function fetchOutside(url: string) {
  const code = `const r = await fetch(${JSON.stringify(url)});
console.log(JSON.stringify({
  status: r.status,
  coop: r.headers.get("Cross-Origin-Opener-Policy"),
  coep: r.headers.get("Cross-Origin-Embedder-Policy"),
  body: await r.text(),
}));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert(out.success, `fetching ${url} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as {
    status: number;
    coop: string;
    coep: string;
    body: string;
  };
}

Deno.test("deno task web's command line serves the playground on the port it prints", async () => {
  // The task's own command line (its permissions included), with --port 0.
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  );
  const [deno, ...args] = (config.tasks.web as string).split(" ");
  assertEquals(deno, "deno");
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args, "--port", "0"],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!/http:\/\/\S+\//.test(out)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`the server exited, printing: ${out}`);
      out += value;
    }
    const url = out.match(/http:\/\/\S+\//)![0];
    const page = await fetchOutside(url);
    assertEquals(page.coop, "same-origin");
    assertEquals(page.coep, "require-corp");
    assertStringIncludes(page.body, "attention playground");
    const app = await fetchOutside(new URL("app.js", url).href);
    assertEquals(app.status, 200);
    assertStringIncludes(app.body, "checkAttentionLaws");
    lines.releaseLock();
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
});
