import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { externalServiceYaml, startTestEgress, waitForLog, type TestEgress } from "../../egress/fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";

/**
 * The egress's audit line and access log, in the real egress worker: an AUDIT policy's match and
 * a dry-run policy's verdict are written in both; the egress's own health and metrics endpoints
 * (polled by a dashboard) get neither line.
 */

let upstream: Upstream;
let egress: TestEgress;

const POLICIES = `
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: audit-partner, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: egressgateway } }
  action: AUDIT
  rules: [{ to: [{ operation: { hosts: [api.partner.test] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: would-deny-delete, namespace: istio-system, annotations: { "istio.io/dry-run": "true" } }
spec:
  action: DENY
  rules: [{ to: [{ operation: { methods: [DELETE] } }] }]
`;

beforeAll(async () => {
  upstream = await startUpstream({ name: "partner" });
  egress = await startTestEgress(externalServiceYaml("partner", "api.partner.test", upstream) + POLICIES);
});

afterAll(async () => {
  await egress?.close();
  await upstream?.close();
});

describe("egress audit and access log", () => {
  it("write the AUDIT policy that matched and the dry-run verdict", async () => {
    const response = await egress.fetch("/orders/7", { method: "DELETE", host: "api.partner.test", headers: { "x-request-id": "egress-audited" } });
    expect(response.status).toBe(200);
    const expected = { authz_audit: "istio-system/audit-partner", authz_dry_run_decision: "deny", authz_dry_run_policy: "istio-system/would-deny-delete" };
    expect(await waitForLog(egress, (line) => line.event === "egress_audit" && line.request_id === "egress-audited")).toMatchObject({ decision: "allowed", ...expected });
    expect(await waitForLog(egress, (line) => line.event === undefined && line.request_id === "egress-audited")).toMatchObject(expected);
  });

  it("write neither line for /__mesh/healthz and /__mesh/metrics, and still one for a call after them", async () => {
    for (const path of ["/__mesh/healthz", "/__mesh/metrics"]) {
      const response = await egress.fetch(path, { headers: { "x-request-id": `own-${path.slice("/__mesh/".length)}` } });
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    await egress.fetch("/after", { host: "api.partner.test", headers: { "x-request-id": "egress-after" } });
    await waitForLog(egress, (line) => line.event === "egress_audit" && line.request_id === "egress-after");
    expect(egress.logs.filter((line) => String(line.request_id).startsWith("own-"))).toEqual([]);
  });
});
