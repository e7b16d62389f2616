import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";
import { gatewayYaml, virtualServiceYaml } from "../mesh-config.js";
import { only, parseExposition, total, type Family } from "../../policies/telemetry/prometheus-parser.js";

/**
 * A denial by a real AuthorizationPolicy (the gateway bundle in workerd, its authorization
 * stage, a real upstream on 127.0.0.1) shows in Istio's metrics as a 403 with
 * `response_flags="RBAC"` to the route's service, from the gateway's side only (the upstream
 * never saw it), and in `mesh_authz_decisions_total` under the policy that denied it.
 */

let payments: Upstream;
let gateway: TestGateway;

function config(upstream: Upstream): string {
  return `${gatewayYaml()}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: payments, namespace: shop }
spec:
  hosts: [payments.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${upstream.port} } }]
${virtualServiceYaml("payments", ["pay.test"], `- name: pay\n  route: [{ destination: { host: payments.internal } }]`)}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-mallory, namespace: shop }
spec:
  action: DENY
  rules:
  - when: [{ key: "request.headers[x-caller]", values: [mallory] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: audit-refunds, namespace: shop }
spec:
  action: AUDIT
  rules:
  - to: [{ operation: { paths: ["/refund*"] } }]
`;
}

beforeAll(async () => {
  payments = await startUpstream({ name: "payments" });
  gateway = await startTestGateway(config(payments));
});

afterAll(async () => {
  await gateway?.close();
  await payments?.close();
});

/** Scrapes until `ready` holds: a report is recorded once the response body has been sent. */
async function scrapeUntil(ready: (metrics: Map<string, Family>) => boolean): Promise<Map<string, Family>> {
  for (let attempt = 0; ; attempt++) {
    const response = await gateway.fetch("/__mesh/metrics");
    expect(response.status).toBe(200);
    const metrics = parseExposition(await response.text());
    if (ready(metrics) || attempt === 50) return metrics;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("a denial in the metrics", () => {
  it("is a 403 with RBAC to the route's service, nothing at the destination, and a deny in the decision counter", async () => {
    const denied = await gateway.fetch("/charge", { host: "pay.test", headers: { "x-caller": "mallory" } });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: "rbac_access_denied", flags: "RBAC" });
    expect(payments.requests).toHaveLength(0);

    const metrics = await scrapeUntil((m) => total(m.get("istio_requests_total"), { response_flags: "RBAC" }) > 0);
    const requests = metrics.get("istio_requests_total")!;
    const report = only(requests.samples, { response_flags: "RBAC" });
    expect(report.value).toBe(1);
    expect(report.labels).toMatchObject({
      reporter: "source",
      source_workload: "istio-ingressgateway",
      response_code: "403",
      response_flags: "RBAC",
      destination_service: "payments.internal",
      destination_service_name: "payments.internal",
      destination_service_namespace: "shop",
    });
    expect(requests.samples.filter((sample) => sample.labels.reporter === "destination")).toEqual([]);
    expect(metrics.get("mesh_authz_decisions_total")!.samples).toEqual([{ labels: { decision: "deny", policy: "shop/deny-mallory" }, value: 1 }]);
    expect(only(metrics.get("mesh_route_requests_total")!.samples, { response_flags: "RBAC" }).labels).toEqual({ route_name: "pay", response_code: "403", response_flags: "RBAC" });
  });

  it("counts an allowed caller (an audited request too) as an allow, with no flag, reported at both sides", async () => {
    expect((await gateway.fetch("/charge", { host: "pay.test", headers: { "x-caller": "alice" } })).status).toBe(200);
    expect((await gateway.fetch("/refund/7", { host: "pay.test", headers: { "x-caller": "alice" } })).status).toBe(200);
    expect(payments.requests.map((request) => request.path)).toEqual(["/charge", "/refund/7"]);

    const metrics = await scrapeUntil((m) => total(m.get("istio_requests_total"), { reporter: "source", response_code: "200" }) >= 2);
    const requests = metrics.get("istio_requests_total")!;
    expect(only(requests.samples, { reporter: "source", response_code: "200" })).toMatchObject({ value: 2, labels: { response_flags: "-", destination_service: "payments.internal" } });
    expect(only(requests.samples, { reporter: "destination", response_code: "200" }).value).toBe(2);
    // AUDIT never changes the decision: both went through under `allow`, decided by no policy.
    expect(only(metrics.get("mesh_authz_decisions_total")!.samples, { decision: "allow" })).toEqual({ labels: { decision: "allow", policy: "none" }, value: 2 });
    expect(total(metrics.get("mesh_authz_decisions_total"), { decision: "deny" })).toBe(1);
  });
});
