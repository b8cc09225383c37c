// `deno task test:browser`: heed's parity tests in headless Chromium.
//
// Bundles scripts/browser/entry.ts (heed's parity tests, a few specs'
// attention laws, jvp/vjp properties and the browser checks) with
// `deno bundle`, serves it from 127.0.0.1 twice, once cross-origin
// isolated (COOP/COEP headers: wasm runs on Web Workers) and once not
// (wasm on one thread), and drives Chromium (the Debian `chromium`
// package) with playwright-core: WebGPU on SwiftShader and wasm, each
// compared against the CPU reference in the page. A third page,
// consumer.html, imports heed's library bundle as a web page would and
// trains and evaluates a tiny classifier. Last, the attention playground
// (web/, served by its own handler) is driven through its flows
// (playground.ts). Prints one line per test and
// `browser tests: N passed, M failed`; exits non-zero on any failure, and
// when Chromium is missing (never a silent skip).
//
// Usage: deno task test:browser [--filter <substring>]
//   [--page isolated|plain|consumer|playground] [--verbose]
//   [--screenshots <folder>] (the playground's screenshots, to look at)

import { chromium } from "npm:playwright-core@1.65.2";
import type { PageSummary, TestResult } from "./_registry.ts";
import { wrapTestBundle } from "./_registry.ts";
import { runPlayground } from "./playground.ts";
import { bundleOne } from "../../web/build.ts";

/** Chromium's flags: WebGPU on SwiftShader, no sandbox (containers), quiet start. */
const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-angle=swiftshader",
  "--use-webgpu-adapter=swiftshader",
  "--headless",
  "--disable-gpu-sandbox",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** One page of the run: where it is served and what it checks. */
interface PagePlan {
  readonly name: string;
  /**
   * The page: the test bundle cross-origin isolated (COOP/COEP headers) or
   * not, or the consumer page (consumer.html: heed's library bundle used
   * as a web developer would, isolated).
   */
  readonly route: "iso" | "plain" | "consumer";
  readonly backends: readonly string[];
  readonly threads: "many" | "one";
}

const PAGES: readonly PagePlan[] = [
  {
    name: "isolated",
    route: "iso",
    // cpu: the attention laws' "backends" law compares every backend there.
    backends: ["cpu", "webgpu", "wasm"],
    threads: "many",
  },
  { name: "plain", route: "plain", backends: ["wasm"], threads: "one" },
  {
    name: "consumer",
    route: "consumer",
    backends: ["webgpu", "wasm"],
    threads: "many",
  },
];

/** Longest a page may run before the run fails. */
const PAGE_TIMEOUT_MS = 8 * 60_000;

const ISOLATION: Readonly<Record<string, string>> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

const ROOT = new URL("../../", import.meta.url);
const FIXTURE_CSV = "text,category\nhello there,greeting\nbye now,farewell\n";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

/** The Chromium executable on PATH (`which chromium`), or a thrown error. */
async function findChromium(): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", "command -v chromium || command -v chromium-browser"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const path = new TextDecoder().decode(out.stdout).trim().split("\n")[0];
  if (!out.success || !path) {
    throw new Error(
      "Chromium is not installed: install it with `apt-get install -y chromium` (the browser tests never skip)",
    );
  }
  return path;
}

/** Bundles the page's program with `deno bundle` and wraps it (see _registry.ts). */
async function bundle(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "heed_browser_" });
  try {
    const out = `${dir}/bundle.js`;
    const entry = new URL("./entry.ts", import.meta.url).pathname;
    await bundleOne(entry, new URL(`file://${out}`));
    return wrapTestBundle(await Deno.readTextFile(out));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** heed's library bundle (mod.js, models/mod.js and shared chunks), by path. */
async function libraryBundle(): Promise<Map<string, string>> {
  const dir = await Deno.makeTempDir({ prefix: "heed_lib_" });
  try {
    const res = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "browser",
        "--format",
        "esm",
        "--code-splitting",
        "--external",
        "node:*",
        "--outdir",
        dir,
        "mod.ts",
        "models/mod.ts",
      ],
      cwd: ROOT.pathname,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!res.success) throw new Error("deno bundle of the library failed");
    const files = new Map<string, string>();
    const walk = async (sub: string): Promise<void> => {
      for await (const e of Deno.readDir(`${dir}/${sub}`)) {
        const path = sub ? `${sub}/${e.name}` : e.name;
        if (e.isDirectory) await walk(path);
        else files.set(path, await Deno.readTextFile(`${dir}/${path}`));
      }
    };
    await walk("");
    return files;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const INDEX_HTML = `<!doctype html>
<meta charset="utf-8">
<title>heed browser tests</title>
<script type="module" src="bundle.js"></script>
`;

/**
 * The test server: the test pages, the consumer page and heed's library
 * bundle, a CSV fixture and the bundled data sets.
 */
function handler(
  js: string,
  lib: Map<string, string>,
  consumer: string,
): (req: Request) => Promise<Response> {
  const datasets = new URL("data/datasets/", ROOT);
  const isolatedJs = (body: string, type: string) =>
    new Response(body, { headers: { ...ISOLATION, "content-type": type } });
  return async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/consumer/index.html") {
      return isolatedJs(consumer, "text/html; charset=utf-8");
    }
    const libFile = path.startsWith("/lib/")
      ? lib.get(path.slice("/lib/".length))
      : undefined;
    if (libFile !== undefined) {
      return isolatedJs(libFile, "text/javascript; charset=utf-8");
    }
    const page = /^\/(iso|plain)\/(index\.html|bundle\.js)?$/.exec(path);
    if (page) {
      const headers = new Headers(page[1] === "iso" ? ISOLATION : {});
      const isJs = page[2] === "bundle.js";
      headers.set(
        "content-type",
        isJs ? "text/javascript; charset=utf-8" : "text/html; charset=utf-8",
      );
      return new Response(isJs ? js : INDEX_HTML, { headers });
    }
    if (path === "/favicon.ico") return new Response(null, { status: 204 });
    if (path === "/fixture.csv") {
      return new Response(FIXTURE_CSV, {
        headers: { "content-type": "text/csv" },
      });
    }
    if (path.startsWith("/datasets/") && !path.includes("..")) {
      try {
        const file = new URL(path.slice("/datasets/".length), datasets);
        return new Response(await Deno.readFile(file));
      } catch {
        // fall through to 404
      }
    }
    return new Response("not found", { status: 404 });
  };
}

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}

/** Runs one page; returns its passed and failed counts. */
async function runPage(
  browser: Awaited<ReturnType<typeof chromium.launch>>,
  origin: string,
  plan: PagePlan,
  filter: string | undefined,
): Promise<{ passed: number; failed: number }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  let passed = 0, failed = 0;
  const done = Promise.withResolvers<PageSummary>();
  page.on("pageerror", (e: Error) => {
    failed++;
    console.log(
      `FAILED | ${plan.name} | uncaught error in the page: ${
        e.stack ?? e.message
      }`,
    );
    done.resolve({ page: plan.name, passed: 0, failed: 1, info: "" });
  });
  page.on("worker", (w: { url(): string }) => {
    if (Deno.args.includes("--verbose")) {
      console.log(`  [${plan.name}] worker ${w.url()}`);
    }
  });
  page.on("console", (m: { type(): string; text(): string }) => {
    // The loaders' test fetches a missing file on purpose.
    if (/status of 404/.test(m.text())) return;
    if (m.type() === "error" || m.type() === "warning") {
      console.log(`  [${plan.name} console.${m.type()}] ${m.text()}`);
    }
  });
  page.on("crash", () => {
    failed++;
    console.log(`FAILED | ${plan.name} | the page crashed`);
    done.resolve({ page: plan.name, passed: 0, failed: 1, info: "" });
  });
  await page.exposeFunction("__heedReport", (r: TestResult) => {
    if (r.ok) passed++;
    else failed++;
    console.log(
      `${r.ok ? "ok" : "FAILED"} | ${r.page} | ${r.name} (${fmtMs(r.ms)})`,
    );
    if (!r.ok) console.log(r.error?.replace(/^/gm, "    "));
  });
  await page.exposeFunction("__heedDone", (s: PageSummary) => done.resolve(s));
  const q = new URLSearchParams({
    page: plan.name,
    backends: plan.backends.join(","),
    threads: plan.threads,
  });
  if (filter !== undefined) q.set("filter", filter);
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), PAGE_TIMEOUT_MS);
  });
  await page.goto(`${origin}/${plan.route}/index.html?${q}`);
  const summary = await Promise.race([done.promise, timeout]);
  clearTimeout(timer);
  if (summary === null) {
    failed++;
    console.log(
      `FAILED | ${plan.name} | the page did not finish in ${
        fmtMs(PAGE_TIMEOUT_MS)
      }`,
    );
  } else if (summary.info) {
    console.log(
      `   ${plan.name}: ${
        fmtMs(performance.now() - t0)
      }, info() ${summary.info}`,
    );
  }
  await context.close();
  return { passed, failed };
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const executablePath = await findChromium();
  const [js, lib, consumer] = await Promise.all([
    bundle(),
    libraryBundle(),
    Deno.readTextFile(new URL("./consumer.html", import.meta.url)),
  ]);
  const kib = (js.length / 1024).toFixed(0);
  console.log(
    `bundled the tests (${kib} KiB) and the library in ${
      fmtMs(performance.now() - t0)
    }`,
  );
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    handler(js, lib, consumer),
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const browser = await chromium.launch({
    executablePath,
    args: [...CHROMIUM_ARGS],
    headless: true,
  });
  console.log(`${browser.version()} at ${executablePath}`);
  let passed = 0, failed = 0;
  try {
    const only = arg("--page");
    for (const plan of PAGES) {
      if (only !== undefined && plan.name !== only) continue;
      const r = await runPage(browser, origin, plan, arg("--filter"));
      passed += r.passed;
      failed += r.failed;
    }
    if (only === undefined || only === "playground") {
      const t1 = performance.now();
      await runPlayground(browser, async (name, fn) => {
        const t = performance.now();
        try {
          await fn();
          passed++;
          console.log(
            `ok | playground | ${name} (${fmtMs(performance.now() - t)})`,
          );
        } catch (e) {
          failed++;
          console.log(
            `FAILED | playground | ${name} (${fmtMs(performance.now() - t)})`,
          );
          console.log(
            String(e instanceof Error ? e.stack : e).replace(/^/gm, "    "),
          );
        }
      }, { filter: arg("--filter"), screenshots: arg("--screenshots") });
      console.log(`   playground: ${fmtMs(performance.now() - t1)}`);
    }
  } finally {
    await browser.close();
    ac.abort();
    await server.finished;
  }
  if (passed + failed === 0) failed = 1; // nothing ran: never a silent pass
  console.log(
    `browser tests: ${passed} passed, ${failed} failed (${
      fmtMs(performance.now() - t0)
    })`,
  );
  return failed === 0 ? 0 : 1;
}

try {
  Deno.exit(await main());
} catch (e) {
  console.error(`test:browser: ${e instanceof Error ? e.message : e}`);
  console.log("browser tests: 0 passed, 1 failed");
  Deno.exit(1);
}
