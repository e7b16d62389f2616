import { describe, expect, it } from "vitest";
import { pickWeightedDestination } from "../../../policies/resilience/weighted.js";
import { expectBinomialCount } from "./binomial.js";
import { scriptedRandom, seededRandom } from "./seeded-random.js";

const d = (cluster: string, weight: number) => ({ cluster, weight });

describe("pickWeightedDestination", () => {
  it("returns undefined for no destinations", () => {
    expect(pickWeightedDestination([], 0, seededRandom(1))).toBeUndefined();
  });

  it("sends all traffic to a lone destination whatever its weight", () => {
    const only = d("a", 0);
    expect(pickWeightedDestination([only], 0, scriptedRandom())).toBe(only);
    expect(pickWeightedDestination([d("b", 100)], 100, scriptedRandom())?.cluster).toBe("b");
  });

  it("maps the draw onto cumulative weights, skipping zero weights", () => {
    const destinations = [d("a", 1), d("zero", 0), d("b", 3)];
    const pick = (draw: number) => pickWeightedDestination(destinations, 4, scriptedRandom(draw))?.cluster;
    expect(pick(0)).toBe("a");
    expect(pick(0.2499)).toBe("a");
    expect(pick(0.25)).toBe("b");
    expect(pick(0.9999999)).toBe("b");
  });

  it("never picks a weight-0 destination", () => {
    const random = seededRandom(7);
    const destinations = [d("zero-first", 0), d("a", 50), d("zero-middle", 0), d("b", 50), d("zero-last", 0)];
    const picked = new Set<string | undefined>();
    for (let i = 0; i < 10_000; i++) picked.add(pickWeightedDestination(destinations, 100, random)?.cluster);
    expect([...picked].sort()).toEqual(["a", "b"]);
  });

  it("returns undefined when several destinations all weigh 0", () => {
    expect(pickWeightedDestination([d("a", 0), d("b", 0)], 0, seededRandom(1))).toBeUndefined();
  });

  it("treats weights as relative, not as percentages", () => {
    const random = seededRandom(42);
    const destinations = [d("a", 1), d("b", 2), d("c", 7)];
    const n = 50_000;
    const counts = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < n; i++) counts[pickWeightedDestination(destinations, 10, random)!.cluster as "a" | "b" | "c"]++;
    expectBinomialCount(counts.a, n, 0.1, "a");
    expectBinomialCount(counts.b, n, 0.2, "b");
    expectBinomialCount(counts.c, n, 0.7, "c");
  });

  it("keeps a 99/1 canary split", () => {
    const random = seededRandom(3);
    const destinations = [d("stable", 99), d("canary", 1)];
    const n = 100_000;
    let canary = 0;
    for (let i = 0; i < n; i++) if (pickWeightedDestination(destinations, 100, random)?.cluster === "canary") canary++;
    expectBinomialCount(canary, n, 0.01, "canary");
  });

  it("falls back to the last weighted destination when the draw rounds past the total", () => {
    // A total slightly larger than the sum stands in for floating-point rounding.
    const destinations = [d("a", 0.1), d("b", 0.2), d("zero", 0)];
    expect(pickWeightedDestination(destinations, 0.3000001, scriptedRandom(0.9999999))?.cluster).toBe("b");
  });
});
