import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ISTIO_DEFAULT_BUCKETS } from "../../../policies/telemetry/istio-metrics.js";
import { startTestGateway, type TestGateway } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";
import { gatewayYaml, serviceYaml, virtualServiceYaml } from "../mesh-config.js";
import { only, parseExposition, total, type Family } from "../../policies/telemetry/prometheus-parser.js";

/**
 * Istio's standard metrics at `/__mesh/metrics`, read with a real Prometheus text parser after
 * known traffic: a plain request, a retried one, one that exhausts its retries, a fault abort and
 * a request with no route. The gateway reports as Istio's ingress gateway (`reporter="source"`)
 * and, for each answer an upstream gave, as that upstream's missing sidecar would
 * (`reporter="destination"`).
 */

let app: Upstream;
let flaky: Upstream;
let gateway: TestGateway;

beforeAll(async () => {
  [app, flaky] = await Promise.all([startUpstream({ name: "app", version: "v1" }), startUpstream({ name: "flaky", version: "v2" })]);
  gateway = await startTestGateway(
    gatewayYaml() +
      serviceYaml("app.internal", [app]) +
      serviceYaml("flaky.internal", [flaky]) +
      externalServiceYaml("partner.example", app) +
      virtualServiceYaml(
        "shop",
        ["shop.test"],
        `- name: abort
  match: [{ uri: { prefix: /abort } }]
  fault: { abort: { httpStatus: 503 } }
  route: [{ destination: { host: app.internal, subset: v1 } }]
- name: retried
  match: [{ uri: { prefix: /flaky } }]
  retries: { attempts: 2, retryOn: 5xx }
  route: [{ destination: { host: flaky.internal, subset: v2 } }]
- name: partner
  match: [{ uri: { prefix: /partner } }]
  route: [{ destination: { host: partner.example } }]
- name: orders
  route: [{ destination: { host: app.internal, subset: v1 } }]`,
      ),
  );
});

/** An external API (a MESH_EXTERNAL ServiceEntry), stood in for by an upstream on 127.0.0.1. */
function externalServiceYaml(host: string, upstream: Upstream): string {
  return `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: partner, namespace: partners }
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${upstream.port} } }]
`;
}

afterAll(async () => {
  await gateway?.close();
  await Promise.all([app?.close(), flaky?.close()]);
});

async function scrape(): Promise<Map<string, Family>> {
  const response = await gateway.fetch("/__mesh/metrics");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(await response.text());
}

/** Scrapes until `ready` holds: a response whose size is counted as it streams is recorded when it ends. */
async function scrapeUntil(ready: (metrics: Map<string, Family>) => boolean): Promise<Map<string, Family>> {
  for (let attempt = 0; ; attempt++) {
    const metrics = await scrape();
    if (ready(metrics) || attempt === 50) return metrics;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const source = { reporter: "source" };

describe("Istio standard metrics at /__mesh/metrics", () => {
  it("counts a routed request with Istio's labels and sizes, once per reporter", async () => {
    const body = JSON.stringify({ item: "book", quantity: 2 });
    const response = await gateway.fetch("/orders", { method: "POST", host: "shop.test", body, headers: { "content-type": "application/json" } });
    expect(response.status).toBe(200);
    const responseBody = await response.text();

    const metrics = await scrape();
    const requests = metrics.get("istio_requests_total")!;
    expect(requests.type).toBe("counter");
    const ours = only(requests.samples, { ...source, destination_service: "app.internal", response_code: "200" });
    expect(ours.value).toBe(1);
    expect(ours.labels).toMatchObject({
      source_workload: "istio-ingressgateway",
      source_workload_namespace: "istio-system",
      source_principal: "unknown",
      source_cluster: "edge",
      destination_service: "app.internal",
      destination_service_name: "app.internal",
      destination_service_namespace: "mesh",
      destination_version: "v1",
      destination_cluster: "edge",
      request_protocol: "http",
      response_flags: "-",
      connection_security_policy: "unknown",
      grpc_response_status: "",
    });
    const theirs = only(requests.samples, { reporter: "destination", destination_service: "app.internal", response_code: "200" });
    expect(theirs.value).toBe(1);
    expect(theirs.labels).toMatchObject({ source_workload: "istio-ingressgateway", connection_security_policy: "none", destination_version: "v1", destination_workload_namespace: "mesh" });

    const requestBytes = only(metrics.get("istio_request_bytes")!.histograms, { ...source, destination_service: "app.internal", response_code: "200" });
    expect(requestBytes.sum).toBe(body.length);
    const responseBytes = only(metrics.get("istio_response_bytes")!.histograms, { ...source, destination_service: "app.internal", response_code: "200" });
    expect(responseBytes.sum).toBe(new TextEncoder().encode(responseBody).byteLength);

    const duration = only(metrics.get("istio_request_duration_milliseconds")!.histograms, { ...source, destination_service: "app.internal", response_code: "200" });
    expect([...duration.buckets.keys()]).toEqual([...ISTIO_DEFAULT_BUCKETS.map(String), "+Inf"]);
    expect(duration.count).toBe(1);
    expect(duration.buckets.get("+Inf")).toBe(1);
    expect(duration.buckets.get("3600000")).toBe(1);
  });

  it("shows a retry: one request for the gateway, two answers at the destination", async () => {
    flaky.failTimes(1, 500);
    expect((await gateway.fetch("/flaky", { host: "shop.test" })).status).toBe(200);
    const metrics = await scrape();
    const requests = metrics.get("istio_requests_total")!;
    expect(total(requests, { ...source, destination_service: "flaky.internal" })).toBe(1);
    expect(only(requests.samples, { ...source, destination_service: "flaky.internal" }).labels).toMatchObject({ response_code: "200", response_flags: "-", destination_version: "v2" });
    expect(only(requests.samples, { reporter: "destination", destination_service: "flaky.internal", response_code: "500" }).value).toBe(1);
    expect(only(requests.samples, { reporter: "destination", destination_service: "flaky.internal", response_code: "200" }).value).toBe(1);
  });

  it("labels retries that ran out with URX and the last answer", async () => {
    flaky.failTimes(3, 503);
    expect((await gateway.fetch("/flaky/exhausted", { host: "shop.test" })).status).toBe(503);
    const metrics = await scrapeUntil((m) => total(m.get("istio_requests_total"), { response_flags: "URX" }) > 0);
    const failed = only(metrics.get("istio_requests_total")!.samples, { ...source, destination_service: "flaky.internal", response_code: "503" });
    expect(failed.labels.response_flags).toBe("URX");
    expect(failed.value).toBe(1);
    expect(only(metrics.get("istio_requests_total")!.samples, { reporter: "destination", destination_service: "flaky.internal", response_code: "503" }).value).toBe(3);
  });

  it("reports a route to a MESH_EXTERNAL ServiceEntry from the source side only: an external API has no sidecar", async () => {
    expect((await gateway.fetch("/partner/quote", { host: "shop.test" })).status).toBe(200);
    const metrics = await scrapeUntil((m) => total(m.get("istio_requests_total"), { destination_service: "partner.example" }) > 0);
    const requests = metrics.get("istio_requests_total")!;
    expect(only(requests.samples, { destination_service: "partner.example" }).labels).toMatchObject({
      reporter: "source",
      source_workload: "istio-ingressgateway",
      destination_service: "partner.example",
      destination_service_name: "partner.example",
      destination_service_namespace: "partners",
      response_code: "200",
      response_flags: "-",
    });
    expect(total(requests, { reporter: "destination", destination_service: "partner.example" })).toBe(0);
    // The same upstream behind a MESH_INTERNAL service is still reported for by its missing sidecar.
    expect(total(requests, { reporter: "destination", destination_service: "app.internal" })).toBeGreaterThan(0);
  });

  it("records a fault abort against the route's service with FI, and nothing at the destination", async () => {
    expect((await gateway.fetch("/abort", { host: "shop.test" })).status).toBe(503);
    const metrics = await scrapeUntil((m) => total(m.get("istio_requests_total"), { response_flags: "FI" }) > 0);
    const aborted = only(metrics.get("istio_requests_total")!.samples, { response_flags: "FI" });
    expect(aborted.labels).toMatchObject({ reporter: "source", response_code: "503", destination_service: "app.internal", destination_version: "v1" });
    expect(total(metrics.get("istio_requests_total"), { reporter: "destination", response_code: "503", destination_service: "app.internal" })).toBe(0);
    const sizes = only(metrics.get("istio_response_bytes")!.histograms, { response_flags: "FI" });
    expect(sizes.sum).toBeGreaterThan(0);
  });

  it("records a request with no route as NR to an unknown destination", async () => {
    expect((await gateway.fetch("/", { host: "nowhere.example" })).status).toBe(404);
    const metrics = await scrapeUntil((m) => total(m.get("istio_requests_total"), { response_flags: "NR" }) > 0);
    expect(only(metrics.get("istio_requests_total")!.samples, { response_flags: "NR" }).labels).toMatchObject({
      reporter: "source",
      response_code: "404",
      destination_service: "unknown",
      destination_service_name: "unknown",
      destination_version: "unknown",
    });
  });

  it("counts requests per route in mesh_route_* series, not as a label on istio_*", async () => {
    expect((await gateway.fetch("/orders/per-route", { host: "shop.test" })).status).toBe(200);
    expect((await gateway.fetch("/abort/per-route", { host: "shop.test" })).status).toBe(503);
    expect((await gateway.fetch("/", { host: "nowhere.example" })).status).toBe(404);
    const metrics = await scrapeUntil((m) => total(m.get("mesh_route_requests_total"), { route_name: "abort" }) > 0 && total(m.get("mesh_route_requests_total"), { route_name: "unknown" }) > 0);
    const requests = metrics.get("mesh_route_requests_total")!;
    expect(requests.type).toBe("counter");
    // Every request the gateway answered is counted once under its route; the earlier tests' too.
    expect(total(requests)).toBe(total(metrics.get("istio_requests_total"), source));
    expect(total(requests, { route_name: "orders", response_code: "200", response_flags: "-" })).toBeGreaterThanOrEqual(1);
    expect(only(requests.samples, { route_name: "abort", response_code: "503" }).labels).toEqual({ route_name: "abort", response_code: "503", response_flags: "FI" });
    expect(only(requests.samples, { route_name: "unknown" }).labels).toEqual({ route_name: "unknown", response_code: "404", response_flags: "NR" });
    expect(total(requests, { route_name: "retried", response_code: "503", response_flags: "URX" })).toBe(1);

    const duration = metrics.get("mesh_route_request_duration_milliseconds")!;
    expect(duration.type).toBe("histogram");
    const abort = only(duration.histograms, { route_name: "abort" });
    expect([...abort.buckets.keys()]).toEqual([...ISTIO_DEFAULT_BUCKETS.map(String), "+Inf"]);
    expect(abort.count).toBe(total(requests, { route_name: "abort" }));
    expect(total(duration)).toBe(total(requests));
    // The route is not a label of Istio's metrics.
    expect(metrics.get("istio_requests_total")!.samples.every((sample) => !("route_name" in sample.labels))).toBe(true);
  });

  it("does not count its own endpoints, and serves the config version and age", async () => {
    const before = total((await scrape()).get("istio_requests_total"));
    await gateway.fetch("/__mesh/healthz");
    const metrics = await scrape();
    expect(total(metrics.get("istio_requests_total"))).toBe(before);
    expect(metrics.get("mesh_config_version_info")!.samples).toEqual([{ labels: { version: gateway.snapshot!.version }, value: 1 }]);
    const age = metrics.get("mesh_config_age_seconds")!;
    expect(age.type).toBe("gauge");
    expect(age.samples[0]!.value).toBeGreaterThanOrEqual(0);
    expect(age.samples[0]!.value).toBeLessThan(60);
    expect(metrics.get("process_start_time_seconds")!.samples[0]!.value).toBeGreaterThan(1.6e9);
  });

  it("keeps mesh_config_age_seconds near 0 on an idle gateway whose store answers: a scrape follows the store too", async () => {
    const idle = await startTestGateway(gatewayYaml(), { bindings: { MESH_CONFIG_TTL_MS: "100" } });
    try {
      await idle.fetch("/__mesh/healthz");
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const text = await (await idle.fetch("/__mesh/metrics")).text();
      expect(only(parseExposition(text).get("mesh_config_age_seconds")!.samples, {}).value).toBeLessThan(0.5);
    } finally {
      await idle.close();
    }
  });
});

describe("metrics token", () => {
  it("refuses a scrape without the bearer token when MESH_METRICS_TOKEN is set", async () => {
    const guarded = await startTestGateway(gatewayYaml(), { bindings: { MESH_METRICS_TOKEN: "s3cret-scrape-token" } });
    try {
      const anonymous = await guarded.fetch("/__mesh/metrics");
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect((await guarded.fetch("/__mesh/metrics", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      const allowed = await guarded.fetch("/__mesh/metrics", { headers: { authorization: "Bearer s3cret-scrape-token" } });
      expect(allowed.status).toBe(200);
      expect(parseExposition(await allowed.text()).has("istio_requests_total")).toBe(true);
    } finally {
      await guarded.close();
    }
  });
});
