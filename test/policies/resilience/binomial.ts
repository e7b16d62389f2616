import { expect } from "vitest";

/**
 * The largest deviation from n·p a binomial(n, p) count may show: 4 standard deviations (a false
 * failure about once in 16,000 runs, and the seeds are fixed anyway), plus one for rounding.
 */
export function binomialTolerance(n: number, p: number, sigmas = 4): number {
  return sigmas * Math.sqrt(n * p * (1 - p)) + 1;
}

/** Asserts that `count` successes in `n` trials are consistent with probability `p`. */
export function expectBinomialCount(count: number, n: number, p: number, what = "count"): void {
  const expected = n * p;
  const tolerance = binomialTolerance(n, p);
  expect(
    Math.abs(count - expected),
    `${what}: ${count} of ${n}, expected ${expected.toFixed(1)} ± ${tolerance.toFixed(1)}`,
  ).toBeLessThanOrEqual(tolerance);
}
