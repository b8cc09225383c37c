import {
  appendLine,
  appendMetrics,
  cleanStaleTemps,
  defaultRoot,
  LOCK_NAME,
  lockRunDir,
  openRun,
  readRunJson,
  RunDirError,
  RunLockedError,
  truncateMetricsTo,
  writeFileAtomic,
  writeRunJson,
} from "../../models/train/run_dir.ts";
import {
  assert,
  assertEquals,
  assertFalse,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";

/** A temp root with `runs/x` inside and an `elsewhere` folder beside it. */
async function sandbox(): Promise<
  { root: string; runs: string; run: string; elsewhere: string }
> {
  const root = await Deno.makeTempDir();
  const runs = `${root}/runs`,
    run = `${runs}/x`,
    elsewhere = `${root}/elsewhere`;
  await Deno.mkdir(run, { recursive: true });
  await Deno.mkdir(elsewhere);
  return { root, runs, run, elsewhere };
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("writeFileAtomic() replaces a file and leaves no temporary", async () => {
  const { run } = await sandbox();
  await writeFileAtomic(run, "attention.svg", "<svg>1</svg>");
  await writeFileAtomic(
    run,
    "attention.svg",
    new TextEncoder().encode("<svg>2</svg>"),
  );
  assertEquals(await Deno.readTextFile(`${run}/attention.svg`), "<svg>2</svg>");
  assertEquals(await names(run), ["attention.svg"]);
});

Deno.test("writeFileAtomic() refuses a symlinked attention.svg and leaves its target untouched", async () => {
  const { run, elsewhere } = await sandbox();
  await Deno.writeTextFile(`${elsewhere}/precious`, "keep me");
  await Deno.symlink(`${elsewhere}/precious`, `${run}/attention.svg`);
  const e = await assertRejects(
    () => writeFileAtomic(run, "attention.svg", "<svg/>"),
    RunDirError,
  );
  assertStringIncludes(e.message, "attention.svg is a symbolic link");
  assertEquals(await Deno.readTextFile(`${elsewhere}/precious`), "keep me");
  assert((await Deno.lstat(`${run}/attention.svg`)).isSymlink);
  assertEquals(await names(run), ["attention.svg"]); // no temporary left
});

Deno.test("appendLine() refuses a symlinked metrics.jsonl and neither truncates nor appends to its target", async () => {
  const { run, elsewhere } = await sandbox();
  await Deno.writeTextFile(`${elsewhere}/log`, "line one\n");
  await Deno.symlink(`${elsewhere}/log`, `${run}/metrics.jsonl`);
  await assertRejects(
    () => appendLine(run, "metrics.jsonl", "{}"),
    RunDirError,
  );
  await assertRejects(() => truncateMetricsTo(run, 0), RunDirError);
  await assertRejects(
    () => writeFileAtomic(run, "metrics.jsonl", ""),
    RunDirError,
  );
  assertEquals(await Deno.readTextFile(`${elsewhere}/log`), "line one\n");
});

Deno.test("a run folder that is a link out of its root is refused", async () => {
  const { runs, elsewhere } = await sandbox();
  await Deno.symlink(elsewhere, `${runs}/y`);
  const e = await assertRejects(
    () => writeFileAtomic(`${runs}/y`, "run.json", "{}"),
    RunDirError,
  );
  assertStringIncludes(e.message, "leads outside");
  await assertRejects(
    () => appendLine(`${runs}/y`, "metrics.jsonl", "{}"),
    RunDirError,
  );
  await assertRejects(() => lockRunDir(`${runs}/y`), RunDirError);
  assertEquals(await names(elsewhere), []);
  // an explicit root that contains the real folder allows it
  await writeFileAtomic(`${runs}/y`, "ok.txt", "fine", { root: elsewhere });
  assertEquals(await names(elsewhere), ["ok.txt"]);
});

Deno.test("file names that are not plain names are refused", async () => {
  const { run } = await sandbox();
  for (const bad of ["../escape", "a/b", "..", ".", "", "a\0b"]) {
    await assertRejects(() => writeFileAtomic(run, bad, "x"), RunDirError);
  }
});

Deno.test("appendLine() creates the file and mends a torn last line", async () => {
  const { run } = await sandbox();
  await appendLine(run, "metrics.jsonl", '{"epoch":1}');
  await Deno.writeTextFile(`${run}/metrics.jsonl`, '{"epo', { append: true });
  await appendMetrics(run, { epoch: 2 });
  assertEquals(
    await Deno.readTextFile(`${run}/metrics.jsonl`),
    '{"epoch":1}\n{"epo\n{"epoch":2}\n',
  );
  await assertRejects(
    () => appendLine(run, "metrics.jsonl", "two\nlines"),
    RangeError,
  );
});

Deno.test("cleanStaleTemps() removes heed's temporaries only", async () => {
  const { run, elsewhere } = await sandbox();
  const ck = `.checkpoint.safetensors.${crypto.randomUUID()}.tmp`;
  const js = `.run.json.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(`${run}/${ck}`, new Uint8Array(1000));
  await Deno.writeTextFile(`${run}/${js}`, "{}");
  await Deno.writeTextFile(`${run}/notes.tmp`, "user file");
  await Deno.writeTextFile(`${elsewhere}/t`, "target");
  const linked = `.x.${crypto.randomUUID()}.tmp`;
  await Deno.symlink(`${elsewhere}/t`, `${run}/${linked}`);
  const r = await cleanStaleTemps(run);
  assertEquals(r, { removed: [ck, js].sort(), bytes: 1002 });
  assertEquals(await names(run), [linked, "notes.tmp"].sort());
  assertEquals(await Deno.readTextFile(`${elsewhere}/t`), "target");
  assertEquals(await cleanStaleTemps(run), { removed: [], bytes: 0 });
});

Deno.test("truncateMetricsTo() keeps one line per epoch up to the checkpoint's", async () => {
  const { run } = await sandbox();
  const lines = [
    '{"epoch":1,"loss":3}',
    '{"epoch":2,"loss":2}',
    '{"epoch":3,"loss":1.5}', // killed before its checkpoint
    '{"epoch":3,"loss":1.4}', // the resumed epoch 3
    '{"test_accuracy":0.5}',
    '{"epoch":4,"loss":1}',
    "[1,2]",
    '{"epoch":"2"}',
    '{"epoch":4,"lo', // torn
  ];
  await Deno.writeTextFile(`${run}/metrics.jsonl`, lines.join("\n"));
  assertEquals(await truncateMetricsTo(run, 3), { kept: 3, dropped: 6 });
  const want =
    '{"epoch":1,"loss":3}\n{"epoch":2,"loss":2}\n{"epoch":3,"loss":1.4}\n';
  assertEquals(await Deno.readTextFile(`${run}/metrics.jsonl`), want);
  const ino = (await Deno.stat(`${run}/metrics.jsonl`)).ino;
  assertEquals(await truncateMetricsTo(run, 5), { kept: 3, dropped: 0 });
  assertEquals((await Deno.stat(`${run}/metrics.jsonl`)).ino, ino); // not rewritten
  assertEquals(await truncateMetricsTo(run, 0), { kept: 0, dropped: 3 });
  assertEquals(await Deno.readTextFile(`${run}/metrics.jsonl`), "");
  assertEquals(await truncateMetricsTo(`${run}`, 2, { name: "absent.jsonl" }), {
    kept: 0,
    dropped: 0,
  });
  await assertRejects(() => truncateMetricsTo(run, -1), RangeError);
});

Deno.test("writeRunJson() and readRunJson() round-trip; a missing run.json is null", async () => {
  const { run } = await sandbox();
  assertEquals(await readRunJson(run), null);
  const info = {
    task: "classify",
    data: "my data.csv",
    model: "classifier",
    attention: "scaled-dot",
    seed: 1,
    testFraction: 0.2,
    rows: 12,
    dataHash: `sha256:${"ab".repeat(32)}`,
    test: "my test.csv",
    valid: null,
    textColumn: "Text Body",
    labelColumn: "intent",
  } as const;
  await writeRunJson(run, info);
  assertEquals(await readRunJson(run), info);
  await assertRejects(
    // a value out of range is caught at run time
    () => writeRunJson(run, { task: "classify", seed: -1 }),
    TypeError,
    'field "seed"',
  );
});

Deno.test("readRunJson() treats run.json as untrusted and never quotes it", async () => {
  const { run, elsewhere } = await sandbox();
  const secret = "s3cr3t-token";
  const cases: [string, string][] = [
    [`not json ${secret}`, "is not valid JSON"],
    [`["${secret}"]`, "is not a JSON object"],
    [`{"task":"${secret}"}`, 'field "task"'],
    [`{"task":"classify","data":{"p":"${secret}"}}`, 'field "data"'],
    [`{"task":"classify","data":"a\\n${secret}"}`, 'field "data"'],
    [`{"task":"classify","model":"../../${secret}"}`, 'field "model"'],
    [`{"task":"classify","seed":1.5}`, 'field "seed"'],
    [`{"task":"classify","test":"a\\u0007${secret}"}`, 'field "test"'],
    [`{"task":"classify","textColumn":""}`, 'field "textColumn"'],
    [`{"task":"classify","labelColumn":["${secret}"]}`, 'field "labelColumn"'],
    [`{"task":"classify","${secret}":1}`, "has a field heed does not know"],
    [`{"data":null}`, 'field "task" is missing'],
  ];
  for (const [text, want] of cases) {
    await Deno.writeTextFile(`${run}/run.json`, text);
    const e = await assertRejects(() => readRunJson(run), RunDirError);
    assertStringIncludes(e.message, want);
    assertFalse(e.message.includes(secret), e.message);
  }
  await Deno.writeTextFile(`${run}/run.json`, " ".repeat(70000) + "{}");
  await assertRejects(() => readRunJson(run), RunDirError, "more than");
  await Deno.remove(`${run}/run.json`);
  await Deno.writeTextFile(
    `${elsewhere}/secret`,
    `{"task":"classify","data":"${secret}"}`,
  );
  await Deno.symlink(`${elsewhere}/secret`, `${run}/run.json`);
  const e = await assertRejects(() => readRunJson(run), RunDirError);
  assertStringIncludes(e.message, "symbolic link");
  assertFalse(e.message.includes(secret));
});

// --- the lock, with real processes ---

const CHILD = `
import { lockRunDir } from ${
  JSON.stringify(new URL("../../models/train/run_dir.ts", import.meta.url).href)
};
const [dir, mode] = Deno.args;
try {
  const lock = await lockRunDir(dir, { command: "child " + mode });
  if (lock.notice) console.log("NOTICE " + lock.notice);
  console.log("LOCKED");
  if (mode === "hold") await Deno.stdin.read(new Uint8Array(1));
  if (mode === "release") await lock.release();
} catch (e) {
  console.log("ERROR " + e.name + ": " + e.message);
  Deno.exit(3);
}
`;

async function childScript(): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(path, CHILD);
  return path;
}

function child(script: string, dir: string, mode: string): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-read",
      "--allow-write",
      script,
      dir,
      mode,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
}

async function run(script: string, dir: string, mode: string) {
  const p = child(script, dir, mode).spawn();
  await p.stdin.close();
  const o = await p.output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout) +
      new TextDecoder().decode(o.stderr),
  };
}

Deno.test("lockRunDir() lets one process in; a second gets an error naming the holder; a killed holder's lock is taken over", async () => {
  const { run: dir } = await sandbox();
  const script = await childScript();
  const holder = child(script, dir, "hold").spawn();
  const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("LOCKED")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`holder ended early: ${seen}`);
    seen += value;
  }
  const second = await run(script, dir, "exit");
  assertEquals(second.code, 3, second.out);
  assertStringIncludes(second.out, "RunLockedError");
  assertStringIncludes(
    second.out,
    `is in use by another run: pid ${holder.pid}`,
  );
  assertStringIncludes(second.out, '"child hold"');

  holder.kill("SIGKILL");
  await holder.status;
  reader.releaseLock();
  await holder.stdout.cancel().catch(() => {});
  await holder.stderr.cancel();
  await holder.stdin.close().catch(() => {});
  assert((await names(dir)).includes(LOCK_NAME)); // the dead run's lock stays

  const third = await run(script, dir, "exit");
  assertEquals(third.code, 0, third.out);
  assertStringIncludes(
    third.out,
    `NOTICE ${dir}: took over the lock of a run that has ended: pid ${holder.pid}`,
  );
  assertStringIncludes(third.out, "LOCKED");
  assertFalse((await names(dir)).includes(LOCK_NAME)); // released at exit

  const fourth = await run(script, dir, "release");
  assertEquals([fourth.code, fourth.out.includes("NOTICE")], [0, false]);
  assertFalse((await names(dir)).includes(LOCK_NAME));
});

/** Starts `n` holders at once; returns what each printed first. */
async function race(script: string, dir: string, n: number): Promise<string[]> {
  const procs = Array.from(
    { length: n },
    () => child(script, dir, "hold").spawn(),
  );
  const firstWords = async (p: Deno.ChildProcess): Promise<string> => {
    const reader = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!/LOCKED|ERROR/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    reader.releaseLock();
    return seen;
  };
  const outs = await Promise.all(procs.map(firstWords));
  for (const p of procs) {
    await p.stdin.close();
    await p.status;
    await p.stdout.cancel().catch(() => {});
    await p.stderr.cancel().catch(() => {});
  }
  return outs;
}

Deno.test("lockRunDir() lets exactly one of several processes started together in, also over a dead run's lock", async () => {
  const { run: dir } = await sandbox();
  const script = await childScript();
  const fresh = await race(script, dir, 5);
  assertEquals(
    fresh.filter((o) => o.includes("LOCKED")).length,
    1,
    fresh.join("|"),
  );
  for (const o of fresh.filter((o) => o.includes("ERROR"))) {
    assertStringIncludes(o, "is in use by another run: pid ");
  }
  assertEquals(fresh.some((o) => o.includes("NOTICE")), false);
  assertEquals(await names(dir), []); // released, no temporaries left

  const dead = child(script, dir, "hold").spawn();
  const r = dead.stdout.pipeThrough(new TextDecoderStream()).getReader();
  for (let seen = ""; !seen.includes("LOCKED");) {
    const { value, done } = await r.read();
    if (done) throw new Error(`holder ended early: ${seen}`);
    seen += value;
  }
  dead.kill("SIGKILL");
  await dead.status;
  r.releaseLock();
  await dead.stdout.cancel().catch(() => {});
  await dead.stderr.cancel();
  await dead.stdin.close().catch(() => {});
  const stale = await race(script, dir, 5);
  const won = stale.filter((o) => o.includes("LOCKED"));
  assertEquals(won.length, 1, stale.join("|"));
  assertStringIncludes(
    won[0]!,
    `took over the lock of a run that has ended: pid ${dead.pid}`,
  );
  assertEquals(await names(dir), []);
});

Deno.test("lockRunDir() in one process: a second lock fails until the first is released", async () => {
  const { run: dir } = await sandbox();
  const a = await lockRunDir(dir, { command: "a" });
  assertEquals(a.notice, null);
  const e = await assertRejects(() => lockRunDir(dir), RunLockedError);
  assertEquals(e.holder?.pid, Deno.pid);
  await a.release();
  await a.release(); // idempotent
  await using b = await lockRunDir(dir, { command: "b" });
  assertEquals(b.notice, null);
  assert((await names(dir)).includes(LOCK_NAME));
});

Deno.test("lockRunDir() refuses a lock left by a run on another host, and a symlinked lock file", async () => {
  const { run: dir, elsewhere } = await sandbox();
  const other = {
    pid: 1,
    hostname: "far-away-host",
    started: "2026-01-01T00:00:00Z",
    command: "train",
  };
  await Deno.writeTextFile(`${dir}/${LOCK_NAME}`, JSON.stringify(other));
  const e = await assertRejects(() => lockRunDir(dir), RunLockedError);
  assertStringIncludes(e.message, "far-away-host");
  assertStringIncludes(e.message, "delete the lock file");
  await Deno.remove(`${dir}/${LOCK_NAME}`);
  await Deno.writeTextFile(`${elsewhere}/l`, "x");
  await Deno.symlink(`${elsewhere}/l`, `${dir}/${LOCK_NAME}`);
  await assertRejects(() => lockRunDir(dir), RunDirError, "symbolic link");
  assertEquals(await Deno.readTextFile(`${elsewhere}/l`), "x");
});

Deno.test("openRun() creates the folder, locks it, cleans temporaries and reports it", async () => {
  const { runs, elsewhere } = await sandbox();
  const dir = `${runs}/new/deeper`;
  await using run = await openRun(dir, { command: "train" });
  assertEquals(run.notices, []);
  assertEquals(await names(dir), [LOCK_NAME]);
  await assertRejects(() => openRun(dir), RunLockedError);
  await run.lock.release();
  const tmp = `.checkpoint.safetensors.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(`${dir}/${tmp}`, new Uint8Array(4600));
  await using again = await openRun(dir);
  assertEquals(again.notices, [
    `${dir}: removed 1 temporary file (4600 bytes) left by a run that was stopped`,
  ]);
  assertEquals(await names(dir), [LOCK_NAME]);
  // a folder that leads out of runs/ is refused before anything is written
  await Deno.symlink(elsewhere, `${runs}/out`);
  await assertRejects(
    () => openRun(`${runs}/out`),
    RunDirError,
    "leads outside",
  );
  // also when the link is an ancestor of the folder to create
  await assertRejects(
    () => openRun(`${runs}/out/new/run`, { root: runs }),
    RunDirError,
    "leads outside",
  );
  assertEquals(await names(elsewhere), []);
});

Deno.test("defaultRoot() is a relative path's first folder, an absolute path's parent", () => {
  assertEquals(defaultRoot("runs/x"), "runs");
  assertEquals(defaultRoot("runs/a/b/"), "runs");
  assertEquals(defaultRoot("x"), ".");
  assertEquals(defaultRoot("./x"), ".");
  assertEquals(defaultRoot("./runs/x"), "runs");
  assertEquals(defaultRoot("/data/runs/x"), "/data/runs");
  assertEquals(defaultRoot("/x"), "/");
});

Deno.test("openRun() with a relative --out never creates a folder through a link inside runs/", async () => {
  const { root, runs, elsewhere } = await sandbox();
  await Deno.symlink(elsewhere, `${runs}/out`);
  const cwd = Deno.cwd();
  Deno.chdir(root);
  try {
    await assertRejects(
      () => openRun("runs/out/new"),
      RunDirError,
      "leads outside runs",
    );
    await using ok = await openRun("runs/fine/deeper");
    assertEquals(ok.notices, []);
  } finally {
    Deno.chdir(cwd);
  }
  assertEquals(await names(elsewhere), []);
  assertEquals(await names(`${runs}/fine/deeper`), []); // released at the block's end
});
