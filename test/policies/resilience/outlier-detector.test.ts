import { describe, expect, it } from "vitest";
import type { Endpoint, OutlierDetectionPolicy } from "../../../policies/snapshot/schema.js";
import {
  DEFAULT_MAX_EJECTION_TIME_MS,
  OutlierDetector,
  type OutlierOutcome,
  outlierOutcomeFor,
} from "../../../policies/resilience/outlier-detector.js";

const endpoints = (count: number): Endpoint[] =>
  Array.from({ length: count }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 8080, labels: {}, weight: 1 }));
const key = (i: number) => `10.0.0.${i}:8080`;

const policy = (overrides: Partial<OutlierDetectionPolicy> = {}): OutlierDetectionPolicy => ({
  consecutive5xxErrors: 5,
  consecutiveGatewayErrors: 0,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 100,
  ...overrides,
});

/** A detector that knows its cluster of `count` endpoints. */
function detectorFor(count: number, overrides: Partial<OutlierDetectionPolicy> = {}) {
  const members = endpoints(count);
  const detector = new OutlierDetector(policy(overrides));
  detector.healthyEndpoints(members, 0);
  return { detector, members };
}

function record(detector: OutlierDetector, endpointKey: string, outcome: OutlierOutcome, times: number, now: number) {
  let last;
  for (let i = 0; i < times; i++) last = detector.recordOutcome(endpointKey, outcome, now);
  return last;
}

describe("consecutive 5xx", () => {
  it("ejects on the Nth consecutive 5xx, not before", () => {
    const { detector } = detectorFor(4);
    expect(record(detector, key(1), "5xx", 4, 1000)).toBeUndefined();
    expect(detector.isEjected(key(1), 1000)).toBe(false);
    expect(detector.recordOutcome(key(1), "5xx", 1000)).toEqual({ type: "consecutive_5xx", ejected: true, ejectedUntil: 31_000 });
    expect(detector.isEjected(key(1), 1000)).toBe(true);
    expect(detector.isEjected(key(2), 1000)).toBe(false);
  });

  it("restarts the run on a success", () => {
    const { detector } = detectorFor(4);
    record(detector, key(1), "5xx", 4, 0);
    detector.recordOutcome(key(1), "success", 0);
    expect(record(detector, key(1), "5xx", 4, 0)).toBeUndefined();
    expect(detector.isEjected(key(1), 0)).toBe(false);
  });

  it("counts gateway errors and local failures (connect failure, reset, timeout) as 5xx", () => {
    const { detector } = detectorFor(4);
    for (const outcome of ["5xx", "gateway-error", "local-failure", "gateway-error"] as const) {
      detector.recordOutcome(key(1), outcome, 0);
    }
    expect(detector.recordOutcome(key(1), "local-failure", 0)?.type).toBe("consecutive_5xx");
    expect(detector.isEjected(key(1), 0)).toBe(true);
  });

  it("keeps separate runs per endpoint", () => {
    const { detector } = detectorFor(4);
    for (let i = 0; i < 4; i++) {
      detector.recordOutcome(key(1), "5xx", 0);
      detector.recordOutcome(key(2), "5xx", 0);
      detector.recordOutcome(key(2), "success", 0);
    }
    expect(detector.recordOutcome(key(1), "5xx", 0)?.ejected).toBe(true);
    expect(detector.isEjected(key(2), 0)).toBe(false);
  });
});

describe("consecutive gateway errors", () => {
  it("ejects on N consecutive 502/503/504 or local failures", () => {
    const { detector } = detectorFor(4, { consecutive5xxErrors: 0, consecutiveGatewayErrors: 3 });
    detector.recordOutcome(key(1), "gateway-error", 0);
    detector.recordOutcome(key(1), "local-failure", 0);
    expect(detector.recordOutcome(key(1), "gateway-error", 0)).toEqual({
      type: "consecutive_gateway_failure",
      ejected: true,
      ejectedUntil: 30_000,
    });
  });

  it("restarts the run on any other 5xx", () => {
    const { detector } = detectorFor(4, { consecutive5xxErrors: 0, consecutiveGatewayErrors: 3 });
    for (let i = 0; i < 10; i++) {
      record(detector, key(1), "gateway-error", 2, 0);
      detector.recordOutcome(key(1), "5xx", 0);
    }
    expect(detector.isEjected(key(1), 0)).toBe(false);
  });

  it("reports the gateway detection when both runs complete together", () => {
    const { detector } = detectorFor(4, { consecutive5xxErrors: 3, consecutiveGatewayErrors: 3 });
    expect(record(detector, key(1), "gateway-error", 3, 0)?.type).toBe("consecutive_gateway_failure");
  });
});

describe("disabled checks", () => {
  it("never ejects when both thresholds are 0", () => {
    const { detector } = detectorFor(4, { consecutive5xxErrors: 0, consecutiveGatewayErrors: 0 });
    for (const outcome of ["5xx", "gateway-error", "local-failure"] as const) {
      expect(record(detector, key(1), outcome, 100, 0)).toBeUndefined();
    }
    expect(detector.isEjected(key(1), 0)).toBe(false);
  });
});

describe("ejection and return by clock", () => {
  it("filters ejected endpoints and returns them when the ejection ends", () => {
    const { detector, members } = detectorFor(3);
    expect(detector.healthyEndpoints(members, 0)).toBe(members); // nothing ejected: the same array
    record(detector, key(2), "5xx", 5, 1000);
    expect(detector.healthyEndpoints(members, 1000).map((e) => e.address)).toEqual(["10.0.0.1", "10.0.0.3"]);
    expect(detector.isEjected(key(2), 30_999)).toBe(true);
    expect(detector.isEjected(key(2), 31_000)).toBe(false);
    expect(detector.healthyEndpoints(members, 31_000)).toBe(members);
  });

  it("ignores outcomes while ejected and brings the host back with clean runs", () => {
    const { detector } = detectorFor(3);
    record(detector, key(1), "5xx", 5, 0);
    record(detector, key(1), "5xx", 4, 10_000); // requests that were in flight
    expect(detector.recordOutcome(key(1), "5xx", 30_000)).toBeUndefined();
    expect(detector.isEjected(key(1), 30_000)).toBe(false);
    expect(record(detector, key(1), "5xx", 3, 30_000)).toBeUndefined();
    expect(detector.recordOutcome(key(1), "5xx", 30_000)?.ejected).toBe(true);
  });

  it("ejects for base × n, n growing with each ejection", () => {
    const { detector } = detectorFor(3);
    const ejectAt = (now: number) => record(detector, key(1), "5xx", 5, now)?.ejectedUntil;
    expect(ejectAt(0)).toBe(30_000);
    expect(ejectAt(30_000)).toBe(90_000); // 2 × 30 s
    expect(ejectAt(90_000 + 9_999)).toBe(99_999 + 90_000); // 3 × 30 s: under one interval back, no decay
  });

  it("forgives one step per full interval spent back in service", () => {
    const first = detectorFor(3).detector;
    record(first, key(1), "5xx", 5, 0); // out until 30 s, multiplier 1
    expect(record(first, key(1), "5xx", 5, 30_000)?.ejectedUntil).toBe(90_000); // multiplier 2, back at 90 s
    // One full interval back: 2 - 1 + 1 = 2.
    expect(record(first, key(1), "5xx", 5, 90_000 + 10_000)?.ejectedUntil).toBe(100_000 + 60_000);

    const second = detectorFor(3).detector;
    record(second, key(1), "5xx", 5, 0);
    record(second, key(1), "5xx", 5, 30_000); // multiplier 2, back at 90 s
    // Two full intervals back: 2 - 2 + 1 = 1.
    expect(record(second, key(1), "5xx", 5, 90_000 + 20_000)?.ejectedUntil).toBe(110_000 + 30_000);
  });

  it("caps the ejection time at Envoy's default max_ejection_time", () => {
    const { detector } = detectorFor(3, { baseEjectionTimeMs: 100_000 });
    let now = 0;
    const durations: number[] = [];
    for (let i = 0; i < 5; i++) {
      const until = record(detector, key(1), "5xx", 5, now)!.ejectedUntil!;
      durations.push(until - now);
      now = until;
    }
    expect(durations).toEqual([100_000, 200_000, 300_000, 300_000, 300_000]);
    expect(DEFAULT_MAX_EJECTION_TIME_MS).toBe(300_000);
  });

  it("lets a base ejection time above the cap raise the cap", () => {
    const { detector } = detectorFor(3, { baseEjectionTimeMs: 400_000 });
    expect(record(detector, key(1), "5xx", 5, 0)?.ejectedUntil).toBe(400_000);
    expect(record(detector, key(1), "5xx", 5, 400_000)?.ejectedUntil).toBe(800_000);
  });
});

describe("maxEjectionPercent", () => {
  it("ejects only while, counting the new one, at most that share is ejected", () => {
    const { detector, members } = detectorFor(10, { maxEjectionPercent: 20 });
    expect(record(detector, key(1), "5xx", 5, 0)?.ejected).toBe(true); // 10%
    expect(record(detector, key(2), "5xx", 5, 0)?.ejected).toBe(true); // 20%
    expect(record(detector, key(3), "5xx", 5, 0)).toEqual({ type: "consecutive_5xx", ejected: false }); // 30%
    expect(detector.healthyEndpoints(members, 0)).toHaveLength(8);
    expect(detector.ejectedCount(0)).toBe(2);
  });

  it("ejects nothing from a small cluster at Istio's default 10% (no 'always eject one')", () => {
    const { detector, members } = detectorFor(3, { maxEjectionPercent: 10 });
    expect(record(detector, key(1), "5xx", 5, 0)?.ejected).toBe(false);
    expect(detector.healthyEndpoints(members, 0)).toBe(members);
  });

  it("ejects one of 3 at 34%, two at 67%, all at 100%", () => {
    for (const [percent, ejectable] of [[33, 0], [34, 1], [66, 1], [67, 2], [100, 3]] as const) {
      const { detector, members } = detectorFor(3, { maxEjectionPercent: percent });
      for (let i = 1; i <= 3; i++) record(detector, key(i), "5xx", 5, 0);
      expect(detector.ejectedCount(0), `${percent}%`).toBe(ejectable);
      expect(detector.healthyEndpoints(members, 0), `${percent}%`).toHaveLength(3 - ejectable);
    }
  });

  it("restarts the run after a refused ejection", () => {
    const { detector } = detectorFor(3, { maxEjectionPercent: 10 });
    expect(record(detector, key(1), "5xx", 5, 0)?.ejected).toBe(false);
    expect(record(detector, key(1), "5xx", 4, 0)).toBeUndefined();
    expect(detector.recordOutcome(key(1), "5xx", 0)?.ejected).toBe(false);
  });

  it("frees a slot when an ejected host returns", () => {
    const { detector } = detectorFor(10, { maxEjectionPercent: 10 });
    record(detector, key(1), "5xx", 5, 0);
    expect(record(detector, key(2), "5xx", 5, 0)?.ejected).toBe(false);
    expect(record(detector, key(2), "5xx", 5, 30_000)?.ejected).toBe(true);
  });
});

describe("cluster membership", () => {
  it("counts the percentage over the endpoints last given, dropping the state of removed ones", () => {
    const { detector, members } = detectorFor(4, { maxEjectionPercent: 67 });
    record(detector, key(1), "5xx", 5, 0); // 1 of 4
    record(detector, key(2), "5xx", 5, 0); // 2 of 4
    expect(record(detector, key(3), "5xx", 5, 0)?.ejected).toBe(false); // 3 of 4 = 75%

    const withoutFirst = members.slice(1);
    expect(detector.healthyEndpoints(withoutFirst, 0).map((e) => e.address)).toEqual(["10.0.0.3", "10.0.0.4"]);
    expect(record(detector, key(3), "5xx", 5, 0)?.ejected).toBe(true); // 2 of 3 = 66.7%

    // 10.0.0.1 left while ejected; it comes back as a new, healthy host.
    expect(detector.healthyEndpoints(members, 0).map((e) => e.address)).toEqual(["10.0.0.1", "10.0.0.4"]);
  });

  it("ignores outcomes for endpoints outside the cluster", () => {
    const { detector } = detectorFor(3);
    expect(record(detector, "192.0.2.1:80", "5xx", 10, 0)).toBeUndefined();
    expect(detector.isEjected("192.0.2.1:80", 0)).toBe(false);
  });

  it("counts every host seen as the cluster until it is told the endpoints", () => {
    const detector = new OutlierDetector(policy({ maxEjectionPercent: 50 }));
    detector.recordOutcome(key(2), "success", 0);
    expect(record(detector, key(1), "5xx", 5, 0)?.ejected).toBe(true); // 1 of 2
  });
});

describe("outlierOutcomeFor", () => {
  it("classifies attempt outcomes as Envoy's detector counts them", () => {
    expect(outlierOutcomeFor({ kind: "response", status: 200 })).toBe("success");
    expect(outlierOutcomeFor({ kind: "response", status: 404 })).toBe("success");
    expect(outlierOutcomeFor({ kind: "response", status: 500 })).toBe("5xx");
    expect(outlierOutcomeFor({ kind: "response", status: 501 })).toBe("5xx");
    for (const status of [502, 503, 504]) expect(outlierOutcomeFor({ kind: "response", status })).toBe("gateway-error");
    expect(outlierOutcomeFor({ kind: "connect-failure" })).toBe("local-failure");
    expect(outlierOutcomeFor({ kind: "reset" })).toBe("local-failure");
    expect(outlierOutcomeFor({ kind: "per-try-timeout" })).toBe("local-failure");
  });
});
