/**
 * A binary max-heap of (count, key) pairs for BPE training: the largest
 * count first, ties broken by the smaller key so training is deterministic.
 * Entries go stale when counts change; the caller skips stale ones.
 *
 * @module
 */

/** A max-heap of (count, key) pairs. */
export class PairHeap {
  #counts: number[] = [];
  #keys: number[] = [];

  /** The number of entries, stale ones included. */
  get size(): number {
    return this.#counts.length;
  }

  #above(i: number, j: number): boolean {
    const ci = this.#counts[i]!, cj = this.#counts[j]!;
    return ci > cj || (ci === cj && this.#keys[i]! < this.#keys[j]!);
  }

  #swap(i: number, j: number): void {
    const c = this.#counts, k = this.#keys;
    [c[i], c[j]] = [c[j]!, c[i]!];
    [k[i], k[j]] = [k[j]!, k[i]!];
  }

  /** Adds an entry. */
  push(count: number, key: number): void {
    this.#counts.push(count);
    this.#keys.push(key);
    let i = this.#counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#above(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  /** Removes and returns the top entry as `[count, key]`, or `null`. */
  pop(): [number, number] | null {
    const n = this.#counts.length;
    if (n === 0) return null;
    const top: [number, number] = [this.#counts[0]!, this.#keys[0]!];
    const lastC = this.#counts.pop()!, lastK = this.#keys.pop()!;
    if (n > 1) {
      this.#counts[0] = lastC;
      this.#keys[0] = lastK;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < n - 1 && this.#above(l, m)) m = l;
        if (r < n - 1 && this.#above(r, m)) m = r;
        if (m === i) break;
        this.#swap(i, m);
        i = m;
      }
    }
    return top;
  }
}
