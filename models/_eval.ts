// Minimal accuracy and macro-F1 for the training loop (metrics.ts holds
// the public, fully tested metrics).

export function accuracy(
  pred: ArrayLike<number>,
  gold: ArrayLike<number>,
): number {
  let ok = 0;
  for (let i = 0; i < gold.length; i++) if (pred[i] === gold[i]) ok++;
  return gold.length ? ok / gold.length : 0;
}

export function macroF1(
  pred: ArrayLike<number>,
  gold: ArrayLike<number>,
  classes: number,
): number {
  const tp = new Float64Array(classes),
    fp = new Float64Array(classes),
    fn = new Float64Array(classes);
  for (let i = 0; i < gold.length; i++) {
    const p = pred[i]!, g = gold[i]!;
    if (p === g) tp[g]!++;
    else {
      fp[p]!++;
      fn[g]!++;
    }
  }
  let sum = 0, n = 0;
  for (let c = 0; c < classes; c++) {
    if (tp[c]! + fp[c]! + fn[c]! === 0) continue;
    const denom = 2 * tp[c]! + fp[c]! + fn[c]!;
    sum += denom ? (2 * tp[c]!) / denom : 0;
    n++;
  }
  return n ? sum / n : 0;
}
