// Checks of what each piece of a spec returns, with errors that name the
// piece: a wrong kind of value is refused, never silently ignored or
// broadcast into something else. Private to attention/.

import { broadcastTo, Tensor } from "../ops/mod.ts";

function describe(x: unknown): string {
  if (x instanceof Tensor) return `${x.dtype}[${x.shape}]`;
  return Array.isArray(x) ? "an array" : x === null ? "null" : typeof x;
}

/** `mods[1] (alibiMod)`: the slot of a piece, and its name when it has one. */
function pieceName(slot: string, fn: { name: string }): string {
  return fn.name ? `${slot} (${fn.name})` : slot;
}

/** Whether `from` broadcasts to exactly `to`. */
function broadcastsTo(from: readonly number[], to: readonly number[]): boolean {
  const off = to.length - from.length;
  return off >= 0 && from.every((n, i) => n === 1 || n === to[off + i]);
}

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/**
 * The scores must be a float32 tensor `[..., Tq, Tk]` whose batch axes
 * broadcast to those of q and k; they are broadcast to the full shape, so
 * that every later piece sees `shape`.
 */
export function checkScores(
  s: unknown,
  fn: { name: string },
  shape: readonly number[],
): Tensor {
  const tail = shape.slice(-2);
  if (
    !(s instanceof Tensor) || s.dtype !== "float32" || s.ndim < 2 ||
    !same(s.shape.slice(-2), tail) || !broadcastsTo(s.shape, shape)
  ) {
    throw new TypeError(
      `attention: the score function${fn.name ? ` ${fn.name}` : ""} returned ${
        describe(s)
      }, expected a float32 tensor [..., ${
        tail.join(", ")
      }] broadcasting to [${shape}] (the batch axes of q and k, Tq, Tk)`,
    );
  }
  return same(s.shape, shape) ? s : broadcastTo(s, shape);
}

/** A modifier must return float32 scores of the scores' shape. */
export function checkMod(
  s: unknown,
  fn: { name: string },
  i: number,
  shape: readonly number[],
): Tensor {
  if (
    !(s instanceof Tensor) || s.dtype !== "float32" || !same(s.shape, shape)
  ) {
    throw new TypeError(
      `attention: the modifier ${pieceName(`mods[${i}]`, fn)} returned ${
        describe(s)
      }, expected float32 scores of the scores' shape [${shape}]`,
    );
  }
  return s;
}

/** A mask must be a bool tensor broadcastable to the scores. */
export function checkMask(
  m: unknown,
  fn: { name: string },
  i: number,
  shape: readonly number[],
): Tensor {
  if (
    !(m instanceof Tensor) || m.dtype !== "bool" ||
    !broadcastsTo(m.shape, shape)
  ) {
    throw new TypeError(
      `attention: the mask ${pieceName(`masks[${i}]`, fn)} returned ${
        describe(m)
      }, expected a bool tensor broadcastable to the scores [${shape}]`,
    );
  }
  return m;
}

/** A normaliser must return float32 weights of the scores' shape. */
export function checkWeights(
  w: unknown,
  fn: { name: string },
  shape: readonly number[],
): Tensor {
  if (
    !(w instanceof Tensor) || w.dtype !== "float32" || !same(w.shape, shape)
  ) {
    throw new TypeError(
      `attention: the normaliser${fn.name ? ` ${fn.name}` : ""} returned ${
        describe(w)
      }, expected float32 weights of the scores' shape [${shape}]`,
    );
  }
  return w;
}
