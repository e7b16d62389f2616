import { describe, expect, it } from "vitest";
import { explainRequest, ExplainInputError } from "../../../policies/explain/explain.js";
import { BASE_YAML, compileOrThrow, virtualService } from "../fixtures.js";
import { createTrustDomainPki } from "../identity/pki.js";
import { PAY_WITH_PLAIN_ALIAS_YAML } from "../../support/egress-configs.js";

/**
 * explain's security: peer authentication, request authentication and authorization, in the
 * gateway's order and with its status, flag and detail (test/gateway/explain-vs-gateway.test.ts
 * holds the same answers to the real gateway); and the egress's outbound lookup.
 */

const MESH = `
---
apiVersion: mesh.istio.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh, namespace: istio-system }
spec: { trustDomain: acme.test }
`;

const policy = (kind: string, namespace: string, name: string, spec: string, annotations = "") =>
  `\n---\napiVersion: security.istio.io/v1\nkind: ${kind}\nmetadata: { name: ${name}, namespace: ${namespace}${annotations} }\nspec:\n${spec}\n`;

const ROUTES = virtualService(
  "reviews",
  `hosts: [reviews.example.com]
gateways: [edge/public]
http:
- name: direct
  match: [{ uri: { prefix: /direct } }]
  directResponse: { status: 204 }
- name: all
  route: [{ destination: { host: reviews.shop.internal, subset: v1 } }]`,
);

const FRONTEND = "spiffe://acme.test/ns/shop/sa/frontend";
const url = (path: string) => `http://reviews.example.com${path}`;

async function snapshotWith(extra: string) {
  return compileOrThrow(BASE_YAML + MESH + ROUTES + extra);
}

describe("explain: security", () => {
  it("DENY, then ALLOW: which policies matched, the decision and the gateway's status and flag", async () => {
    const snapshot = await snapshotWith(
      policy("AuthorizationPolicy", "shop", "deny-delete", `  action: DENY\n  rules: [{ to: [{ operation: { methods: [DELETE] } }] }]`) +
        policy("AuthorizationPolicy", "shop", "frontend-only", `  action: ALLOW\n  rules: [{ from: [{ source: { principals: ["acme.test/ns/shop/sa/frontend"] } }] }]`) +
        policy("AuthorizationPolicy", "shop", "audit-all", `  action: AUDIT\n  rules: [{}]`),
    );
    const allowed = explainRequest(snapshot, { url: url("/"), peer: { principal: FRONTEND } });
    expect(allowed.security).toHaveLength(1);
    expect(allowed.security[0]).toMatchObject({
      namespace: "shop",
      enforced: true,
      peerAuthentication: { mode: "PERMISSIVE", peer: FRONTEND },
      authorization: {
        decision: { allowed: true, reason: "allow-matched", policy: "shop/frontend-only", rule: 0, audit: ["shop/audit-all"] },
        // The policies that apply, in the snapshot's order; the rule that matched (not reported for AUDIT).
        policies: [
          { name: "shop/audit-all", action: "AUDIT", dryRun: false, matched: true, rule: null },
          { name: "shop/deny-delete", action: "DENY", dryRun: false, matched: false, rule: null },
          { name: "shop/frontend-only", action: "ALLOW", dryRun: false, matched: true, rule: 0 },
        ],
      },
      denial: null,
    });
    expect(allowed.outcomes).toEqual([expect.objectContaining({ status: null, probability: 1 })]);

    const deleted = explainRequest(snapshot, { method: "DELETE", url: url("/"), peer: { principal: FRONTEND } });
    expect(deleted.security[0]!.authorization.decision).toMatchObject({ allowed: false, reason: "deny-matched", policy: "shop/deny-delete" });
    expect(deleted.outcomes).toEqual([{ status: 403, flag: "RBAC", probability: 1, description: "rbac_access_denied: RBAC: access denied" }]);

    const stranger = explainRequest(snapshot, { url: url("/"), peer: { principal: "spiffe://acme.test/ns/shop/sa/other" } });
    expect(stranger.security[0]!.authorization.decision).toMatchObject({ allowed: false, reason: "no-allow-matched" });
    expect(stranger.outcomes[0]).toMatchObject({ status: 403, flag: "RBAC" });

    // Without any identity, a peer could have satisfied the ALLOW rule: 401 with a challenge, as the gateway answers.
    const anonymous = explainRequest(snapshot, { url: url("/") });
    expect(anonymous.security[0]!.authorization.decision).toMatchObject({ allowed: false, missing: "peer" });
    expect(anonymous.outcomes[0]).toMatchObject({ status: 401, flag: "RBAC", description: expect.stringContaining("rbac_access_denied_missing_credential") });

    // Authorization runs before direct responses.
    expect(explainRequest(snapshot, { url: url("/direct") }).outcomes[0]).toMatchObject({ status: 401 });
    expect(explainRequest(snapshot, { url: url("/direct"), peer: { principal: FRONTEND } }).outcomes[0]).toMatchObject({ status: 204 });
  });

  it("dry-run policies are reported, never enforced", async () => {
    const snapshot = await snapshotWith(policy("AuthorizationPolicy", "shop", "deny-all", `  action: DENY\n  rules: [{}]`, `, annotations: { "istio.io/dry-run": "true" }`));
    const explained = explainRequest(snapshot, { url: url("/") });
    expect(explained.security[0]!.authorization).toMatchObject({ decision: { allowed: true, reason: "no-policy" }, dryRun: { allowed: false, reason: "deny-matched", policy: "shop/deny-all" } });
    expect(explained.security[0]!.authorization.policies).toEqual([{ name: "shop/deny-all", action: "DENY", dryRun: true, matched: true, rule: 0 }]);
    expect(explained.outcomes[0]!.status).toBeNull();
  });

  it("STRICT without a peer is the gateway's 403 UAEX peer_authentication_required; a JWT-SVID comes too late for it; DISABLE reads no certificate", async () => {
    const snapshot = await snapshotWith(
      policy("PeerAuthentication", "shop", "strict", `  mtls: { mode: STRICT }`) + policy("AuthorizationPolicy", "shop", "any-peer", `  action: ALLOW\n  rules: [{ from: [{ source: { principals: ["*"] } }] }]`),
    );
    const anonymous = explainRequest(snapshot, { url: url("/") });
    expect(anonymous.security[0]!.peerAuthentication).toMatchObject({ mode: "STRICT", required: true, policies: ["shop/strict (STRICT)"], peer: null });
    expect(anonymous.security[0]!.denial).toMatchObject({ stage: "peer_authentication", status: 403, flag: "UAEX", detail: "peer_authentication_required" });
    expect(anonymous.outcomes).toEqual([expect.objectContaining({ status: 403, flag: "UAEX", probability: 1 })]);

    expect(explainRequest(snapshot, { url: url("/"), peer: { principal: FRONTEND } }).outcomes[0]!.status).toBeNull();
    const svid = explainRequest(snapshot, { url: url("/"), peer: { principal: FRONTEND, via: "jwt-svid" } });
    expect(svid.security[0]!.denial?.detail).toBe("peer_authentication_required");

    const disabled = await snapshotWith(
      policy("PeerAuthentication", "shop", "off", `  mtls: { mode: DISABLE }`) + policy("AuthorizationPolicy", "shop", "any-peer", `  action: ALLOW\n  rules: [{ from: [{ source: { principals: ["*"] } }] }]`),
    );
    const ignored = explainRequest(disabled, { url: url("/"), peer: { principal: FRONTEND } });
    expect(ignored.security[0]!.peerAuthentication.peer).toBeNull();
    expect(ignored.security[0]!.assumptions.join("\n")).toContain("DISABLE");
    expect(ignored.outcomes[0]).toMatchObject({ status: 401, flag: "RBAC" });
    // A JWT-SVID is read even then, if the mesh has JWT-SVID keys for its trust domain; this mesh has none.
    const keyless = explainRequest(disabled, { url: url("/"), peer: { principal: FRONTEND, via: "jwt-svid" } });
    expect(keyless.security[0]!.peerAuthentication.peer).toBeNull();
    expect(keyless.security[0]!.assumptions.join("\n")).toContain("the mesh has no JWT-SVID keys for it");
    const pki = await createTrustDomainPki("acme.test");
    const withKeys = await compileOrThrow(
      BASE_YAML + MESH.replace("spec: { trustDomain: acme.test }", `spec: { trustDomain: acme.test, trustBundles: [{ trustDomain: acme.test, spiffeBundle: ${JSON.stringify(pki.bundleDocument)} }] }`) + ROUTES +
        policy("PeerAuthentication", "shop", "off", `  mtls: { mode: DISABLE }`) + policy("AuthorizationPolicy", "shop", "any-peer", `  action: ALLOW\n  rules: [{ from: [{ source: { principals: ["*"] } }] }]`),
    );
    expect(explainRequest(withKeys, { url: url("/"), peer: { principal: FRONTEND, via: "jwt-svid" } }).outcomes[0]!.status).toBeNull();
  });

  it("a request principal is assumed verified when a jwtRule names its issuer; another issuer is 401 UAEX; claims reach `when`", async () => {
    const snapshot = await snapshotWith(
      policy("RequestAuthentication", "shop", "jwt", `  jwtRules: [{ issuer: "https://idp.acme.test", jwksUri: "https://idp.acme.test/jwks.json", audiences: [shop] }]`) +
        policy(
          "AuthorizationPolicy",
          "shop",
          "admins",
          `  action: ALLOW\n  rules: [{ from: [{ source: { requestPrincipals: ["https://idp.acme.test/*"] } }], when: [{ key: "request.auth.claims[groups]", values: [admin] }] }]`,
        ),
    );
    const admin = explainRequest(snapshot, { url: url("/"), requestPrincipal: { principal: "https://idp.acme.test/alice", claims: { groups: ["admin", "dev"] } } });
    expect(admin.security[0]!.requestAuthentication).toMatchObject({ policies: ["shop/jwt"], issuers: ["https://idp.acme.test"], requestPrincipal: "https://idp.acme.test/alice" });
    expect(admin.security[0]!.assumptions.join("\n")).toContain("explain verifies no token");
    expect(admin.outcomes[0]!.status).toBeNull();

    const noGroup = explainRequest(snapshot, { url: url("/"), requestPrincipal: { principal: "https://idp.acme.test/bob" } });
    expect(noGroup.outcomes[0]).toMatchObject({ status: 403, flag: "RBAC" });
    expect(explainRequest(snapshot, { url: url("/") }).outcomes[0]).toMatchObject({ status: 401, flag: "RBAC" });

    const foreign = explainRequest(snapshot, { url: url("/"), requestPrincipal: { principal: "https://evil.test/alice" } });
    expect(foreign.security[0]!.denial).toMatchObject({ stage: "request_authentication", status: 401, flag: "UAEX", detail: "jwt_authn_access_denied{ERR_JWT_ISSUER_NOT_CONFIGURED}" });
    const wrongAudience = explainRequest(snapshot, { url: url("/"), requestPrincipal: { principal: "https://idp.acme.test/alice", audiences: ["other"] } });
    expect(wrongAudience.security[0]!.denial?.detail).toBe("jwt_authn_access_denied{ERR_JWT_AUDIENCE}");

    const withToken = explainRequest(snapshot, { url: url("/"), headers: { authorization: "Bearer abc.def.ghi" } });
    expect(withToken.security[0]!.requestAuthentication.tokensPresent).toEqual(["header authorization (Bearer)"]);
    expect(withToken.security[0]!.assumptions.join("\n")).toContain("cannot verify it");
  });

  it("looks for JWT-SVIDs where the MeshConfig says (jwtSvid.fromHeaders), as the gateway does", async () => {
    const snapshot = await compileOrThrow(BASE_YAML + MESH.replace("spec: { trustDomain: acme.test }", "spec: { trustDomain: acme.test, jwtSvid: { fromHeaders: [{ name: x-jwt-svid }] } }") + ROUTES);
    const found = explainRequest(snapshot, { url: url("/"), headers: { "x-jwt-svid": "abc.def.ghi", authorization: "Bearer own-token" } });
    expect(found.security[0]!.requestAuthentication.tokensPresent).toEqual(["header x-jwt-svid"]);
  });

  it("weighted destinations in two namespaces: each share gets its namespace's decision", async () => {
    const other = `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings, namespace: locked }
spec:
  hosts: [ratings.locked.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: 10009 } }]
`;
    const snapshot = await compileOrThrow(
      BASE_YAML +
        MESH +
        other +
        virtualService("split", `hosts: [split.example.com]\ngateways: [edge/public]\nhttp:\n- route: [{ destination: { host: reviews.shop.internal, subset: v1 }, weight: 75 }, { destination: { host: ratings.locked.internal }, weight: 25 }]`) +
        policy("AuthorizationPolicy", "locked", "deny-all", `  action: DENY\n  rules: [{}]`),
    );
    const explained = explainRequest(snapshot, { url: "http://split.example.com/" });
    expect(explained.security.map((verdict) => [verdict.namespace, verdict.denial?.status ?? null])).toEqual([
      ["shop", null],
      ["locked", 403],
    ]);
    expect(explained.outcomes.map((outcome) => [outcome.status, outcome.probability])).toEqual([
      [null, 0.75],
      [403, 0.25],
    ]);
  });

  it("normalises the path as the gateway does (MeshConfig pathNormalization), refusing what it refuses", async () => {
    const snapshot = await snapshotWith("");
    expect(explainRequest(snapshot, { url: url("/a%2Fb") }).outcomes[0]).toMatchObject({ status: 400, flag: null, description: expect.stringContaining("path_normalization_failed") });
  });

  it("refuses a peer that is not a SPIFFE ID, and a request principal that is not <iss>/<sub>", async () => {
    const snapshot = await snapshotWith("");
    expect(() => explainRequest(snapshot, { url: url("/"), peer: { principal: "frontend" } })).toThrow(ExplainInputError);
    expect(() => explainRequest(snapshot, { url: url("/"), requestPrincipal: { principal: "alice" } })).toThrow(/<iss>\/<sub>/);
  });
});

describe("explain: the egress", () => {
  const EGRESS_GATEWAY = `
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: egress, namespace: istio-system }
spec:
  selector: { istio: egressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
`;
  const EXTERNAL = `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: partner, namespace: external }
spec:
  hosts: [api.partner.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: 9087 } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: secure, namespace: external }
spec:
  hosts: [secure.partner.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 443, name: https, protocol: HTTPS }]
---
apiVersion: mesh.istio.io/v1alpha1
kind: EgressCredential
metadata: { name: partner, namespace: istio-system }
spec:
  hosts: [api.partner.test]
  inject: { header: authorization, secretName: PARTNER_API_KEY, prefix: "Bearer " }
  workloadIdentity: { header: x-jwt-svid }
`;
  const egress = { labels: { istio: "egressgateway" } };

  it("a declared host goes to its ServiceEntry's cluster, with the EgressCredential's names; the caller's JWT-SVID needs a peer", async () => {
    const snapshot = await compileOrThrow(EGRESS_GATEWAY + MESH + EXTERNAL);
    const explained = explainRequest(snapshot, { url: "http://api.partner.test/v1/quotes", peer: { principal: "spiffe://acme.test/ns/bookinfo/sa/productpage" } }, egress);
    expect(explained.egress).toEqual({ kind: "registered", outboundTrafficPolicy: "REGISTRY_ONLY", serviceEntry: "external/partner", serviceHost: "api.partner.test", port: 80, cluster: "api.partner.test||80" });
    expect(explained.route).toBe("external/partner:api.partner.test");
    if (explained.action?.type !== "forward") throw new Error("expected a forward");
    expect(explained.action.destinations[0]!.egressCredential).toEqual({
      name: "istio-system/partner",
      inject: { header: "authorization", secretName: "PARTNER_API_KEY" },
      workloadIdentity: { header: "x-jwt-svid", audience: "api.partner.test" },
    });
    expect(explained.outcomes).toEqual([expect.objectContaining({ status: null, probability: 1, description: expect.stringContaining("with EgressCredential istio-system/partner") })]);
    expect(explained.security[0]!.namespace).toBe("external");

    const anonymous = explainRequest(snapshot, { url: "http://api.partner.test/v1/quotes" }, egress);
    expect(anonymous.outcomes).toEqual([expect.objectContaining({ status: 401, flag: null, description: expect.stringContaining("outbound_identity_unavailable") })]);
    const foreign = explainRequest(snapshot, { url: "http://api.partner.test/", peer: { principal: "spiffe://other.test/ns/a/sa/b" } }, egress);
    expect(foreign.outcomes[0]).toMatchObject({ status: 403, description: expect.stringContaining("outbound_identity_foreign") });
  });

  it("TLS origination shows on the destination", async () => {
    const snapshot = await compileOrThrow(
      EGRESS_GATEWAY +
        MESH +
        EXTERNAL +
        `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: secure, namespace: external }
spec:
  host: secure.partner.test
  trafficPolicy: { tls: { mode: SIMPLE, sni: secure.partner.test } }
`,
    );
    const explained = explainRequest(snapshot, { url: "http://secure.partner.test:443/" }, egress);
    if (explained.action?.type !== "forward") throw new Error(`expected a forward, got ${JSON.stringify(explained.outcomes)}`);
    expect(explained.action.destinations[0]!.tls).toMatchObject({ mode: "SIMPLE", sni: "secure.partner.test" });
    expect(explained.outcomes[0]!.description).toContain("over TLS (SIMPLE, SNI secure.partner.test)");
  });

  it("an undeclared host: 502 NR outbound_host_blocked under REGISTRY_ONLY, the host itself under ALLOW_ANY", async () => {
    const snapshot = await compileOrThrow(EGRESS_GATEWAY + MESH + EXTERNAL);
    const blocked = explainRequest(snapshot, { url: "http://api.blocked.test/" }, egress);
    expect(blocked.egress).toMatchObject({ kind: "blocked", outboundTrafficPolicy: "REGISTRY_ONLY", cluster: null });
    expect(blocked.route).toBe("block_all");
    expect(blocked.outcomes).toEqual([{ status: 502, flag: "NR", probability: 1, description: expect.stringMatching(/^outbound_host_blocked: /) }]);

    const open = await compileOrThrow(EGRESS_GATEWAY + MESH.replace("trustDomain: acme.test", "trustDomain: acme.test, outboundTrafficPolicy: { mode: ALLOW_ANY }") + EXTERNAL);
    const passed = explainRequest(open, { url: "http://api.elsewhere.test/x" }, egress);
    expect(passed.egress).toMatchObject({ kind: "passthrough", outboundTrafficPolicy: "ALLOW_ANY", cluster: "PassthroughCluster|api.elsewhere.test|80" });
    expect(passed.outcomes[0]).toMatchObject({ status: null, probability: 1 });
    expect(passed.security[0]!.namespace).toBe("istio-system");
  });
});

describe("explain sees the request as the gateway's stages do", () => {
  it("hides the identity headers the gateway owns from routing and authorization", async () => {
    const snapshot = await compileOrThrow(
      BASE_YAML +
        MESH +
        virtualService(
          "reviews",
          `hosts: [reviews.example.com]
gateways: [edge/public]
http:
- name: claims-admin
  match: [{ headers: { x-spiffe-id: { exact: "spiffe://acme.test/ns/shop/sa/admin" } } }]
  directResponse: { status: 418 }
- name: all
  route: [{ destination: { host: reviews.shop.internal, subset: v1 } }]`,
        ),
    );
    const explained = explainRequest(snapshot, { url: url("/"), headers: { "x-spiffe-id": "spiffe://acme.test/ns/shop/sa/admin" } });
    expect(explained.routes.find((route) => route.verdict === "matched")?.name).toBe("all");
  });

  it("answers the gateway's own endpoints with their status", async () => {
    const snapshot = await snapshotWith("");
    expect(explainRequest(snapshot, { url: url("/__mesh/healthz") }).outcomes).toEqual([expect.objectContaining({ status: 200 })]);
    expect(explainRequest(snapshot, { url: url("/__mesh/nothing") }).outcomes).toEqual([expect.objectContaining({ status: 404, description: expect.stringContaining("mesh_endpoint") })]);
  });
});

describe("explain at the egress: credentials", () => {
  it("says 503 credential_insecure where the egress would refuse to send a credential in cleartext", async () => {
    const snapshot = await compileOrThrow(PAY_WITH_PLAIN_ALIAS_YAML);

    const labels = { istio: "egressgateway" };
    expect(explainRequest(snapshot, { url: "http://pay.alias.test/v1" }, { labels }).outcomes).toEqual([expect.objectContaining({ status: 503, description: expect.stringContaining("credential_insecure") })]);
    expect(explainRequest(snapshot, { url: "http://api.pay.test/v1" }, { labels }).outcomes[0]!.status).toBeNull();
  });
});
