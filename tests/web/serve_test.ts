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
