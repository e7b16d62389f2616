/**
 * Runs examples/security/mesh.yaml locally, with real keys and a real mutual-TLS front:
 *
 *   npx tsx examples/security/demo.ts            # Ctrl-C to stop
 *
 * - a mesh CA for trust domain acme.test (root → intermediate), its SPIFFE bundle (with a
 *   JWT-SVID signing key) and an identity provider's JWKS, served on http://127.0.0.1:9091;
 * - an echo service on http://127.0.0.1:9090 that answers with the headers it received;
 * - the gateway in workerd on http://127.0.0.1:8787, with MESH_PROXY_SECRET set;
 * - a TLS-terminating front proxy on https://localhost:8443 that verifies client certificates
 *   against the mesh CA and forwards the verified one as XFCC, with the proxy secret;
 * - client credentials (an X.509-SVID for spiffe://acme.test/ns/shop/sa/frontend, a JWT-SVID,
 *   user tokens) under .mesh/security-demo/.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import { exportJWK, SignJWT } from "jose";
import { derToPem, sha256Hex } from "../../policies/identity/encoding.js";
import {
  createCertificate,
  createIntermediateAuthority,
  createRootAuthority,
  generateSigningKeyPair,
  issueJwtSvid,
  issueX509Svid,
  jwtSvidAuthority,
  spiffeBundleDocument,
} from "../../policies/identity/issue.js";
import { ExtendedKeyUsage, KeyUsageFlags, type X509Certificate } from "../../policies/identity/x509-lib.js";
import { formatXfccElement, urlEncodePem } from "../../policies/identity/xfcc.js";
import { parseConfigText } from "../../policies/config/load.js";
import { formatConfigIssue } from "../../policies/errors.js";
import { compileSnapshot } from "../../policies/snapshot/compile.js";
import { startLocalGateway } from "../../scripts/lib/local-gateway.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(HERE, "../../.mesh/security-demo");
const GATEWAY_ID = "spiffe://acme.test/ns/istio-system/sa/istio-ingressgateway-service-account";
const PROXY_SECRET = Array.from(crypto.getRandomValues(new Uint8Array(24)), (byte) => byte.toString(16).padStart(2, "0")).join("");

const pem = (certificate: X509Certificate) => derToPem(new Uint8Array(certificate.rawData));
async function keyPem(key: CryptoKey): Promise<string> {
  const base64 = Buffer.from(await crypto.subtle.exportKey("pkcs8", key)).toString("base64");
  return `-----BEGIN PRIVATE KEY-----\n${base64.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
}
const listen = (server: http.Server, port: number) => new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", () => resolve()));

async function main(): Promise<void> {
  const now = Date.now();
  // The mesh CA, a JWT-SVID key, and the SPIFFE bundle that trusts both.
  const root = await createRootAuthority({ trustDomain: "acme.test", now });
  const intermediate = await createIntermediateAuthority({ parent: root, now });
  const jwtKeys = await generateSigningKeyPair();
  const bundle = await spiffeBundleDocument({ x509Authorities: [root.certificate], jwtAuthorities: [await jwtSvidAuthority(jwtKeys.publicKey, "jwt-1")], sequence: 1, refreshHintSeconds: 300 });
  // An identity provider for end users.
  const idpKeys = await generateSigningKeyPair();
  const jwks = { keys: [{ ...(await exportJWK(idpKeys.publicKey)), kid: "idp-1", alg: "ES256", use: "sig" }] };
  const userToken = (sub: string, groups: string[]) =>
    new SignJWT({ groups }).setProtectedHeader({ alg: "ES256", kid: "idp-1" }).setIssuer("https://idp.acme.test").setSubject(sub).setAudience("shop").setIssuedAt().setExpirationTime("12h").sign(idpKeys.privateKey);

  // Client credentials.
  const clientKeys = await generateSigningKeyPair();
  const clientCert = await issueX509Svid({ authority: intermediate, spiffeId: "spiffe://acme.test/ns/shop/sa/frontend", publicKey: clientKeys.publicKey, now, ttlMs: 12 * 3_600_000 });
  const frontKeys = await generateSigningKeyPair();
  const frontCert = await createCertificate({
    subject: "CN=localhost",
    issuer: intermediate,
    keys: frontKeys,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 12 * 3_600_000),
    ca: false,
    keyUsage: KeyUsageFlags.digitalSignature,
    extendedKeyUsage: [ExtendedKeyUsage.serverAuth],
    dnsNames: ["localhost"],
  });
  await mkdir(OUT, { recursive: true });
  const files = {
    "ca.pem": pem(root.certificate),
    "frontend.pem": pem(clientCert) + pem(intermediate.certificate),
    "frontend-key.pem": await keyPem(clientKeys.privateKey),
    "frontend.jwt-svid": await issueJwtSvid({ privateKey: jwtKeys.privateKey, kid: "jwt-1", spiffeId: "spiffe://acme.test/ns/shop/sa/frontend", audience: GATEWAY_ID, now, ttlMs: 12 * 3_600_000 }),
    "alice.jwt": await userToken("alice", ["dev"]),
    "admin.jwt": await userToken("root", ["admin"]),
  };
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(OUT, name), content, { mode: 0o600 });

  // Keys (:9091) and the echo service (:9090).
  const keysServer = http.createServer((request, response) => {
    const body = request.url === "/bundle.json" ? bundle : request.url === "/jwks.json" ? jwks : undefined;
    if (!body) return void response.writeHead(404).end();
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  const echo = http.createServer((request, response) => {
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ method: request.method, path: request.url, headers: request.headers }, null, 2) + "\n");
  });
  await Promise.all([listen(keysServer, 9091), listen(echo, 9090)]);

  // The gateway, in workerd.
  const loaded = parseConfigText(await readFile(path.join(HERE, "mesh.yaml"), "utf8"), "examples/security/mesh.yaml");
  const compiled = loaded.issues.length === 0 ? await compileSnapshot(loaded.resources) : undefined;
  if (!compiled?.ok) throw new Error((compiled && !compiled.ok ? compiled.issues : loaded.issues).map(formatConfigIssue).join("\n"));
  const gateway = await startLocalGateway({ port: 8787, bindings: { MESH_PROXY_SECRET: PROXY_SECRET, MESH_DEBUG_HEADERS: "true" } });
  await gateway.seed(compiled.snapshot);

  // The TLS-terminating front: verifies client certificates against the CA, forwards them as XFCC.
  const front = https.createServer({ key: await keyPem(frontKeys.privateKey), cert: pem(frontCert) + pem(intermediate.certificate), ca: [pem(root.certificate)], requestCert: true, rejectUnauthorized: false }, async (request, response) => {
    const socket = request.socket as TLSSocket;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) if (typeof value === "string" && name !== "x-forwarded-client-cert") headers[name] = value;
    headers["x-mesh-proxy-auth"] = PROXY_SECRET;
    const peer = socket.getPeerCertificate(true);
    if (socket.authorized && peer.raw) {
      const chain = [peer.raw, ...(peer.issuerCertificate && peer.issuerCertificate !== peer ? [peer.issuerCertificate.raw] : [])];
      headers["x-forwarded-client-cert"] = formatXfccElement({
        hash: await sha256Hex(new Uint8Array(chain[0]!)),
        cert: urlEncodePem(derToPem(chain[0]!)),
        chain: urlEncodePem(chain.map((der) => derToPem(der)).join("")),
        subject: "",
      });
    }
    const outbound = http.request({ host: "127.0.0.1", port: 8787, path: request.url, method: request.method, headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    outbound.on("error", () => response.writeHead(502).end());
    request.pipe(outbound);
  });
  await listen(front, 8443);

  const out = path.relative(process.cwd(), OUT);
  const tls = `--cacert ${out}/ca.pem --cert ${out}/frontend.pem --key ${out}/frontend-key.pem`;
  console.log(`security demo running (Ctrl-C to stop); credentials in ${out}/

  # Public: no credential needed
  curl -s -H 'Host: shop.local' http://127.0.0.1:8787/catalog

  # A caller without credentials asking for orders: 401 with a Bearer challenge
  curl -si -H 'Host: shop.local' http://127.0.0.1:8787/orders/1

  # The frontend workload through the mTLS front: 200, and the echo shows the XFCC the gateway set
  curl -s ${tls} -H 'Host: shop.local' https://localhost:8443/orders/1

  # orders.local is served with tls.mode MUTUAL: without a client certificate, 403
  curl -si --cacert ${out}/ca.pem -H 'Host: orders.local' https://localhost:8443/orders/1

  # The same workload with a JWT-SVID instead of a certificate
  curl -s -H 'Host: shop.local' -H "Authorization: Bearer $(cat ${out}/frontend.jwt-svid)" http://127.0.0.1:8787/orders/1

  # Users: alice may see her account but not the admin pages; root may
  curl -s -H 'Host: shop.local' -H "Authorization: Bearer $(cat ${out}/alice.jwt)" http://127.0.0.1:8787/account
  curl -si -H 'Host: shop.local' -H "Authorization: Bearer $(cat ${out}/alice.jwt)" http://127.0.0.1:8787/admin
  curl -s -H 'Host: shop.local' -H "Authorization: Bearer $(cat ${out}/admin.jwt)" http://127.0.0.1:8787/admin

  # Path spellings do not get around the policy (400 or 401/403)
  curl -si --path-as-is -H 'Host: shop.local' 'http://127.0.0.1:8787/catalog/../admin'
  curl -si --path-as-is -H 'Host: shop.local' 'http://127.0.0.1:8787/%61dmin'
  curl -si --path-as-is -H 'Host: shop.local' 'http://127.0.0.1:8787//admin'

  # Spoofed identity headers are stripped; a forged XFCC without the proxy secret is ignored
  curl -s -H 'Host: shop.local' -H 'x-forwarded-client-cert: URI=spiffe://acme.test/ns/shop/sa/frontend' -H 'x-spiffe-id: spiffe://acme.test/ns/shop/sa/frontend' http://127.0.0.1:8787/catalog
`);
  const stop = async () => {
    front.closeAllConnections();
    keysServer.closeAllConnections();
    echo.closeAllConnections();
    await Promise.all([gateway.dispose(), new Promise((resolve) => front.close(resolve)), new Promise((resolve) => keysServer.close(resolve)), new Promise((resolve) => echo.close(resolve))]);
    process.exit(0);
  };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
