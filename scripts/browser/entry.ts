// The browser test page's program, bundled by run.ts: heed's backend
// tests that make sense in a page: each backend against the CPU reference
// (parity_test: elementwise, reductions, matmul, gradients), the op tests
// that run on every backend (elementwise, reductions, matmul and einsum,
// grad, jvp, vjp, jacobians and their properties), the laws of attention
// for every built-in spec (the "backends" law compares them with the CPU
// in the page), and the browser checks. The bundle's `Deno.test`
// registers (see _registry.ts); this file then runs the tests the page's
// query selects and reports each one to the runner.
//
// Query: `page` (its name in reports), `backends` (comma-separated: the
// backends whose tests run: a test's name ends in `[<backend>]` or says
// `on <backend>`), `threads` (`many`: the wasm backend must run on worker
// threads; `one`: on one thread, with the isolation reason), `filter`
// (only tests whose names contain it).

import "../../tests/ops/backends/parity_test.ts";
import "../../tests/ops/elementwise_test.ts";
import "../../tests/ops/reduce_test.ts";
import "../../tests/ops/linalg_test.ts";
import "../../tests/ops/transforms_test.ts";
import "../../tests/ops/grad_properties_test.ts";
import "../../tests/ops/backends/sin_cos_precision_test.ts";
import "../../tests/attention/laws_test.ts";
import "./browser_checks.ts";
import { info } from "../../mod.ts";
import type { PageSummary, RegisteredTest, TestResult } from "./_registry.ts";

/** The page's report hooks, installed by the runner (playwright's exposeFunction). */
interface Hooks {
  __heedTests: RegisteredTest[];
  __heedReport?: (r: TestResult) => Promise<void>;
  __heedDone?: (s: PageSummary) => Promise<void>;
}

const hooks = globalThis as unknown as Hooks;
const query = new URLSearchParams(location.search);
const page = query.get("page") ?? "page";
const backends = (query.get("backends") ?? "webgpu,wasm").split(",");
const filter = query.get("filter");

/** Per-test limit: a hung device op fails its test instead of the run. */
const TEST_TIMEOUT_MS = 120_000;

/** Whether `name` is selected for this page. */
function selected(name: string): boolean {
  if (filter !== null && !name.includes(filter)) return false;
  if (name.startsWith("browser: ")) return true;
  return backends.some((b) =>
    name.includes(` on ${b} `) || name.endsWith(` on ${b}`) ||
    name.endsWith(`[${b}]`)
  );
}

/** An error's message and stack, with its causes (fast-check puts the failure there). */
function message(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause === undefined ? "" : `\ncaused by: ${message(e.cause)}`;
  return `${e.message}\n${e.stack ?? ""}${cause}`;
}

/** What a test gets as `Deno.TestContext`: its name and steps, run inline. */
interface StepContext {
  readonly name: string;
  step(
    a: string | ((c: StepContext) => unknown),
    b?: (c: StepContext) => unknown,
  ): Promise<boolean>;
}

function context(name: string): StepContext {
  return {
    name,
    async step(a, b) {
      const [n, fn] = typeof a === "function" ? [a.name, a] : [a, b!];
      await fn(context(`${name} > ${n}`));
      return true;
    },
  };
}

async function runOne(t: RegisteredTest): Promise<TestResult> {
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(() => t.fn(context(t.name))),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${TEST_TIMEOUT_MS} ms`)),
          TEST_TIMEOUT_MS,
        );
      }),
    ]);
    return { page, name: t.name, ok: true, ms: performance.now() - t0 };
  } catch (e) {
    const ms = performance.now() - t0;
    return { page, name: t.name, ok: false, ms, error: message(e) };
  } finally {
    clearTimeout(timer);
  }
}

const chosen = hooks.__heedTests.filter((t) => !t.ignore && selected(t.name));
let passed = 0, failed = 0;
if (chosen.length === 0) {
  failed++;
  await hooks.__heedReport?.({
    page,
    name: "the page selected some tests",
    ok: false,
    ms: 0,
    error: `no test matched backends=${backends.join(",")}`,
  });
}
for (const t of chosen) {
  const r = await runOne(t);
  if (r.ok) passed++;
  else failed++;
  await hooks.__heedReport?.(r);
}
await hooks.__heedDone?.({
  page,
  passed,
  failed,
  info: JSON.stringify(info()),
});
