/**
 * The wasm workers' control block (its word layout) and the source text of
 * the worker, the same under `node:worker_threads` and Web Workers; see
 * `_threads.ts` for the protocol.
 *
 * @module
 */

/** The exports a driver calls; all arguments are int32. */
export type Exports = Record<string, (...args: number[]) => void>;

/** One unit of a job, run by whichever thread claimed it. */
export type Driver = (
  ex: Exports,
  ctl: Int32Array,
  unit: number,
  tid: number,
) => void;

export const SEQ = 0, KIND = 1, SLOT = 2, ERR = 3, NT = 4, CLAIMS = 5, NEXT = 6;
export const DONE = 7, UNITS = 72, PER = 73, TAKEN = 74, MAIL = 80;
/** First argument word of the control block. */
export const ARGS = 8;
/** Argument words available to a job. */
export const MAX_ARGS = 64;
/** Most threads a pool can have. */
export const MAX_THREADS = 16;
/** How long `start` waits for workers to take a new memory. */
export const ATTACH_TIMEOUT_MS = 3000;
export const MAX_CLAIMS = 0xfffe;
export const CTL_WORDS = MAIL + MAX_THREADS;

/**
 * The worker's code, the same under both APIs: `post` and the first
 * message differ (see `_spawn.ts`).
 */
export function workerSource(drivers: readonly Driver[]): string {
  return `
const DRIVERS = [${drivers.map((d) => d.toString()).join(",\n")}];
let ctl, tid, post;
const slots = new Map();
let received = 0;
function claim() {
  for (;;) {
    const v = Atomics.load(ctl, ${NEXT}), claims = Atomics.load(ctl, ${CLAIMS});
    if ((v & 0xffff) >= claims || tid >= Atomics.load(ctl, ${NT})) return;
    const ex = slots.get(Atomics.load(ctl, ${SLOT}));
    if (ex === undefined) return;
    if (Atomics.compareExchange(ctl, ${NEXT}, v, v + 1) !== v) continue;
    Atomics.add(ctl, ${TAKEN}, 1);
    // The claim holds the job open, so its fields are this job's.
    const kind = ctl[${KIND}], per = ctl[${PER}], units = ctl[${UNITS}];
    const u0 = (v & 0xffff) * per, u1 = Math.min(units, u0 + per);
    try {
      for (let u = u0; u < u1; u++) DRIVERS[kind](ex, ctl, u, tid);
    } catch (e) {
      Atomics.store(ctl, ${ERR}, 1);
      console.error(e);
    }
    if (Atomics.add(ctl, ${DONE}, 1) + 1 === claims) Atomics.notify(ctl, ${DONE});
  }
}
function serve() {
  for (;;) {
    const seq = Atomics.load(ctl, ${SEQ});
    if (Atomics.load(ctl, ${MAIL} + tid) !== received) return;
    claim();
    Atomics.wait(ctl, ${SEQ}, seq);
  }
}
function onMessage(m) {
  received++;
  try {
    if (m.attach !== undefined) {
      const inst = new WebAssembly.Instance(m.module, { env: { memory: m.memory } });
      slots.set(m.attach, inst.exports);
      post({ attached: m.attach });
    } else if (m.detach !== undefined) {
      slots.delete(m.detach);
    }
  } catch (e) {
    console.error(e);
  }
  serve();
}`;
}
