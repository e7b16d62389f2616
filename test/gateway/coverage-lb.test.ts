import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream, type UpstreamEcho } from "../support/upstream.js";
import { binomialTolerance, gatewayYaml, serviceYaml, virtualServiceYaml } from "./mesh-config.js";

/**
 * DestinationRule traffic policies at runtime, through the real gateway in workerd to real
 * upstreams: RANDOM and LEAST_REQUEST spread (and LEAST_REQUEST steers away from a busy
 * endpoint), consistent hash by query parameter and by source IP sticks, outlier detection by
 * consecutiveGatewayErrors ejects while maxEjectionPercent caps how many are ejected, and a
 * subset's trafficPolicy overrides the top-level one.
 *
 * The source IP is `cf-connecting-ip`, as the gateway reads it (gateway/stages/upstream.ts):
 * on Cloudflare the edge sets it; Miniflare sets it to the peer address (127.0.0.1) unless the
 * client sent one, so a test can play several clients by sending it.
 */

let r1: Upstream, r2: Upstream, r3: Upstream;
let busy: Upstream, idle: Upstream;
let g1: Upstream, g2: Upstream;
let c1: Upstream, c2: Upstream;
let t1: Upstream, t2: Upstream;
let all: Upstream[];
let gateway: TestGateway;

const outlier = (extra: string) => `outlierDetection: { interval: 1s, baseEjectionTime: 30s, ${extra} }`;

beforeAll(async () => {
  all = await Promise.all([
    ...["r1", "r2", "r3"].map((name) => startUpstream({ name, version: "pool" })),
    startUpstream({ name: "busy", version: "pool" }),
    startUpstream({ name: "idle", version: "pool" }),
    ...["g1", "g2", "c1", "c2", "t1", "t2"].map((name) => startUpstream({ name, version: "pool" })),
  ]);
  [r1, r2, r3, busy, idle, g1, g2, c1, c2, t1, t2] = all as [Upstream, Upstream, Upstream, Upstream, Upstream, Upstream, Upstream, Upstream, Upstream, Upstream, Upstream];
  // Two subsets over the same endpoints: "sticky" inherits the top-level consistent hash, "rr" overrides it.
  const tiers = serviceYaml("tiers.internal", [t1, t2], { trafficPolicy: "loadBalancer: { consistentHash: { httpHeaderName: x-user } }" }).replace(
    "  - { name: pool, labels: { version: pool } }",
    `  - { name: sticky, labels: { version: pool } }
  - name: rr
    labels: { version: pool }
    trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }`,
  );
  expect(tiers).toContain("name: rr");
  const config =
    gatewayYaml() +
    serviceYaml("random.internal", [r1, r2, r3], { trafficPolicy: "loadBalancer: { simple: RANDOM }" }) +
    serviceYaml("least.internal", [busy, idle], { trafficPolicy: "loadBalancer: { simple: LEAST_REQUEST }" }) +
    serviceYaml("query.internal", [r1, r2, r3], { trafficPolicy: "loadBalancer: { consistentHash: { httpQueryParameterName: user } }" }) +
    serviceYaml("source.internal", [r1, r2, r3], { trafficPolicy: "loadBalancer: { consistentHash: { useSourceIp: true } }" }) +
    serviceYaml("gwerr.internal", [g1, g2], {
      trafficPolicy: `loadBalancer: { simple: ROUND_ROBIN }\n${outlier("consecutive5xxErrors: 0, consecutiveGatewayErrors: 2, maxEjectionPercent: 50")}`,
    }) +
    serviceYaml("cap50.internal", [c1, c2], { trafficPolicy: `loadBalancer: { simple: ROUND_ROBIN }\n${outlier("consecutive5xxErrors: 2, maxEjectionPercent: 50")}` }) +
    serviceYaml("cap100.internal", [c1, c2], { trafficPolicy: `loadBalancer: { simple: ROUND_ROBIN }\n${outlier("consecutive5xxErrors: 2, maxEjectionPercent: 100")}` }) +
    tiers +
    virtualServiceYaml(
      "lb",
      ["lb.test"],
      `
- { match: [{ uri: { prefix: /random } }], route: [{ destination: { host: random.internal } }] }
- { match: [{ uri: { prefix: /least } }], route: [{ destination: { host: least.internal } }] }
- { match: [{ uri: { prefix: /query } }], route: [{ destination: { host: query.internal } }] }
- { match: [{ uri: { prefix: /source } }], route: [{ destination: { host: source.internal } }] }
- { match: [{ uri: { prefix: /gwerr } }], retries: { attempts: 0 }, route: [{ destination: { host: gwerr.internal } }] }
- { match: [{ uri: { prefix: /cap50 } }], retries: { attempts: 0 }, route: [{ destination: { host: cap50.internal } }] }
- { match: [{ uri: { prefix: /cap100 } }], retries: { attempts: 0 }, route: [{ destination: { host: cap100.internal } }] }
- { match: [{ uri: { prefix: /sticky } }], route: [{ destination: { host: tiers.internal, subset: sticky } }] }
- { match: [{ uri: { prefix: /rr } }], route: [{ destination: { host: tiers.internal, subset: rr } }] }
`,
    );
  gateway = await startTestGateway(config, { bindings: { MESH_DEBUG_HEADERS: "true" } });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all((all ?? []).map((upstream) => upstream.close()));
});

beforeEach(() => {
  for (const upstream of all) upstream.reset();
});

/** Which upstream answered (by name), asserting a 200. */
async function served(path: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await gateway.fetch(path, { host: "lb.test", headers });
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as UpstreamEcho).service;
}

function countsOf(names: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of names) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

describe("load balancing", () => {
  it("RANDOM spreads evenly over the endpoints, and not in a fixed order", async () => {
    const total = 300;
    const seen: string[] = [];
    for (let index = 0; index < total; index++) seen.push(await served("/random"));
    const counts = countsOf(seen);
    expect(Object.keys(counts).sort()).toEqual(["r1", "r2", "r3"]);
    for (const name of ["r1", "r2", "r3"]) expect(Math.abs(counts[name]! - total / 3)).toBeLessThanOrEqual(binomialTolerance(total, 1 / 3));
    // Round robin never repeats an endpoint twice in a row; independent draws do a third of the time.
    let repeats = 0;
    for (let index = 1; index < total; index++) if (seen[index] === seen[index - 1]) repeats++;
    expect(Math.abs(repeats - (total - 1) / 3)).toBeLessThanOrEqual(binomialTolerance(total - 1, 1 / 3));
  });

  it("LEAST_REQUEST spreads over idle endpoints and steers away from one with requests in flight", async () => {
    const idleTotal = 200;
    const idleSeen: string[] = [];
    for (let index = 0; index < idleTotal; index++) idleSeen.push(await served("/least"));
    expect(Math.abs((countsOf(idleSeen).busy ?? 0) - idleTotal / 2)).toBeLessThanOrEqual(binomialTolerance(idleTotal, 0.5));

    // Now `busy` holds every request it gets. Power of two choices picks it only when both
    // draws are it (1 in 4) once it has a request in flight; a random pick would be 1 in 2.
    // With 300 requests the two bounds (75 + tolerance, 150 - tolerance) do not overlap.
    busy.reset();
    idle.reset();
    const held: ServerResponse[] = [];
    busy.setBehaviour((_request, response) => void held.push(response));
    const pending: Promise<Response>[] = [];
    const total = 300;
    try {
      for (let index = 0; index < total; index++) {
        const before = busy.requests.length + idle.requests.length;
        const request = gateway.fetch("/least", { host: "lb.test", timeoutMs: 60_000 });
        pending.push(request);
        // Wait until this request has reached one of the two (an answer from idle, or held at busy).
        while (busy.requests.length + idle.requests.length === before) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      expect(busy.requests.length + idle.requests.length).toBe(total);
      expect(busy.requests.length).toBeLessThanOrEqual(total / 4 + binomialTolerance(total, 0.25));
      expect(busy.requests.length).toBeGreaterThan(0);
    } finally {
      for (const response of held) {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ service: "busy" }));
      }
      await Promise.allSettled(pending);
    }
    for (const response of await Promise.all(pending)) expect(response.status).toBe(200);
  });

  it("consistentHash by httpQueryParameterName keeps a user on one endpoint whatever the path, and spreads users", async () => {
    const spread = new Set<string>();
    for (let user = 0; user < 12; user++) {
      const names = new Set<string>();
      for (let index = 0; index < 5; index++) names.add(await served(`/query/${index}?page=${index}&user=u${user}`));
      expect(names.size, `user u${user}`).toBe(1);
      spread.add([...names][0]!);
    }
    expect(spread.size).toBeGreaterThan(1);
    // Without the parameter there is no key: the pick is random, so it spreads.
    const keyless = new Set<string>();
    for (let index = 0; index < 30; index++) keyless.add(await served("/query/none"));
    expect(keyless.size).toBeGreaterThan(1);
  });

  it("consistentHash by useSourceIp keeps a client (cf-connecting-ip) on one endpoint, and spreads clients", async () => {
    const spread = new Set<string>();
    for (let client = 1; client <= 12; client++) {
      const names = new Set<string>();
      for (let index = 0; index < 5; index++) names.add(await served(`/source/${index}`, { "cf-connecting-ip": `203.0.113.${client}` }));
      expect(names.size, `client 203.0.113.${client}`).toBe(1);
      spread.add([...names][0]!);
    }
    expect(spread.size).toBeGreaterThan(1);
    // A client that sends none is the loopback peer Miniflare reports: one address, one endpoint.
    const local = new Set<string>();
    for (let index = 0; index < 10; index++) local.add(await served("/source/local"));
    expect(local.size).toBe(1);
  });
});

describe("outlier detection", () => {
  it("ejects on consecutiveGatewayErrors (502/503/504) but not on other 5xx when consecutive5xxErrors is 0", async () => {
    // 500s are 5xx but not gateway errors: with consecutive5xxErrors 0, g2 is never ejected.
    g2.respondWith(500, "broken");
    const first: number[] = [];
    for (let index = 0; index < 8; index++) first.push((await gateway.fetch("/gwerr", { host: "lb.test" })).status);
    expect(g2.requests).toHaveLength(4);
    expect(first.filter((status) => status === 500)).toHaveLength(4);

    g1.reset();
    g2.reset();
    g2.respondWith(502, "bad gateway");
    const statuses: number[] = [];
    for (let index = 0; index < 10; index++) statuses.push((await gateway.fetch("/gwerr", { host: "lb.test" })).status);
    // Round robin alternates until g2's second 502 ejects it (baseEjectionTime 30 s): g1 gets the rest.
    expect(g2.requests).toHaveLength(2);
    expect(g1.requests).toHaveLength(8);
    expect(statuses.slice(-6)).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it("maxEjectionPercent 50 leaves one of two failing endpoints in service; 100 ejects both (503 UH)", async () => {
    c1.respondWith(503, "down");
    c2.respondWith(503, "down");
    const capped: { status: number; flags: string | null }[] = [];
    for (let index = 0; index < 12; index++) {
      const response = await gateway.fetch("/cap50", { host: "lb.test" });
      capped.push({ status: response.status, flags: response.headers.get("x-mesh-response-flags") });
    }
    // Every request reached an upstream: the second ejection would make 100% > 50%, so it is refused.
    expect(capped.every((answer) => answer.status === 503 && !(answer.flags ?? "").includes("UH"))).toBe(true);
    expect(c1.requests.length + c2.requests.length).toBe(12);
    expect([c1.requests.length, c2.requests.length].sort((x, y) => x - y)).toEqual([2, 10]);

    c1.reset();
    c2.reset();
    c1.respondWith(503, "down");
    c2.respondWith(503, "down");
    const uncapped: { status: number; flags: string | null }[] = [];
    for (let index = 0; index < 12; index++) {
      const response = await gateway.fetch("/cap100", { host: "lb.test" });
      uncapped.push({ status: response.status, flags: response.headers.get("x-mesh-response-flags") });
    }
    // Two errors each eject both; then no healthy upstream is left.
    expect(c1.requests.length + c2.requests.length).toBe(4);
    expect(uncapped.slice(4).every((answer) => answer.status === 503 && answer.flags === "UH")).toBe(true);
  });
});

describe("per-subset traffic policy", () => {
  it("a subset's loadBalancer overrides the top-level one; a subset without one inherits it", async () => {
    const sticky: string[] = [];
    const rr: string[] = [];
    for (let index = 0; index < 8; index++) sticky.push(await served("/sticky", { "x-user": "alice" }));
    for (let index = 0; index < 8; index++) rr.push(await served("/rr", { "x-user": "alice" }));
    // Inherited consistent hash on x-user: one endpoint.
    expect(new Set(sticky).size).toBe(1);
    // The rr subset's ROUND_ROBIN: alternates between the two, whatever x-user says.
    expect(countsOf(rr)).toEqual({ t1: 4, t2: 4 });
    for (let index = 1; index < rr.length; index++) expect(rr[index]).not.toBe(rr[index - 1]);
  });
});
