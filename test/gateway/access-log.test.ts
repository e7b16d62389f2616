import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { gatewayYaml, serviceYaml, virtualServiceYaml } from "./mesh-config.js";

/** The access log: one JSON line per request with Envoy's fields and the mesh's decisions. */

let upstream: Upstream;

/** An AUDIT policy on /audited/*, and a dry-run DENY on /audited/secret: recorded, never enforced. */
const AUDIT_POLICIES = `
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: audit-orders, namespace: istio-system }
spec:
  action: AUDIT
  rules: [{ to: [{ operation: { paths: ["/audited/*"] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: would-deny, namespace: istio-system, annotations: { "istio.io/dry-run": "true" } }
spec:
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/audited/secret"] } }] }]
`;
let gateway: TestGateway;

beforeAll(async () => {
  upstream = await startUpstream({ name: "app" });
  gateway = await startTestGateway(
    gatewayYaml() +
      serviceYaml("app.internal", [upstream]) +
      virtualServiceYaml(
        "app",
        ["app.test"],
        `- name: retried
  retries: { attempts: 2, retryOn: 5xx }
  route: [{ destination: { host: app.internal, subset: v1 } }]`,
      ) +
      AUDIT_POLICIES,
    { captureLogs: true },
  );
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

async function logLineFor(requestId: string): Promise<Record<string, unknown>> {
  for (let wait = 0; wait < 50; wait++) {
    const line = gateway.logs.find((entry) => entry.request_id === requestId);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no access log line for ${requestId}; got ${JSON.stringify(gateway.logs)}`);
}

describe("access log", () => {
  it("writes one line with the route, upstream, attempts and flags", async () => {
    upstream.failTimes(1, 500);
    const response = await gateway.fetch("/orders?id=1", {
      host: "app.test",
      headers: { "x-request-id": "log-1", "user-agent": "curl/8", authorization: "Bearer secret-token" },
    });
    expect(response.status).toBe(200);
    const received = await response.text();
    const line = await logLineFor("log-1");
    expect(line.bytes_sent).toBe(new TextEncoder().encode(received).byteLength);
    expect(line).toMatchObject({
      method: "GET",
      path: "/orders?id=1",
      protocol: "HTTP/1.1",
      response_code: 200,
      response_flags: "-",
      authority: "app.test",
      user_agent: "curl/8",
      route_name: "retried",
      upstream_cluster: "app.internal|v1|80",
      upstream_host: `127.0.0.1:${upstream.port}`,
      attempts: 2,
      config_version: gateway.snapshot!.version,
    });
    expect(line.start_time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(typeof line.duration).toBe("number");
    expect(JSON.stringify(gateway.logs)).not.toContain("secret-token");
  });

  it("records the AUDIT policies that matched and what a dry-run policy would have decided", async () => {
    const audited = await gateway.fetch("/audited/secret", { host: "app.test", headers: { "x-request-id": "log-audit" } });
    expect(audited.status).toBe(200);
    expect(await logLineFor("log-audit")).toMatchObject({
      authz_decision: "allow",
      authz_audit: "istio-system/audit-orders",
      authz_dry_run_decision: "deny",
      authz_dry_run_policy: "istio-system/would-deny",
    });
    await gateway.fetch("/plain", { host: "app.test", headers: { "x-request-id": "log-plain" } });
    expect(await logLineFor("log-plain")).toMatchObject({ authz_audit: null, authz_dry_run_decision: "allow", authz_dry_run_policy: null });
  });

  it("writes no line for the gateway's own health and metrics endpoints", async () => {
    for (const path of ["/__mesh/healthz", "/__mesh/metrics"]) {
      const response = await gateway.fetch(path, { headers: { "x-request-id": `log-own-${path.slice("/__mesh/".length)}` } });
      expect(response.status).toBe(200);
    }
    // Another gateway endpoint (a 404) is still logged, and written after the two above.
    await gateway.fetch("/__mesh/nothing-here", { headers: { "x-request-id": "log-own-404" } });
    expect(await logLineFor("log-own-404")).toMatchObject({ response_code: 404, response_code_details: "mesh_endpoint" });
    expect(gateway.logs.filter((entry) => String(entry.request_id).startsWith("log-own-") && entry.request_id !== "log-own-404")).toEqual([]);
  });

  it("records the flag and detail of a refused request", async () => {
    await gateway.fetch("/", { host: "unknown.example", headers: { "x-request-id": "log-2" } });
    expect(await logLineFor("log-2")).toMatchObject({ response_code: 404, response_flags: "NR", response_code_details: "no_gateway_for_host", upstream_host: null });
  });
});
