/**
 * Tensor storage inside the shared `WebAssembly.Memory`: best-fit allocation
 * from a free list kept in address order, with freed neighbours coalesced
 * and a free block at the top handed back to the bump pointer. Sizes are
 * rounded to size classes (four per power of two, 64-byte aligned). Wasm
 * memory cannot shrink, but with coalescing, training on batches of
 * varying shapes reuses the same space instead of keeping one free list
 * per size (which grew without bound). The first {@link RESERVED} bytes
 * are never allocated; kernels use the first 64 as a scratch slot.
 *
 * @module
 */

/** Bytes at the bottom of memory never allocated (a scratch slot lives there). */
export const RESERVED = 65536;
const PAGE = 65536;
const ALIGN = 64;

/** Pages the memory may grow to (4 GiB, the wasm32 limit). */
export const MAX_PAGES = 65536;

/** Rounds a byte count up to its size class (4 classes per power of two). */
export function sizeClass(bytes: number): number {
  const b = Math.max(bytes, ALIGN);
  const p = 2 ** Math.floor(Math.log2(b));
  for (const f of [1, 1.25, 1.5, 1.75, 2]) {
    const c = Math.ceil((p * f) / ALIGN) * ALIGN;
    if (c >= b) return c;
  }
  return 2 * p;
}

/** A byte count in binary units, for messages: `1.50 GiB`. */
function fmtBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(2)} ${units[u]}`;
}

/** One block of storage: where it is, its class, and how many holders. */
export class Block {
  /** Byte address in the wasm memory. */
  readonly ptr: number;
  /** The size class (bytes reserved). */
  readonly cls: number;
  /** References held by tensors (views share a block). */
  refs = 1;
  constructor(ptr: number, cls: number) {
    this.ptr = ptr;
    this.cls = cls;
  }
}

/** The allocator over one shared memory. */
export class Arena {
  /** The memory every instance and worker shares (unshared on one thread). */
  readonly memory: WebAssembly.Memory;
  #top = RESERVED;
  #buffer: ArrayBufferLike;
  #f32: Float32Array;
  #i32: Int32Array;
  #u8: Uint8Array;
  /** Blocks held by tensors. */
  liveBuffers = 0;
  /** Bytes of those blocks. */
  liveBytes = 0;
  /** Bytes of freed blocks kept for reuse. */
  pooledBytes = 0;
  /** Byte address of a 64-byte scratch slot (a kernel's constant operand). */
  readonly scratch = 0;

  /**
   * An arena over a new memory of `initialPages`; `shared` false makes an
   * unshared one, for a page without cross-origin isolation (growing it
   * replaces the buffer, which the views below follow).
   */
  constructor(initialPages = 256, shared = true) {
    this.memory = new WebAssembly.Memory({
      initial: initialPages,
      maximum: MAX_PAGES,
      shared,
    });
    this.#buffer = this.memory.buffer;
    this.#f32 = new Float32Array(this.#buffer);
    this.#i32 = new Int32Array(this.#buffer);
    this.#u8 = new Uint8Array(this.#buffer);
  }

  #refresh(): void {
    // An unshared memory's old buffer is detached (length 0) by growth.
    if (this.memory.buffer.byteLength === this.#buffer.byteLength) return;
    this.#buffer = this.memory.buffer;
    this.#f32 = new Float32Array(this.#buffer);
    this.#i32 = new Int32Array(this.#buffer);
    this.#u8 = new Uint8Array(this.#buffer);
  }

  /** The whole memory as float32 (re-made after growth). */
  get f32(): Float32Array {
    this.#refresh();
    return this.#f32;
  }

  /** The whole memory as int32. */
  get i32(): Int32Array {
    this.#refresh();
    return this.#i32;
  }

  /** The whole memory as bytes. */
  get u8(): Uint8Array {
    this.#refresh();
    return this.#u8;
  }

  /** Start addresses of free blocks, ascending; sizes in {@link #sizes}. */
  #starts: number[] = [];
  #sizes = new Map<number, number>();

  /** Index of the first free block at or after `ptr`. */
  #search(ptr: number): number {
    let lo = 0, hi = this.#starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#starts[mid]! < ptr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** A new block of at least `bytes`: the best-fitting free block, or the top. */
  alloc(bytes: number): Block {
    const cls = sizeClass(bytes);
    let best = -1, bestSize = Infinity;
    for (let i = 0; i < this.#starts.length; i++) {
      const size = this.#sizes.get(this.#starts[i]!)!;
      if (size >= cls && size < bestSize) {
        best = i;
        bestSize = size;
        if (size === cls) break;
      }
    }
    let ptr: number;
    if (best >= 0) {
      ptr = this.#starts[best]!;
      this.#sizes.delete(ptr);
      if (bestSize > cls) {
        // Keep the tail free, in place (its address order is unchanged).
        this.#starts[best] = ptr + cls;
        this.#sizes.set(ptr + cls, bestSize - cls);
      } else this.#starts.splice(best, 1);
      this.pooledBytes -= cls;
    } else {
      ptr = this.#top;
      const end = ptr + cls;
      const have = this.memory.buffer.byteLength;
      if (end > have) {
        const pages = Math.ceil((end - have) / PAGE);
        if (have / PAGE + pages > MAX_PAGES) throw this.#outOfMemory(bytes);
        // Grow by at least a quarter, so that growth is rare.
        const extra = Math.max(pages, Math.ceil(have / PAGE / 4));
        try {
          this.memory.grow(Math.min(extra, MAX_PAGES - have / PAGE));
        } catch {
          // The host may refuse before 4 GiB; the minimum may still fit.
          try {
            this.memory.grow(pages);
          } catch {
            throw this.#outOfMemory(bytes);
          }
        }
      }
      this.#top = end;
    }
    this.liveBuffers++;
    this.liveBytes += cls;
    return new Block(ptr, cls);
  }

  /** The error for a request of `bytes` that the memory cannot hold. */
  #outOfMemory(bytes: number): RangeError {
    const live = this.liveBuffers === 1
      ? "1 block"
      : `${this.liveBuffers} blocks`;
    return new RangeError(
      `wasm: out of memory: cannot allocate ${bytes} bytes ` +
        `(${fmtBytes(bytes)}) with ${this.liveBytes} bytes live in ${live} ` +
        `(${fmtBytes(this.liveBytes)}) and ${this.pooledBytes} bytes pooled; ` +
        `wasm memory is limited to 4 GiB (${MAX_PAGES * PAGE} bytes). ` +
        "Free tensors you no longer need (dispose, scope, using), use smaller " +
        "batches, or use the webgpu backend",
    );
  }

  /** Returns a block to the free list, merging it with free neighbours. */
  release(b: Block): void {
    this.liveBuffers--;
    this.liveBytes -= b.cls;
    let start = b.ptr, size = b.cls;
    let i = this.#search(start);
    // Merge with the next free block.
    const next = this.#starts[i];
    if (next !== undefined && next === start + size) {
      size += this.#sizes.get(next)!;
      this.#sizes.delete(next);
      this.#starts.splice(i, 1);
      this.pooledBytes -= size - b.cls;
    }
    // Merge with the previous free block.
    const prev = this.#starts[i - 1];
    if (prev !== undefined && prev + this.#sizes.get(prev)! === start) {
      const prevSize = this.#sizes.get(prev)!;
      this.#sizes.delete(prev);
      this.#starts.splice(i - 1, 1);
      this.pooledBytes -= prevSize;
      start = prev;
      size += prevSize;
      i--;
    }
    if (start + size === this.#top) {
      this.#top = start; // hand the space back to the bump pointer
      return;
    }
    this.#starts.splice(i, 0, start);
    this.#sizes.set(start, size);
    this.pooledBytes += size;
  }
}
