import { describe, expect, it } from "vitest";
import { decideFault } from "../../../policies/resilience/fault.js";
import { expectBinomialCount } from "./binomial.js";
import { scriptedRandom, seededRandom } from "./seeded-random.js";

describe("decideFault", () => {
  it("decides nothing without a fault policy", () => {
    expect(decideFault(undefined, scriptedRandom())).toEqual({});
    expect(decideFault({}, scriptedRandom())).toEqual({});
  });

  it("always fires at 100% and never at 0%", () => {
    const random = seededRandom(11);
    for (let i = 0; i < 1000; i++) {
      expect(decideFault({ delay: { delayMs: 5, percent: 100 }, abort: { status: 503, percent: 100 } }, random)).toEqual({
        delayMs: 5,
        abortStatus: 503,
      });
      expect(decideFault({ delay: { delayMs: 5, percent: 0 }, abort: { status: 503, percent: 0 } }, random)).toEqual({});
    }
    // The extremes of the draw.
    expect(decideFault({ abort: { status: 500, percent: 100 } }, scriptedRandom(0.9999999))).toEqual({ abortStatus: 500 });
    expect(decideFault({ abort: { status: 500, percent: 0 } }, scriptedRandom(0))).toEqual({});
  });

  it("draws for the delay first, then for the abort", () => {
    const fault = { delay: { delayMs: 100, percent: 50 }, abort: { status: 418, percent: 50 } };
    expect(decideFault(fault, scriptedRandom(0.1, 0.9))).toEqual({ delayMs: 100 });
    expect(decideFault(fault, scriptedRandom(0.9, 0.1))).toEqual({ abortStatus: 418 });
    expect(decideFault(fault, scriptedRandom(0.49, 0.5))).toEqual({ delayMs: 100 });
  });

  it("fires each fault with its own probability, independently", () => {
    const random = seededRandom(2024);
    const fault = { delay: { delayMs: 1, percent: 30 }, abort: { status: 503, percent: 10 } };
    const n = 40_000;
    let delays = 0;
    let aborts = 0;
    let both = 0;
    for (let i = 0; i < n; i++) {
      const decision = decideFault(fault, random);
      if (decision.delayMs !== undefined) delays++;
      if (decision.abortStatus !== undefined) aborts++;
      if (decision.delayMs !== undefined && decision.abortStatus !== undefined) both++;
    }
    expectBinomialCount(delays, n, 0.3, "delays");
    expectBinomialCount(aborts, n, 0.1, "aborts");
    // Independent draws: both fire with probability 0.3 × 0.1.
    expectBinomialCount(both, n, 0.03, "both");
  });

  it("honours fractional percentages", () => {
    const random = seededRandom(5);
    const n = 200_000;
    let aborts = 0;
    for (let i = 0; i < n; i++) if (decideFault({ abort: { status: 500, percent: 0.5 } }, random).abortStatus) aborts++;
    expectBinomialCount(aborts, n, 0.005, "aborts");
  });
});
