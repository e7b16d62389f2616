import { describe, expect, it } from "vitest";
import type { Endpoint, LoadBalancerPolicy } from "../../../policies/snapshot/schema.js";
import { endpointKey } from "../../../policies/resilience/endpoint-key.js";
import { createLoadBalancer, hashKeyFor, type HashKeySource } from "../../../policies/resilience/load-balancer.js";
import { expectBinomialCount } from "./binomial.js";
import { scriptedRandom, seededRandom } from "./seeded-random.js";

const endpoint = (name: string, weight = 1): Endpoint => ({ address: name, port: 80, labels: {}, weight });
const names = (picked: (Endpoint | undefined)[]) => picked.map((e) => e?.address);

const ROUND_ROBIN: LoadBalancerPolicy = { type: "round_robin" };
const RANDOM: LoadBalancerPolicy = { type: "random" };
const LEAST_REQUEST: LoadBalancerPolicy = { type: "least_request" };
const BY_HEADER: LoadBalancerPolicy = { type: "consistent_hash", header: "x-user" };

function countPicks(pick: () => Endpoint | undefined, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const name = pick()?.address ?? "none";
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

describe("every policy", () => {
  for (const policy of [ROUND_ROBIN, RANDOM, LEAST_REQUEST, BY_HEADER]) {
    it(`${policy.type}: undefined for no endpoints, the only one for one`, () => {
      const balancer = createLoadBalancer(policy);
      expect(balancer.type).toBe(policy.type);
      expect(balancer.pick([], { random: seededRandom(1), hashKey: "k" })).toBeUndefined();
      const only = endpoint("only");
      expect(balancer.pick([only], { random: seededRandom(1), hashKey: "k" })).toBe(only);
    });
  }
});

describe("round_robin", () => {
  const three = [endpoint("a"), endpoint("b"), endpoint("c")];

  it("cycles through equal-weight endpoints in order from a random start", () => {
    const fromFirst = createLoadBalancer(ROUND_ROBIN);
    const random = scriptedRandom(0); // the start is drawn once, on the first pick
    expect(names(Array.from({ length: 7 }, () => fromFirst.pick(three, { random })))).toEqual(["a", "b", "c", "a", "b", "c", "a"]);

    const fromSecond = createLoadBalancer(ROUND_ROBIN);
    const random2 = scriptedRandom(0.5);
    expect(names(Array.from({ length: 4 }, () => fromSecond.pick(three, { random: random2 })))).toEqual(["b", "c", "a", "b"]);
  });

  it("starts fresh balancers (new isolates) evenly across endpoints", () => {
    const random = seededRandom(8);
    const n = 30_000;
    const firsts = countPicks(() => createLoadBalancer(ROUND_ROBIN).pick(three, { random }), n);
    for (const name of ["a", "b", "c"]) expectBinomialCount(firsts.get(name) ?? 0, n, 1 / 3, name);
  });

  it("interleaves by weight (smooth weighted round robin)", () => {
    const balancer = createLoadBalancer(ROUND_ROBIN);
    const weighted = [endpoint("a", 5), endpoint("b", 1), endpoint("c", 1)];
    const random = scriptedRandom(0);
    expect(names(Array.from({ length: 14 }, () => balancer.pick(weighted, { random })))).toEqual(
      "a a b a c a a a a b a c a a".split(" "),
    );
  });

  it("gives each endpoint exactly its weight's share of every full cycle", () => {
    const balancer = createLoadBalancer(ROUND_ROBIN);
    const weighted = [endpoint("a", 3), endpoint("b", 2), endpoint("c", 1)];
    const random = seededRandom(4);
    const counts = countPicks(() => balancer.pick(weighted, { random }), 600);
    expect(Object.fromEntries(counts)).toEqual({ a: 300, b: 200, c: 100 });
  });

  it("keeps rotating over the endpoints left when one is ejected, and takes it back", () => {
    const balancer = createLoadBalancer(ROUND_ROBIN);
    const random = scriptedRandom(0);
    expect(names([balancer.pick(three, { random }), balancer.pick(three, { random })])).toEqual(["a", "b"]);
    const withoutB = [three[0]!, three[2]!];
    const whileEjected = countPicks(() => balancer.pick(withoutB, { random }), 100);
    expect([...whileEjected.keys()].sort()).toEqual(["a", "c"]);
    expect(Math.abs(whileEjected.get("a")! - 50)).toBeLessThanOrEqual(1);
    const counts = countPicks(() => balancer.pick(three, { random }), 300);
    for (const name of ["a", "b", "c"]) expect(Math.abs((counts.get(name) ?? 0) - 100)).toBeLessThanOrEqual(2);
  });

  it("reads a non-positive endpoint weight as 1 (Istio's unset weight)", () => {
    const balancer = createLoadBalancer(ROUND_ROBIN);
    const random = scriptedRandom(0);
    const zero = [endpoint("a", 0), endpoint("b", 1)];
    expect(names(Array.from({ length: 4 }, () => balancer.pick(zero, { random })))).toEqual(["a", "b", "a", "b"]);
  });
});

describe("random", () => {
  it("picks by weight", () => {
    const balancer = createLoadBalancer(RANDOM);
    const random = seededRandom(12);
    const n = 40_000;
    const counts = countPicks(() => balancer.pick([endpoint("light", 1), endpoint("heavy", 3)], { random }), n);
    expectBinomialCount(counts.get("heavy") ?? 0, n, 0.75, "heavy");
  });

  it("maps the draw onto cumulative weights", () => {
    const balancer = createLoadBalancer(RANDOM);
    const endpoints = [endpoint("a", 1), endpoint("b", 3)];
    expect(balancer.pick(endpoints, { random: scriptedRandom(0.24) })?.address).toBe("a");
    expect(balancer.pick(endpoints, { random: scriptedRandom(0.25) })?.address).toBe("b");
  });
});

describe("least_request", () => {
  const three = [endpoint("busy"), endpoint("idle1"), endpoint("idle2")];
  const active = new Map([["busy:80", 10], ["idle1:80", 0], ["idle2:80", 0]]);
  const activeRequests = (e: Endpoint) => active.get(endpointKey(e)) ?? 0;

  it("takes the less loaded of two random draws", () => {
    const balancer = createLoadBalancer(LEAST_REQUEST);
    // Draws: busy, then idle2 → idle2; idle1, then busy → idle1.
    expect(balancer.pick(three, { random: scriptedRandom(0.1, 0.9), activeRequests })?.address).toBe("idle2");
    expect(balancer.pick(three, { random: scriptedRandom(0.5, 0.1), activeRequests })?.address).toBe("idle1");
  });

  it("keeps the first draw on a tie", () => {
    const balancer = createLoadBalancer(LEAST_REQUEST);
    expect(balancer.pick(three, { random: scriptedRandom(0.9, 0.5), activeRequests })?.address).toBe("idle2");
  });

  it("sends to the busy endpoint only when both draws land on it (1/9 of picks)", () => {
    const balancer = createLoadBalancer(LEAST_REQUEST);
    const random = seededRandom(77);
    const n = 45_000;
    const counts = countPicks(() => balancer.pick(three, { random, activeRequests }), n);
    expectBinomialCount(counts.get("busy") ?? 0, n, 1 / 9, "busy");
  });

  it("is weighted random when active requests are unknown", () => {
    const balancer = createLoadBalancer(LEAST_REQUEST);
    const random = seededRandom(13);
    const n = 40_000;
    const counts = countPicks(() => balancer.pick([endpoint("light", 1), endpoint("heavy", 3)], { random }), n);
    expectBinomialCount(counts.get("heavy") ?? 0, n, 0.75, "heavy");
  });
});

describe("consistent_hash", () => {
  const ten = Array.from({ length: 10 }, (_, i) => endpoint(`10.0.0.${i}`));
  const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
  const noRandom = () => {
    throw new Error("a keyed pick must not draw");
  };
  const mapKeys = (balancer: ReturnType<typeof createLoadBalancer>, endpoints: readonly Endpoint[]) =>
    keys.map((hashKey) => balancer.pick(endpoints, { random: noRandom, hashKey })?.address);

  it("sends the same key to the same endpoint, in every isolate", () => {
    const first = mapKeys(createLoadBalancer(BY_HEADER), ten);
    const again = createLoadBalancer(BY_HEADER);
    expect(mapKeys(again, ten)).toEqual(first);
    expect(mapKeys(again, ten)).toEqual(first);
  });

  it("does not depend on the order or the array the endpoints come in", () => {
    const balancer = createLoadBalancer(BY_HEADER);
    const first = mapKeys(balancer, ten);
    expect(mapKeys(balancer, [...ten].reverse())).toEqual(first);
    expect(mapKeys(balancer, ten.map((e) => ({ ...e })))).toEqual(first);
  });

  it("spreads keys roughly evenly over equal endpoints", () => {
    const counts = new Map<string, number>();
    for (const name of mapKeys(createLoadBalancer(BY_HEADER), ten)) counts.set(name!, (counts.get(name!) ?? 0) + 1);
    expect(counts.size).toBe(10);
    for (const count of counts.values()) {
      expect(count).toBeGreaterThan(0.7 * (keys.length / 10));
      expect(count).toBeLessThan(1.3 * (keys.length / 10));
    }
  });

  it("moves only the removed endpoint's keys when one is removed", () => {
    const balancer = createLoadBalancer(BY_HEADER);
    const before = mapKeys(balancer, ten);
    const removed = ten[3]!.address;
    const after = mapKeys(balancer, ten.filter((e) => e.address !== removed));
    let moved = 0;
    before.forEach((owner, i) => {
      if (owner === removed) {
        moved++;
        expect(after[i]).not.toBe(removed);
      } else {
        expect(after[i]).toBe(owner);
      }
    });
    expect(moved / keys.length).toBeGreaterThan(0.05);
    expect(moved / keys.length).toBeLessThan(0.15);
  });

  it("gives an added endpoint keys only from the others, about 1/n of them", () => {
    const balancer = createLoadBalancer(BY_HEADER);
    const before = mapKeys(balancer, ten);
    const after = mapKeys(balancer, [...ten, endpoint("10.0.0.10")]);
    let moved = 0;
    before.forEach((owner, i) => {
      if (after[i] !== owner) {
        moved++;
        expect(after[i]).toBe("10.0.0.10");
      }
    });
    expect(moved / keys.length).toBeGreaterThan(0.045);
    expect(moved / keys.length).toBeLessThan(0.14);
  });

  it("gives endpoints key shares by weight", () => {
    const balancer = createLoadBalancer(BY_HEADER);
    const mapped = mapKeys(balancer, [endpoint("light", 1), endpoint("heavy", 3)]);
    const heavyShare = mapped.filter((name) => name === "heavy").length / keys.length;
    expect(heavyShare).toBeGreaterThan(0.7);
    expect(heavyShare).toBeLessThan(0.8);
  });

  it("picks at random when the request has no key", () => {
    const balancer = createLoadBalancer(BY_HEADER);
    const two = [endpoint("a"), endpoint("b")];
    expect(balancer.pick(two, { random: scriptedRandom(0.1) })?.address).toBe("a");
    expect(balancer.pick(two, { random: scriptedRandom(0.9) })?.address).toBe("b");
  });
});

describe("hashKeyFor", () => {
  const request: HashKeySource = {
    header: (name) => ({ "x-user": "alice", "x-empty": "" })[name] ?? null,
    cookie: (name) => (name === "session" ? "s-123" : null),
    query: (name) => (name === "tenant" ? "acme" : null),
    sourceIp: "203.0.113.7",
  };

  it("reads the key the policy names", () => {
    expect(hashKeyFor({ type: "consistent_hash", header: "x-user" }, request)).toBe("alice");
    expect(hashKeyFor({ type: "consistent_hash", cookie: { name: "session", ttlMs: 1000 } }, request)).toBe("s-123");
    expect(hashKeyFor({ type: "consistent_hash", queryParameter: "tenant" }, request)).toBe("acme");
    expect(hashKeyFor({ type: "consistent_hash", sourceIp: true }, request)).toBe("203.0.113.7");
  });

  it("has no key when the request lacks the value", () => {
    expect(hashKeyFor({ type: "consistent_hash", header: "x-missing" }, request)).toBeUndefined();
    expect(hashKeyFor({ type: "consistent_hash", cookie: { name: "other" } }, request)).toBeUndefined();
    expect(hashKeyFor({ type: "consistent_hash", queryParameter: "other" }, request)).toBeUndefined();
    expect(hashKeyFor({ type: "consistent_hash", sourceIp: true }, { ...request, sourceIp: null })).toBeUndefined();
    expect(hashKeyFor({ type: "consistent_hash", sourceIp: false }, request)).toBeUndefined();
  });

  it("keeps an empty value as a key", () => {
    expect(hashKeyFor({ type: "consistent_hash", header: "x-empty" }, request)).toBe("");
  });

  it("has no key for other policies", () => {
    for (const policy of [ROUND_ROBIN, RANDOM, LEAST_REQUEST]) expect(hashKeyFor(policy, request)).toBeUndefined();
  });
});
