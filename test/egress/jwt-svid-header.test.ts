import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrustDomainPki } from "../policies/identity/pki.js";
import { meshConfigYaml, pkiNow, policyYaml } from "../gateway/security/support.js";
import { compileConfig } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { externalServiceYaml, startTestEgress, type TestEgress } from "./fixture.js";

/**
 * A JWT-SVID in a configured header (MeshConfig `jwtSvid.fromHeaders`), for callers whose
 * `Authorization` header is taken (their own API token for the external host, say): the egress
 * verifies it from there, removes it, and leaves `Authorization` alone.
 */

const EGRESS_ID = "spiffe://acme.test/ns/istio-system/sa/istio-egressgateway-service-account";
const API = "spiffe://acme.test/ns/payments/sa/api";

let acme: TrustDomainPki;
let stripe: Upstream;
let egress: TestEgress;

beforeAll(async () => {
  [acme, stripe] = await Promise.all([pkiNow("acme.test"), startUpstream({ name: "stripe" })]);
  const config =
    meshConfigYaml(acme, "  jwtSvid: { fromHeaders: [{ name: X-JWT-SVID }] }") +
    externalServiceYaml("stripe", "api.stripe.test", stripe) +
    policyYaml("AuthorizationPolicy", "istio-system", "egress-callers", `  selector: { matchLabels: { istio: egressgateway } }
  rules: [{ from: [{ source: { principals: ["acme.test/ns/payments/sa/api"] } }] }]`);
  egress = await startTestEgress(config);
});

afterAll(async () => {
  await Promise.all([egress?.close(), stripe?.close()]);
});

describe("MeshConfig jwtSvid.fromHeaders", () => {
  it("takes the caller's JWT-SVID from the configured header, and leaves Authorization to the caller", async () => {
    const token = await acme.jwtSvid(API, EGRESS_ID);
    const response = await egress.fetch("/v1/charges", { host: "api.stripe.test", headers: { "x-jwt-svid": token, authorization: "Bearer sk-callers-own" } });
    expect(response.status).toBe(200);
    const seen = stripe.requests.at(-1)!.headers;
    expect(seen["x-jwt-svid"]).toBeUndefined();
    expect(seen.authorization).toBe("Bearer sk-callers-own");
    expect(seen["x-mesh-peer-principal"]).toBeUndefined();
    // The caller was known (the ALLOW policy names it): the external host is simply not told.
    expect(stripe.requests.at(-1)!.path).toBe("/v1/charges");
  });

  it("no longer reads Authorization for JWT-SVIDs, and refuses a bad token in the header with 401", async () => {
    const token = await acme.jwtSvid(API, EGRESS_ID);
    // In Authorization it is an opaque bearer token of the caller's: no identity, so the ALLOW policy refuses (RBAC).
    const inAuthorization = await egress.fetch("/v1/charges", { host: "api.stripe.test", headers: { authorization: `Bearer ${token}` } });
    expect(inAuthorization.status).toBe(401);
    expect(await inAuthorization.json()).toMatchObject({ flags: "RBAC" });
    const expired = await acme.jwtSvid(API, EGRESS_ID, { now: Date.now() - 3_600_000, ttlMs: 60_000 });
    const refused = await egress.fetch("/v1/charges", { host: "api.stripe.test", headers: { "x-jwt-svid": expired } });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ flags: "UAEX", message: expect.stringMatching(/exp/i) });
  });

  it("is checked when the config is compiled", async () => {
    await expect(compileConfig(meshConfigYaml(acme, "  jwtSvid: { fromHeaders: [{ name: x-mesh-peer }] }"))).rejects.toThrow(/the gateway's own headers/);
    await expect(compileConfig(meshConfigYaml(acme, "  jwtSvid: { fromHeaders: [{ name: a }, { name: A }] }"))).rejects.toThrow(/listed twice/);
  });
});
