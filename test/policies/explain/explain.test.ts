import { describe, expect, it } from "vitest";
import { firstFailedCondition } from "../../../policies/explain/conditions.js";
import { explainRequest, ExplainInputError } from "../../../policies/explain/explain.js";
import { buildRequestView } from "../../../policies/explain/request.js";
import { createRoutingTable, matchAccepts } from "../../../policies/routing/match-route.js";
import { BASE_YAML, compileOrThrow, virtualService } from "../fixtures.js";

/** explain is pure: a compiled snapshot and a described request in, every decision and its reason out. */

const dest = (subset: string, weight?: number) => `{ destination: { host: reviews.shop.internal, subset: ${subset} }${weight !== undefined ? `, weight: ${weight}` : ""} }`;

async function snapshotWith(http: string, extra = "") {
  return compileOrThrow(BASE_YAML + extra + virtualService("reviews", `hosts: [reviews.example.com]\ngateways: [edge/public]\nhttp:\n${http}`));
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

describe("explainRequest", () => {
  it("names the gateway, virtual service and route, the first failing condition of every route before it, and the split", async () => {
    const snapshot = await snapshotWith(`- name: jason
  match: [{ headers: { end-user: { exact: jason } }, uri: { prefix: /reviews } }]
  route: [${dest("v3")}]
- name: canary
  match: [{ uri: { prefix: /reviews } }]
  route: [${dest("v1", 90)}, ${dest("v3", 10)}]
- name: rest
  route: [${dest("v1")}]`);
    const explanation = explainRequest(snapshot, { url: "http://reviews.example.com/reviews/1" });

    expect(explanation.version).toBe(snapshot.version);
    expect(explanation.gateway).toBe("edge/public");
    expect(explanation.virtualService).toBe("shop/reviews");
    expect(explanation.route).toBe("canary");
    expect(explanation.routes).toEqual([
      { position: 0, name: "jason", verdict: "no_match", failed: [{ match: 0, condition: "headers.end-user", message: `header 'end-user' is absent (needs exact "jason")` }] },
      { position: 1, name: "canary", verdict: "matched", matchedBy: 0, failed: [] },
      { position: 2, name: "rest", verdict: "not_reached", failed: [] },
    ]);
    expect(explanation.action?.type).toBe("forward");
    if (explanation.action?.type !== "forward") return;
    const [v1, v3] = explanation.action.destinations;
    expect(v1).toMatchObject({ cluster: "reviews.shop.internal|v1|9080", subset: "v1", weight: 90, probability: 0.9 });
    expect(v3).toMatchObject({ cluster: "reviews.shop.internal|v3|9080", subset: "v3", weight: 10, probability: 0.1, loadBalancer: { type: "round_robin" } });
    expect(v1!.endpoints.map((endpoint) => [endpoint.port, endpoint.probability])).toEqual([[10001, 1]]);
    expect(explanation.retries).not.toBeNull();
    expect(explanation.outcomes.map((outcome) => outcome.probability)).toEqual([0.9, 0.1]);
    expect(explanation.outcomes.every((outcome) => outcome.status === null)).toBe(true);
  });

  it("says why nothing matched: no Gateway server for the host, no VirtualService for it, or no route", async () => {
    const snapshot = await snapshotWith(`- name: only-get
  match: [{ uri: { exact: /reviews }, method: { exact: GET } }, { queryParams: { v: { exact: "2" } } }]
  route: [${dest("v1")}]`);

    const noGateway = explainRequest(snapshot, { url: "http://elsewhere.test/" });
    expect(noGateway.gateway).toBeNull();
    expect(noGateway.gateways).toEqual([expect.objectContaining({ name: "edge/public", selected: true, acceptsHost: false, virtualService: null })]);
    expect(noGateway.outcomes).toEqual([expect.objectContaining({ status: 404, flag: "NR", probability: 1, description: expect.stringContaining("no_gateway_for_host") })]);

    const noVirtualHost = explainRequest(snapshot, { url: "http://other.example.com/" });
    expect(noVirtualHost.gateway).toBe("edge/public");
    expect(noVirtualHost.virtualService).toBeNull();
    expect(noVirtualHost.outcomes[0]).toMatchObject({ status: 404, flag: "NR", description: expect.stringContaining("no_virtual_host") });

    const noRoute = explainRequest(snapshot, { method: "POST", url: "http://reviews.example.com/reviews?v=1" });
    expect(noRoute.route).toBeNull();
    expect(noRoute.routes[0]!.failed).toEqual([
      { match: 0, condition: "method", message: `exact "GET" does not match "POST"` },
      { match: 1, condition: "queryParams.v", message: `query parameter 'v': exact "2" does not match "1"` },
    ]);
    expect(noRoute.outcomes[0]).toMatchObject({ status: 404, flag: "NR", description: expect.stringContaining("route_not_found") });
  });

  it("gives faults their probabilities, and says that a faulted route has no retries or timeout", async () => {
    const snapshot = await snapshotWith(`- name: faulty
  fault: { abort: { httpStatus: 503, percentage: { value: 10 } }, delay: { fixedDelay: 2s, percentage: { value: 50 } } }
  timeout: 3s
  route: [${dest("v1")}]`);
    const explanation = explainRequest(snapshot, { url: "http://reviews.example.com/" });
    expect(explanation.fault).toEqual({ abort: { status: 503, percent: 10 }, delay: { delayMs: 2000, percent: 50 } });
    expect(explanation.retries).toBeNull();
    expect(explanation.timeoutMs).toBeNull();
    expect(explanation.outcomes).toEqual([
      expect.objectContaining({ status: 503, flag: "FI", probability: 0.1 }),
      expect.objectContaining({ status: null, probability: 0.9 }),
    ]);
    expect(explanation.notes.join("\n")).toMatch(/no retries: a route with a fault/);
  });

  it("answers 503 UH for a destination without endpoints, and describes redirects and direct responses", async () => {
    // A subset whose labels select no endpoint of the ServiceEntry.
    const empty = `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ghost, namespace: shop }
spec:
  hosts: [ghost.shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: 12001 }, labels: { version: v1 } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ghost, namespace: shop }
spec:
  host: ghost.shop.internal
  subsets: [{ name: gone, labels: { version: v0 } }]
`;
    const snapshot = await snapshotWith(
      `- name: moved
  match: [{ uri: { prefix: /old } }]
  redirect: { uri: /new, redirectCode: 308 }
- name: teapot
  match: [{ uri: { prefix: /tea } }]
  directResponse: { status: 418, body: { string: "short and stout" } }
- name: ghost
  route: [{ destination: { host: ghost.shop.internal, subset: gone } }]`,
      empty,
    );
    const redirect = explainRequest(snapshot, { url: "http://reviews.example.com/old?x=1" });
    expect(redirect.action).toEqual({ type: "redirect", code: 308, location: "http://reviews.example.com/new?x=1" });
    expect(redirect.outcomes).toEqual([expect.objectContaining({ status: 308, probability: 1 })]);
    const direct = explainRequest(snapshot, { url: "http://reviews.example.com/tea" });
    expect(direct.action).toEqual({ type: "direct", status: 418, bodyBytes: 15 });
    const ghost = explainRequest(snapshot, { url: "http://reviews.example.com/x" });
    if (ghost.action?.type !== "forward") throw new Error("expected a forward");
    expect(ghost.outcomes).toEqual([expect.objectContaining({ status: 503, flag: "UH", probability: 1 })]);
  });

  it("shows which endpoint a consistent-hash key picks, and falls back to weighted random without the key", async () => {
    const sticky = `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: carts, namespace: shop }
spec:
  hosts: [carts.shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints:
  - { address: 127.0.0.1, ports: { http: 11001 } }
  - { address: 127.0.0.1, ports: { http: 11002 } }
  - { address: 127.0.0.1, ports: { http: 11003 } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: carts, namespace: shop }
spec:
  host: carts.shop.internal
  trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }
`;
    const snapshot = await snapshotWith(`- route: [{ destination: { host: carts.shop.internal } }]`, sticky);
    const keyed = explainRequest(snapshot, { url: "http://reviews.example.com/", headers: { "X-User": "alice" } });
    if (keyed.action?.type !== "forward") throw new Error("expected a forward");
    const endpoints = keyed.action.destinations[0]!.endpoints;
    expect(endpoints.filter((endpoint) => endpoint.chosen)).toHaveLength(1);
    expect(keyed.action.destinations[0]!.balancing).toContain(`header 'x-user' = "alice"`);
    // The same key always picks the same endpoint.
    const again = explainRequest(snapshot, { url: "http://reviews.example.com/", headers: { "x-user": "alice" } });
    if (again.action?.type !== "forward") throw new Error("expected a forward");
    expect(again.action.destinations[0]!.endpoints.findIndex((endpoint) => endpoint.chosen)).toBe(endpoints.findIndex((endpoint) => endpoint.chosen));

    const unkeyed = explainRequest(snapshot, { url: "http://reviews.example.com/" });
    if (unkeyed.action?.type !== "forward") throw new Error("expected a forward");
    expect(unkeyed.action.destinations[0]!.balancing).toContain("which the request lacks");
    expect(sum(unkeyed.action.destinations[0]!.endpoints.map((endpoint) => endpoint.probability ?? 0))).toBeCloseTo(1);
  });

  it("explains for the gateway workload's labels, the Host header wins over the URL, and /__mesh/ is never routed", async () => {
    const snapshot = await snapshotWith(`- route: [${dest("v1")}]`);
    const otherWorkload = explainRequest(snapshot, { url: "http://reviews.example.com/" }, { labels: { istio: "canary-gateway" } });
    expect(otherWorkload.gateways[0]).toMatchObject({ selected: false });
    expect(otherWorkload.notes.join("\n")).toContain("no Gateway's selector matches");
    expect(otherWorkload.outcomes[0]).toMatchObject({ status: 404, flag: "NR" });

    const byHost = explainRequest(snapshot, { url: "/anything", headers: { host: "Reviews.Example.com:8080" } });
    expect(byHost.request).toMatchObject({ host: "reviews.example.com", authority: "reviews.example.com:8080", port: 8080, path: "/anything" });
    expect(byHost.route).not.toBeNull();

    const own = explainRequest(snapshot, { url: "http://reviews.example.com/__mesh/healthz" });
    expect(own.route).toBeNull();
    expect(own.outcomes[0]!.description).toContain("never routed");

    const peer = explainRequest(snapshot, { url: "http://reviews.example.com/", peer: { principal: "spiffe://mesh.local/ns/shop/sa/web" } });
    expect(peer.peer).toMatchObject({ principal: "spiffe://mesh.local/ns/shop/sa/web" });
  });

  it("refuses a request it cannot build, with a coded error", async () => {
    const snapshot = await snapshotWith(`- route: [${dest("v1")}]`);
    expect(() => explainRequest(snapshot, { url: "not a url" })).toThrow(ExplainInputError);
    expect(() => explainRequest(snapshot, { url: "/path-without-host" })).toThrow(/give an absolute URL or a 'host' header/);
    expect(() => explainRequest(snapshot, { url: "ftp://reviews.example.com/" })).toThrow(/http or https/);
    try {
      explainRequest(snapshot, { url: "" });
    } catch (error) {
      expect((error as ExplainInputError).code).toBe("ERR_EXPLAIN_INPUT");
    }
  });
});

describe("firstFailedCondition", () => {
  // One table of cases for both evaluators: explain's reason must agree with the gateway's matcher.
  const cases: { match: string; url: string; method?: string; headers?: Record<string, string>; fails?: string }[] = [
    { match: "{ uri: { prefix: /a } }", url: "/a/b" },
    { match: "{ uri: { prefix: /a } }", url: "/b", fails: "uri" },
    { match: "{ uri: { exact: /A }, ignoreUriCase: true }", url: "/a" },
    { match: "{ uri: { regex: '/item/[0-9]+' } }", url: "/item/12" },
    { match: "{ uri: { regex: '/item/[0-9]+' } }", url: "/item/12/x", fails: "uri" },
    { match: "{ method: { exact: POST } }", url: "/", method: "GET", fails: "method" },
    { match: "{ headers: { x-a: { exact: '1' } } }", url: "/", headers: { "x-a": "1" } },
    { match: "{ headers: { x-a: { prefix: '1' } } }", url: "/", headers: { "x-a": "2" }, fails: "headers.x-a" },
    { match: "{ headers: { x-a: {} } }", url: "/", fails: "headers.x-a" },
    { match: "{ withoutHeaders: { x-b: {} } }", url: "/", headers: { "x-b": "" }, fails: "withoutHeaders.x-b" },
    { match: "{ withoutHeaders: { x-b: {} } }", url: "/" },
    { match: "{ queryParams: { q: { exact: yes } } }", url: "/?q=yes" },
    { match: "{ queryParams: { q: { exact: yes } } }", url: "/?q=no", fails: "queryParams.q" },
    { match: "{ port: 8080 }", url: "http://reviews.example.com:8080/" },
    { match: "{ port: 8080 }", url: "/", fails: "port" },
    { match: "{ authority: { prefix: reviews } }", url: "/" },
    { match: "{ scheme: { exact: https } }", url: "/", fails: "scheme" },
    // The scheme is the one the client used: a client-sent x-forwarded-proto is not trusted.
    { match: "{ scheme: { exact: https } }", url: "/", headers: { "x-forwarded-proto": "https" }, fails: "scheme" },
    { match: "{ scheme: { exact: https } }", url: "https://reviews.example.com/" },
    { match: "{ gateways: [edge/public] }", url: "/" },
    { match: "{ uri: { prefix: /a }, method: { exact: PUT } }", url: "/b", method: "GET", fails: "uri" },
  ];

  it.each(cases)("$match on $method $url", async ({ match, url, method, headers, fails }) => {
    const snapshot = await snapshotWith(`- match: [${match}]\n  route: [${dest("v1")}]`);
    const table = createRoutingTable(snapshot, { istio: "ingressgateway" });
    const built = buildRequestView({ method: method ?? "GET", url: url.startsWith("/") ? `http://reviews.example.com${url}` : url, headers: headers ?? {} });
    if (!built.ok) throw new Error(built.message);
    const compiled = snapshot.routes[0]!.matches[0]!;
    const failed = firstFailedCondition(compiled, 0, built.view, "edge/public", table.regexes);
    expect(failed?.condition).toBe(fails);
    expect(failed === undefined).toBe(matchAccepts(compiled, built.view, "edge/public", table.regexes));
  });
});
