import { describeError, UsageError } from "../../models/cli/_errors.ts";
import { DataError } from "../../data/errors.ts";
import { CheckpointError } from "../../models/train/checkpoint.ts";
import { assert, assertEquals, assertFalse } from "@std/assert";

Deno.test("describeError() keeps a data error's file:line prefix", () => {
  const e = new DataError(
    { source: "bad.csv", line: 3 },
    "expected 2 fields, got 1",
  );
  assertEquals(describeError("train", e), {
    line: "train: bad.csv:3: expected 2 fields, got 1",
    code: 1,
  });
  // an error that carries a location without it in its message gets it
  const located = Object.assign(new Error("no tokens in the text"), {
    source: "my.csv",
    line: 7,
  });
  assertEquals(
    describeError("train", located).line,
    "train: my.csv:7: no tokens in the text",
  );
  const ck = new CheckpointError(
    "runs/x/checkpoint.safetensors",
    "header is truncated",
  );
  assertEquals(
    describeError("eval", ck).line,
    "eval: runs/x/checkpoint.safetensors: header is truncated",
  );
});

Deno.test("describeError() names the permission and the folder a task may write", () => {
  const w = new Deno.errors.NotCapable(
    'Requires write access to "/etc/x", run again with the --allow-write flag',
  );
  assertEquals(
    describeError("predict", w).line,
    "predict: no permission to write /etc/x: the task may write only inside runs/ (--allow-write=runs); choose an --out inside runs/",
  );
  assertEquals(
    describeError("predict", w, { writable: "out" }).line.includes(
      "--allow-write=out",
    ),
    true,
  );
  const r = new Deno.errors.NotCapable(
    'Requires read access to "/data", run again with the --allow-read flag',
  );
  assertEquals(
    describeError("eval", r).line,
    "eval: no permission to read /data (--allow-read)",
  );
  const env = new Deno.errors.NotCapable(
    'Requires env access to "HOME", run again with the --allow-env flag',
  );
  assertEquals(
    describeError("train", env).line,
    "train: no permission to read the environment variable HOME: the task lists the variables heed may read in --allow-env",
  );
});

Deno.test("describeError() turns OS errors into path: what", async () => {
  const dir = await Deno.makeTempDir();
  const notFound = await Deno.readFile(`${dir}/missing.safetensors`).catch((
    e,
  ) => e);
  assertEquals(
    describeError("train", notFound).line,
    `train: ${dir}/missing.safetensors: no such file or folder`,
  );
  const isDir = await Deno.readFile(dir).catch((e) => e);
  assert(describeError("train", isDir).line.startsWith("train: "));
});

Deno.test("describeError() prints one line, never doubles the command, and codes usage errors 2", () => {
  assertEquals(
    describeError(
      "predict",
      new Error(
        "cannot load a model from runs/x\nTrain one first: deno task train",
      ),
    ).line,
    "predict: cannot load a model from runs/x; Train one first: deno task train",
  );
  assertEquals(
    describeError(
      "train",
      new RangeError("train: --epochs: must be at least 1"),
    ).line,
    "train: --epochs: must be at least 1",
  );
  assertEquals(
    describeError("train", new UsageError("unknown option --foo")).code,
    2,
  );
  assertEquals(describeError("train", "a string").line, "train: a string");
  assertEquals(
    describeError("train", new AggregateError([new Error("first")], "many"))
      .line,
    "train: first",
  );
});

// --- runMain, in real processes ---

const CHILD = `
import { runMain, UsageError } from ${
  JSON.stringify(new URL("../../models/cli/_errors.ts", import.meta.url).href)
};
import { lockRunDir } from ${
  JSON.stringify(
    new URL("../../models/train/run_dir.ts", import.meta.url).href,
  )
};
import { DataError } from ${
  JSON.stringify(new URL("../../data/errors.ts", import.meta.url).href)
};
await runMain("train", async (args) => {
  const mode = args[0];
  if (mode === "ok") { console.log(JSON.stringify(args)); return 0; }
  if (mode === "code") return 3;
  if (mode === "data") throw new DataError({ source: "bad.csv", line: 3 }, "expected 2 fields, got 1");
  if (mode === "usage") throw new UsageError("--epochs: must be at least 1");
  if (mode === "write") { await Deno.writeTextFile("../outside.txt", "x"); return 0; }
  if (mode === "hold") {
    await lockRunDir("runs/x", { command: "train hold" });
    console.log("LOCKED");
    await new Promise((r) => setTimeout(r, 30000));
    return 0;
  }
  if (mode === "reject") { Promise.reject(new Error("late failure")); await new Promise((r) => setTimeout(r, 50)); return 0; }
  return 9;
}, Deno.args);
`;

async function sandbox(): Promise<{ cwd: string; script: string }> {
  const root = await Deno.makeTempDir();
  const cwd = `${root}/work`;
  await Deno.mkdir(`${cwd}/runs`, { recursive: true });
  const script = `${root}/child.ts`;
  await Deno.writeTextFile(script, CHILD);
  return { cwd, script };
}

async function run(s: { cwd: string; script: string }, ...args: string[]) {
  const o = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-read",
      "--allow-write=runs",
      s.script,
      ...args,
    ],
    cwd: s.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

Deno.test("runMain() prints one line and exits 1 on a data error; --debug adds the stack", async () => {
  const s = await sandbox();
  const plain = await run(s, "data");
  assertEquals([plain.code, plain.err], [
    1,
    "train: bad.csv:3: expected 2 fields, got 1\n",
  ]);
  const debug = await run(s, "data", "--debug");
  assertEquals(debug.code, 1);
  assert(debug.err.startsWith("train: bad.csv:3: expected 2 fields, got 1\n"));
  assert(/\n\s+at .*child\.ts/.test(debug.err), debug.err);
});

Deno.test("runMain() maps a refused write to the folder the task may write", async () => {
  const s = await sandbox();
  const r = await run(s, "write");
  assertEquals(r.code, 1);
  assertEquals(r.err.trim().split("\n").length, 1, r.err);
  assert(r.err.startsWith("train: no permission to write "), r.err);
  assert(r.err.includes("--allow-write=runs"), r.err);
  await Deno.stat(`${s.cwd}/../outside.txt`).then(
    () => assert(false, "the write went through"),
    (e) => assert(e instanceof Deno.errors.NotFound),
  );
});

Deno.test("runMain() passes the exit code through, strips --debug, and exits 2 on a usage error", async () => {
  const s = await sandbox();
  const ok = await run(s, "ok", "--debug", "--out", "runs/x");
  assertEquals([ok.code, ok.out, ok.err], [0, '["ok","--out","runs/x"]\n', ""]);
  assertEquals((await run(s, "code")).code, 3);
  const usage = await run(s, "usage");
  assertEquals([usage.code, usage.err], [
    2,
    "train: --epochs: must be at least 1\n",
  ]);
});

Deno.test("runMain() reports a promise nobody awaited as one line", async () => {
  const s = await sandbox();
  const r = await run(s, "reject");
  assertEquals([r.code, r.err], [1, "train: late failure\n"]);
  assertFalse(r.err.includes(" at "));
});

Deno.test("runMain() exits 130 on Ctrl-C and the run folder's lock is released", async () => {
  const s = await sandbox();
  await Deno.mkdir(`${s.cwd}/runs/x`);
  const p = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-read",
      "--allow-write=runs",
      s.script,
      "hold",
    ],
    cwd: s.cwd,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
  for (let seen = ""; !seen.includes("LOCKED");) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`ended early: ${seen}`);
    seen += value;
  }
  assert((await Deno.lstat(`${s.cwd}/runs/x/run.lock`)).isFile);
  p.kill("SIGINT");
  const status = await p.status;
  reader.releaseLock();
  await p.stdout.cancel().catch(() => {});
  const err = await new Response(p.stderr).text();
  assertEquals([status.code, err], [130, "train: interrupted\n"]);
  await Deno.lstat(`${s.cwd}/runs/x/run.lock`).then(
    () => assert(false, "the lock file is still there"),
    (e) => assert(e instanceof Deno.errors.NotFound),
  );
});
