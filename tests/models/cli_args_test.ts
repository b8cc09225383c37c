// `deno task train`'s flags: defaults per task, every flag parsed, and a
// clear RangeError naming the flag for every bad value.

import { assertEquals, assertThrows } from "@std/assert";
import { main, parseTrainArgs } from "../../models/cli/train.ts";

Deno.test("train: defaults per task", () => {
  const c = parseTrainArgs([]);
  assertEquals([c.task, c.epochs, c.batchSize, c.attention, c.out], [
    "classify",
    14,
    64,
    "scaled-dot",
    "runs/latest",
  ]);
  const t = parseTrainArgs(["--task", "translate"]);
  assertEquals([t.task, t.epochs, t.model, t.maxMinutes], [
    "translate",
    10,
    "transformer",
    null,
  ]);
});

Deno.test("train: every flag, in both spellings", () => {
  const a = parseTrainArgs([
    "--task=translate",
    "--data",
    "d",
    "--attention",
    "cosine",
    "--epochs=3",
    "--batch-size",
    "8",
    "--lr",
    "1e-3",
    "--backend",
    "cpu",
    "--seed",
    "7",
    "--out",
    "runs/x",
    "--resume",
    "--max-minutes",
    "1.5",
    "--max-tokens",
    "512",
  ]);
  assertEquals(
    [a.data, a.attention, a.epochs, a.batchSize, a.lr, a.backend, a.seed],
    ["d", "cosine", 3, 8, 1e-3, "cpu", 7],
  );
  assertEquals([a.out, a.resume, a.maxMinutes, a.maxTokens], [
    "runs/x",
    true,
    1.5,
    512,
  ]);
  assertEquals(
    parseTrainArgs(["--task", "translate", "--model", "gru"]).model,
    "gru",
  );
});

Deno.test("train: --warmup and --dry-run", () => {
  const t = parseTrainArgs(["--task", "translate", "--warmup=40", "--dry-run"]);
  assertEquals([t.warmup, t.dryRun], [40, true]);
  const c = parseTrainArgs([]);
  assertEquals([c.warmup, c.dryRun], [null, false]);
});

Deno.test("train: bad values name their flag", () => {
  const bad: [string[], string][] = [
    [["--task", "summarise"], "--task"],
    [["--epochs", "0"], "--epochs"],
    [["--epochs", "2.5"], "--epochs"],
    [["--batch-size", "0"], "--batch-size"],
    [["--lr", "-1"], "--lr"],
    [["--lr", "0"], "--lr"],
    [["--epochs", "-1"], "--epochs"],
    [["--seed", "x"], "--seed"],
    [["--attention", "nope"], "nope"],
    [["--model", "lstm"], "--model"],
    [["--max-minutes", "0", "--task", "translate"], "--max-minutes"],
    [["--max-minutes", "5"], "only for --task translate"],
    [
      ["--task", "translate", "--model", "gru", "--attention", "cosine"],
      "always additive",
    ],
    [["--frobnicate"], "unknown option"],
    [["--backend", "tpu"], "--backend"],
    [["--max-tokens", "100"], "only for --task translate"],
    [["--task", "translate", "--max-tokens", "0"], "--max-tokens"],
    [["--warmup", "10"], "--warmup: only for --task translate"],
    [["--task", "translate", "--warmup", "0"], "--warmup"],
    [["--task", "translate", "--warmup", "1.5"], "--warmup"],
  ];
  for (const [argv, msg] of bad) {
    assertThrows(() => parseTrainArgs(argv), RangeError, msg, argv.join(" "));
  }
});

Deno.test("train: --help and bad flags exit without training", async () => {
  const log = console.log, err = console.error;
  const out: string[] = [];
  console.log = console.error = (...a: unknown[]) => out.push(a.join(" "));
  try {
    assertEquals(await main(["--help"]), 0);
    assertEquals(await main(["--epochs", "-3"]), 2);
  } finally {
    console.log = log;
    console.error = err;
  }
  const text = out.join("\n");
  for (
    const flag of [
      "--task",
      "--data",
      "--attention",
      "--epochs",
      "--model",
      "--batch-size",
      "--lr",
      "--backend",
      "--seed",
      "--max-minutes",
      "--max-tokens",
      "--out",
      "--resume",
      "--help",
      "--test",
      "--valid",
      "--text-column",
      "--label-column",
      "--warmup",
      "--dry-run",
    ]
  ) {
    assertEquals(text.includes(flag), true, `--help does not explain ${flag}`);
  }
  assertEquals(
    text.includes("--allow-write=runs"),
    true,
    "--help does not say where --out may write",
  );
});

Deno.test("train: the same rule gets the same wording", () => {
  const message = (argv: string[]) => {
    try {
      parseTrainArgs(argv);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error(`${argv.join(" ")} was accepted`);
  };
  assertEquals(
    message(["--epochs", "0"]),
    "--epochs: expected an integer of at least 1, got 0",
  );
  assertEquals(
    message(["--epochs", "-1"]),
    "--epochs: expected an integer of at least 1, got -1",
  );
  assertEquals(
    message(["--batch-size", "0"]),
    "--batch-size: expected an integer of at least 1, got 0",
  );
  assertEquals(
    message(["--lr", "0"]),
    "--lr: expected a number above 0, got 0",
  );
  assertEquals(
    message(["--lr", "-1e-3"]),
    "--lr: expected a number above 0, got -1e-3",
  );
  assertEquals(
    message(["--lr"]),
    "--lr: expected a number above 0, got nothing",
  );
  assertEquals(
    message(["--task", "translate", "--max-minutes", "0"]),
    "--max-minutes: expected a number above 0, got 0",
  );
  assertEquals(
    message(["--seed", "-1"]),
    "--seed: expected an integer of at least 0, got -1",
  );
});

Deno.test("train: a classifier's own train, test and validation files", () => {
  const a = parseTrainArgs([
    "--data",
    "train.tsv",
    "--test",
    "test.jsonl",
    "--valid=valid.csv",
    "--text-column",
    "sentence",
    "--label-column",
    "intent",
  ]);
  assertEquals(
    [a.data, a.test, a.valid, a.textColumn, a.labelColumn],
    ["train.tsv", "test.jsonl", "valid.csv", "sentence", "intent"],
  );
  const d = parseTrainArgs([]);
  assertEquals([d.test, d.valid, d.textColumn, d.labelColumn, d.lr], [
    null,
    null,
    "text",
    "category",
    2e-3,
  ]);
  assertEquals(parseTrainArgs(["--task", "translate"]).lr, 2e-3);
  const bad: [string[], string][] = [
    [["--task", "translate", "--test", "t.csv"], "only for --task classify"],
    [["--test", "t.csv"], "give --data too"],
    [["--data", "a.csv", "--text-column", "x", "--label-column", "x"], "both"],
    [["--data", "a.csv", "--label-column"], "--label-column"],
  ];
  for (const [argv, msg] of bad) {
    assertThrows(() => parseTrainArgs(argv), RangeError, msg, argv.join(" "));
  }
});
