// The wasm allocator's out-of-memory error: it names the bytes asked for,
// the bytes live and the 4 GiB limit (it once printed an address).

import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { Arena } from "../../../ops/backends/wasm/_arena.ts";

Deno.test("out of memory names the bytes requested, the bytes live and the 4 GiB limit", () => {
  const arena = new Arena(16);
  const held = arena.alloc(4096);
  const pagesBefore = arena.memory.buffer.byteLength;
  const ask = 5 * 2 ** 30;
  const err = assertThrows(() => arena.alloc(ask), RangeError);
  assertStringIncludes(err.message, "wasm: out of memory");
  assertStringIncludes(err.message, `cannot allocate ${ask} bytes (5.00 GiB)`);
  assertStringIncludes(err.message, "4096 bytes live in 1 block");
  assertStringIncludes(err.message, "limited to 4 GiB");
  assertEquals(
    arena.memory.buffer.byteLength,
    pagesBefore,
    "no growth on refusal",
  );
  // The arena stays usable after a refused request.
  arena.release(held);
  assertEquals([arena.liveBytes, arena.liveBuffers], [0, 0]);
  const again = arena.alloc(4096);
  assertEquals(again.ptr, held.ptr);
});

Deno.test("a request that fits beside live blocks but not under 4 GiB is refused with both numbers", () => {
  const arena = new Arena(16);
  arena.alloc(1 << 20);
  const ask = 2 ** 32 - (1 << 19);
  const err = assertThrows(() => arena.alloc(ask), RangeError);
  assertStringIncludes(err.message, `cannot allocate ${ask} bytes`);
  assertStringIncludes(err.message, `${1 << 20} bytes live`);
});
