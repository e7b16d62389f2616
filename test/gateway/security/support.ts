import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, SignJWT, type JWK, type JWTPayload } from "jose";
import { sha256Hex } from "../../../policies/identity/encoding.js";
import { generateSigningKeyPair } from "../../../policies/identity/issue.js";
import { formatXfccElement, urlEncodePem } from "../../../policies/identity/xfcc.js";
import { createTrustDomainPki, der, type TrustDomainPki, type Workload } from "../../policies/identity/pki.js";
import type { Upstream, UpstreamEcho } from "../../support/upstream.js";

/**
 * Building blocks of the security integration tests: a PKI issued at the current time (the
 * worker runs on the real clock), the XFCC header a trusted front proxy sends, config snippets,
 * and a local identity provider serving a JWKS that a test can rotate or take down.
 */

export const PROXY_SECRET = "a-test-proxy-secret-0123456789abcdef";
export const GATEWAY_ID = "spiffe://acme.test/ns/istio-system/sa/istio-ingressgateway-service-account";

export function pkiNow(trustDomain: string): Promise<TrustDomainPki> {
  return createTrustDomainPki(trustDomain, Date.now());
}

/** The XFCC a TLS-terminating proxy (Envoy, SANITIZE_SET with Cert and Chain) sends for a client certificate. */
export async function xfccFor(workload: Workload, options: { chain?: boolean } = {}): Promise<string> {
  return formatXfccElement({
    by: ["spiffe://acme.test/ns/edge/sa/front-proxy"],
    hash: await sha256Hex(der(workload.leaf)),
    cert: urlEncodePem(workload.certPem),
    ...(options.chain === false ? {} : { chain: urlEncodePem(workload.chainPem) }),
    subject: workload.leaf.subject,
    uri: [workload.spiffeId],
  });
}

/** Headers of a request forwarded by the trusted front proxy for this client certificate. */
export async function viaProxy(workload: Workload | undefined, headers: Record<string, string> = {}): Promise<Record<string, string>> {
  return { "x-mesh-proxy-auth": PROXY_SECRET, ...(workload ? { "x-forwarded-client-cert": await xfccFor(workload) } : {}), ...headers };
}

export function gatewayYaml(servers = `  - port: { number: 80, name: http, protocol: HTTP }\n    hosts: ["*.test"]`): string {
  return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ingress, namespace: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
${servers}
`;
}

/** A ServiceEntry for `host` in `namespace`, served by `upstream`, and a VirtualService routing `routeHost` to it. */
export function serviceYaml(namespace: string, host: string, upstream: Upstream, routeHost: string, http?: string): string {
  const name = host.split(".")[0]!;
  return `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${upstream.port} } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  hosts: [${routeHost}]
  gateways: [edge/ingress]
  http:
${http ?? `  - route: [{ destination: { host: ${host} } }]`}
`;
}

export function policyYaml(kind: string, namespace: string, name: string, spec: string): string {
  return `\n---\napiVersion: security.istio.io/v1\nkind: ${kind}\nmetadata: { name: ${name}, namespace: ${namespace} }\nspec:\n${spec}\n`;
}

export function meshConfigYaml(acme: TrustDomainPki, extra = ""): string {
  return `
---
apiVersion: mesh.istio.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh, namespace: default }
spec:
  trustDomain: acme.test
  trustBundles:
  - trustDomain: acme.test
    spiffeBundle: ${JSON.stringify(acme.bundleDocument)}
${extra}
`;
}

/** The gateway's JSON refusal: `{ error, message, flags }`. */
export async function refusalOf(response: Response): Promise<{ error: string; message: string; flags: string; route?: string }> {
  return (await response.json()) as { error: string; message: string; flags: string; route?: string };
}

export async function echoOf(response: Response): Promise<UpstreamEcho> {
  const text = await response.text();
  try {
    return JSON.parse(text) as UpstreamEcho;
  } catch {
    throw new Error(`expected the upstream's echo, got ${response.status}: ${text}`);
  }
}

/**
 * An identity provider on 127.0.0.1: serves its JWKS at /jwks.json (and any JSON at other
 * paths via `documents`), signs tokens, rotates keys, and can go down.
 */
export interface LocalIdp {
  issuer: string;
  url: string;
  jwksUri: string;
  /** How many times the JWKS was fetched. */
  jwksFetches: number;
  /** Answer 503 to every request while true. */
  down: boolean;
  documents: Map<string, unknown>;
  sign(claims: JWTPayload, options?: { kid?: string; alg?: string; expiresInS?: number }): Promise<string>;
  /** Adds a new key (published at once) and makes it the signing key. */
  rotate(options?: { dropOld?: boolean }): Promise<string>;
  close(): Promise<void>;
}

export async function startIdp(): Promise<LocalIdp> {
  const keys: { kid: string; pair: CryptoKeyPair; jwk: JWK }[] = [];
  const addKey = async () => {
    const pair = await generateSigningKeyPair("ES256");
    const kid = `key-${keys.length + 1}`;
    keys.push({ kid, pair, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: "ES256", use: "sig" } });
    return kid;
  };
  await addKey();
  const server = http.createServer((request, response) => {
    if (idp.down) {
      response.writeHead(503).end("down");
      return;
    }
    if (request.url === "/jwks.json") {
      idp.jwksFetches++;
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: keys.map((key) => key.jwk) }));
      return;
    }
    const document = idp.documents.get(request.url ?? "");
    if (document !== undefined) {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(document));
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const idp: LocalIdp = {
    issuer: "https://idp.acme.test",
    url,
    jwksUri: `${url}/jwks.json`,
    jwksFetches: 0,
    down: false,
    documents: new Map(),
    async sign(claims, options = {}) {
      const key = options.kid ? keys.find((candidate) => candidate.kid === options.kid)! : keys[keys.length - 1]!;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: idp.issuer, iat: now, exp: now + (options.expiresInS ?? 300), ...claims })
        .setProtectedHeader({ alg: options.alg ?? "ES256", kid: key.kid, typ: "JWT" })
        .sign(key.pair.privateKey);
    },
    async rotate(options = {}) {
      const kid = await addKey();
      if (options.dropOld) keys.splice(0, keys.length - 1);
      return kid;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return idp;
}
