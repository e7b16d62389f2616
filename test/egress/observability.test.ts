import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BLACKHOLE_CLUSTER as EGRESS_BLACKHOLE, PASSTHROUGH_CLUSTER as EGRESS_PASSTHROUGH } from "../../egress/registry.js";
import { BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER } from "../../gateway/telemetry/external-destinations.js";
import type { TrustDomainPki, Workload } from "../policies/identity/pki.js";
import { meshConfigYaml, pkiNow, PROXY_SECRET, viaProxy } from "../gateway/security/support.js";
import { startOtlpReceiver, type OtlpReceiver } from "../gateway/observability/otlp-receiver.js";
import { only, parseExposition, total, type Family } from "../policies/telemetry/prometheus-parser.js";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { externalServiceYaml, startTestEgress, type TestEgress } from "./fixture.js";

/**
 * The egress gateway's own telemetry, from the real egress bundle in workerd: its
 * `/__mesh/metrics` read with the Prometheus parser and its spans sent over OTLP to a receiver on
 * 127.0.0.1. It reports as Istio's egress gateway does: `reporter="source"` with itself as the
 * source workload, and never `reporter="destination"` for an external API (which has no
 * sidecar). A call to an undeclared host is labelled with Istio's virtual cluster:
 * `BlackHoleCluster` under REGISTRY_ONLY, `PassthroughCluster` under ALLOW_ANY.
 */

const API = "spiffe://acme.test/ns/payments/sa/api";
const TRACE = "5bf92f3577b34da6a3ce929d0e0e4737";
const CALLER_SPAN = "10f067aa0ba902b8";
const SERVER = 2;
const CLIENT = 3;

let acme: TrustDomainPki;
let caller: Workload;
let external: Upstream;
let receiver: OtlpReceiver;
let egress: TestEgress;

beforeAll(async () => {
  [acme, external, receiver] = await Promise.all([pkiNow("acme.test"), startUpstream({ name: "partner" }), startOtlpReceiver()]);
  caller = await acme.workload(API);
  egress = await startTestEgress(meshConfigYaml(acme) + externalServiceYaml("partner", "api.ext.test", external), {
    bindings: { MESH_PROXY_SECRET: PROXY_SECRET, MESH_OTLP_ENDPOINT: receiver.url },
  });
});

afterAll(async () => {
  await egress?.close();
  await Promise.all([external?.close(), receiver?.close()]);
});

async function scrape(gateway: TestEgress): Promise<Map<string, Family>> {
  const response = await gateway.fetch("/__mesh/metrics");
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

/** Scrapes until `ready` holds: a report is recorded once the response body has been sent. */
async function scrapeUntil(gateway: TestEgress, ready: (metrics: Map<string, Family>) => boolean): Promise<Map<string, Family>> {
  for (let attempt = 0; ; attempt++) {
    const metrics = await scrape(gateway);
    if (ready(metrics) || attempt === 50) return metrics;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const requestsTo = (service: string) => (metrics: Map<string, Family>) => total(metrics.get("istio_requests_total"), { destination_service: service }) > 0;

describe("the egress's metrics at /__mesh/metrics", () => {
  it("uses the egress registry's names for Istio's virtual clusters", () => {
    expect([BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER]).toEqual([EGRESS_BLACKHOLE, EGRESS_PASSTHROUGH]);
  });

  it("reports an allowed external call as Istio's egress gateway, from the source side only", async () => {
    const body = "amount=12";
    const response = await egress.fetch("/v1/charges", { host: "api.ext.test", method: "POST", body, headers: await viaProxy(caller) });
    expect(response.status).toBe(200);
    const responseBody = await response.text();

    const metrics = await scrapeUntil(egress, requestsTo("api.ext.test"));
    const requests = metrics.get("istio_requests_total")!;
    const report = only(requests.samples, { destination_service: "api.ext.test" });
    expect(report.value).toBe(1);
    expect(report.labels).toMatchObject({
      reporter: "source",
      source_workload: "istio-egressgateway",
      source_workload_namespace: "istio-system",
      source_canonical_service: "istio-egressgateway",
      // The egress's own identity on its outbound connection, which is plain HTTP here: not the caller's.
      source_principal: "unknown",
      source_app: "unknown",
      source_cluster: "edge",
      destination_service: "api.ext.test",
      destination_service_name: "api.ext.test",
      destination_service_namespace: "external",
      destination_workload: "unknown",
      destination_version: "unknown",
      request_protocol: "http",
      response_code: "200",
      response_flags: "-",
      // Only a server-side report knows how its connection was secured.
      connection_security_policy: "unknown",
    });
    // An external API has no sidecar: nothing reports on its behalf.
    expect(requests.samples.filter((sample) => sample.labels.reporter === "destination")).toEqual([]);
    expect(only(metrics.get("istio_request_bytes")!.histograms, { destination_service: "api.ext.test" }).sum).toBe(body.length);
    expect(only(metrics.get("istio_response_bytes")!.histograms, { destination_service: "api.ext.test" }).sum).toBe(new TextEncoder().encode(responseBody).byteLength);
    expect(only(metrics.get("istio_request_duration_milliseconds")!.histograms, { destination_service: "api.ext.test" }).count).toBe(1);
  });

  it("labels a blocked call (REGISTRY_ONLY, undeclared host) BlackHoleCluster, 502 NR", async () => {
    const before = external.requests.length;
    const response = await egress.fetch("/exfiltrate", { host: "blocked.example.test", headers: await viaProxy(caller) });
    expect(response.status).toBe(502);
    expect(external.requests.length).toBe(before);

    const metrics = await scrapeUntil(egress, (m) => total(m.get("istio_requests_total"), { destination_service_name: BLACKHOLE_CLUSTER }) > 0);
    const blocked = only(metrics.get("istio_requests_total")!.samples, { destination_service_name: "BlackHoleCluster" });
    expect(blocked.value).toBe(1);
    expect(blocked.labels).toMatchObject({
      reporter: "source",
      source_workload: "istio-egressgateway",
      // Istio labels the host asked for here; that host is any client's choice, so here it is the
      // virtual cluster too (a bounded label set: junk hosts cannot push real series out).
      destination_service: "BlackHoleCluster",
      destination_service_name: "BlackHoleCluster",
      destination_service_namespace: "unknown",
      destination_workload_namespace: "unknown",
      destination_version: "unknown",
      response_code: "502",
      response_flags: "NR",
    });
    expect(total(metrics.get("istio_requests_total"), { destination_service: "unknown" })).toBe(0);
    expect(metrics.get("istio_requests_total")!.samples.filter((sample) => sample.labels.reporter === "destination")).toEqual([]);
    expect(total(metrics.get("mesh_route_requests_total"), { route_name: "block_all", response_code: "502", response_flags: "NR" })).toBe(1);
  });

  it("labels an ALLOW_ANY passthrough call PassthroughCluster", async () => {
    const open = await startTestEgress(meshConfigYaml(acme, "  outboundTrafficPolicy: { mode: ALLOW_ANY }"), { bindings: { MESH_PROXY_SECRET: PROXY_SECRET } });
    try {
      const before = external.requests.length;
      const response = await open.fetch("/anything", { host: `127.0.0.1:${external.port}`, headers: await viaProxy(caller) });
      expect(response.status).toBe(200);
      expect(external.requests.length).toBe(before + 1);

      const metrics = await scrapeUntil(open, (m) => total(m.get("istio_requests_total"), { destination_service_name: PASSTHROUGH_CLUSTER }) > 0);
      const requests = metrics.get("istio_requests_total")!;
      expect(only(requests.samples, { destination_service_name: "PassthroughCluster" }).labels).toMatchObject({
        reporter: "source",
        source_workload: "istio-egressgateway",
        destination_service: "PassthroughCluster",
        destination_service_name: "PassthroughCluster",
        destination_service_namespace: "unknown",
        destination_workload_namespace: "unknown",
        destination_cluster: "unknown",
        response_code: "200",
        response_flags: "-",
      });
      expect(requests.samples.filter((sample) => sample.labels.reporter === "destination")).toEqual([]);
    } finally {
      await open.close();
    }
  });
});

describe("the egress's spans over OTLP", () => {
  it("exports a server span under the caller's span and a client span for the attempt under it", async () => {
    external.reset();
    const response = await egress.fetch("/v1/charges?customer=c9", {
      host: "api.ext.test",
      method: "POST",
      body: "amount=3",
      headers: await viaProxy(caller, { traceparent: `00-${TRACE}-${CALLER_SPAN}-01`, "x-request-id": "egress-trace-1" }),
    });
    expect(response.status).toBe(200);

    const spans = await receiver.spansOf(TRACE, 2);
    expect(spans).toHaveLength(2);
    const server = spans.find((span) => span.kind === SERVER)!;
    const attempt = spans.find((span) => span.kind === CLIENT)!;
    expect(server.parentSpanId).toBe(CALLER_SPAN);
    expect(attempt.parentSpanId).toBe(server.spanId);
    expect(server.resource["service.name"]).toBe("istio-egressgateway.istio-system");
    expect(server.attributes).toMatchObject({
      "http.request.method": "POST",
      "url.path": "/v1/charges",
      "server.address": "api.ext.test",
      "http.response.status_code": 200,
      "guid:x-request-id": "egress-trace-1",
      response_flags: "-",
      upstream_cluster: "api.ext.test||80",
      "istio.canonical_service": "istio-egressgateway",
      "mesh.route_name": "external/partner:api.ext.test",
      "mesh.destination.service": "api.ext.test",
      "mesh.peer_principal": API,
      "mesh.attempts": 1,
    });
    expect(attempt.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.response.status_code": 200,
      "server.port": external.port,
      upstream_cluster: "api.ext.test||80",
      "mesh.attempt": 1,
    });
    expect(BigInt(attempt.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(server.startTimeUnixNano));
    expect(BigInt(attempt.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(server.endTimeUnixNano));
    // The external API was told the attempt's span as its parent.
    expect(external.requests.at(-1)!.headers.traceparent).toBe(`00-${TRACE}-${attempt.spanId}-01`);
    expect(receiver.requests.at(-1)).toMatchObject({ path: "/v1/traces" });
  });

  it("exports a blocked call as a lone server span with NR and BlackHoleCluster", async () => {
    const traceId = "6bf92f3577b34da6a3ce929d0e0e4738";
    const response = await egress.fetch("/", { host: "blocked.example.test", headers: await viaProxy(caller, { traceparent: `00-${traceId}-${CALLER_SPAN}-01` }) });
    expect(response.status).toBe(502);
    const [span] = await receiver.spansOf(traceId, 1);
    // A moment more for anything that would follow it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.spans.filter((candidate) => candidate.traceId === traceId)).toHaveLength(1);
    expect(span!.kind).toBe(SERVER);
    expect(span!.attributes).toMatchObject({
      "http.response.status_code": 502,
      response_flags: "NR",
      upstream_cluster: "BlackHoleCluster",
      "mesh.route_name": "block_all",
      "mesh.response_code_details": "outbound_host_blocked",
    });
    expect(span!.status.code).toBe(2);
  });
});

describe("label cardinality", () => {
  it("lets no client fill the series with hosts of its choosing: 300 blocked hosts are one series", async () => {
    for (let batch = 0; batch < 300; batch += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, index) => egress.fetch("/", { host: `junk-${batch + index}.example.test` }).then((response) => response.arrayBuffer())));
    }
    const metrics = await scrapeUntil(egress, (m) => total(m.get("istio_requests_total"), { destination_service_name: BLACKHOLE_CLUSTER }) >= 300);
    const blocked = metrics.get("istio_requests_total")!.samples.filter((sample) => sample.labels.destination_service_name === BLACKHOLE_CLUSTER);
    expect(new Set(blocked.map((sample) => sample.labels.destination_service))).toEqual(new Set([BLACKHOLE_CLUSTER]));
    expect(metrics.get("istio_requests_total")!.samples.some((sample) => String(sample.labels.destination_service).startsWith("junk-"))).toBe(false);
  });
});
