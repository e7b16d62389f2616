import type { RetryBudgetPolicy } from "../snapshot/schema.js";

/**
 * Envoy's retry budget for one cluster in one isolate: the number of retries in flight may not
 * exceed max(minRetryConcurrency, percent% of the requests in flight), so retries cannot
 * multiply the load on a cluster that is already failing. (Envoy's circuit breaker
 * `retry_budget`; Istio's defaults, filled in by the compiler, are 20% and 3.)
 *
 * Accounting, as the gateway must drive it:
 * - `requestStarted()` when a request to this cluster begins and `requestFinished()` when it
 *   ends, once per request however many attempts it makes;
 * - `tryStartRetry(policy)` before waiting out the back-off of a retry; when it returns true,
 *   `retryFinished()` once that retry attempt's outcome is known (as in Envoy, a retry holds its
 *   slot from the moment it is scheduled until its outcome is known).
 *
 * The state is per isolate: a Workers isolate sees only its own share of a cluster's traffic,
 * which the budget's percentage scales with.
 */
export class RetryBudgetTracker {
  #activeRequests = 0;
  #activeRetries = 0;

  get activeRequests(): number {
    return this.#activeRequests;
  }

  get activeRetries(): number {
    return this.#activeRetries;
  }

  requestStarted(): void {
    this.#activeRequests++;
  }

  requestFinished(): void {
    // Never below zero: an unbalanced call must not turn into a permanent extra allowance.
    if (this.#activeRequests > 0) this.#activeRequests--;
  }

  /** The number of concurrent retries the budget allows right now (Infinity with no budget). */
  retryLimit(policy: RetryBudgetPolicy | null): number {
    if (policy === null) return Infinity;
    // percent × active / 100 rather than percent / 100 × active: whole percentages stay exact.
    return Math.max(policy.minRetryConcurrency, Math.floor((policy.percent * this.#activeRequests) / 100));
  }

  /**
   * Takes a retry slot if the budget has one and says whether it did. With no budget (`null`,
   * as Istio leaves retries unlimited) it always does; the slot is still counted so that
   * `retryFinished()` stays balanced.
   */
  tryStartRetry(policy: RetryBudgetPolicy | null): boolean {
    if (this.#activeRetries >= this.retryLimit(policy)) return false;
    this.#activeRetries++;
    return true;
  }

  retryFinished(): void {
    if (this.#activeRetries > 0) this.#activeRetries--;
  }
}
