/**
 * `checkGrads`: forward- and reverse-mode derivatives against central finite
 * differences, and each mode against the other, as JAX's `check_grads`.
 *
 * For random directions v (inputs) and u (outputs):
 *
 *     fwd:   J v              ≈ (f(x + εv) − f(x − εv)) / 2ε     elementwise
 *     rev:   ⟨Jᵀu, v⟩         ≈ ⟨u, (f(x + εv) − f(x − εv)) / 2ε⟩
 *     both:  ⟨u, J v⟩         = ⟨Jᵀu, v⟩                          (tight)
 *
 * When a check fails, the Jacobian is rebuilt entry by entry (forward,
 * reverse and finite differences) and the message names the single worst
 * entry, ∂out/∂in, as the smallest counterexample.
 *
 * @module
 */

import {
  jvp,
  type Leaf,
  Tensor,
  tensor,
  treeFlatten,
  treeUnflatten,
  vjp,
} from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import {
  CheckFailure,
  fmt,
  host,
  indexOf,
  leafPaths,
  rng,
  uniformValues,
} from "./_host.ts";

/** A differentiation mode `checkGrads` can test. */
export type GradMode = "fwd" | "rev";

/** Options of {@link checkGrads}. */
export interface CheckGradsOptions {
  /** Modes to check (default both; use `["rev"]` for `customVjp` functions). */
  readonly modes?: readonly GradMode[];
  /** Finite-difference step (default 3e-3, suited to float32 inputs of order 1). */
  readonly eps?: number;
  /** Relative tolerance against finite differences (default 1e-2). */
  readonly rtol?: number;
  /** Absolute tolerance against finite differences (default 1e-2). */
  readonly atol?: number;
  /** Number of random directions (default 2). */
  readonly directions?: number;
  /** Seed of the random directions (default 0). */
  readonly seed?: number;
}

/** A function `checkGrads` can check: pytrees of tensors in, pytrees of tensors out. */
export type GradFn = (...args: never[]) => unknown;

interface Flat {
  xs: Tensor[];
  inPaths: string[];
  g: (...ts: Tensor[]) => Tensor[];
}

/** Splits `args` into the float32 tensors to perturb and a function of them. */
function flatten(f: GradFn, args: readonly unknown[]): Flat {
  const [leaves, def] = treeFlatten(args);
  const paths = leafPaths(args, "args");
  const idx = leaves.flatMap((l, i) =>
    l instanceof Tensor && l.dtype === "float32" ? [i] : []
  );
  if (idx.length === 0) {
    throw new TypeError("checkGrads: the arguments hold no float32 tensor");
  }
  const g = (...ts: Tensor[]): Tensor[] => {
    const full: Leaf[] = [...leaves];
    idx.forEach((i, j) => (full[i] = ts[j]!));
    const out = (f as (...a: unknown[]) => unknown)(
      ...treeUnflatten<unknown[]>(def, full),
    );
    return treeFlatten(out)[0].filter((o): o is Tensor =>
      o instanceof Tensor && o.dtype === "float32"
    );
  };
  return {
    xs: idx.map((i) => leaves[i] as Tensor),
    inPaths: idx.map((i) => paths[i]!),
    g,
  };
}

const dotp = (a: readonly number[], b: readonly number[]) =>
  a.reduce((s, x, i) => s + x * b[i]!, 0);
const absDot = (a: readonly number[], b: readonly number[]) =>
  a.reduce((s, x, i) => s + Math.abs(x * b[i]!), 0);

/**
 * Checks the derivatives of `f` at `args` (a list of pytrees; float32
 * tensor leaves are perturbed, everything else is held fixed). Throws a
 * `CheckFailure` naming the worst Jacobian entry when a mode disagrees.
 *
 * @example A wrong custom rule is caught
 * ```ts
 * import { checkGrads } from "@heed/heed/testing";
 * import { customJvp, exp, mul, sin, tensor, type Tensor } from "@heed/heed/ops";
 * import { assertRejects } from "@std/assert";
 *
 * await checkGrads((x: Tensor) => mul(sin(x), exp(x)), [tensor([0.1, 0.7])]);
 *
 * const bad = customJvp((x: Tensor) => sin(x), ([x], [dx]) => [sin(x!), mul(dx!, sin(x!))]);
 * await assertRejects(() => checkGrads(bad, [tensor([0.1, 0.7])]), Error, "∂out");
 * ```
 */
export async function checkGrads(
  f: GradFn,
  args: readonly unknown[],
  opts: CheckGradsOptions = {},
): Promise<void> {
  checkOptions("checkGrads", opts, [
    "modes",
    "eps",
    "rtol",
    "atol",
    "directions",
    "seed",
  ]);
  const modes = opts.modes ?? ["fwd", "rev"];
  const eps = opts.eps ?? 3e-3;
  const tol = { rtol: opts.rtol ?? 1e-2, atol: opts.atol ?? 1e-2 };
  const { xs, inPaths, g } = flatten(f, args);
  const xHost = await Promise.all(xs.map(host));
  const outShapes = g(...xs).map((y) => y.shape);
  const r = rng(opts.seed ?? 0);
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const failWith = (summary: string) =>
    fail(g, xs, inPaths, modes, eps, tol, summary);
  for (let dir = 0; dir < (opts.directions ?? 2); dir++) {
    // Perturbed points in float32; the direction actually taken is recomputed
    // from them so that rounding of x ± εv does not count as an error.
    const raw = xs.map((x) => uniformValues(x.size, r));
    const step = (sign: number) =>
      xHost.map((h, i) =>
        Float32Array.from(h, (x, j) => x + sign * eps * raw[i]![j]!)
      );
    const plus = step(1), minus = step(-1);
    const v = plus.map((p, i) =>
      Float32Array.from(p, (x, j) => (x - minus[i]![j]!) / (2 * eps))
    );
    const u = outShapes.map((s) => Array.from(uniformValues(size(s), r)));
    const asTensors = (
      vals: ArrayLike<number>[],
      shapes: readonly (readonly number[])[],
    ) => vals.map((a, i) => tensor(Array.from(a), { shape: shapes[i]! }));
    const inShapes = xs.map((x) => x.shape);
    // Queue all device work first, then read everything back at once.
    const yPlus = g(...asTensors(plus, inShapes));
    const yMinus = g(...asTensors(minus, inShapes));
    const yDot = modes.includes("fwd")
      ? jvp(g, xs, asTensors(v, inShapes))[1]
      : [];
    const xBarT = modes.includes("rev")
      ? vjp(g, ...xs)[1](asTensors(u, outShapes))
      : [];
    const [hp, hm, hj, hx] = await Promise.all(
      [yPlus, yMinus, yDot, xBarT].map((ts) => Promise.all(ts.map(host))),
    );
    const fp = hp!.flat(), fm = hm!.flat();
    const fd = fp.map((y, e) => (y - fm[e]!) / (2 * eps));
    const uFlat = u.flat(), vFlat = v.flatMap((a) => Array.from(a));
    const jv = hj!.flat(), xBar = hx!.flat();
    if (modes.includes("fwd")) {
      if (jv.some((a, e) => !close(a, fd[e]!, tol))) {
        return failWith("forward mode (jvp) disagrees with finite differences");
      }
    }
    if (modes.includes("rev")) {
      const lhs = dotp(xBar, vFlat), rhs = dotp(uFlat, fd);
      if (!(Math.abs(lhs - rhs) <= tol.atol + tol.rtol * absDot(uFlat, fd))) {
        return failWith(
          `reverse mode (vjp) disagrees with finite differences: ⟨Jᵀu, v⟩ = ${
            fmt(lhs)
          } but ⟨u, Δf/2ε⟩ = ${fmt(rhs)}`,
        );
      }
      if (modes.includes("fwd")) {
        const a = dotp(uFlat, jv);
        const scale = absDot(uFlat, jv) + absDot(xBar, vFlat);
        if (!(Math.abs(a - lhs) <= 1e-5 + 1e-3 * scale)) {
          return failWith(
            `forward and reverse mode disagree: ⟨u, Jv⟩ = ${
              fmt(a)
            } but ⟨Jᵀu, v⟩ = ${fmt(lhs)}`,
          );
        }
      }
    }
  }
}

function close(
  a: number,
  e: number,
  tol: { rtol: number; atol: number },
): boolean {
  return Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
}

/**
 * Rebuilds the Jacobian entry by entry in every mode and throws with the
 * worst entry (relative to the tolerance).
 */
async function fail(
  g: (...ts: Tensor[]) => Tensor[],
  xs: Tensor[],
  inPaths: string[],
  modes: readonly GradMode[],
  eps: number,
  tol: { rtol: number; atol: number },
  summary: string,
): Promise<never> {
  const ys = g(...xs);
  const nIn = xs.reduce((a, x) => a + x.size, 0);
  const nOut = ys.reduce((a, y) => a + y.size, 0);
  if (nIn * nOut > 200_000) {
    throw new CheckFailure(
      `checkGrads: ${summary}\n(the Jacobian, ${nOut}×${nIn}, is too large to locate the worst entry)`,
    );
  }
  const xHost = await Promise.all(xs.map(host));
  const basis = (leaf: number, e: number, scale: number) =>
    xs.map((x, i) => {
      const a = Float32Array.from(xHost[i]!);
      if (i === leaf) a[e] = a[e]! + scale;
      return tensor(a, { shape: x.shape });
    });
  const unit = (leaf: number, e: number) =>
    xs.map((x, i) => {
      const a = new Float32Array(x.size);
      if (i === leaf) a[e] = 1;
      return tensor(a, { shape: x.shape });
    });
  // columns[leaf][e] = d(all outputs)/d x[leaf][e], three ways.
  const fdCol: number[][] = [], fwdCol: number[][] = [];
  const where: { leaf: number; e: number }[] = [];
  for (let leaf = 0; leaf < xs.length; leaf++) {
    for (let e = 0; e < xs[leaf]!.size; e++) {
      const x0 = xHost[leaf]![e]!;
      const hi = Math.fround(x0 + eps), lo = Math.fround(x0 - eps);
      const p = (await Promise.all(g(...basis(leaf, e, hi - x0)).map(host)))
        .flat();
      const m = (await Promise.all(g(...basis(leaf, e, lo - x0)).map(host)))
        .flat();
      fdCol.push(p.map((y, o) => (y - m[o]!) / (hi - lo)));
      if (modes.includes("fwd")) {
        fwdCol.push(
          (await Promise.all(jvp(g, xs, unit(leaf, e))[1].map(host))).flat(),
        );
      }
      where.push({ leaf, e });
    }
  }
  const revRow: number[][] = [];
  if (modes.includes("rev")) {
    const [, back] = vjp(g, ...xs);
    for (let o = 0; o < ys.length; o++) {
      for (let e = 0; e < ys[o]!.size; e++) {
        const ct = ys.map((y, j) => {
          const a = new Float32Array(y.size);
          if (j === o) a[e] = 1;
          return tensor(a, { shape: y.shape });
        });
        revRow.push((await Promise.all(back(ct).map(host))).flat());
      }
    }
  }
  let worst = { bad: 0, col: 0, row: 0 };
  for (let c = 0; c < fdCol.length; c++) {
    for (let rIdx = 0; rIdx < nOut; rIdx++) {
      const ref = fdCol[c]![rIdx]!;
      const scale = tol.atol + tol.rtol * Math.abs(ref);
      const candidates = [fwdCol[c]?.[rIdx], revRow[rIdx]?.[c]];
      for (const got of candidates) {
        if (got === undefined) continue;
        const bad = Number.isNaN(got) ? Infinity : Math.abs(got - ref) / scale;
        if (bad > worst.bad) worst = { bad, col: c, row: rIdx };
      }
    }
  }
  if (worst.bad <= 1) {
    throw new CheckFailure(
      `checkGrads: ${summary}\n(no single Jacobian entry is out of tolerance; the error is spread over many)`,
    );
  }
  const { leaf, e } = where[worst.col]!;
  let o = 0, rest = worst.row;
  while (rest >= ys[o]!.size) rest -= ys[o++]!.size;
  const outName = `out${ys.length > 1 ? `[${o}]` : ""}${
    indexOf(rest, ys[o]!.shape)
  }`;
  const inName = `${inPaths[leaf]}${indexOf(e, xs[leaf]!.shape)}`;
  const parts = [`finite differences ${fmt(fdCol[worst.col]![worst.row]!)}`];
  if (fwdCol.length) {
    parts.unshift(`forward ${fmt(fwdCol[worst.col]![worst.row]!)}`);
  }
  if (revRow.length) {
    parts.splice(1, 0, `reverse ${fmt(revRow[worst.row]![worst.col]!)}`);
  }
  throw new CheckFailure(
    `checkGrads: ${summary}\nSmallest counterexample: ∂${outName} / ∂${inName}: ${
      parts.join(", ")
    } (eps ${eps})`,
  );
}
