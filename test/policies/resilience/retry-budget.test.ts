import { describe, expect, it } from "vitest";
import { RetryBudgetTracker } from "../../../policies/resilience/retry-budget.js";

const ISTIO_DEFAULT = { percent: 20, minRetryConcurrency: 3 };

function trackerWith(activeRequests: number): RetryBudgetTracker {
  const tracker = new RetryBudgetTracker();
  for (let i = 0; i < activeRequests; i++) tracker.requestStarted();
  return tracker;
}

/** Starts retries until the budget refuses one; returns how many it allowed. */
function fill(tracker: RetryBudgetTracker, policy: { percent: number; minRetryConcurrency: number } | null, cap = 10_000): number {
  let allowed = 0;
  while (allowed < cap && tracker.tryStartRetry(policy)) allowed++;
  return allowed;
}

describe("RetryBudgetTracker", () => {
  it("always allows retries without a budget", () => {
    const tracker = trackerWith(1);
    expect(fill(tracker, null, 1000)).toBe(1000);
    expect(tracker.activeRetries).toBe(1000);
  });

  it("allows minRetryConcurrency retries when few requests are active", () => {
    expect(fill(trackerWith(0), ISTIO_DEFAULT)).toBe(3);
    expect(fill(trackerWith(10), ISTIO_DEFAULT)).toBe(3); // 20% of 10 is 2, below the floor of 3
    expect(fill(trackerWith(10), { percent: 25, minRetryConcurrency: 0 })).toBe(2); // 2.5 rounds down
  });

  it("allows percent% of active requests when that is more", () => {
    expect(fill(trackerWith(100), ISTIO_DEFAULT)).toBe(20);
    expect(fill(trackerWith(100), { percent: 29, minRetryConcurrency: 0 })).toBe(29);
    expect(fill(trackerWith(1000), { percent: 100, minRetryConcurrency: 3 })).toBe(1000);
  });

  it("frees a slot when a retry finishes", () => {
    const tracker = trackerWith(0);
    expect(fill(tracker, ISTIO_DEFAULT)).toBe(3);
    expect(tracker.tryStartRetry(ISTIO_DEFAULT)).toBe(false);
    tracker.retryFinished();
    expect(tracker.tryStartRetry(ISTIO_DEFAULT)).toBe(true);
    expect(tracker.tryStartRetry(ISTIO_DEFAULT)).toBe(false);
  });

  it("shrinks the budget as requests finish", () => {
    const tracker = trackerWith(100);
    expect(fill(tracker, ISTIO_DEFAULT)).toBe(20);
    for (let i = 0; i < 50; i++) tracker.requestFinished();
    expect(tracker.retryLimit(ISTIO_DEFAULT)).toBe(10);
    // 20 retries are still running: none may start until they drop below the new limit of 10.
    for (let i = 0; i < 10; i++) {
      expect(tracker.tryStartRetry(ISTIO_DEFAULT)).toBe(false);
      tracker.retryFinished();
    }
    expect(tracker.activeRetries).toBe(10);
    expect(tracker.tryStartRetry(ISTIO_DEFAULT)).toBe(false);
    tracker.retryFinished();
    expect(tracker.tryStartRetry(ISTIO_DEFAULT)).toBe(true);
  });

  it("does not count a refused retry", () => {
    const tracker = trackerWith(0);
    fill(tracker, ISTIO_DEFAULT);
    expect(tracker.tryStartRetry(ISTIO_DEFAULT)).toBe(false);
    expect(tracker.activeRetries).toBe(3);
  });

  it("never counts below zero on unbalanced calls", () => {
    const tracker = new RetryBudgetTracker();
    tracker.requestFinished();
    tracker.retryFinished();
    expect(tracker.activeRequests).toBe(0);
    expect(tracker.activeRetries).toBe(0);
    expect(fill(tracker, ISTIO_DEFAULT)).toBe(3);
  });

  it("reports an unlimited limit without a budget", () => {
    expect(trackerWith(5).retryLimit(null)).toBe(Infinity);
  });
});
