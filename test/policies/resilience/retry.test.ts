import { describe, expect, it } from "vitest";
import type { RetryPolicy } from "../../../policies/snapshot/schema.js";
import {
  type AttemptOutcome,
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  isRetriable,
} from "../../../policies/resilience/retry.js";
import { expectBinomialCount } from "./binomial.js";
import { scriptedRandom, seededRandom } from "./seeded-random.js";

const response = (status: number, extra: { grpcStatus?: number; envoyRateLimited?: boolean } = {}): AttemptOutcome => ({
  kind: "response",
  status,
  ...extra,
});

const OUTCOMES: Record<string, AttemptOutcome> = {
  "200": response(200),
  "404": response(404),
  "409": response(409),
  "429": response(429),
  "500": response(500),
  "501": response(501),
  "502": response(502),
  "503": response(503),
  "504": response(504),
  "599": response(599),
  "503 x-envoy-ratelimited": response(503, { envoyRateLimited: true }),
  "grpc 0 ok": response(200, { grpcStatus: 0 }),
  "grpc 1 cancelled": response(200, { grpcStatus: 1 }),
  "grpc 2 unknown": response(200, { grpcStatus: 2 }),
  "grpc 4 deadline-exceeded": response(200, { grpcStatus: 4 }),
  "grpc 8 resource-exhausted": response(200, { grpcStatus: 8 }),
  "grpc 13 internal": response(200, { grpcStatus: 13 }),
  "grpc 14 unavailable": response(200, { grpcStatus: 14 }),
  "connect-failure": { kind: "connect-failure" },
  reset: { kind: "reset" },
  "per-try-timeout": { kind: "per-try-timeout" },
};

const NO_RESPONSE = ["connect-failure", "reset", "per-try-timeout"];

/** For each condition alone (no status codes), exactly the outcomes it retries. */
const RETRIED_BY: Record<string, string[]> = {
  "5xx": ["500", "501", "502", "503", "504", "599", ...NO_RESPONSE],
  "gateway-error": ["502", "503", "504", ...NO_RESPONSE],
  reset: NO_RESPONSE,
  "reset-before-request": ["connect-failure"],
  "connect-failure": ["connect-failure"],
  "retriable-4xx": ["409"],
  "refused-stream": [],
  "retriable-status-codes": [],
  "retriable-headers": [],
  "http3-post-connect-failure": [],
  "envoy-ratelimited": ["503 x-envoy-ratelimited"],
  cancelled: ["grpc 1 cancelled"],
  "deadline-exceeded": ["grpc 4 deadline-exceeded"],
  "resource-exhausted": ["grpc 8 resource-exhausted"],
  internal: ["grpc 13 internal"],
  unavailable: ["grpc 14 unavailable"],
};

const policy = (conditions: string[], statusCodes: number[] = []): RetryPolicy => ({ attempts: 2, conditions, statusCodes });

describe("isRetriable: each condition × each outcome", () => {
  for (const [condition, retried] of Object.entries(RETRIED_BY)) {
    it(`${condition}`, () => {
      const actual = Object.keys(OUTCOMES).filter((name) => isRetriable(policy([condition]), OUTCOMES[name]!));
      expect(actual).toEqual(retried);
    });
  }

  it("retries nothing with no conditions and no status codes", () => {
    for (const outcome of Object.values(OUTCOMES)) expect(isRetriable(policy([]), outcome)).toBe(false);
  });

  it("retries the union of several conditions", () => {
    const combined = policy(["gateway-error", "retriable-4xx", "unavailable"]);
    const actual = Object.keys(OUTCOMES).filter((name) => isRetriable(combined, OUTCOMES[name]!));
    expect(actual).toEqual(["409", "502", "503", "504", "grpc 14 unavailable", ...NO_RESPONSE]);
  });
});

describe("isRetriable: status codes", () => {
  it("retries listed codes with retriable-status-codes", () => {
    const codes = policy(["retriable-status-codes"], [429, 503]);
    expect(isRetriable(codes, response(429))).toBe(true);
    expect(isRetriable(codes, response(503))).toBe(true);
    expect(isRetriable(codes, response(500))).toBe(false);
    expect(isRetriable(codes, response(200))).toBe(false);
  });

  it("retries plain codes from retryOn without the retriable-status-codes condition (as Istio compiles them)", () => {
    expect(isRetriable(policy([], [503]), response(503))).toBe(true);
    expect(isRetriable(policy(["connect-failure"], [429]), response(429))).toBe(true);
    expect(isRetriable(policy(["connect-failure"], [429]), response(503))).toBe(false);
  });

  it("does not treat a per-try timeout as a 504 response", () => {
    expect(isRetriable(policy(["retriable-status-codes"], [504]), { kind: "per-try-timeout" })).toBe(false);
    expect(isRetriable(policy(["retriable-status-codes"], [504]), response(504))).toBe(true);
  });

  it("never retries an x-envoy-ratelimited response except under envoy-ratelimited", () => {
    const limited = response(429, { envoyRateLimited: true });
    expect(isRetriable(policy(["5xx", "gateway-error", "retriable-status-codes"], [429]), limited)).toBe(false);
    expect(isRetriable(policy(["envoy-ratelimited"]), limited)).toBe(true);
  });

  it("retries on a gRPC status carried by a 5xx response too", () => {
    expect(isRetriable(policy(["unavailable"]), response(503, { grpcStatus: 14 }))).toBe(true);
    expect(isRetriable(policy(["unavailable"]), response(503))).toBe(false);
  });
});

describe("DEFAULT_RETRY_POLICY", () => {
  it("is Istio's default", () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({
      attempts: 2,
      conditions: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"],
      statusCodes: [503],
    });
  });

  it("retries connection failures, 503 and gRPC unavailable/cancelled, and nothing else here", () => {
    const actual = Object.keys(OUTCOMES).filter((name) => isRetriable(DEFAULT_RETRY_POLICY, OUTCOMES[name]!));
    expect(actual).toEqual(["503", "grpc 1 cancelled", "grpc 14 unavailable", "connect-failure"]);
  });

  it("cannot be mutated by a caller", () => {
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY)).toBe(true);
    expect(() => DEFAULT_RETRY_POLICY.statusCodes.push(500)).toThrow(TypeError);
    expect(() => DEFAULT_RETRY_POLICY.conditions.push("5xx")).toThrow(TypeError);
  });
});

describe("backoffDelayMs", () => {
  const justBelowOne = 1 - 2 ** -40;

  it("is 0 at the bottom of the draw", () => {
    for (let n = 1; n <= 10; n++) expect(backoffDelayMs(n, scriptedRandom(0))).toBe(0);
  });

  it("tops out just below (2^N - 1) × 25 ms, capped at 250 ms (Envoy's documented defaults)", () => {
    const top = (n: number) => backoffDelayMs(n, scriptedRandom(justBelowOne));
    expect([1, 2, 3, 4, 5, 10, 64, 2000].map(top)).toEqual([24, 74, 174, 249, 249, 249, 249, 249]);
  });

  it("takes a base and a max, the max defaulting to 10 × base", () => {
    expect(backoffDelayMs(3, scriptedRandom(justBelowOne), 100, 1000)).toBe(699);
    expect(backoffDelayMs(4, scriptedRandom(justBelowOne), 100, 1000)).toBe(999);
    expect(backoffDelayMs(6, scriptedRandom(justBelowOne), 10)).toBe(99);
    expect(backoffDelayMs(2, scriptedRandom(0.5), 10, 1000)).toBe(15);
  });

  it("returns whole milliseconds inside the window, spread across it", () => {
    const random = seededRandom(99);
    const n = 20_000;
    const delays = Array.from({ length: n }, () => backoffDelayMs(3, random));
    expect(delays.every(Number.isInteger)).toBe(true);
    expect(Math.min(...delays)).toBe(0);
    expect(Math.max(...delays)).toBe(174);
    const lowerHalf = delays.filter((delay) => delay < 87.5).length;
    expectBinomialCount(lowerHalf, n, 0.5, "delays in the lower half");
  });

  it("rejects retry numbers that are not whole and positive", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => backoffDelayMs(bad, seededRandom(1))).toThrow(TypeError);
  });
});
