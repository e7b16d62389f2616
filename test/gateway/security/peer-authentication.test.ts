import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../../policies/identity/encoding.js";
import { parseXfcc } from "../../../policies/identity/xfcc.js";
import { startTestGateway, type TestGateway } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";
import { der, type TrustDomainPki, type Workload } from "../../policies/identity/pki.js";
import {
  echoOf,
  GATEWAY_ID,
  gatewayYaml,
  meshConfigYaml,
  pkiNow,
  refusalOf,
  policyYaml,
  PROXY_SECRET,
  serviceYaml,
  startIdp,
  viaProxy,
  xfccFor,
  type LocalIdp,
} from "./support.js";

/**
 * Peer authentication in the real worker (workerd), with certificates and tokens signed for
 * real: the peer's X.509-SVID arrives as XFCC from the trusted front proxy, JWT-SVIDs as bearer
 * tokens. Namespaces: `strict` (STRICT), `open` (mesh default, PERMISSIVE), `off` (DISABLE);
 * hosts `mtls.test` and `san.test` are served by Gateway servers with tls.mode MUTUAL.
 */

let acme: TrustDomainPki, partner: TrustDomainPki, rogue: TrustDomainPki;
let frontend: Workload, expired: Workload, rogueWorkload: Workload, partnerWorkload: Workload;
let upstream: Upstream;
let idp: LocalIdp;
let gateway: TestGateway;

beforeAll(async () => {
  [acme, partner, rogue, upstream, idp] = await Promise.all([pkiNow("acme.test"), pkiNow("partner.test"), pkiNow("acme.test"), startUpstream({ name: "svc" }), startIdp()]);
  [frontend, expired, rogueWorkload, partnerWorkload] = await Promise.all([
    acme.workload("spiffe://acme.test/ns/shop/sa/frontend"),
    acme.workload("spiffe://acme.test/ns/shop/sa/old", { now: Date.now() - 3 * 3_600_000, ttlMs: 3_600_000 }),
    rogue.workload("spiffe://acme.test/ns/shop/sa/frontend"),
    partner.workload("spiffe://partner.test/ns/billing/sa/api"),
  ]);
  idp.documents.set("/partner/bundle.json", partner.bundleDocument);
  const config =
    gatewayYaml(`  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*.test"]
  - port: { number: 443, name: https, protocol: HTTPS }
    hosts: [mtls.test]
    tls: { mode: MUTUAL, credentialName: edge-cert }
  - port: { number: 443, name: https-san, protocol: HTTPS }
    hosts: [san.test]
    tls: { mode: MUTUAL, subjectAltNames: ["spiffe://acme.test/ns/shop/sa/frontend"] }`) +
    meshConfigYaml(acme, `  - trustDomain: partner.test\n    spiffeBundleUrl: ${idp.url}/partner/bundle.json`) +
    serviceYaml("strict", "strict.internal", upstream, "strict.test") +
    serviceYaml("open", "open.internal", upstream, "open.test") +
    serviceYaml("off", "off.internal", upstream, "off.test") +
    serviceYaml("open", "mtls.internal", upstream, "mtls.test") +
    serviceYaml("open", "san.internal", upstream, "san.test") +
    policyYaml("PeerAuthentication", "strict", "default", "  mtls: { mode: STRICT }") +
    policyYaml("PeerAuthentication", "off", "default", "  mtls: { mode: DISABLE }");
  gateway = await startTestGateway(config, { bindings: { MESH_PROXY_SECRET: PROXY_SECRET }, captureLogs: true });
});

afterAll(async () => {
  await Promise.all([gateway?.close(), upstream?.close(), idp?.close()]);
});

describe("PeerAuthentication STRICT / PERMISSIVE / DISABLE", () => {
  it("STRICT rejects a caller without an SVID (403, UAEX), and admits one with a verified X.509-SVID", async () => {
    const anonymous = await gateway.fetch("/", { host: "strict.test" });
    expect(anonymous.status).toBe(403);
    expect(await refusalOf(anonymous)).toMatchObject({ error: "peer_authentication_required", flags: "UAEX" });
    const authenticated = await gateway.fetch("/orders", { host: "strict.test", headers: await viaProxy(frontend) });
    expect(authenticated.status).toBe(200);
    expect((await echoOf(authenticated)).headers["x-mesh-peer-principal"]).toBe("spiffe://acme.test/ns/shop/sa/frontend");
  });

  it("PERMISSIVE lets a caller without an SVID in as anonymous, and uses an SVID when there is one", async () => {
    const anonymous = await echoOf(await gateway.fetch("/", { host: "open.test" }));
    expect(anonymous.headers["x-mesh-peer-principal"]).toBeUndefined();
    expect(anonymous.headers["x-forwarded-client-cert"]).toBeUndefined();
    const authenticated = await echoOf(await gateway.fetch("/", { host: "open.test", headers: await viaProxy(frontend) }));
    expect(authenticated.headers["x-mesh-peer-principal"]).toBe(frontend.spiffeId);
    expect(authenticated.headers["x-mesh-peer-authentication"]).toBe("xfcc");
  });

  it("refuses a presented certificate that fails verification, whatever the mode but DISABLE", async () => {
    for (const host of ["open.test", "strict.test"]) {
      const stale = await gateway.fetch("/", { host, headers: await viaProxy(expired) });
      expect(stale.status, host).toBe(403);
      expect((await refusalOf(stale)).error).toBe("peer_authentication_failed{ERR_SVID_EXPIRED}");
      // Same name, same SPIFFE ID, but issued by a CA that is not in acme.test's bundle.
      const forged = await gateway.fetch("/", { host, headers: await viaProxy(rogueWorkload) });
      expect((await refusalOf(forged)).error).toMatch(/^peer_authentication_failed\{ERR_SVID_(SIGNATURE|UNTRUSTED)\}$/);
    }
    const ignored = await gateway.fetch("/", { host: "off.test", headers: await viaProxy(expired) });
    expect(ignored.status).toBe(200);
    expect((await echoOf(ignored)).headers["x-mesh-peer-principal"]).toBeUndefined();
  });

  it("verifies a federated trust domain's SVID against the bundle fetched from its bundle endpoint", async () => {
    const response = await gateway.fetch("/", { host: "open.test", headers: await viaProxy(partnerWorkload) });
    expect(response.status).toBe(200);
    expect((await echoOf(response)).headers["x-mesh-peer-principal"]).toBe("spiffe://partner.test/ns/billing/sa/api");
  });
});

describe("Gateway servers with tls.mode MUTUAL", () => {
  it("require a verified client SVID for their hosts even where the namespace is PERMISSIVE", async () => {
    expect((await gateway.fetch("/", { host: "mtls.test" })).status).toBe(403);
    expect((await gateway.fetch("/", { host: "mtls.test", headers: await viaProxy(frontend) })).status).toBe(200);
  });

  it("accept only the client SANs listed in subjectAltNames", async () => {
    const other = await acme.workload("spiffe://acme.test/ns/shop/sa/backend");
    const refused = await gateway.fetch("/", { host: "san.test", headers: await viaProxy(other) });
    expect(refused.status).toBe(403);
    expect((await refusalOf(refused)).error).toBe("peer_authentication_failed{subject_alt_name}");
    expect((await gateway.fetch("/", { host: "san.test", headers: await viaProxy(frontend) })).status).toBe(200);
  });
});

describe("what the upstream receives, and what it never does", () => {
  it("gets x-forwarded-client-cert as Istio's gateways set it: By the gateway, Hash, Subject, URI of the verified peer", async () => {
    const echo = await echoOf(await gateway.fetch("/", { host: "open.test", headers: await viaProxy(frontend) }));
    const [element, ...rest] = parseXfcc(echo.headers["x-forwarded-client-cert"]!);
    expect(rest).toEqual([]);
    expect(element).toEqual({ by: [GATEWAY_ID], hash: await sha256Hex(der(frontend.leaf)), subject: "", uri: [frontend.spiffeId], dns: [] });
    expect(echo.headers["x-mesh-proxy-auth"]).toBeUndefined();
  });

  it("strips an XFCC from an untrusted hop: the caller is anonymous and STRICT refuses it", async () => {
    const spoofed = { "x-forwarded-client-cert": await xfccFor(frontend) };
    const echo = await echoOf(await gateway.fetch("/", { host: "open.test", headers: spoofed }));
    expect(echo.headers["x-forwarded-client-cert"]).toBeUndefined();
    expect(echo.headers["x-mesh-peer-principal"]).toBeUndefined();
    expect((await gateway.fetch("/", { host: "strict.test", headers: spoofed })).status).toBe(403);
  });

  it("refuses a request that claims to come from the front proxy with the wrong secret", async () => {
    const response = await gateway.fetch("/", { host: "open.test", headers: { "x-mesh-proxy-auth": "not-the-secret-at-all-0000", "x-forwarded-client-cert": await xfccFor(frontend) } });
    expect(response.status).toBe(403);
    expect((await refusalOf(response)).error).toBe("proxy_authentication_failed");
  });

  it("strips every identity header a client sets itself, and replaces it with the gateway's", async () => {
    const spoof = {
      "x-spiffe-id": "spiffe://acme.test/ns/shop/sa/admin",
      "x-mesh-peer-principal": "spiffe://acme.test/ns/shop/sa/admin",
      "x-mesh-peer-authentication": "mtls",
      "x-mesh-request-principal": "https://idp.acme.test/admin",
      "client-cert": ":AAAA:",
      "client-cert-chain": ":AAAA:",
    };
    const anonymous = await echoOf(await gateway.fetch("/", { host: "open.test", headers: spoof }));
    for (const name of Object.keys(spoof)) expect(anonymous.headers[name], name).toBeUndefined();
    const authenticated = await echoOf(await gateway.fetch("/", { host: "open.test", headers: await viaProxy(frontend, spoof) }));
    expect(authenticated.headers["x-mesh-peer-principal"]).toBe(frontend.spiffeId);
    expect(authenticated.headers["x-spiffe-id"]).toBeUndefined();
    expect(authenticated.headers["x-mesh-request-principal"]).toBeUndefined();
  });

  it("refuses an XFCC from the trusted proxy that cannot be read (400), and one whose Chain does not start with its Cert", async () => {
    const garbled = await gateway.fetch("/", { host: "open.test", headers: { "x-mesh-proxy-auth": PROXY_SECRET, "x-forwarded-client-cert": 'Subject="unterminated' } });
    expect(garbled.status).toBe(400);
    expect((await refusalOf(garbled)).error).toBe("invalid_xfcc{ERR_XFCC_SYNTAX}");
    const mismatched = (await xfccFor(frontend)).replace(/Chain=[^;]+/, `Chain=${encodeURIComponent(expired.chainPem)}`);
    const response = await gateway.fetch("/", { host: "open.test", headers: { "x-mesh-proxy-auth": PROXY_SECRET, "x-forwarded-client-cert": mismatched } });
    expect((await refusalOf(response)).error).toBe("invalid_xfcc{ERR_XFCC_CHAIN_MISMATCH}");
  });
});

describe("JWT-SVIDs", () => {
  it("make the token's sub the peer's principal when there is no X.509-SVID, and are not forwarded", async () => {
    const token = await acme.jwtSvid("spiffe://acme.test/ns/batch/sa/reporter", GATEWAY_ID);
    const echo = await echoOf(await gateway.fetch("/", { host: "open.test", headers: { authorization: `Bearer ${token}` } }));
    expect(echo.headers["x-mesh-peer-principal"]).toBe("spiffe://acme.test/ns/batch/sa/reporter");
    expect(echo.headers["x-mesh-peer-authentication"]).toBe("jwt-svid");
    expect(echo.headers.authorization).toBeUndefined();
    expect(echo.headers["x-forwarded-client-cert"]).toBeUndefined();
  });

  it("leave the X.509-SVID as the peer when both are present", async () => {
    const token = await acme.jwtSvid("spiffe://acme.test/ns/batch/sa/reporter", GATEWAY_ID);
    const echo = await echoOf(await gateway.fetch("/", { host: "open.test", headers: await viaProxy(frontend, { authorization: `Bearer ${token}` }) }));
    expect(echo.headers["x-mesh-peer-principal"]).toBe(frontend.spiffeId);
  });

  it("refuse an invalid JWT-SVID with 401 and a Bearer challenge, even where nothing requires one", async () => {
    const wrongAudience = await acme.jwtSvid("spiffe://acme.test/ns/batch/sa/reporter", "spiffe://acme.test/ns/other/sa/service");
    const response = await gateway.fetch("/", { host: "open.test", headers: { authorization: `Bearer ${wrongAudience}` } });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="open.test", error="invalid_token"');
    expect((await refusalOf(response)).error).toBe("jwt_authn_access_denied{ERR_JWT_AUDIENCE}");
  });

  it("do not satisfy STRICT, which asks for mutual TLS", async () => {
    const token = await acme.jwtSvid("spiffe://acme.test/ns/batch/sa/reporter", GATEWAY_ID);
    expect((await gateway.fetch("/", { host: "strict.test", headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
  });

  it("leave other bearer tokens alone when no RequestAuthentication asks for them", async () => {
    const echo = await echoOf(await gateway.fetch("/", { host: "open.test", headers: { authorization: "Bearer opaque-api-key" } }));
    expect(echo.headers.authorization).toBe("Bearer opaque-api-key");
  });
});

describe("the access log", () => {
  it("records the peer principal and how it was authenticated", async () => {
    await gateway.fetch("/logged", { host: "open.test", headers: await viaProxy(frontend) });
    await expect.poll(() => gateway.logs.find((line) => line.path === "/logged")).toBeDefined();
    const line = gateway.logs.find((entry) => entry.path === "/logged")!;
    expect(line).toMatchObject({ peer_principal: frontend.spiffeId, peer_authentication: "xfcc", response_code: 200 });
  });
});
