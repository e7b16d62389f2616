import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrustDomainPki, Workload } from "../policies/identity/pki.js";
import { meshConfigYaml, pkiNow, PROXY_SECRET, viaProxy } from "../gateway/security/support.js";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { startTestEgress, waitForLog, type TestEgress, externalServiceYaml } from "./fixture.js";

/**
 * The egress gateway in workerd, with real upstreams on 127.0.0.1 standing in for external hosts
 * (each mapped by its ServiceEntry's endpoint): REGISTRY_ONLY, wildcard hosts, caller identity
 * (XFCC through the trusted front, JWT-SVID), an AuthorizationPolicy selecting the egress gateway,
 * and the audit line of every call.
 */

const EGRESS_ID = "spiffe://acme.test/ns/istio-system/sa/istio-egressgateway-service-account";
const API = "spiffe://acme.test/ns/payments/sa/api";
const REPORTS = "spiffe://acme.test/ns/payments/sa/reports";

let acme: TrustDomainPki;
let api: Workload, reports: Workload;
let stripe: Upstream, wild: Upstream, internal: Upstream, evil: Upstream;
let egress: TestEgress;

const POLICY = `
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: egress-callers, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: egressgateway } }
  action: ALLOW
  rules:
  - from: [{ source: { principals: ["acme.test/ns/payments/sa/api"] } }]
    to: [{ operation: { hosts: [api.stripe.test], methods: [POST], paths: [/v1/charges] } }]
  - to: [{ operation: { hosts: ["*.wild.test"] } }]
`;

beforeAll(async () => {
  [acme, stripe, wild, internal, evil] = await Promise.all([
    pkiNow("acme.test"),
    startUpstream({ name: "stripe" }),
    startUpstream({ name: "wild" }),
    startUpstream({ name: "internal" }),
    startUpstream({ name: "evil" }),
  ]);
  [api, reports] = await Promise.all([acme.workload(API), acme.workload(REPORTS)]);
  const config =
    meshConfigYaml(acme) +
    externalServiceYaml("stripe", "api.stripe.test", stripe) +
    externalServiceYaml("wild", "*.wild.test", wild) +
    externalServiceYaml("internal", "internal.test", internal, "MESH_INTERNAL") +
    POLICY;
  // No MESH_GATEWAY_SPIFFE_ID: the egress's default SPIFFE ID (EGRESS_ID) is the JWT-SVID audience.
  egress = await startTestEgress(config, { bindings: { MESH_PROXY_SECRET: PROXY_SECRET } });
});

afterAll(async () => {
  await Promise.all([egress?.close(), stripe?.close(), wild?.close(), internal?.close(), evil?.close()]);
});

describe("outbound traffic policy (REGISTRY_ONLY by default)", () => {
  it("passes a call for a MESH_EXTERNAL host through to its ServiceEntry's endpoint", async () => {
    const response = await egress.fetch("/v1/charges", { host: "api.stripe.test", method: "POST", body: "amount=1", headers: await viaProxy(api) });
    expect(response.status).toBe(200);
    expect(stripe.requests.at(-1)).toMatchObject({ method: "POST", path: "/v1/charges", body: "amount=1" });
  });

  it("matches `*.` wildcard hosts", async () => {
    const response = await egress.fetch("/x", { host: "eu.wild.test", headers: await viaProxy(reports) });
    expect(response.status).toBe(200);
    expect(wild.requests.at(-1)?.path).toBe("/x");
    expect((await egress.fetch("/x", { host: "wild.test", headers: await viaProxy(reports) })).status).toBe(502);
  });

  it("refuses an undeclared host with 502 NR and never connects to it", async () => {
    const [before, connectionsBefore] = [evil.requests.length, evil.connections()];
    const response = await egress.fetch("/steal", { host: `127.0.0.1:${evil.port}`, headers: await viaProxy(api) });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: "outbound_host_blocked", flags: "NR" });
    const line = await waitForLog(egress, (entry) => entry.response_code_details === "outbound_host_blocked");
    expect(line).toMatchObject({ response_code: 502, response_flags: "NR", upstream_cluster: "BlackHoleCluster", upstream_host: null });
    expect(evil.requests.length).toBe(before);
    expect(evil.connections()).toBe(connectionsBefore);
  });

  it("does not let a MESH_INTERNAL ServiceEntry out", async () => {
    const response = await egress.fetch("/", { host: "internal.test", headers: await viaProxy(api) });
    expect(response.status).toBe(502);
    expect(internal.requests).toHaveLength(0);
  });
});

describe("who may call what (AuthorizationPolicy selecting istio: egressgateway)", () => {
  it("lets payments/api POST /v1/charges and denies payments/reports with 403 RBAC", async () => {
    const before = stripe.requests.length;
    expect((await egress.fetch("/v1/charges", { host: "api.stripe.test", method: "POST", headers: await viaProxy(api) })).status).toBe(200);
    const denied = await egress.fetch("/v1/charges", { host: "api.stripe.test", method: "POST", headers: await viaProxy(reports) });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: "rbac_access_denied", flags: "RBAC" });
    expect(stripe.requests.length).toBe(before + 1);
  });

  it("denies the allowed caller another method or path, and an anonymous caller", async () => {
    expect((await egress.fetch("/v1/charges", { host: "api.stripe.test", headers: await viaProxy(api) })).status).toBe(403);
    expect((await egress.fetch("/v1/refunds", { host: "api.stripe.test", method: "POST", headers: await viaProxy(api) })).status).toBe(403);
    // Anonymous: a peer identity could change the answer, so 401 (with a challenge), flag RBAC.
    const anonymous = await egress.fetch("/v1/charges", { host: "api.stripe.test", method: "POST" });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ flags: "RBAC" });
  });

  it("accepts a JWT-SVID for the egress gateway (its default SPIFFE ID) as the caller's identity, not one for the ingress", async () => {
    const token = await acme.jwtSvid(API, EGRESS_ID);
    const response = await egress.fetch("/v1/charges", { host: "api.stripe.test", method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(stripe.requests.at(-1)?.headers.authorization).toBeUndefined();
    const forIngress = await acme.jwtSvid(API, "spiffe://acme.test/ns/istio-system/sa/istio-ingressgateway-service-account");
    // A JWT-SVID for another audience fails verification: 401, flag UAEX, naming the audience rule.
    const wrongAudience = await egress.fetch("/v1/charges", { host: "api.stripe.test", method: "POST", headers: { authorization: `Bearer ${forIngress}` } });
    expect(wrongAudience.status).toBe(401);
    expect(await wrongAudience.json()).toMatchObject({ flags: "UAEX", error: expect.stringContaining("ERR_JWT_AUDIENCE") });
    const other = await acme.jwtSvid(REPORTS, EGRESS_ID);
    expect((await egress.fetch("/v1/charges", { host: "api.stripe.test", method: "POST", headers: { authorization: `Bearer ${other}` } })).status).toBe(403);
  });

  it("does not take a caller's own identity headers for proof: the call is refused and never reaches the host", async () => {
    const before = stripe.requests.length;
    const response = await egress.fetch("/v1/charges", {
      host: "api.stripe.test",
      method: "POST",
      headers: { "x-forwarded-client-cert": `URI=${API}`, "x-mesh-peer-principal": API, "x-spiffe-id": API },
    });
    expect([401, 403]).toContain(response.status);
    expect(stripe.requests.length).toBe(before);
    // Allowed by its real identity, the same call arrives without the spoofed headers.
    const allowed = await egress.fetch("/v1/charges", { host: "api.stripe.test", method: "POST", headers: await viaProxy(api, { "x-spiffe-id": REPORTS, "x-mesh-peer-principal": REPORTS }) });
    expect(allowed.status).toBe(200);
    for (const name of ["x-forwarded-client-cert", "x-mesh-peer-principal", "x-mesh-peer-authentication", "x-mesh-request-principal", "x-spiffe-id"]) expect(stripe.requests.at(-1)?.headers[name], name).toBeUndefined();
    const audit = await waitForLog(egress, (line) => line.event === "egress_audit" && line.caller === API && line.status === 200);
    expect(audit).toMatchObject({ caller_authentication: "xfcc" });
  });
});

describe("audit", () => {
  it("writes one line per outbound call: caller, destination, method, path, status, bytes, duration, decision", async () => {
    await egress.fetch("/v1/charges?customer=c1", { host: "api.stripe.test", method: "POST", body: "amount=2", headers: await viaProxy(api, { "x-audit-case": "allowed" }) });
    const allowed = await waitForLog(egress, (line) => line.event === "egress_audit" && line.decision === "allowed" && line.path === "/v1/charges?customer=c1");
    expect(allowed).toMatchObject({
      caller: API,
      caller_authentication: "xfcc",
      destination_host: "api.stripe.test",
      method: "POST",
      status: 200,
      bytes_received: 8,
      reason: "via_upstream",
      upstream_cluster: "api.stripe.test||80",
    });
    expect(allowed.bytes_sent).toBeGreaterThan(0);
    expect(typeof allowed.duration_ms).toBe("number");

    await egress.fetch("/v1/charges", { host: "api.stripe.test", method: "POST", headers: await viaProxy(reports) });
    const denied = await waitForLog(egress, (line) => line.event === "egress_audit" && line.decision === "denied" && line.caller === REPORTS);
    expect(denied).toMatchObject({ status: 403, reason: "rbac_access_denied", destination_host: "api.stripe.test" });

    await egress.fetch("/", { host: "blocked.example.test", headers: await viaProxy(api) });
    const blocked = await waitForLog(egress, (line) => line.event === "egress_audit" && line.destination_host === "blocked.example.test");
    expect(blocked).toMatchObject({ decision: "blocked", status: 502, reason: "outbound_host_blocked", caller: API, route: "block_all", upstream_cluster: "BlackHoleCluster" });
  });
});

describe("ALLOW_ANY (MeshConfig outboundTrafficPolicy)", () => {
  it("lets an undeclared host through to the host itself (PassthroughCluster)", async () => {
    const open = await startTestEgress(meshConfigYaml(acme, "  outboundTrafficPolicy: { mode: ALLOW_ANY }"), { bindings: { MESH_PROXY_SECRET: PROXY_SECRET } });
    try {
      const before = evil.requests.length;
      const response = await open.fetch("/anything", { host: `127.0.0.1:${evil.port}` });
      expect(response.status).toBe(200);
      expect(evil.requests.length).toBe(before + 1);
      expect(await waitForLog(open, (line) => line.event === "egress_audit")).toMatchObject({ decision: "allowed", route: "PassthroughCluster", upstream_cluster: `PassthroughCluster|127.0.0.1|${evil.port}` });
    } finally {
      await open.close();
    }
  });
});

describe("audit path", () => {
  it("is the path the egress judged and sent, not the spelling the caller used", async () => {
    const response = await egress.fetch("/v1/%63harges", { host: "api.stripe.test", method: "POST", headers: await viaProxy(api) });
    expect(response.status).toBe(200);
    expect(stripe.requests.at(-1)?.path).toBe("/v1/charges");
    const audit = await waitForLog(egress, (line) => line.event === "egress_audit" && line.status === 200 && line.request_id === stripe.requests.at(-1)?.headers["x-request-id"]);
    expect(audit.path).toBe("/v1/charges");
  });
});
