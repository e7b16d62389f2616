import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../../policies/identity/encoding.js";
import { startTestGateway, type TestGateway } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";
import { der, type TrustDomainPki, type Workload } from "../../policies/identity/pki.js";
import { echoOf, gatewayYaml, meshConfigYaml, pkiNow, policyYaml, serviceYaml, xfccFor } from "./support.js";

/**
 * The platform's mTLS in workerd: every request carries a `request.cf.tlsClientAuth` as
 * Cloudflare reports a client certificate it verified, with the RFC 9440 fields. Miniflare sets
 * one `cf` for all requests, so each case is its own gateway.
 */

let acme: TrustDomainPki;
let client: Workload, proxy: Workload, other: Workload;
let upstream: Upstream;
const gateways: TestGateway[] = [];

const sf = (bytes: Uint8Array) => `:${Buffer.from(bytes).toString("base64")}:`;

async function tlsClientAuth(workload: Workload, overrides: Record<string, unknown> = {}) {
  return {
    tlsClientAuth: {
      certPresented: "1",
      certVerified: "SUCCESS",
      certRevoked: "0",
      certFingerprintSHA256: await sha256Hex(der(workload.leaf)),
      certRFC9440: sf(der(workload.leaf)),
      certChainRFC9440: sf(der(workload.chain[1]!)),
      ...overrides,
    },
  };
}

beforeAll(async () => {
  [acme, upstream] = await Promise.all([pkiNow("acme.test"), startUpstream({ name: "svc" })]);
  [client, proxy, other] = await Promise.all([
    acme.workload("spiffe://acme.test/ns/shop/sa/frontend"),
    acme.workload("spiffe://acme.test/ns/edge/sa/front-proxy"),
    acme.workload("spiffe://acme.test/ns/shop/sa/backend"),
  ]);
});

afterAll(async () => {
  await Promise.all([...gateways.map((gateway) => gateway.close()), upstream?.close()]);
});

async function gatewayWith(cf: Record<string, unknown>, bindings: Record<string, string> = {}): Promise<TestGateway> {
  const config = gatewayYaml() + meshConfigYaml(acme) + serviceYaml("shop", "shop.internal", upstream, "shop.test") + policyYaml("PeerAuthentication", "shop", "strict", "  mtls: { mode: STRICT }");
  const gateway = await startTestGateway(config, { cf, bindings });
  gateways.push(gateway);
  return gateway;
}

describe("request.cf.tlsClientAuth", () => {
  it("a certificate the edge verified is verified again as an X.509-SVID and becomes the peer (mtls)", async () => {
    const gateway = await gatewayWith(await tlsClientAuth(client));
    const echo = await echoOf(await gateway.fetch("/", { host: "shop.test" }));
    expect(echo.headers["x-mesh-peer-principal"]).toBe(client.spiffeId);
    expect(echo.headers["x-mesh-peer-authentication"]).toBe("mtls");
    // Without the trusted proxy's credentials, an XFCC from the client changes nothing.
    const spoofed = await echoOf(await gateway.fetch("/", { host: "shop.test", headers: { "x-forwarded-client-cert": await xfccFor(other) } }));
    expect(spoofed.headers["x-mesh-peer-principal"]).toBe(client.spiffeId);
  });

  it("a certificate the edge did not verify is not used: STRICT refuses the caller", async () => {
    const gateway = await gatewayWith(await tlsClientAuth(client, { certVerified: "FAILED:unable to verify the first certificate" }));
    expect((await gateway.fetch("/", { host: "shop.test" })).status).toBe(403);
  });

  it("a proxy whose own certificate the edge verified, and whose fingerprint is listed, is trusted to forward XFCC", async () => {
    const fingerprint = await sha256Hex(der(proxy.leaf));
    const gateway = await gatewayWith(await tlsClientAuth(proxy), { MESH_TRUSTED_PROXY_CERT_SHA256: fingerprint });
    const echo = await echoOf(await gateway.fetch("/", { host: "shop.test", headers: { "x-forwarded-client-cert": await xfccFor(client) } }));
    expect(echo.headers["x-mesh-peer-principal"]).toBe(client.spiffeId);
    expect(echo.headers["x-mesh-peer-authentication"]).toBe("xfcc");
    // Its own certificate is not the caller's: without an XFCC, STRICT refuses.
    expect((await gateway.fetch("/", { host: "shop.test" })).status).toBe(403);
  });
});
