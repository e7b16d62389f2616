import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derToPem, sha256Hex } from "../../../policies/identity/encoding.js";
import { createCertificate, generateSigningKeyPair } from "../../../policies/identity/issue.js";
import { ExtendedKeyUsage, KeyUsageFlags } from "../../../policies/identity/x509-lib.js";
import { formatXfccElement, urlEncodePem } from "../../../policies/identity/xfcc.js";
import { startTestGateway, type TestGateway } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream, type UpstreamEcho } from "../../support/upstream.js";
import { der, privateKeyPem, type TrustDomainPki, type Workload } from "../../policies/identity/pki.js";
import { gatewayYaml, meshConfigYaml, pkiNow, policyYaml, PROXY_SECRET, serviceYaml } from "./support.js";

/**
 * A real mutual-TLS handshake: a client with an issued X.509-SVID connects to a TLS-terminating
 * front proxy (Node's tls, verifying client certificates against the mesh CA) that forwards the
 * verified certificate as Envoy-format XFCC, with the proxy secret, to the gateway in workerd.
 */

let acme: TrustDomainPki, other: TrustDomainPki;
let client: Workload, stranger: Workload;
let upstream: Upstream;
let gateway: TestGateway;
let front: https.Server;
let frontPort: number;
let rootPem: string;

beforeAll(async () => {
  [acme, other, upstream] = await Promise.all([pkiNow("acme.test"), pkiNow("other.test"), startUpstream({ name: "orders" })]);
  [client, stranger] = await Promise.all([acme.workload("spiffe://acme.test/ns/shop/sa/frontend"), other.workload("spiffe://other.test/ns/x/sa/y")]);
  rootPem = derToPem(der(acme.root.certificate));
  const config =
    gatewayYaml() +
    meshConfigYaml(acme) +
    serviceYaml("orders", "orders.internal", upstream, "orders.test") +
    policyYaml("PeerAuthentication", "orders", "strict", "  mtls: { mode: STRICT }") +
    policyYaml("AuthorizationPolicy", "orders", "frontend-only", `  rules: [{ from: [{ source: { principals: ["acme.test/ns/shop/sa/frontend"] } }] }]`);
  gateway = await startTestGateway(config, { bindings: { MESH_PROXY_SECRET: PROXY_SECRET } });

  // The front's own server certificate, for localhost, from the mesh CA.
  const serverKeys = await generateSigningKeyPair();
  const serverCert = await createCertificate({
    subject: "CN=front.localhost",
    issuer: acme.intermediate,
    keys: serverKeys,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    ca: false,
    keyUsage: KeyUsageFlags.digitalSignature,
    extendedKeyUsage: [ExtendedKeyUsage.serverAuth],
    uris: ["spiffe://acme.test/ns/edge/sa/front-proxy"],
    dnsNames: ["localhost"],
  });
  front = https.createServer(
    {
      key: await privateKeyPem(serverKeys.privateKey),
      cert: derToPem(der(serverCert)) + derToPem(der(acme.intermediate.certificate)),
      ca: [rootPem],
      requestCert: true,
      rejectUnauthorized: false,
    },
    (request, response) => void forward(request, response),
  );
  await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
  frontPort = (front.address() as AddressInfo).port;
});

afterAll(async () => {
  front?.closeAllConnections();
  await Promise.all([new Promise((resolve) => (front ? front.close(resolve) : resolve(undefined))), gateway?.close(), upstream?.close()]);
});

/** What a TLS-terminating proxy does: drop the client's identity headers, add XFCC for a verified client certificate, forward. */
async function forward(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const socket = request.socket as TLSSocket;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) if (typeof value === "string" && name !== "x-forwarded-client-cert") headers[name] = value;
  headers["x-mesh-proxy-auth"] = PROXY_SECRET;
  headers["x-forwarded-for"] = socket.remoteAddress ?? "";
  const peer = socket.getPeerCertificate(true);
  if (socket.authorized && peer.raw) {
    const chain: Buffer[] = [];
    for (let certificate = peer; certificate?.raw; certificate = certificate.issuerCertificate) {
      chain.push(certificate.raw);
      if (certificate.issuerCertificate === certificate) break;
    }
    headers["x-forwarded-client-cert"] = formatXfccElement({
      by: ["spiffe://acme.test/ns/edge/sa/front-proxy"],
      hash: await sha256Hex(new Uint8Array(chain[0]!)),
      cert: urlEncodePem(derToPem(chain[0]!)),
      chain: urlEncodePem(chain.map((certificate) => derToPem(certificate)).join("")),
      subject: "",
      uri: (peer.subjectaltname ?? "").split(", ").filter((name) => name.startsWith("URI:")).map((name) => name.slice(4)),
    });
  }
  const outbound = http.request({ host: gateway.url.hostname, port: gateway.url.port, path: request.url, method: request.method, headers }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(response);
  });
  outbound.on("error", () => response.writeHead(502).end());
  request.pipe(outbound);
}

function callFront(identity: Workload | undefined): Promise<{ status: number; body: string; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: "127.0.0.1",
        servername: "localhost",
        port: frontPort,
        path: "/orders/42",
        headers: { host: "orders.test", "x-forwarded-client-cert": "URI=spiffe://acme.test/ns/shop/sa/admin" },
        ca: [rootPem],
        ...(identity ? { key: identity.keyPem, cert: identity.chainPem } : {}),
        agent: false,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body, authorized: (response.socket as TLSSocket).authorized }));
      },
    );
    request.on("error", reject);
    request.end();
  });
}

describe("mTLS through a TLS-terminating front proxy", () => {
  it("authenticates a client by the X.509-SVID it proved in the handshake, end to end", async () => {
    const { status, body, authorized } = await callFront(client);
    expect(authorized).toBe(true);
    expect(status).toBe(200);
    const echo = JSON.parse(body) as UpstreamEcho;
    expect(echo.headers["x-mesh-peer-principal"]).toBe("spiffe://acme.test/ns/shop/sa/frontend");
    expect(echo.headers["x-forwarded-client-cert"]).toContain(`Hash=${await sha256Hex(der(client.leaf))}`);
    expect(echo.headers["x-forwarded-client-cert"]).not.toContain("sa/admin");
  });

  it("refuses a client without a certificate, and one whose certificate the front could not verify (STRICT)", async () => {
    expect((await callFront(undefined)).status).toBe(403);
    expect((await callFront(stranger)).status).toBe(403);
  });
});
