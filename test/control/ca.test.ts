import { beforeAll, describe, expect, it } from "vitest";
import { createControlApp } from "../../control/app.js";
import { generateCaSecrets, type CaSecrets } from "../../control/ca/authority.js";
import { ConfigStoreCore } from "../../control/store/config-store.js";
import { derToPem, pemCertificatesToDer, sha256Hex } from "../../policies/identity/encoding.js";
import { createRootAuthority, generateSigningKeyPair } from "../../policies/identity/issue.js";
import { verifyJwtSvid } from "../../policies/identity/jwt-svid.js";
import { parseSpiffeBundle } from "../../policies/identity/trust-bundle.js";
import { verifyX509Svid } from "../../policies/identity/x509-svid.js";
import {
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Pkcs10CertificateRequestGenerator,
  SubjectAlternativeNameExtension,
  X509Certificate,
} from "../../policies/identity/x509-lib.js";
import { MemoryKv, MemoryStorage } from "./support/memory-backends.js";

/**
 * The mesh CA through the control API (in Node, with the in-memory store): every SVID it issues
 * verifies with the gateway's own verifiers against the bundle it publishes, and every refusal
 * has its status, error code and reason.
 */

const ADMIN = "ca-test-admin-token";
const READER = "ca-test-reader-token";
const REGISTRATION = "registration-token-for-productpage-0123456789";
const PRODUCTPAGE = "spiffe://acme.test/ns/bookinfo/sa/productpage";
const REVIEWS = "spiffe://acme.test/ns/bookinfo/sa/reviews";
const RATINGS = "spiffe://acme.test/ns/bookinfo/sa/ratings";
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

let secrets: CaSecrets;
let app: ReturnType<typeof createControlApp>;
let env: Record<string, unknown>;

async function call(method: string, path: string, init: { token?: string | null; body?: unknown; props?: Record<string, unknown> } = {}) {
  const headers: Record<string, string> = {};
  const token = init.token === undefined ? ADMIN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  // A service binding's call: the platform gives the worker `ctx.props` from the caller's binding.
  const ctx = init.props ? ({ props: init.props, waitUntil: () => {}, passThroughOnException: () => {} } as unknown as ExecutionContext) : undefined;
  const response = await app.request(path, { method, headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) }, env, ctx);
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

async function csrFor(keys: CryptoKeyPair, options: { name?: string; alg?: "EC" | "RSA" } = {}): Promise<string> {
  const signingAlgorithm = options.alg === "RSA" ? { name: "RSASSA-PKCS1-v1_5" } : { name: "ECDSA", hash: "SHA-256" };
  const csr = await Pkcs10CertificateRequestGenerator.create({ name: options.name ?? "CN=ignored", keys, signingAlgorithm, extensions: [new SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://acme.test/ns/istio-system/sa/admin" }, { type: "dns", value: "evil.test" }])] });
  return csr.toString("pem");
}

const bundleLookup = async () => {
  const document = (await call("GET", "/v1/bundle", { token: null })).body;
  const { bundle } = parseSpiffeBundle("acme.test", document);
  return (trustDomain: string) => (trustDomain === "acme.test" ? bundle : undefined);
};

function expectRefusal(answer: { status: number; body: any }, status: number, code: string, reason?: string): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(answer.body.error).toMatchObject({ code, message: expect.any(String), ...(reason ? { reason } : {}) });
}

beforeAll(async () => {
  secrets = await generateCaSecrets("acme.test", NOW - 86_400_000);
  const core = new ConfigStoreCore({ storage: new MemoryStorage(), kv: new MemoryKv(), log: () => {}, sleep: async () => {} });
  app = createControlApp({ store: () => core, log: () => {}, now: () => NOW });
  env = { MESH_ADMIN_TOKEN: ADMIN, MESH_READER_TOKEN: READER, MESH_CA_KEY: secrets.caKeyPem, MESH_CA_CERT: secrets.caCertPem, MESH_JWT_SVID_KEY: secrets.jwtKeyPem };
  const meshConfig = {
    apiVersion: "mesh.istio.io/v1alpha1",
    kind: "MeshConfig",
    metadata: { name: "mesh", namespace: "istio-system" },
    spec: { trustDomain: "acme.test", workloadRegistrations: [{ spiffeId: PRODUCTPAGE, tokenSha256: await sha256Hex(REGISTRATION) }, { spiffeId: RATINGS, serviceBinding: true }] },
  };
  const applied = await app.request("/v1/apply", { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify(meshConfig) }, env);
  expect(applied.status, await applied.clone().text()).toBe(200);
});

describe("GET /v1/bundle", () => {
  it("is public and publishes the root (x509-svid) and the JWT-SVID key (jwt-svid, kid, ES256) in the SPIFFE bundle format", async () => {
    const answer = await call("GET", "/v1/bundle", { token: null });
    expect(answer.status).toBe(200);
    const [x509, jwt] = answer.body.keys;
    expect(x509).toMatchObject({ use: "x509-svid", kty: "EC", x5c: [expect.any(String)] });
    expect(derToPem(pemCertificatesToDer(secrets.caCertPem)![0]!)).toContain(x509.x5c[0].slice(0, 60));
    expect(jwt).toMatchObject({ use: "jwt-svid", kty: "EC", crv: "P-256", kid: expect.any(String), alg: "ES256" });
    expect(jwt.d).toBeUndefined();
    expect(answer.body.spiffe_refresh_hint).toBe(300);
    const { bundle, problems } = parseSpiffeBundle("acme.test", answer.body);
    expect(problems).toEqual([]);
    expect(bundle.x509Authorities).toHaveLength(1);
  });

  it("answers 503 ERR_CA_NOT_CONFIGURED without the CA secrets, and when the key is not the certificate's", async () => {
    // Settings are parsed once per isolate: a fresh app for each set of secrets.
    const fresh = () => createControlApp({ store: () => new ConfigStoreCore({ storage: new MemoryStorage(), kv: new MemoryKv(), log: () => {} }), log: () => {} });
    const bare = await fresh().request("/v1/bundle", {}, { MESH_ADMIN_TOKEN: ADMIN });
    expect(bare.status).toBe(503);
    expect(((await bare.json()) as any).error).toMatchObject({ code: "unavailable", reason: "ERR_CA_NOT_CONFIGURED" });
    const other = await generateCaSecrets("acme.test", NOW);
    const answer = await fresh().request("/v1/bundle", {}, { ...env, MESH_CA_KEY: other.caKeyPem });
    expect(answer.status).toBe(503);
    expect(((await answer.json()) as any).error.message).toMatch(/not the private key/);
  });
});

describe("POST /v1/svid/x509", () => {
  it("issues an X.509-SVID for the CSR's key that the gateway's verifier accepts against the published bundle", async () => {
    const keys = await generateSigningKeyPair();
    const answer = await call("POST", "/v1/svid/x509", { body: { csr: await csrFor(keys), spiffeId: PRODUCTPAGE } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    const chain = pemCertificatesToDer(answer.body.chain)!;
    const verified = await verifyX509Svid(chain, await bundleLookup(), { now: NOW });
    expect(verified.spiffeId.uri).toBe(PRODUCTPAGE);

    const leaf = new X509Certificate(answer.body.certificate);
    // Only the CSR's public key is used: its subject and SANs are ignored.
    expect(leaf.subject).toBe("");
    expect(leaf.getExtension(SubjectAlternativeNameExtension)!.names.items.map((name) => [name.type, name.value])).toEqual([["url", PRODUCTPAGE]]);
    expect(Buffer.from(await crypto.subtle.exportKey("spki", await leaf.publicKey.export())).equals(Buffer.from(await crypto.subtle.exportKey("spki", keys.publicKey)))).toBe(true);
    expect(leaf.getExtension(BasicConstraintsExtension)!.ca).toBe(false);
    expect(leaf.getExtension(KeyUsagesExtension)!.usages).toBe(KeyUsageFlags.digitalSignature);
    expect(leaf.getExtension(ExtendedKeyUsageExtension)!.usages).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    expect(leaf.issuer).toBe(new X509Certificate(secrets.caCertPem).subject);
    expect(leaf.notAfter.getTime() - NOW).toBe(3_600_000);
    expect(answer.body.expiresAt).toBe(new Date(NOW + 3_600_000).toISOString());
    // Random serials: two SVIDs for the same key differ.
    const again = await call("POST", "/v1/svid/x509", { body: { csr: await csrFor(keys), spiffeId: PRODUCTPAGE } });
    expect(again.body.serialNumber).not.toBe(answer.body.serialNumber);
    expect(answer.body.serialNumber).toMatch(/^[0-9a-f]{32}$/);
  });

  it("adds keyEncipherment for an RSA key, and honours a shorter TTL", async () => {
    const keys = (await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, true, ["sign", "verify"])) as CryptoKeyPair;
    const answer = await call("POST", "/v1/svid/x509", { body: { csr: await csrFor(keys, { alg: "RSA" }), spiffeId: REVIEWS, ttlSeconds: 600 } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const leaf = new X509Certificate(answer.body.certificate);
    expect(leaf.getExtension(KeyUsagesExtension)!.usages).toBe(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment);
    expect(leaf.notAfter.getTime() - NOW).toBe(600_000);
    await expect(verifyX509Svid(pemCertificatesToDer(answer.body.chain)!, await bundleLookup(), { now: NOW })).resolves.toBeTruthy();
  });

  it("lets a registration token obtain exactly its registered SPIFFE ID", async () => {
    const csr = await csrFor(await generateSigningKeyPair());
    const mine = await call("POST", "/v1/svid/x509", { token: REGISTRATION, body: { csr, spiffeId: PRODUCTPAGE } });
    expect(mine.status, JSON.stringify(mine.body)).toBe(200);
    expectRefusal(await call("POST", "/v1/svid/x509", { token: REGISTRATION, body: { csr, spiffeId: REVIEWS } }), 403, "forbidden", "ERR_CA_NOT_REGISTERED");
  });

  it("refuses the reader token, a wrong registration token and no token", async () => {
    const csr = await csrFor(await generateSigningKeyPair());
    expectRefusal(await call("POST", "/v1/svid/x509", { token: READER, body: { csr, spiffeId: PRODUCTPAGE } }), 403, "forbidden", "ERR_CA_READER_TOKEN");
    const wrong = await call("POST", "/v1/svid/x509", { token: `${REGISTRATION}x`, body: { csr, spiffeId: PRODUCTPAGE } });
    expectRefusal(wrong, 401, "unauthorized", "ERR_CA_UNAUTHENTICATED");
    expect(wrong.headers.get("www-authenticate")).toContain("Bearer");
    expectRefusal(await call("POST", "/v1/svid/x509", { token: null, body: { csr, spiffeId: PRODUCTPAGE } }), 401, "unauthorized", "ERR_CA_UNAUTHENTICATED");
  });

  it("refuses a SPIFFE ID of another trust domain, without a path, or invalid — even to the admin", async () => {
    const csr = await csrFor(await generateSigningKeyPair());
    expectRefusal(await call("POST", "/v1/svid/x509", { body: { csr, spiffeId: "spiffe://partner.test/ns/bookinfo/sa/productpage" } }), 400, "bad_request", "ERR_CA_SPIFFE_ID_TRUST_DOMAIN");
    expectRefusal(await call("POST", "/v1/svid/x509", { body: { csr, spiffeId: "spiffe://acme.test" } }), 400, "bad_request", "ERR_CA_SPIFFE_ID_INVALID");
    expectRefusal(await call("POST", "/v1/svid/x509", { body: { csr, spiffeId: "spiffe://acme.test/ns/../sa/x" } }), 400, "bad_request", "ERR_CA_SPIFFE_ID_INVALID");
  });

  it("refuses a CSR whose signature does not verify (no proof of possession), a malformed CSR and a TTL over the maximum", async () => {
    const csr = await csrFor(await generateSigningKeyPair());
    const der = Buffer.from(csr.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    der[der.length - 3]! ^= 0x01; // inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    expectRefusal(await call("POST", "/v1/svid/x509", { body: { csr: tampered, spiffeId: PRODUCTPAGE } }), 400, "bad_request", "ERR_CA_CSR_SIGNATURE");
    // A CSR for one key signed with another: the signature does not match the key it certifies.
    const [owned, other] = await Promise.all([generateSigningKeyPair(), generateSigningKeyPair()]);
    const swapped = await csrFor({ publicKey: owned.publicKey, privateKey: other.privateKey });
    expectRefusal(await call("POST", "/v1/svid/x509", { body: { csr: swapped, spiffeId: PRODUCTPAGE } }), 400, "bad_request", "ERR_CA_CSR_SIGNATURE");
    expectRefusal(await call("POST", "/v1/svid/x509", { body: { csr: "not a csr", spiffeId: PRODUCTPAGE } }), 400, "bad_request", "ERR_CA_CSR_MALFORMED");
    expectRefusal(await call("POST", "/v1/svid/x509", { body: { csr: csr + " ".repeat(16 * 1024), spiffeId: PRODUCTPAGE } }), 400, "bad_request", "ERR_CA_CSR_MALFORMED");
    const p521 = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-521" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const p521Csr = (await Pkcs10CertificateRequestGenerator.create({ keys: p521, signingAlgorithm: { name: "ECDSA", hash: "SHA-512" } })).toString("pem");
    expectRefusal(await call("POST", "/v1/svid/x509", { body: { csr: p521Csr, spiffeId: PRODUCTPAGE } }), 400, "bad_request", "ERR_CA_CSR_KEY");
    expectRefusal(await call("POST", "/v1/svid/x509", { body: { csr, spiffeId: PRODUCTPAGE, ttlSeconds: 86_401 } }), 400, "bad_request", "ERR_CA_TTL_TOO_LONG");
    expectRefusal(await call("POST", "/v1/svid/x509", { body: { csr, spiffeId: PRODUCTPAGE, extra: 1 } }), 400, "bad_request");
  });
});

describe("POST /v1/svid/jwt", () => {
  it("issues an ES256 JWT-SVID that the gateway's verifier accepts for its audience", async () => {
    const answer = await call("POST", "/v1/svid/jwt", { body: { spiffeId: PRODUCTPAGE, audience: ["bookinfo.local"] } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const bundle = await call("GET", "/v1/bundle", { token: null });
    const [header] = answer.body.token.split(".");
    expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({ alg: "ES256", kid: bundle.body.keys[1].kid, typ: "JWT" });
    const verified = await verifyJwtSvid(answer.body.token, await bundleLookup(), { audience: "bookinfo.local", now: NOW });
    expect(verified.spiffeId.uri).toBe(PRODUCTPAGE);
    expect(verified.expiresAt).toBe(NOW + 300_000);
    await expect(verifyJwtSvid(answer.body.token, await bundleLookup(), { audience: "other", now: NOW })).rejects.toMatchObject({ code: "ERR_JWT_AUDIENCE" });
  });

  it("refuses a missing audience, a TTL over the maximum, the reader token and an unregistered SPIFFE ID", async () => {
    expectRefusal(await call("POST", "/v1/svid/jwt", { body: { spiffeId: PRODUCTPAGE, audience: [] } }), 400, "bad_request", "ERR_CA_AUDIENCE_MISSING");
    expectRefusal(await call("POST", "/v1/svid/jwt", { body: { spiffeId: PRODUCTPAGE } }), 400, "bad_request");
    expectRefusal(await call("POST", "/v1/svid/jwt", { body: { spiffeId: PRODUCTPAGE, audience: ["a"], ttlSeconds: 3601 } }), 400, "bad_request", "ERR_CA_TTL_TOO_LONG");
    expectRefusal(await call("POST", "/v1/svid/jwt", { token: READER, body: { spiffeId: PRODUCTPAGE, audience: ["a"] } }), 403, "forbidden", "ERR_CA_READER_TOKEN");
    expectRefusal(await call("POST", "/v1/svid/jwt", { token: REGISTRATION, body: { spiffeId: REVIEWS, audience: ["a"] } }), 403, "forbidden", "ERR_CA_NOT_REGISTERED");
    expectRefusal(await call("POST", "/v1/svid/jwt", { body: { spiffeId: "spiffe://partner.test/ns/a/sa/b", audience: ["a"] } }), 400, "bad_request", "ERR_CA_SPIFFE_ID_TRUST_DOMAIN");
    const mine = await call("POST", "/v1/svid/jwt", { token: REGISTRATION, body: { spiffeId: PRODUCTPAGE, audience: ["a"] } });
    expect(mine.status).toBe(200);
  });
});

describe("identities attested by a service binding (ctx.props.spiffeId)", () => {
  it("issue the registered SPIFFE ID with no token, and nothing else", async () => {
    const mine = await call("POST", "/v1/svid/jwt", { token: null, props: { spiffeId: RATINGS }, body: { spiffeId: RATINGS, audience: ["a"] } });
    expect(mine.status, JSON.stringify(mine.body)).toBe(200);
    expect((await verifyJwtSvid(mine.body.token, await bundleLookup(), { audience: "a", now: NOW })).spiffeId.uri).toBe(RATINGS);
    expectRefusal(await call("POST", "/v1/svid/jwt", { token: null, props: { spiffeId: RATINGS }, body: { spiffeId: PRODUCTPAGE, audience: ["a"] } }), 403, "forbidden", "ERR_CA_NOT_REGISTERED");
  });

  it("refuse a binding whose identity is not registered with serviceBinding, invalid props, and HTTP callers without a token", async () => {
    // productpage is registered by token only: its binding is not enough.
    expectRefusal(await call("POST", "/v1/svid/jwt", { token: null, props: { spiffeId: PRODUCTPAGE }, body: { spiffeId: PRODUCTPAGE, audience: ["a"] } }), 403, "forbidden", "ERR_CA_NOT_REGISTERED");
    expectRefusal(await call("POST", "/v1/svid/jwt", { token: null, props: { spiffeId: "not a spiffe id" }, body: { spiffeId: RATINGS, audience: ["a"] } }), 403, "forbidden", "ERR_CA_BINDING_PROPS");
    expectRefusal(await call("POST", "/v1/svid/jwt", { token: null, body: { spiffeId: RATINGS, audience: ["a"] } }), 401, "unauthorized", "ERR_CA_UNAUTHENTICATED");
    // A token, when given, decides (the reader's is refused even through a binding).
    expectRefusal(await call("POST", "/v1/svid/jwt", { token: READER, props: { spiffeId: RATINGS }, body: { spiffeId: RATINGS, audience: ["a"] } }), 403, "forbidden", "ERR_CA_READER_TOKEN");
  });
});

describe("MeshConfig.workloadRegistrations", () => {
  it("needs a token digest or serviceBinding: true", async () => {
    const answer = await call("POST", "/v1/validate", {
      body: { apiVersion: "mesh.istio.io/v1alpha1", kind: "MeshConfig", metadata: { name: "mesh", namespace: "istio-system" }, spec: { trustDomain: "acme.test", workloadRegistrations: [{ spiffeId: RATINGS }] } },
    });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toContain("needs tokenSha256 (a registration token) or serviceBinding: true");
  });

  it("refuses a registration outside the trust domain and a token that is not a SHA-256", async () => {
    const answer = await call("POST", "/v1/validate", {
      body: { apiVersion: "mesh.istio.io/v1alpha1", kind: "MeshConfig", metadata: { name: "mesh", namespace: "istio-system" }, spec: { trustDomain: "acme.test", workloadRegistrations: [{ spiffeId: "spiffe://partner.test/ns/a/sa/b", tokenSha256: "ab" }] } },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.issues.map((issue: { path: string }) => issue.path).sort()).toEqual(["spec.workloadRegistrations[0].spiffeId", "spec.workloadRegistrations[0].tokenSha256"]);
  });

  it("a root CA of another key does not load as this CA", async () => {
    // Sanity: a bundle from another CA does not verify our SVIDs (the verifier, not the CA, decides).
    const foreign = await createRootAuthority({ trustDomain: "acme.test", now: NOW });
    const keys = await generateSigningKeyPair();
    const issued = await call("POST", "/v1/svid/x509", { body: { csr: await csrFor(keys), spiffeId: PRODUCTPAGE } });
    const { bundle } = parseSpiffeBundle("acme.test", { keys: [{ kty: "EC", use: "x509-svid", x5c: [Buffer.from(foreign.certificate.rawData).toString("base64")] }] });
    await expect(verifyX509Svid(pemCertificatesToDer(issued.body.chain)!, () => bundle, { now: NOW })).rejects.toMatchObject({ code: expect.stringMatching(/ERR_SVID_(UNTRUSTED|SIGNATURE)/) });
  });
});
