import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WorkerOptions } from "miniflare";
import { der, type TrustDomainPki } from "../policies/identity/pki.js";
import { meshConfigYaml, pkiNow, policyYaml, PROXY_SECRET } from "../gateway/security/support.js";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { EGRESS_WORKER, startTestEgress, waitForLog, type TestEgress, externalServiceYaml } from "./fixture.js";

/**
 * Mesh workers calling the egress through a Cloudflare service binding whose `props` name their
 * SPIFFE ID: real caller workers in the same workerd as the egress bundle, each with a binding
 * `EGRESS → egress` and its own `props` (as `services = [{ ..., props = { spiffeId } }]` in its
 * wrangler.toml). The egress takes `ctx.props.spiffeId` as the peer identity; HTTP callers have
 * no props and cannot claim one with headers.
 */

const API = "spiffe://acme.test/ns/payments/sa/api";
const REPORTS = "spiffe://acme.test/ns/payments/sa/reports";

/**
 * A mesh service making an outbound call through its EGRESS binding, `env.EGRESS.fetch("http://api.stripe.test/...")`,
 * to the URL the test names in `x-call-url` (Miniflare's dispatch rewrites the URL a test sends to a worker),
 * with the Host header named in `x-call-host`, if any.
 */
const CALLER_SCRIPT = `export default {
  fetch(request, env) {
    const headers = new Headers(request.headers);
    headers.delete("x-call-url");
    headers.delete("x-call-host");
    headers.delete("host");
    if (request.headers.has("x-call-host")) headers.set("host", request.headers.get("x-call-host"));
    return env.EGRESS.fetch(request.headers.get("x-call-url"), { method: request.method, headers, body: request.body });
  },
};`;

/** A caller that also forges `request.cf.tlsClientAuth` (a victim's public certificate, no key) on what it sends. */
const FORGING_CALLER_SCRIPT = `export default {
  fetch(request, env) {
    const cf = { tlsClientAuth: JSON.parse(request.headers.get("x-forge")) };
    return env.EGRESS.fetch(request.headers.get("x-call-url"), { method: request.method, cf });
  },
};`;

function forgingCaller(name: string, props?: Record<string, unknown>): WorkerOptions {
  return { ...caller(name, props), script: FORGING_CALLER_SCRIPT };
}

/** `url` called by the worker `worker` through its service binding to the egress. */
function callThrough(worker: string, url: string, init: RequestInit = {}): Promise<Response> {
  return egress.fetchWorker(worker, "http://caller.internal/", { ...init, headers: { ...(init.headers as Record<string, string> | undefined), "x-call-url": url } });
}

function caller(name: string, props?: Record<string, unknown>): WorkerOptions {
  return {
    name,
    modules: true,
    script: CALLER_SCRIPT,
    compatibilityDate: "2026-04-01",
    serviceBindings: { EGRESS: props ? { name: EGRESS_WORKER, props } : EGRESS_WORKER },
  };
}

let acme: TrustDomainPki;
let stripe: Upstream, open: Upstream;
let egress: TestEgress;

beforeAll(async () => {
  [acme, stripe, open] = await Promise.all([pkiNow("acme.test"), startUpstream({ name: "stripe" }), startUpstream({ name: "open" })]);
  const config =
    meshConfigYaml(acme) +
    externalServiceYaml("stripe", "api.stripe.test", stripe) +
    externalServiceYaml("open", "open.test", open) +
    policyYaml(
      "AuthorizationPolicy",
      "istio-system",
      "egress-callers",
      `  selector: { matchLabels: { istio: egressgateway } }
  action: ALLOW
  rules:
  - from: [{ source: { principals: ["acme.test/ns/payments/sa/api"] } }]
    to: [{ operation: { hosts: [api.stripe.test], methods: [POST], paths: [/v1/charges] } }]
  - to: [{ operation: { hosts: [open.test, routed.test] } }]`,
    ) +
    `
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: egress, namespace: istio-system }
spec:
  selector: { istio: egressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: [routed.test] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: routed, namespace: istio-system }
spec:
  hosts: [routed.test]
  gateways: [egress]
  http: [{ route: [{ destination: { host: open.test } }] }]
`;
  egress = await startTestEgress(config, {
    bindings: { MESH_PROXY_SECRET: PROXY_SECRET },
    workers: [
      caller("payments-api", { spiffeId: API }),
      caller("payments-reports", { spiffeId: REPORTS }),
      caller("misconfigured", { spiffeId: "spiffe://ACME.test/ns/payments/sa/api" }),
      caller("not-a-string", { spiffeId: 42 }),
      caller("other-props", { team: "payments" }),
      caller("no-props"),
      forgingCaller("forger-with-props", { spiffeId: REPORTS }),
      forgingCaller("forger-without-props"),
    ],
  });
});

afterAll(async () => {
  await Promise.all([egress?.close(), stripe?.close(), open?.close()]);
});

describe("ctx.props.spiffeId is the caller's identity", () => {
  it("lets the binding's identity through the AuthorizationPolicy and names it in the access log and the audit", async () => {
    const response = await callThrough("payments-api", "http://api.stripe.test/v1/charges", { method: "POST", body: "amount=1", headers: { "x-case": "props-allowed" } });
    expect(response.status).toBe(200);
    const received = stripe.requests.at(-1)!;
    expect(received).toMatchObject({ method: "POST", path: "/v1/charges", body: "amount=1" });
    // An external host learns nothing of the caller's mesh identity; the egress's own logs do.
    for (const name of ["x-forwarded-client-cert", "x-mesh-peer-principal", "x-mesh-peer-authentication", "x-mesh-request-principal", "x-spiffe-id"]) expect(received.headers[name], name).toBeUndefined();
    const access = await waitForLog(egress, (line) => line.request_id === received.headers["x-request-id"] && line.event !== "egress_audit" && "peer_principal" in line);
    expect(access).toMatchObject({ peer_principal: API, peer_authentication: "service-binding", authz_decision: "allow" });
    const audit = await waitForLog(egress, (line) => line.event === "egress_audit" && line.request_id === received.headers["x-request-id"]);
    expect(audit).toMatchObject({ caller: API, caller_authentication: "service-binding", decision: "allowed", destination_host: "api.stripe.test", status: 200 });
  });

  it("denies another binding identity with 403 RBAC, before anything connects", async () => {
    const before = stripe.requests.length;
    const response = await callThrough("payments-reports", "http://api.stripe.test/v1/charges", { method: "POST" });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: "rbac_access_denied", flags: "RBAC" });
    expect(stripe.requests.length).toBe(before);
    await waitForLog(egress, (line) => line.event === "egress_audit" && line.caller === REPORTS && line.decision === "denied");
  });

  it("treats a binding without a spiffeId in its props as anonymous", async () => {
    for (const worker of ["no-props", "other-props"]) {
      const response = await callThrough(worker, "http://api.stripe.test/v1/charges", { method: "POST" });
      expect(response.status, worker).toBe(401);
      const echo = (await (await callThrough(worker, "http://open.test/x")).json()) as { headers: Record<string, string> };
      expect(echo.headers["x-mesh-peer-principal"], worker).toBeUndefined();
    }
  });

  it("refuses props whose spiffeId is not a SPIFFE ID, naming ctx.props.spiffeId", async () => {
    const before = open.requests.length;
    for (const [worker, code] of [
      ["misconfigured", "ERR_SPIFFE_ID_TRUST_DOMAIN_CHARS"],
      ["not-a-string", "ERR_PROPS_SCHEMA"],
    ] as const) {
      // open.test is open to anyone: the refusal is about the props, not the policy.
      const response = await callThrough(worker, "http://open.test/x");
      expect(response.status, worker).toBe(403);
      const body = (await response.json()) as { error: string; message: string; flags: string };
      expect(body.flags).toBe("UAEX");
      expect(body.error).toMatch(/^peer_authentication_failed\{ERR_/);
      if (code === "ERR_PROPS_SCHEMA") expect(body.error).toBe(`peer_authentication_failed{${code}}`);
      expect(body.message).toContain("ctx.props.spiffeId");
    }
    expect(open.requests.length).toBe(before);
  });

  it("satisfies a STRICT PeerAuthentication, as a verified X.509-SVID does", async () => {
    const strict = await startTestEgress(
      meshConfigYaml(acme) +
        externalServiceYaml("open", "open.test", open) +
        policyYaml("PeerAuthentication", "external", "strict", "  mtls: { mode: STRICT }"),
      { workers: [caller("payments-api", { spiffeId: API })] },
    );
    try {
      expect((await strict.fetchWorker("payments-api", "http://caller.internal/", { headers: { "x-call-url": "http://open.test/strict" } })).status).toBe(200);
      const refused = await strict.fetch("/strict", { host: "open.test" });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ error: "peer_authentication_required", flags: "UAEX" });
    } finally {
      await strict.close();
    }
  });
});

it("sends a binding call to the URL it fetched, whatever Host header came with it", async () => {
  const before = stripe.requests.length;
  const response = await callThrough("payments-reports", "http://open.test/url-wins", { headers: { "x-call-host": "api.stripe.test" } });
  expect(response.status).toBe(200);
  expect(open.requests.at(-1)?.path).toBe("/url-wins");
  expect(stripe.requests.length).toBe(before);
});

describe("HTTP callers cannot claim an identity", () => {
  it("ignores identity headers on a call over HTTP: no props, so anonymous, and denied", async () => {
    const before = stripe.requests.length;
    const response = await egress.fetch("/v1/charges", {
      host: "api.stripe.test",
      method: "POST",
      headers: { "x-spiffe-id": API, "x-mesh-peer-principal": API, "x-mesh-peer-authentication": "service-binding", "x-forwarded-client-cert": `URI=${API}`, props: JSON.stringify({ spiffeId: API }) },
    });
    // 401: the policy wants a principal and the call has none.
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: "rbac_access_denied_missing_credential", flags: "RBAC" });
    expect(stripe.requests.length).toBe(before);
  });

  it("never lets spoofed identity headers reach the external upstream, over HTTP or through a binding", async () => {
    const spoofed = {
      "x-forwarded-client-cert": `By=spiffe://acme.test/x;URI=${REPORTS}`,
      "x-spiffe-id": REPORTS,
      "x-mesh-peer-principal": REPORTS,
      "x-mesh-peer-authentication": "mtls",
      "x-mesh-request-principal": "https://idp.test/admin",
      "client-cert": ":AAAA:",
      "client-cert-chain": ":AAAA:",
    };
    const overHttp = await egress.fetch("/http", { host: "open.test", headers: spoofed });
    expect(overHttp.status).toBe(200);
    const anonymous = open.requests.at(-1)!;
    expect(anonymous.path).toBe("/http");
    for (const name of Object.keys(spoofed)) expect(anonymous.headers[name], name).toBeUndefined();

    const throughBinding = await callThrough("payments-api", "http://open.test/binding", { headers: spoofed });
    expect(throughBinding.status).toBe(200);
    const received = open.requests.at(-1)!;
    expect(received.path).toBe("/binding");
    for (const name of [...["x-forwarded-client-cert", "x-mesh-peer-principal", "x-mesh-peer-authentication", "x-mesh-request-principal", "x-spiffe-id"], "client-cert", "client-cert-chain"]) expect(received.headers[name], name).toBeUndefined();
    const audit = await waitForLog(egress, (line) => line.event === "egress_audit" && line.path === "/binding");
    expect(audit).toMatchObject({ caller: API, caller_authentication: "service-binding" });
  });
});

describe("a binding caller cannot claim a certificate through request.cf", () => {
  it("is its props identity (or anonymous), whatever tlsClientAuth it sets: no victim's certificate is believed", async () => {
    const victim = await acme.workload(API);
    const sf = (bytes: Uint8Array) => `:${Buffer.from(bytes).toString("base64")}:`;
    const forged = JSON.stringify({ certPresented: "1", certVerified: "SUCCESS", certRevoked: "0", certRFC9440: sf(der(victim.leaf)), certChainRFC9440: sf(der(victim.chain[1]!)) });
    const before = stripe.requests.length;
    for (const worker of ["forger-with-props", "forger-without-props"]) {
      const response = await egress.fetchWorker(worker, "http://caller.internal/v1/charges", { method: "POST", headers: { "x-call-url": "http://api.stripe.test/v1/charges", "x-forge": forged } });
      expect([401, 403], worker).toContain(response.status);
    }
    expect(stripe.requests.length).toBe(before);
  });
});

describe("an https call through a binding", () => {
  it("is never downgraded to plain HTTP: a host declared without a TLS port refuses it, and nothing is sent", async () => {
    const before = open.requests.length;
    const response = await callThrough("payments-api", "https://open.test/secret");
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: "outbound_tls_unavailable", flags: "NR", message: expect.stringContaining("not downgraded to plain HTTP") });
    expect(open.requests.length).toBe(before);
    // The same call over http goes through.
    expect((await callThrough("payments-api", "http://open.test/fine")).status).toBe(200);
    // A VirtualService at the egress that sends it to a plain-HTTP destination does not downgrade it either.
    const routedBefore = open.requests.length;
    const routed = await callThrough("payments-api", "https://routed.test/secret");
    expect(routed.status).toBe(502);
    expect(await routed.json()).toMatchObject({ error: "outbound_tls_unavailable", flags: "NR" });
    expect(open.requests.length).toBe(routedBefore);
    expect((await callThrough("payments-api", "http://routed.test/fine")).status).toBe(200);
  });
});
