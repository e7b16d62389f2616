import type { RetryPolicy } from "../snapshot/schema.js";

/**
 * Envoy's retry semantics (router filter, `x-envoy-retry-on` / `x-envoy-retry-grpc-on`), as
 * Istio configures them. What to retry is decided here; how many times, the retry budget and the
 * overall route timeout belong to the caller.
 */

/** How one upstream attempt ended, as the gateway observed it. */
export type AttemptOutcome =
  | {
      kind: "response";
      status: number;
      /** `grpc-status` of the response headers, when it is a gRPC response that has one. */
      grpcStatus?: number;
      /** The response carries `x-envoy-ratelimited` (it was rate limited by an upstream Envoy). */
      envoyRateLimited?: boolean;
    }
  /** The connection could not be made (refused, DNS failure, connect timeout): nothing was sent. */
  | { kind: "connect-failure" }
  /** The exchange broke after connecting, before response headers (disconnect, reset, read error). */
  | { kind: "reset" }
  /** The attempt hit `perTryTimeoutMs` before response headers. */
  | { kind: "per-try-timeout" };

/**
 * Istio's default retry policy, applied to a route that sets no `retries`: two retries on
 * connection failures, refused streams, gRPC `unavailable`/`cancelled` and HTTP 503.
 * (Istio also retries on a different host when it can; that choice is the load balancer's.)
 * Frozen: it is shared by every request in the isolate.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  attempts: 2,
  conditions: Object.freeze(["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"]) as string[],
  statusCodes: Object.freeze([503]) as number[],
});

/** gRPC status codes named by the `x-envoy-retry-grpc-on` conditions. */
const GRPC_CONDITION_STATUS: Readonly<Record<string, number>> = {
  cancelled: 1,
  "deadline-exceeded": 4,
  "resource-exhausted": 8,
  internal: 13,
  unavailable: 14,
};

/**
 * Whether `outcome` is one `policy` retries, following Envoy's RetryStateImpl:
 *
 * Responses
 * - A response with `x-envoy-ratelimited` is retried only under `envoy-ratelimited`, never
 *   under any other condition.
 * - `5xx`: any 5xx. `gateway-error`: 502, 503, 504. `retriable-4xx`: 409.
 * - A status listed in `policy.statusCodes`. Istio turns plain codes in `retryOn` ("503") into
 *   retriable status codes and adds `retriable-status-codes` itself, so a listed code is
 *   retried whether or not that condition is spelled out.
 * - gRPC: `cancelled` (1), `deadline-exceeded` (4), `resource-exhausted` (8), `internal` (13),
 *   `unavailable` (14), matched on the `grpc-status` response header only (as in Envoy:
 *   trailers do not trigger retries).
 *
 * No response (Envoy treats each as a stream reset)
 * - `5xx`, `gateway-error` and `reset` retry every one of them, connect failures and per-try
 *   timeouts included (a reset "results in a 5xx"; a per-try timeout is the 504 Envoy would
 *   send).
 * - `connect-failure`: connect failures only.
 * - `reset-before-request`: only when the request provably never left, i.e. connect failures.
 *   A `reset` may have happened after the request was sent, so it does not qualify.
 * - `refused-stream` (HTTP/2 REFUSED_STREAM) is not observable through `fetch`, so it matches
 *   nothing; connect failures, the other "the server never saw it" case, are `connect-failure`.
 * - A per-try timeout is not a response: listing 504 in `statusCodes` does not retry it
 *   (Envoy behaves the same); use `gateway-error`, `5xx` or `reset` for that.
 *
 * Never matched: `retriable-headers` (the compiled policy carries no header matchers) and
 * `http3-post-connect-failure`.
 */
export function isRetriable(policy: RetryPolicy, outcome: AttemptOutcome): boolean {
  const has = (condition: string) => policy.conditions.includes(condition);
  switch (outcome.kind) {
    case "response":
      return isRetriableResponse(policy, outcome, has);
    case "connect-failure":
      return has("connect-failure") || has("reset-before-request") || has("reset") || has("5xx") || has("gateway-error");
    case "reset":
    case "per-try-timeout":
      return has("reset") || has("5xx") || has("gateway-error");
  }
}

function isRetriableResponse(
  policy: RetryPolicy,
  response: Extract<AttemptOutcome, { kind: "response" }>,
  has: (condition: string) => boolean,
): boolean {
  const { status, grpcStatus } = response;
  if (response.envoyRateLimited) return has("envoy-ratelimited");
  if (has("5xx") && status >= 500 && status <= 599) return true;
  if (has("gateway-error") && (status === 502 || status === 503 || status === 504)) return true;
  if (has("retriable-4xx") && status === 409) return true;
  if (policy.statusCodes.includes(status)) return true;
  if (grpcStatus !== undefined) {
    for (const condition of policy.conditions) {
      if (GRPC_CONDITION_STATUS[condition] === grpcStatus) return true;
    }
  }
  return false;
}

/**
 * The wait before retry number `retryNumber` (1 for the first retry): Envoy's fully jittered
 * exponential back-off as its router documentation states it, a random whole number of
 * milliseconds in [0, min((2^N - 1) × base, max)). With the defaults (base 25 ms, max 10 × base)
 * the first retry waits 0–24 ms, the second 0–74 ms, the third 0–174 ms, later ones 0–249 ms.
 * (Envoy's current source grows the window as base × 2^(N-1) instead: 0–24, 0–49, 0–99 ms; the
 * documented form is used here.) One draw of `random`.
 */
export function backoffDelayMs(retryNumber: number, random: () => number, baseMs = 25, maxMs = baseMs * 10): number {
  if (!Number.isInteger(retryNumber) || retryNumber < 1) {
    throw new TypeError(`retryNumber must be an integer >= 1 (got ${retryNumber})`);
  }
  // 2 ** N overflows to Infinity for huge N, which the cap absorbs.
  const window = Math.min((2 ** retryNumber - 1) * baseMs, maxMs);
  return Math.floor(random() * window);
}
