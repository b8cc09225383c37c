// `deno task train`'s default classifier run (banking77, wasm), with fit and
// evaluation under jit or (--no-jit) eagerly, for side-by-side numbers:
// wall and CPU seconds, epoch times, programs compiled, test accuracy.
// Run each under `/usr/bin/time -v` for the peak RSS:
//   /usr/bin/time -v deno run -A bench/train_classify_jit.ts [--no-jit] [--pad=8]
// (--pad=8: training batch lengths padded to a multiple of 8, fewer programs)

import { cpuUsage } from "node:process";
import { parseTrainArgs } from "../models/cli/args.ts";
import { classifyData } from "../models/cli/_data.ts";
import { classifyOptions } from "../models/cli/_plan.ts";
import { trainClassifier } from "../models/train/classify.ts";

const jit = !Deno.args.includes("--no-jit");
const padArg = Deno.args.find((a) => a.startsWith("--pad="));
const padMultiple = padArg ? Number(padArg.slice("--pad=".length)) : 1;
const args = parseTrainArgs([]);
const data = await classifyData({ ...args, holdValid: args.valid === null });
const t0 = performance.now();
let programs = 0;
const result = await trainClassifier({
  ...classifyOptions(args, data, args.attention, {
    path: await Deno.makeTempFile({ suffix: ".safetensors" }),
    resume: false,
  }),
  jit,
  padMultiple,
  onStep: (p) => (programs = p.programs),
  onEpoch: (m) =>
    console.log(
      `epoch ${m.epoch}: loss ${m.loss.toFixed(4)}, valid ${
        (100 * m.validAccuracy).toFixed(2)
      }%, ${m.seconds.toFixed(1)} s, ${programs} programs`,
    ),
});
const wall = (performance.now() - t0) / 1000;
const cpu = cpuUsage();
console.log(
  `${jit ? "jit" : "eager"}${padArg ? ` pad ${padMultiple}` : ""}: wall ${
    wall.toFixed(1)
  } s, cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, training ${
    result.history.reduce((a, r) => a + r.seconds, 0).toFixed(1)
  } s, test accuracy ${(100 * result.testAccuracy).toFixed(2)}%, macro-F1 ${
    (100 * result.testMacroF1).toFixed(2)
  }%`,
);
