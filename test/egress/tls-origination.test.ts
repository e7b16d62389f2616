import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derToPem } from "../../policies/identity/encoding.js";
import { createCertificate, generateSigningKeyPair } from "../../policies/identity/issue.js";
import { ExtendedKeyUsage, KeyUsageFlags } from "../../policies/identity/x509-lib.js";
import { der, privateKeyPem, type TrustDomainPki, type Workload } from "../policies/identity/pki.js";
import { mtlsCertificateStandIn } from "../../scripts/lib/mtls-stand-in.js";
import { meshConfigYaml, pkiNow } from "../gateway/security/support.js";
import { compileConfig } from "../support/gateway-fixture.js";
import { startTestEgress, waitForLog, type TestEgress } from "./fixture.js";

/**
 * TLS origination at the egress (Istio's egress TLS origination task): the caller speaks plain
 * HTTP, the egress calls the external host over HTTPS. Real handshakes with HTTPS servers on
 * loopback whose certificates come from a test CA that only this test's workerd network trusts
 * (its `tlsOptions.trustedCertificates`). `localhost` is the external host's address, so the
 * worker sends it as SNI. MUTUAL goes through a service binding standing in for Cloudflare's
 * `mtls_certificates` binding (scripts/lib/mtls-stand-in.ts), which makes the mutual-TLS request
 * with the egress's X.509-SVID.
 */

const EGRESS_ID = "spiffe://acme.test/ns/istio-system/sa/istio-egressgateway-service-account";

interface SeenHandshake {
  servername: string | false;
  clientUri: string | undefined;
  path: string;
}

interface TlsServer {
  port: number;
  seen: SeenHandshake[];
  /** Handshakes that failed (the client refused the server's certificate, or sent none where one was required). */
  failedHandshakes: string[];
  /** TCP connections accepted (a handshake the client abandons shows only here). */
  connections(): number;
  close(): Promise<void>;
}

let acme: TrustDomainPki;
let egressSvid: Workload;
let serverCaPem: string;
let plain: TlsServer, mutual: TlsServer;
let egress: TestEgress;
let unconfigured: TestEgress;
let untrusting: TestEgress;

/** An HTTPS server on 127.0.0.1 with a `localhost` certificate from the test CA; it records SNI and any client certificate. */
async function startTlsServer(options: { serverKeyPem: string; serverCertPem: string; clientCa?: string }): Promise<TlsServer> {
  const seen: SeenHandshake[] = [];
  const server = https.createServer(
    {
      key: options.serverKeyPem,
      cert: options.serverCertPem,
      ...(options.clientCa ? { ca: [options.clientCa], requestCert: true, rejectUnauthorized: true } : {}),
    },
    (request, response) => {
      const socket = request.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      const clientUri = peer?.subjectaltname?.split(", ").find((name) => name.startsWith("URI:"))?.slice(4);
      seen.push({ servername: (socket as TLSSocket & { servername: string | false }).servername, clientUri, path: request.url ?? "" });
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ tls: socket.getProtocol(), clientUri: clientUri ?? null }));
    },
  );
  const failedHandshakes: string[] = [];
  server.on("tlsClientError", (error) => failedHandshakes.push(error.message));
  const counts = { connections: 0 };
  server.on("connection", () => counts.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    failedHandshakes,
    connections: () => counts.connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function externalYaml(name: string, host: string, port: number, tls: string): string {
  return `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: external }
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${port} }]
  endpoints: [{ address: localhost }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: external }
spec:
  host: ${host}
  trafficPolicy:
    portLevelSettings:
    - port: { number: 80 }
      tls: ${tls}
`;
}

function configYaml(): string {
  return (
    meshConfigYaml(acme) +
    externalYaml("secure", "api.secure.test", plain.port, "{ mode: SIMPLE, sni: localhost }") +
    externalYaml("partner", "api.partner.test", mutual.port, "{ mode: MUTUAL, credentialName: PARTNER_CLIENT_CERT }")
  );
}

/** The test CA's certificates are trusted by this workerd network only (never by the machine). */
const trustingNetwork = () => ({ network: { allow: ["public", "private", "240.0.0.0/4"], tlsOptions: { trustedCertificates: [serverCaPem] } } });

beforeAll(async () => {
  acme = await pkiNow("acme.test");
  egressSvid = await acme.workload(EGRESS_ID);
  // The external servers' CA: a CA of its own, not the mesh's.
  const caKeys = await generateSigningKeyPair();
  const now = Date.now();
  const caCert = await createCertificate({ subject: "CN=external test CA", issuer: "self", keys: caKeys, notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000), ca: true, keyUsage: KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign });
  serverCaPem = derToPem(der(caCert));
  const serverKeys = await generateSigningKeyPair();
  const serverCert = await createCertificate({
    subject: "CN=localhost",
    issuer: { trustDomain: "external.test", certificate: caCert, keys: caKeys, alg: "ES256" },
    keys: serverKeys,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    ca: false,
    keyUsage: KeyUsageFlags.digitalSignature,
    extendedKeyUsage: [ExtendedKeyUsage.serverAuth],
    dnsNames: ["localhost"],
  });
  const serverKeyPem = await privateKeyPem(serverKeys.privateKey);
  const serverCertPem = derToPem(der(serverCert));
  const meshRootPem = derToPem(der(acme.root.certificate));
  [plain, mutual] = await Promise.all([startTlsServer({ serverKeyPem, serverCertPem }), startTlsServer({ serverKeyPem, serverCertPem, clientCa: meshRootPem })]);

  // The egress presents its own X.509-SVID to the partner, which trusts the mesh's root.
  const clientCertBinding = mtlsCertificateStandIn({ certificateChain: egressSvid.chainPem, privateKey: egressSvid.keyPem, trustedCertificates: [serverCaPem] });
  [egress, unconfigured, untrusting] = await Promise.all([
    startTestEgress(configYaml(), { outboundService: trustingNetwork(), serviceBindings: { PARTNER_CLIENT_CERT: clientCertBinding } }),
    // The same config on an egress deployed without the certificate binding.
    startTestEgress(configYaml(), { outboundService: trustingNetwork() }),
    // And on one whose runtime does not trust the external server's CA.
    startTestEgress(configYaml(), { outboundService: { network: { allow: ["public", "private", "240.0.0.0/4"], tlsOptions: { trustBrowserCas: true } } } }),
  ]);
});

afterAll(async () => {
  await Promise.all([egress?.close(), unconfigured?.close(), untrusting?.close(), plain?.close(), mutual?.close()]);
});

describe("TLS origination, mode SIMPLE", () => {
  it("calls the external host over HTTPS, with the SNI, for a caller that spoke plain HTTP", async () => {
    const before = plain.seen.length;
    const response = await egress.fetch("/v1/items?x=1", { host: "api.secure.test" });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ tls: expect.stringMatching(/^TLSv1\.[23]$/), clientUri: null });
    expect(plain.seen.slice(before)).toEqual([{ servername: "localhost", clientUri: undefined, path: "/v1/items?x=1" }]);
    const audit = await waitForLog(egress, (line) => line.event === "egress_audit" && line.path === "/v1/items?x=1");
    expect(audit).toMatchObject({ destination_host: "api.secure.test", status: 200, upstream_host: `localhost:${plain.port}` });
  });

  it("fails with 503 UF, sending no request, when the runtime does not trust the server's certificate", async () => {
    const [before, connectionsBefore] = [plain.seen.length, plain.connections()];
    const response = await untrusting.fetch("/v1/items", { host: "api.secure.test" });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ flags: expect.stringContaining("UF") });
    // The worker connected, refused the certificate in the handshake (workerd: "TLS peer's
    // certificate is not trusted") and hung up: no request was sent.
    expect(plain.connections()).toBeGreaterThan(connectionsBefore);
    expect(plain.seen.length).toBe(before);
  });
});

describe("TLS origination, mode MUTUAL", () => {
  it("presents the client certificate of the credentialName binding in a real mutual handshake", async () => {
    const before = mutual.seen.length;
    const response = await egress.fetch("/v1/orders", { host: "api.partner.test", method: "POST", body: "{}" });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ clientUri: EGRESS_ID });
    expect(mutual.seen.slice(before)).toEqual([{ servername: "localhost", clientUri: EGRESS_ID, path: "/v1/orders" }]);
  });

  it("refuses with 503 UF, without connecting, when the worker has no binding of that name", async () => {
    const before = mutual.seen.length;
    const response = await unconfigured.fetch("/v1/orders", { host: "api.partner.test" });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: "tls_credential_missing", flags: "UF", message: expect.stringContaining("PARTNER_CLIENT_CERT") });
    expect(mutual.seen.length).toBe(before);
  });

  it("is the credential the server checks: without it the mutual server refuses the handshake", async () => {
    // The same server reached with SIMPLE origination (no client certificate) is refused.
    const config = meshConfigYaml(acme) + externalYaml("partner", "api.partner.test", mutual.port, "{ mode: SIMPLE }");
    const simple = await startTestEgress(config, { outboundService: trustingNetwork() });
    try {
      const [before, failedBefore] = [mutual.seen.length, mutual.failedHandshakes.length];
      const response = await simple.fetch("/v1/orders", { host: "api.partner.test" });
      expect(response.status).toBe(503);
      expect(mutual.seen.length).toBe(before);
      await expect.poll(() => mutual.failedHandshakes.length).toBeGreaterThan(failedBefore);
      expect(mutual.failedHandshakes.at(-1)).toMatch(/certificate/i);
    } finally {
      await simple.close();
    }
  });
});

describe("TLS settings are checked when the config is compiled", () => {
  const rule = (tls: string, endpoints = "[{ address: localhost }]") => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: external }
spec:
  hosts: [api.example.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 443, name: https, protocol: HTTPS }, { number: 80, name: http, protocol: HTTP }]
  endpoints: ${endpoints}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: external }
spec:
  host: api.example.test
  trafficPolicy:
    tls: ${tls}
`;

  it("compiles SIMPLE and MUTUAL into the cluster, per port where portLevelSettings says so", async () => {
    const snapshot = await compileConfig(rule("{ mode: MUTUAL, credentialName: API_CERT }\n    portLevelSettings:\n    - port: { number: 80 }\n      tls: { mode: DISABLE }"));
    const clusters = snapshot.egress!.clusters;
    expect(clusters["api.example.test||443"]).toMatchObject({ scheme: "https", tls: { mode: "MUTUAL", credentialName: "API_CERT" } });
    expect(clusters["api.example.test||80"]).toMatchObject({ scheme: "http" });
    expect(clusters["api.example.test||80"]!.tls).toBeUndefined();
  });

  it.each([
    ["{ mode: MUTUAL }", "credentialName", "MUTUAL needs credentialName"],
    ["{ mode: SIMPLE, credentialName: X }", "credentialName", "only for mode MUTUAL"],
    ["{ mode: ISTIO_MUTUAL }", "mode", "use MUTUAL with credentialName"],
    ["{ mode: SIMPLE, insecureSkipVerify: true }", "insecureSkipVerify", "not supported yet"],
    ["{ mode: SIMPLE, caCertificates: /etc/ca.pem }", "caCertificates", "not supported yet"],
    ["{ mode: SIMPLE, sni: other.example.test }", "sni", "differs from the address the gateway connects to ('localhost')"],
    ["{ mode: SIMPLE, sni: '*.example.test' }", "sni", "lowercase DNS name"],
  ])("rejects tls %s naming %s", async (tls, field, message) => {
    await expect(compileConfig(rule(tls))).rejects.toThrow(new RegExp(`${field}[^\\n]*${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}|${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[^\\n]*`));
  });

  it("applies a concrete host's DestinationRule under a wildcard ServiceEntry: that host gets its own TLS cluster", async () => {
    const snapshot = await compileConfig(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: wild, namespace: external }
spec:
  hosts: ["*.example.test"]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: 443 }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: secure, namespace: external }
spec:
  host: secure.example.test
  trafficPolicy: { tls: { mode: SIMPLE } }
`);
    const secure = snapshot.egress!.services.find((service) => service.host === "secure.example.test");
    expect(secure).toMatchObject({ serviceEntry: "external/wild", ports: [{ number: 80, cluster: "secure.example.test||80" }] });
    expect(snapshot.egress!.clusters["secure.example.test||80"]).toMatchObject({ scheme: "https", tls: { mode: "SIMPLE" }, endpoints: [{ address: "secure.example.test", port: 443 }] });
    // Other hosts of the wildcard stay plain.
    expect(snapshot.egress!.clusters["*.example.test||80"]).toMatchObject({ scheme: "http" });
  });

  it("accepts sni equal to the host when the host has no endpoints (resolution DNS)", async () => {
    const snapshot = await compileConfig(rule("{ mode: SIMPLE, sni: api.example.test }", "[]"));
    expect(snapshot.egress!.clusters["api.example.test||443"]).toMatchObject({ tls: { mode: "SIMPLE", sni: "api.example.test" }, endpoints: [{ address: "api.example.test", port: 443 }] });
  });
});
