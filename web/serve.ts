// `deno task web [--port 8000] [--hostname 127.0.0.1]`: serves the attention
// playground. The page and its worker come with the cross-origin isolation
// headers (COOP/COEP), so wasm runs on worker threads; the bundle is built
// on start when missing or stale (build.ts). Also served: the bundled data
// sets under /datasets/ (the Train section reads banking77) and the API
// reference of `deno task docs` under /api/.

import { buildPlayground, DIST, ROOT } from "./build.ts";

const ISOLATION: Readonly<Record<string, string>> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

const TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  csv: "text/csv; charset=utf-8",
  svg: "image/svg+xml",
  txt: "text/plain; charset=utf-8",
  png: "image/png",
  ico: "image/x-icon",
};

function respond(
  body: BodyInit | null,
  status: number,
  path: string,
): Response {
  const ext = path.split(".").pop() ?? "";
  return new Response(body, {
    status,
    headers: {
      ...ISOLATION,
      "content-type": TYPES[ext] ?? "application/octet-stream",
      "cache-control": "no-cache",
    },
  });
}

async function file(url: URL, path: string): Promise<Response> {
  try {
    return respond(await Deno.readFile(url), 200, path);
  } catch (e) {
    if (
      e instanceof Deno.errors.NotFound || e instanceof Deno.errors.IsADirectory
    ) {
      return respond(`not found: ${path}`, 404, "x.txt");
    }
    throw e;
  }
}

/** Where the served files live. */
export interface ServeOptions {
  /** The folder with app.js and worker.js (default web/dist/). */
  readonly dist?: URL;
}

/** The playground's request handler. */
export function playgroundHandler(
  opts: ServeOptions = {},
): (req: Request) => Promise<Response> {
  const dist = opts.dist ?? DIST;
  return (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.split("/").some((s) => s === ".." || s.startsWith("."))) {
      return Promise.resolve(respond("bad path", 400, "x.txt"));
    }
    if (path === "/" || path === "/index.html") {
      return file(new URL("web/index.html", ROOT), "index.html");
    }
    if (path === "/app.js" || path === "/worker.js") {
      return file(new URL(path.slice(1), dist), path);
    }
    if (path === "/favicon.ico") {
      return Promise.resolve(respond(null, 204, path));
    }
    if (path.startsWith("/datasets/")) {
      const rel = path.slice("/datasets/".length);
      return file(new URL(`data/datasets/${rel}`, ROOT), path);
    }
    if (path === "/api" || path.startsWith("/api/")) {
      const rel = path.slice("/api/".length) || "index.html";
      return file(new URL(`docs/api/${rel}`, ROOT), rel).then((r) =>
        r.status === 404 && rel === "index.html"
          ? respond(
            "The API reference is not built yet: run `deno task docs`.",
            404,
            "x.txt",
          )
          : r
      );
    }
    return Promise.resolve(respond(`not found: ${path}`, 404, "x.txt"));
  };
}

function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(name);
  const eq = Deno.args.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1) ?? (i >= 0 ? Deno.args[i + 1]! : fallback);
}

async function main(): Promise<void> {
  const port = Number(flag("--port", "8000"));
  const hostname = flag("--hostname", "127.0.0.1");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `web: --port must be an integer in 0..65535, got ${flag("--port", "")}`,
    );
  }
  const t0 = performance.now();
  if (await buildPlayground()) {
    const s = (performance.now() - t0) / 1000;
    console.log(`bundled the playground in ${s.toFixed(1)} s`);
  }
  Deno.serve({
    port,
    hostname,
    onListen: (a) =>
      console.log(`the attention playground: http://${a.hostname}:${a.port}/`),
  }, playgroundHandler());
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    console.error(`web: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  });
}
