// What the browser page and its runner share: the shape of a registered
// test, of a result, and the `Deno` stand-in that a bundle of heed's tests
// runs against in a page.

/** A test as `Deno.test` registered it. */
export interface RegisteredTest {
  /** The test's name, as `deno test` prints it. */
  readonly name: string;
  /** The test body (given a context with `name` and `step`). */
  readonly fn: (context: unknown) => unknown;
  /** Whether the test asked to be ignored. */
  readonly ignore: boolean;
}

/** One test's outcome, as the page reports it to the runner. */
export interface TestResult {
  /** Which page ran it (`isolated` or `plain`). */
  readonly page: string;
  /** The test's name. */
  readonly name: string;
  /** Whether it passed. */
  readonly ok: boolean;
  /** How long it took, in milliseconds. */
  readonly ms: number;
  /** The error's message and stack, when it failed. */
  readonly error?: string;
}

/** A page's final report. */
export interface PageSummary {
  /** Which page. */
  readonly page: string;
  /** Tests that passed. */
  readonly passed: number;
  /** Tests that failed. */
  readonly failed: number;
  /** `info()` at the end of the run, as JSON. */
  readonly info: string;
}

/**
 * The source of the `Deno` stand-in: `Deno.test` in its three call forms
 * registers into `globalThis.__heedTests`; `Deno.env` is empty, as a
 * browser has no environment. The bundle is wrapped in a function whose
 * parameter is this object, so the tests' bare `Deno` is bound to it while
 * the library's `globalThis.Deno` stays undefined, as in any page.
 */
export const DENO_SHIM_SOURCE: string = `{
  test(a, b, c) {
    const t = typeof a === "string"
      ? (typeof b === "function" ? { name: a, fn: b } : { ...b, name: a, fn: c })
      : typeof a === "function" ? { name: a.name, fn: a } : a;
    globalThis.__heedTests.push({ name: t.name, fn: t.fn, ignore: t.ignore === true });
  },
  env: { get() { return undefined; }, has() { return false; }, toObject() { return {}; } },
  build: { os: "browser" },
}`;

/**
 * Wraps an ES-module bundle of test files so that its free `Deno` is the
 * stand-in of {@link DENO_SHIM_SOURCE}.
 */
export function wrapTestBundle(bundle: string): string {
  return `globalThis.__heedTests = [];
await (async (Deno) => {
${bundle}
})(${DENO_SHIM_SOURCE});
`;
}
