import { describe, expect, it } from "vitest";
import { murmur3_32 } from "../../../policies/resilience/hash.js";
import { expectBinomialCount } from "./binomial.js";

describe("murmur3_32", () => {
  // Published MurmurHash3 x86_32 test vectors.
  it.each([
    ["", 0, 0],
    ["", 1, 0x514e28b7],
    ["", 0xffffffff, 0x81f16f39],
    ["\0\0\0\0", 0, 0x2362f9de],
    ["a", 0x9747b28c, 0x7fa09ea6],
    ["abc", 0, 0xb3dd93fa],
    ["abcd", 0x9747b28c, 0xf0478627],
    ["aaaa", 0x9747b28c, 0x5a97808a],
    ["hello", 0, 0x248bfa47],
    ["Hello, world!", 0x9747b28c, 0x24884cba],
    ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
    ["ππππππππ", 0x9747b28c, 0xd58063c1],
  ])("hashes %j with seed %i", (text, seed, expected) => {
    expect(murmur3_32(text, seed)).toBe(expected);
  });

  it("returns unsigned 32-bit integers", () => {
    for (let i = 0; i < 1000; i++) {
      const hash = murmur3_32(`key-${i}`);
      expect(Number.isInteger(hash)).toBe(true);
      expect(hash).toBeGreaterThanOrEqual(0);
      expect(hash).toBeLessThan(2 ** 32);
    }
  });

  it("spreads near-identical keys evenly over the range", () => {
    const n = 40_000;
    let upperHalf = 0;
    let lowestByteEven = 0;
    for (let i = 0; i < n; i++) {
      const hash = murmur3_32(`10.0.0.1:8080#${i}`);
      if (hash >= 2 ** 31) upperHalf++;
      if ((hash & 1) === 0) lowestByteEven++;
    }
    expectBinomialCount(upperHalf, n, 0.5, "upper half");
    expectBinomialCount(lowestByteEven, n, 0.5, "even");
  });
});
