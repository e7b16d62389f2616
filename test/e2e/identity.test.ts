import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMeshctl } from "../../control/cli/main.js";
import { generateCaSecrets } from "../../control/ca/authority.js";
import { pemCertificatesToDer, sha256Hex } from "../../policies/identity/encoding.js";
import { generateSigningKeyPair } from "../../policies/identity/issue.js";
import { Pkcs10CertificateRequestGenerator } from "../../policies/identity/x509-lib.js";
import { formatXfccElement, urlEncodePem } from "../../policies/identity/xfcc.js";
import { withCaBundle } from "../../scripts/lib/local-ca.js";
import { startBookinfo, type Bookinfo } from "../control/support/bookinfo.js";
import { ADMIN_TOKEN, READER_TOKEN, startTestMesh, type TestMesh } from "../control/support/control-fixture.js";

/**
 * The mesh CA end to end, in workerd: the control API issues SVIDs, the gateway (which reads the
 * CA's bundle from the MeshConfig the way `npm start` seeds it) accepts them, and
 * examples/bookinfo.yaml's policy lets only productpage read /details: an X.509-SVID forwarded by
 * a trusted front proxy (XFCC) or a JWT-SVID in Authorization reaches it, another identity is
 * 403 (RBAC), no identity 401.
 */

const PROXY_SECRET = "identity-e2e-proxy-secret-0123456789";
const PRODUCTPAGE = "spiffe://acme.test/ns/bookinfo/sa/productpage";
const REVIEWS = "spiffe://acme.test/ns/bookinfo/sa/reviews";

let mesh: TestMesh;
let bookinfo: Bookinfo;

beforeAll(async () => {
  const secrets = await generateCaSecrets("acme.test");
  bookinfo = await startBookinfo();
  mesh = await startTestMesh({
    gatewayBindings: { MESH_PROXY_SECRET: PROXY_SECRET },
    controlBindings: { MESH_CA_KEY: secrets.caKeyPem, MESH_CA_CERT: secrets.caCertPem, MESH_JWT_SVID_KEY: secrets.jwtKeyPem },
  });
  const seeded = await withCaBundle(bookinfo.config, secrets);
  expect(seeded.added).toBe(true);
  const applied = await mesh.api("POST", "/v1/apply?prune=true", { body: seeded.text, contentType: "application/yaml" });
  expect(applied.status, applied.text).toBe(200);
  // The gateway serves the applied version (it re-reads the pointer every 100 ms here).
  for (let tries = 0; tries < 100; tries++) {
    const health = (await (await mesh.gateway("/__mesh/healthz")).json()) as { configVersion?: string };
    if (health.configVersion === applied.body.version) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 60_000);

afterAll(async () => {
  await mesh?.dispose();
  await bookinfo?.close();
});

async function x509Svid(spiffeId: string): Promise<string> {
  const keys = await generateSigningKeyPair();
  const csr = await Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } });
  const answer = await mesh.api("POST", "/v1/svid/x509", { body: JSON.stringify({ csr: csr.toString("pem"), spiffeId }) });
  expect(answer.status, answer.text).toBe(200);
  return answer.body.chain as string;
}

async function jwtSvid(spiffeId: string): Promise<string> {
  const answer = await mesh.api("POST", "/v1/svid/jwt", { body: JSON.stringify({ spiffeId, audience: ["bookinfo.local"] }) });
  expect(answer.status, answer.text).toBe(200);
  return answer.body.token as string;
}

/** What a TLS-terminating front proxy sends after verifying the client's certificate. */
async function throughFront(chainPem: string) {
  const leaf = pemCertificatesToDer(chainPem)![0]!;
  const xfcc = formatXfccElement({ hash: await sha256Hex(leaf), chain: urlEncodePem(chainPem), subject: "" });
  return mesh.gateway("/details/1", { host: "bookinfo.local", headers: { "x-mesh-proxy-auth": PROXY_SECRET, "x-forwarded-client-cert": xfcc } });
}

describe("SVIDs from the control API, at the gateway", () => {
  it("an X.509-SVID for productpage, forwarded by the trusted front, reaches /details; one for reviews is 403 RBAC", async () => {
    const allowed = await throughFront(await x509Svid(PRODUCTPAGE));
    expect(allowed.status, await allowed.clone().text()).toBe(200);
    expect(((await allowed.json()) as { service: string }).service).toBe("details");

    const denied = await throughFront(await x509Svid(REVIEWS));
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: "rbac_access_denied" });
  });

  it("a JWT-SVID for productpage reaches /details; one for reviews is 403 RBAC; none is 401", async () => {
    const allowed = await mesh.gateway("/details/1", { host: "bookinfo.local", headers: { authorization: `Bearer ${await jwtSvid(PRODUCTPAGE)}` } });
    expect(allowed.status, await allowed.clone().text()).toBe(200);
    await allowed.arrayBuffer();
    const denied = await mesh.gateway("/details/1", { host: "bookinfo.local", headers: { authorization: `Bearer ${await jwtSvid(REVIEWS)}` } });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: "rbac_access_denied" });
    const anonymous = await mesh.gateway("/details/1", { host: "bookinfo.local" });
    expect(anonymous.status).toBe(401);
    await anonymous.arrayBuffer();
    // The other routes stay open to anyone.
    const open = await mesh.gateway("/productpage", { host: "bookinfo.local" });
    expect(open.status).toBe(200);
    await open.arrayBuffer();
  });

  it("serves the bundle the gateway trusts at /v1/bundle, without a token", async () => {
    const answer = await mesh.api("GET", "/v1/bundle", { token: null });
    expect(answer.status).toBe(200);
    expect(answer.body.keys.map((key: { use: string }) => key.use)).toEqual(["x509-svid", "jwt-svid"]);
  });
});

describe("meshctl cert issue / token issue", () => {
  const meshctl = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runMeshctl([...argv, "--server", mesh.controlUrl.toString()], { out: (text) => out.push(text), err: (text) => err.push(text), env: {} });
    return { code, out: out.join("\n"), err: err.join("\n") };
  };

  it("cert issue makes the key locally, sends a CSR, writes key (0600), chain and bundle; the chain gets through the front", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "meshctl-cert-"));
    try {
      const run = await meshctl(["cert", "issue", "--spiffe-id", PRODUCTPAGE, "--out-dir", dir, "--ttl", "10m", "--token", ADMIN_TOKEN]);
      expect(run.code, run.err).toBe(0);
      expect(run.out).toContain(`issued ${PRODUCTPAGE}`);
      expect((await stat(path.join(dir, "key.pem"))).mode & 0o777).toBe(0o600);
      expect(await readFile(path.join(dir, "key.pem"), "utf8")).toContain("BEGIN PRIVATE KEY");
      expect(await readFile(path.join(dir, "bundle.pem"), "utf8")).toContain("BEGIN CERTIFICATE");
      const through = await throughFront(await readFile(path.join(dir, "cert.pem"), "utf8"));
      expect(through.status).toBe(200);
      await through.arrayBuffer();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("token issue prints a JWT-SVID the gateway accepts; the reader token is refused (exit 1)", async () => {
    const run = await meshctl(["token", "issue", "--spiffe-id", PRODUCTPAGE, "--audience", "bookinfo.local", "--token", ADMIN_TOKEN]);
    expect(run.code, run.err).toBe(0);
    const allowed = await mesh.gateway("/details/1", { host: "bookinfo.local", headers: { authorization: `Bearer ${run.out.trim()}` } });
    expect(allowed.status).toBe(200);
    await allowed.arrayBuffer();
    const refused = await meshctl(["token", "issue", "--spiffe-id", PRODUCTPAGE, "--audience", "bookinfo.local", "--token", READER_TOKEN]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("403 forbidden");
    const usage = await meshctl(["token", "issue", "--spiffe-id", PRODUCTPAGE, "--token", ADMIN_TOKEN]);
    expect(usage.code).toBe(2);
  });
});
