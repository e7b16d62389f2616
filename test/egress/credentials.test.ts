import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jwtSvidAuthority, spiffeBundleDocument } from "../../policies/identity/issue.js";
import { jwtSvidKeyId } from "../../policies/identity/jwt-svid-key.js";
import { privateKeyPem, type TrustDomainPki, type Workload } from "../policies/identity/pki.js";
import { meshConfigYaml, pkiNow, PROXY_SECRET, viaProxy } from "../gateway/security/support.js";
import { compileConfig } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { startTestEgress, waitForLog, type TestEgress, externalServiceYaml } from "./fixture.js";

/**
 * EgressCredential at the egress in workerd: a Workers secret (a binding of the egress) injected
 * into calls to one external host, never shown to the caller or in any log line, and a
 * JWT-SVID minted for the caller with the external host as audience, verified here with jose
 * against the mesh's JWT bundle. Upstreams on 127.0.0.1 stand in for the external APIs.
 */

const API = "spiffe://acme.test/ns/payments/sa/api";
const SECRET = `sk-test-${crypto.randomUUID()}`;

let acme: TrustDomainPki, other: TrustDomainPki;
let api: Workload, stranger: Workload;
let openai: Upstream, plain: Upstream, vault: Upstream;
let egress: TestEgress, keyless: TestEgress;
let jwks: ReturnType<typeof createLocalJWKSet>;

/** A verifier's key set from a SPIFFE bundle's JWT-SVID keys (jose only picks keys without `use` or with `use: sig`). */
async function keySetOf(publicKey: CryptoKey, kid: string): Promise<ReturnType<typeof createLocalJWKSet>> {
  const bundle = await spiffeBundleDocument({ jwtAuthorities: [await jwtSvidAuthority(publicKey, kid)] });
  return createLocalJWKSet({ keys: bundle.keys.map(({ use: _use, ...key }) => key) });
}

function configYaml(): string {
  return (
    meshConfigYaml(acme, `  - trustDomain: other.test\n    spiffeBundle: ${JSON.stringify(other.bundleDocument)}`) +
    externalServiceYaml("openai", "api.openai.test", openai) +
    externalServiceYaml("plain", "api.plain.test", plain) +
    externalServiceYaml("vault", "*.example.test", vault) +
    `
---
apiVersion: mesh.istio.io/v1alpha1
kind: EgressCredential
metadata: { name: openai, namespace: istio-system }
spec:
  hosts: [api.openai.test]
  inject: { secretName: OPENAI_API_KEY, prefix: "Bearer " }
  workloadIdentity: { header: x-jwt-svid }
---
apiVersion: mesh.istio.io/v1alpha1
kind: EgressCredential
metadata: { name: vault, namespace: istio-system }
spec:
  hosts: ["*.example.test"]
  inject: { header: x-vault-token, secretName: VAULT_TOKEN }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: egress, namespace: istio-system }
spec:
  selector: { istio: egressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: [llm.alias.test] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: llm-alias, namespace: istio-system }
spec:
  hosts: [llm.alias.test]
  gateways: [egress]
  http: [{ route: [{ destination: { host: api.openai.test } }] }]
`
  );
}

beforeAll(async () => {
  [acme, other, openai, plain, vault] = await Promise.all([pkiNow("acme.test"), pkiNow("other.test"), startUpstream({ name: "openai" }), startUpstream({ name: "plain" }), startUpstream({ name: "vault" })]);
  [api, stranger] = await Promise.all([acme.workload(API), other.workload("spiffe://other.test/ns/x/sa/y")]);
  // The external APIs answer without echoing the request (an echo would hand the secret back).
  for (const upstream of [openai, plain, vault]) upstream.respondWith(200, { ok: true });
  // What the control plane publishes for this key: its public JWK under its thumbprint kid.
  const { kid } = await jwtSvidKeyId(acme.jwtKeys.privateKey);
  jwks = await keySetOf(acme.jwtKeys.publicKey, kid);
  const jwtKeyPem = await privateKeyPem(acme.jwtKeys.privateKey);
  [egress, keyless] = await Promise.all([
    startTestEgress(configYaml(), { bindings: { MESH_PROXY_SECRET: PROXY_SECRET, OPENAI_API_KEY: SECRET, MESH_JWT_SVID_KEY: jwtKeyPem } }),
    // Deployed without the JWT-SVID key and without VAULT_TOKEN.
    startTestEgress(configYaml(), { bindings: { MESH_PROXY_SECRET: PROXY_SECRET, OPENAI_API_KEY: SECRET } }),
  ]);
});

afterAll(async () => {
  await Promise.all([egress?.close(), keyless?.close(), openai?.close(), plain?.close(), vault?.close()]);
});

describe("secret injection", () => {
  it("adds the egress's secret to calls to the host, replacing the caller's own header", async () => {
    const response = await egress.fetch("/v1/chat/completions", { host: "api.openai.test", method: "POST", body: "{}", headers: await viaProxy(api, { authorization: "Bearer caller-guess" }) });
    expect(response.status).toBe(200);
    expect(openai.requests.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it("keys on where the call goes: a routed alias gets it, another host never does", async () => {
    expect((await egress.fetch("/v1/models", { host: "llm.alias.test", headers: await viaProxy(api) })).status).toBe(200);
    expect(openai.requests.at(-1)).toMatchObject({ path: "/v1/models", headers: { authorization: `Bearer ${SECRET}` } });
    expect((await egress.fetch("/x", { host: "api.plain.test", headers: await viaProxy(api) })).status).toBe(200);
    expect(plain.requests.at(-1)?.headers.authorization).toBeUndefined();
    expect(plain.requests.at(-1)?.headers["x-jwt-svid"]).toBeUndefined();
  });

  it("never shows the secret to the caller, even when the upstream echoes it, nor in any log line", async () => {
    // An upstream that echoes the credential back, in a header and in its body (split over writes).
    openai.setBehaviour((request, response) => {
      const echoed = JSON.stringify({ ok: true, authorization: request.headers.authorization ?? null });
      response.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(echoed)), "x-echo-authorization": request.headers.authorization ?? "", "x-request-seen": "yes" });
      const half = echoed.indexOf(SECRET) + 5;
      response.write(echoed.slice(0, half));
      setTimeout(() => response.end(echoed.slice(half)), 20);
    });
    try {
      const response = await egress.fetch("/v1/echo", { host: "api.openai.test", headers: await viaProxy(api) });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-request-seen")).toBe("yes");
      expect(response.headers.get("x-echo-authorization")).toBeNull();
      const shown: string[] = [];
      response.headers.forEach((value, name) => shown.push(`${name}: ${value}`));
      expect(shown.join("\n")).not.toContain(SECRET);
      // The body arrives whole, with the secret masked at its own length.
      const body = await response.text();
      expect(body).not.toContain(SECRET);
      expect(JSON.parse(body)).toEqual({ ok: true, authorization: `Bearer ${"*".repeat(SECRET.length)}` });
    } finally {
      openai.respondWith(200, { ok: true });
    }
    const audit = await waitForLog(egress, (line) => line.event === "egress_audit" && line.path === "/v1/echo");
    expect(audit).toMatchObject({ caller: API, credential: "istio-system/openai", decision: "allowed", status: 200 });
    await waitForLog(egress, (line) => line.path === "/v1/echo" && line.event === undefined);
    expect(egress.logs.length).toBeGreaterThan(3);
    expect(JSON.stringify(egress.logs)).not.toContain(SECRET);
  });

  it("answers 503 credential_unavailable, without connecting, when the egress lacks the secret", async () => {
    const before = vault.requests.length;
    const response = await egress.fetch("/v1/kv/a", { host: "vault.example.test", headers: await viaProxy(api) });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: "credential_unavailable", message: expect.stringContaining("VAULT_TOKEN") });
    expect(vault.requests.length).toBe(before);
  });
});

describe("outbound workload identity (a JWT-SVID minted for the caller)", () => {
  it("sends a JWT-SVID for the caller, audience the external host, signed by the mesh CA's key", async () => {
    await egress.fetch("/v1/models", { host: "api.openai.test", headers: await viaProxy(api, { "x-jwt-svid": "forged" }) });
    const token = openai.requests.at(-1)!.headers["x-jwt-svid"] as string;
    expect(token).not.toBe("forged");
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { audience: "api.openai.test", algorithms: ["ES256"] });
    expect(payload.sub).toBe(API);
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(protectedHeader).toMatchObject({ alg: "ES256", typ: "JWT" });
    // Another audience, or a key other than the mesh CA's, does not verify it.
    await expect(jwtVerify(token, jwks, { audience: "api.plain.test" })).rejects.toThrow(/aud/);
    const foreign = await keySetOf(other.jwtKeys.publicKey, decodeProtectedHeader(token).kid!);
    await expect(jwtVerify(token, foreign)).rejects.toThrow(/signature/);
  });

  it("reuses the caller's token while it is fresh, and mints per caller", async () => {
    await egress.fetch("/a", { host: "api.openai.test", headers: await viaProxy(api) });
    await egress.fetch("/b", { host: "api.openai.test", headers: await viaProxy(api) });
    const [first, second] = openai.requests.slice(-2).map((request) => request.headers["x-jwt-svid"]);
    expect(second).toBe(first);
    const reports = await acme.workload("spiffe://acme.test/ns/payments/sa/reports");
    await egress.fetch("/c", { host: "api.openai.test", headers: await viaProxy(reports) });
    const third = openai.requests.at(-1)!.headers["x-jwt-svid"] as string;
    expect((await jwtVerify(third, jwks, { audience: "api.openai.test" })).payload.sub).toBe("spiffe://acme.test/ns/payments/sa/reports");
  });

  it("refuses an anonymous caller with 401 and a caller of another trust domain with 403, without connecting", async () => {
    const before = openai.requests.length;
    const anonymous = await egress.fetch("/v1/models", { host: "api.openai.test" });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: "outbound_identity_unavailable" });
    const foreign = await egress.fetch("/v1/models", { host: "api.openai.test", headers: await viaProxy(stranger) });
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ error: "outbound_identity_foreign", message: expect.stringContaining("other.test") });
    expect(openai.requests.length).toBe(before);
  });

  it("answers 503 when the egress has no MESH_JWT_SVID_KEY, without connecting", async () => {
    const before = openai.requests.length;
    const response = await keyless.fetch("/v1/models", { host: "api.openai.test", headers: await viaProxy(api) });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: "outbound_identity_key_missing", message: expect.stringContaining("MESH_JWT_SVID_KEY") });
    expect(openai.requests.length).toBe(before);
  });
});

describe("EgressCredential is checked when the config is compiled", () => {
  const base = (spec: string, location = "MESH_EXTERNAL") => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: external }
spec:
  hosts: [api.example.test]
  location: ${location}
  resolution: DNS
  ports: [{ number: 443, name: https, protocol: HTTPS }]
---
apiVersion: mesh.istio.io/v1alpha1
kind: EgressCredential
metadata: { name: api, namespace: istio-system }
spec:
${spec}`;

  it("compiles the credential by reference: the secret's name, never a value", async () => {
    const snapshot = await compileConfig(base("  hosts: [api.example.test]\n  inject: { secretName: API_KEY, prefix: 'Token ' }\n  workloadIdentity: { ttl: 1m, audience: https://api.example.test }"));
    expect(snapshot.egress!.credentials).toEqual([
      {
        name: "istio-system/api",
        hosts: ["api.example.test"],
        inject: { header: "authorization", secretName: "API_KEY", prefix: "Token " },
        workloadIdentity: { header: "x-jwt-svid", prefix: "", audience: "https://api.example.test", ttlMs: 60_000 },
      },
    ]);
  });

  it.each([
    ["  hosts: [other.example.test]\n  inject: { secretName: K }", "MESH_EXTERNAL", "no MESH_EXTERNAL ServiceEntry declares host 'other.example.test'"],
    ["  hosts: [api.example.test]\n  inject: { secretName: K }", "MESH_INTERNAL", "no MESH_EXTERNAL ServiceEntry declares host 'api.example.test'"],
    ["  hosts: [api.example.test]", "MESH_EXTERNAL", "set inject (a secret), workloadIdentity"],
    ["  hosts: ['*']\n  inject: { secretName: K }", "MESH_EXTERNAL", "would send the credential to every host"],
    ["  hosts: [api.example.test]\n  inject: { secretName: K, header: Host }", "MESH_EXTERNAL", "cannot carry a credential"],
    ["  hosts: [api.example.test]\n  inject: { secretName: K, header: x-mesh-peer }", "MESH_EXTERNAL", "cannot carry a credential"],
    ["  hosts: [api.example.test]\n  inject: { secretName: 'sk-live-1234' }", "MESH_EXTERNAL", "secretName must name a secret"],
    ["  hosts: [api.example.test]\n  inject: { secretName: K, value: x }", "MESH_EXTERNAL", "unknown field 'value'"],
    ["  hosts: [api.example.test]\n  inject: { secretName: K }\n  workloadIdentity: { header: authorization }", "MESH_EXTERNAL", "both use header 'authorization'"],
    ["  hosts: [api.example.test]\n  workloadIdentity: { ttl: 2h }", "MESH_EXTERNAL", "ttl must be between 10s and 1h"],
    ["  hosts: [api.example.test]\n  inject: { secretName: MESH_PROXY_SECRET }", "MESH_EXTERNAL", "may not name one of the egress's own settings (MESH_*)"],
    ["  hosts: [api.example.test]\n  inject: { secretName: mesh_jwt_svid_key }", "MESH_EXTERNAL", "may not name one of the egress's own settings (MESH_*)"],
  ])("rejects %j (%s)", async (spec, location, message) => {
    await expect(compileConfig(base(spec, location))).rejects.toThrow(message);
  });

  it("refuses a credential that would leave in cleartext, unless the endpoint is on loopback", async () => {
    const plainHttp = (address: string, tls = "") => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: external }
spec:
  hosts: ["*.example.test"]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP }]
  ${address ? `endpoints: [{ address: ${address} }]` : ""}
---
apiVersion: mesh.istio.io/v1alpha1
kind: EgressCredential
metadata: { name: api, namespace: istio-system }
spec:
  hosts: [api.example.test]
  inject: { secretName: API_KEY }
${tls}`;
    await expect(compileConfig(plainHttp(""))).rejects.toThrow(/ERR_CONFIG_INSECURE|the credential would leave in cleartext: api\.example\.test port 80 is plain HTTP/);
    await expect(compileConfig(plainHttp("api.example.test"))).rejects.toThrow(/leave in cleartext/);
    // TLS origination makes it safe; so does a local stand-in on loopback.
    const originated = `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: external }
spec:
  host: "*.example.test"
  trafficPolicy: { tls: { mode: SIMPLE } }`;
    expect((await compileConfig(plainHttp("", originated))).egress!.credentials).toHaveLength(1);
    expect((await compileConfig(plainHttp("127.0.0.1"))).egress!.credentials).toHaveLength(1);
  });

  it("refuses a minted JWT-SVID audience that the mesh's own gateways accept", async () => {
    const mesh = `
---
apiVersion: mesh.istio.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh, namespace: istio-system }
spec: { trustDomain: acme.test, jwtSvid: { audiences: [edge] } }
`;
    for (const audience of ["spiffe://acme.test/ns/istio-system/sa/istio-ingressgateway-service-account", "edge"]) {
      await expect(compileConfig(base(`  hosts: [api.example.test]\n  workloadIdentity: { audience: "${audience}" }`) + mesh)).rejects.toThrow(/one the mesh's own gateways accept/);
    }
    expect((await compileConfig(base("  hosts: [api.example.test]\n  workloadIdentity: { audience: https://api.example.test }") + mesh)).egress!.credentials).toHaveLength(1);
  });

  it("refuses two credentials for one host", async () => {
    const second = `
---
apiVersion: mesh.istio.io/v1alpha1
kind: EgressCredential
metadata: { name: again, namespace: istio-system }
spec:
  hosts: [api.example.test]
  inject: { secretName: OTHER }`;
    await expect(compileConfig(base("  hosts: [api.example.test]\n  inject: { secretName: K }") + second)).rejects.toThrow(/already gets its credentials from EgressCredential istio-system\/(api|again)/);
  });
});
