import { describe, expect, it } from "vitest";
import { dashboardData, gatewayTargets } from "../../../control/dashboard/data.js";
import { destinationId, meshGraph } from "../../../control/dashboard/graph.js";
import { parseConfigText } from "../../../policies/config/load.js";
import { compileSnapshot } from "../../../policies/snapshot/compile.js";
import type { Snapshot } from "../../../policies/snapshot/schema.js";
import { istioRequestLabels, recordIstioRequest, registerIstioRequestMetrics } from "../../../policies/telemetry/istio-metrics.js";
import { MetricRegistry } from "../../../policies/telemetry/metric-registry.js";
import { formatPrometheusText } from "../../../policies/telemetry/prometheus-text.js";

/**
 * The dashboard's data, in plain Node: the graph of a snapshot (gateways → hosts → routes →
 * destinations, weights as shares, mirrors, redirects), and gateway metrics attached to the
 * destinations they name, with what no destination accounts for kept apart.
 */

const CONFIG = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: public, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["shop.test", "*.example.com"] }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: internal, namespace: shop }
spec:
  selector: { app: internal-gateway }
  servers: [{ port: { number: 8080, name: http, protocol: HTTP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: shop, namespace: shop }
spec:
  hosts: [shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints:
  - { address: 127.0.0.1, ports: { http: 9001 }, labels: { version: v1 } }
  - { address: 127.0.0.1, ports: { http: 9002 }, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: audit, namespace: shop }
spec:
  hosts: [audit.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: 9003 }, labels: { version: v7 } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: shop, namespace: shop }
spec:
  host: shop.internal
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop, namespace: shop }
spec:
  hosts: [shop.test]
  gateways: [public]
  http:
  - name: canary
    match: [{ headers: { x-canary: { exact: "yes" } } }]
    route: [{ destination: { host: shop.internal, subset: v2 } }]
  - name: old
    match: [{ uri: { prefix: /old } }]
    redirect: { uri: /new }
  - name: main
    route:
    - { destination: { host: shop.internal, subset: v1 }, weight: 90 }
    - { destination: { host: shop.internal, subset: v2 }, weight: 10 }
    mirror: { host: audit.internal }
    mirrorPercentage: { value: 25 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: wild, namespace: shop }
spec:
  hosts: ["*.example.com"]
  gateways: [public, internal]
  http:
  - name: audit
    fault: { abort: { httpStatus: 503, percentage: { value: 50 } } }
    route: [{ destination: { host: audit.internal } }]
`;

const EGRESS_CONFIG = `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: partner, namespace: external }
spec:
  hosts: [api.partner.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 443, name: https, protocol: HTTPS }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: partner, namespace: external }
spec:
  host: api.partner.test
  trafficPolicy: { tls: { mode: MUTUAL, credentialName: PARTNER_CERT } }
---
apiVersion: mesh.istio.io/v1alpha1
kind: EgressCredential
metadata: { name: partner, namespace: istio-system }
spec:
  hosts: [api.partner.test]
  inject: { secretName: PARTNER_API_KEY }
`;

async function snapshot(extra = ""): Promise<Snapshot> {
  const loaded = parseConfigText(CONFIG + extra, "dashboard.yaml");
  expect(loaded.issues).toEqual([]);
  const compiled = await compileSnapshot(loaded.resources);
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.issues));
  return compiled.snapshot;
}

function gatewayExposition(record: (add: (host: string | undefined, version: string | undefined, code: number, ms: number, times: number) => void) => void): string {
  const registry = new MetricRegistry();
  const istio = registerIstioRequestMetrics(registry);
  registry.gauge("mesh_config_version_info", "", ["version"]).set({ version: "v-current" }, 1);
  registry.gauge("process_start_time_seconds", "").set({}, 1000);
  record((host, version, code, ms, times) => {
    const labels = istioRequestLabels("source", { workload: "gw" }, {
      responseCode: code,
      responseFlags: [],
      requestProtocol: "http",
      ...(host ? { destination: { host, ...(version ? { workload: { labels: { version } } } : {}) } } : {}),
    });
    for (let index = 0; index < times; index++) recordIstioRequest(istio, labels, { durationMs: ms, requestBytes: 0, responseBytes: 0 });
  });
  return formatPrometheusText(registry.collect());
}

describe("the mesh graph", () => {
  it("draws gateways, the hosts they accept, routes in order and each destination's share", async () => {
    const graph = meshGraph(await snapshot());
    const ids = (kind: string) => graph.nodes.filter((node) => node.kind === kind).map((node) => node.id);
    expect(ids("gateway")).toEqual(["gateway:shop/internal", "gateway:shop/public"]);
    expect(graph.nodes.find((node) => node.id === "gateway:shop/public")!.detail).toEqual(["hosts shop.test, *.example.com", "ports 80/HTTP", "selector istio=ingressgateway"]);
    expect(graph.nodes.filter((node) => node.kind === "host").map((node) => node.label).sort()).toEqual(["*.example.com", "shop.test"]);
    expect(graph.nodes.filter((node) => node.kind === "route").map((node) => node.label)).toEqual(["audit", "canary", "old", "main"]);
    expect(ids("destination")).toEqual([destinationId("audit.internal", undefined), destinationId("shop.internal", "v2"), destinationId("shop.internal", "v1")]);

    const edge = (from: string, to: string) => graph.edges.filter((candidate) => candidate.from === from && candidate.to === to);
    const routeId = (name: string) => graph.nodes.find((node) => node.kind === "route" && node.label === name)!.id;
    // Both gateways accept *.example.com: one host node, two edges into it.
    const wildcard = graph.nodes.find((node) => node.label === "*.example.com")!.id;
    expect(graph.edges.filter((candidate) => candidate.to === wildcard).map((candidate) => [candidate.from, candidate.label])).toEqual([
      ["gateway:shop/internal", "*.example.com"],
      ["gateway:shop/public", "*.example.com"],
    ]);
    expect(edge(routeId("main"), destinationId("shop.internal", "v1"))).toEqual([{ from: routeId("main"), to: destinationId("shop.internal", "v1"), kind: "weight", label: "90%", share: 0.9 }]);
    expect(edge(routeId("main"), destinationId("shop.internal", "v2"))[0]).toMatchObject({ label: "10%", share: 0.1 });
    expect(edge(routeId("main"), destinationId("audit.internal", undefined))).toEqual([{ from: routeId("main"), to: destinationId("audit.internal", undefined), kind: "mirror", label: "mirror 25%", share: 0.25 }]);
    expect(edge(routeId("canary"), destinationId("shop.internal", "v2"))[0]).toMatchObject({ label: "100%", share: 1 });
    // A redirect has no destination; the route says what it does.
    expect(graph.edges.filter((candidate) => candidate.from === routeId("old"))).toEqual([]);
    expect(graph.nodes.find((node) => node.id === routeId("old"))!.detail).toEqual(["/old*", "redirect 301"]);
    expect(graph.nodes.find((node) => node.id === routeId("canary"))!.detail).toEqual(["x-canary=yes", "retries 2"]);
    expect(graph.nodes.find((node) => node.id === routeId("audit"))!.detail).toEqual(["any request", "abort 503 50%"]);
    // Hosts lead to their routes in evaluation order.
    const shopHost = graph.nodes.find((node) => node.label === "shop.test")!.id;
    expect(graph.edges.filter((candidate) => candidate.from === shopHost).map((candidate) => candidate.label)).toEqual(["#0", "#1", "#2"]);
  });
});

describe("the egress in the mesh graph", () => {
  it("draws the egress, the external hosts it lets out, their passthrough route and a destination the egress's counts attach to", async () => {
    const current = await snapshot(EGRESS_CONFIG);
    const graph = meshGraph(current);
    expect(graph.nodes.find((node) => node.id === "gateway:egress")).toMatchObject({ kind: "gateway", detail: ["outbound traffic policy REGISTRY_ONLY", "selector istio=egressgateway"] });
    expect(graph.nodes.find((node) => node.id === "passthrough:api.partner.test")).toMatchObject({ kind: "route", label: "external/partner:api.partner.test", detail: ["passthrough", "TLS origination MUTUAL", "credential istio-system/partner"] });
    const destination = destinationId("api.partner.test", undefined);
    expect(graph.edges).toEqual(
      expect.arrayContaining([
        { from: "gateway:egress", to: "external:api.partner.test", kind: "host", label: "api.partner.test" },
        { from: "external:api.partner.test", to: "passthrough:api.partner.test", kind: "route", label: "#0" },
        { from: "passthrough:api.partner.test", to: destination, kind: "weight", label: "100%", share: 1 },
      ]),
    );
    // The egress reports destination_service = the external host, no version: it lands on that node.
    const egressMetrics = gatewayExposition((add) => add("api.partner.test", undefined, 200, 40, 3));
    const data = await dashboardData({ version: "v-current", snapshot: current, gateways: [{ name: "egress", url: "http://egress.test", fetch: async () => new Response(egressMetrics) }], now: () => 1010_000 });
    expect(data.traffic.destinations[destination]).toMatchObject({ requests: 3, errors: 0 });
    expect(data.traffic.unattributed).toMatchObject({ requests: 0 });
  });

  it("draws no egress when no host is MESH_EXTERNAL", async () => {
    expect(meshGraph(await snapshot()).nodes.some((node) => node.id === "gateway:egress")).toBe(false);
  });
});

describe("the dashboard's traffic", () => {
  it("attaches each gateway's counts to the destination of their host and subset, and keeps the rest apart", async () => {
    const current = await snapshot();
    const first = gatewayExposition((add) => {
      add("shop.internal", "v1", 200, 3, 9);
      add("shop.internal", "v2", 503, 3, 1);
      add("audit.internal", "v7", 200, 120, 4); // no subset for audit: its one node takes every version
      add("shop.internal", "v9", 200, 3, 2); // a version that is no subset the graph shows
      add(undefined, undefined, 404, 1, 3); // no route
    });
    const second = gatewayExposition((add) => add("shop.internal", "v1", 200, 3, 1));
    const binding = { fetch: async (request: Request) => (new URL(request.url).pathname === "/__mesh/metrics" && request.headers.get("authorization") === "Bearer metrics-secret" ? new Response(second) : new Response("no", { status: 401 })) };
    const served: Record<string, () => Response> = { "http://gw-a.test": () => new Response(first), "http://gw-down.test": () => new Response("oops", { status: 500 }) };
    const targets = gatewayTargets(["http://gw-a.test", "http://gw-down.test"], binding).map((target) =>
      target.fetch ? target : { ...target, fetch: async (request: Request) => served[new URL(request.url).origin]!() },
    );

    const data = await dashboardData({ version: "v-current", snapshot: current, gateways: targets, metricsToken: "metrics-secret", now: () => 1010_000 });
    expect(data.version).toBe("v-current");
    expect(data.traffic.configured).toBe(true);
    expect(data.traffic.sources).toEqual([
      { name: "gw-a.test", ok: true, configVersion: "v-current", inSync: true, sinceSeconds: 10 },
      { name: "gw-down.test", ok: false, error: "http://gw-down.test/__mesh/metrics answered 500: oops" },
      { name: "MESH_GATEWAY (service binding)", ok: true, configVersion: "v-current", inSync: true, sinceSeconds: 10 },
    ]);
    expect(data.traffic.destinations).toEqual({
      [destinationId("shop.internal", "v1")]: { requests: 10, errors: 0, errorRatio: 0, p50Ms: expect.any(Number), p99Ms: expect.any(Number) },
      [destinationId("shop.internal", "v2")]: { requests: 1, errors: 1, errorRatio: 1, p50Ms: expect.any(Number), p99Ms: expect.any(Number) },
      [destinationId("audit.internal", undefined)]: { requests: 4, errors: 0, errorRatio: 0, p50Ms: 175, p99Ms: 248.5 },
    });
    expect(data.traffic.unattributed).toMatchObject({ requests: 5, errors: 0 });
    expect(data.traffic.total).toMatchObject({ requests: 20, errors: 1, errorRatio: 0.05 });
  });

  it("draws the graph without counts when it knows no gateway, and an empty mesh before any apply", async () => {
    const without = await dashboardData({ version: "v1", snapshot: await snapshot(), gateways: [] });
    expect(without.traffic).toEqual({
      configured: false,
      sources: [],
      destinations: {},
      unattributed: { requests: 0, errors: 0, errorRatio: null, p50Ms: null, p99Ms: null },
      total: { requests: 0, errors: 0, errorRatio: null, p50Ms: null, p99Ms: null },
    });
    expect(without.graph.nodes.length).toBeGreaterThan(0);
    const empty = await dashboardData({ version: null, snapshot: undefined, gateways: [] });
    expect(empty.graph).toEqual({ nodes: [], edges: [] });
  });
});
