import { beforeAll, describe, expect, it } from "vitest";
import { effectivePeerMode, selectPolicies, serverTlsFor } from "../../../policies/authz/scope.js";
import { parseConfigText } from "../../../policies/config/load.js";
import { derToPem } from "../../../policies/identity/encoding.js";
import { compileSnapshot } from "../../../policies/snapshot/compile.js";
import { Snapshot } from "../../../policies/snapshot/schema.js";
import { BASE_YAML, compileOrThrow } from "../fixtures.js";
import { createTrustDomainPki, der, type TrustDomainPki } from "../identity/pki.js";

/** The security kinds and MeshConfig: schemas, scopes, and what the compiler puts in the snapshot. */

let acme: TrustDomainPki;
beforeAll(async () => {
  acme = await createTrustDomainPki("acme.test");
});

const doc = (kind: string, namespace: string, name: string, spec: string, apiVersion = "security.istio.io/v1", extraMeta = "") =>
  `---\napiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: { name: ${name}, namespace: ${namespace}${extraMeta} }\nspec:\n${spec}\n`;

const issuesOf = (yaml: string) => parseConfigText(yaml).issues.map((issue) => `${issue.code} ${issue.path}: ${issue.message}`);

function meshConfig(extra = "") {
  return `---
apiVersion: mesh.istio.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh, namespace: default }
spec:
  trustDomain: acme.test
  trustBundles:
  - trustDomain: acme.test
    spiffeBundle: ${JSON.stringify(acme.bundleDocument)}
  - trustDomain: partner.test
    spiffeBundleUrl: https://bundle.partner.test/bundle.json
${extra}
`;
}

describe("schemas", () => {
  it("accepts the MeshConfig shape of the issue, and the security kinds in v1 and v1beta1", () => {
    const yaml =
      meshConfig() +
      doc("AuthorizationPolicy", "shop", "allow-frontend", `  action: ALLOW\n  rules:\n  - from: [{ source: { principals: ["acme.test/ns/shop/sa/frontend"] } }]\n    to: [{ operation: { methods: [GET], paths: ["/orders/*"] } }]\n    when: [{ key: "request.auth.claims[groups]", values: [admin] }]`) +
      doc("RequestAuthentication", "shop", "jwt", `  jwtRules:\n  - issuer: https://idp.test\n    jwksUri: https://idp.test/jwks.json\n    outputClaimToHeaders: [{ header: x-user, claim: sub }]`, "security.istio.io/v1beta1") +
      doc("PeerAuthentication", "istio-system", "default", `  mtls: { mode: STRICT }`);
    const loaded = parseConfigText(yaml);
    expect(loaded.issues).toEqual([]);
    expect(loaded.resources.map((resource) => resource.kind)).toEqual(["MeshConfig", "AuthorizationPolicy", "RequestAuthentication", "PeerAuthentication"]);
  });

  it("names unsupported Istio fields and values instead of ignoring them", () => {
    const issues = issuesOf(
      doc("AuthorizationPolicy", "shop", "a", `  action: CUSTOM\n  provider: { name: ext }`) +
        doc("AuthorizationPolicy", "shop", "b", `  targetRef: { kind: Gateway, name: gw }\n  rules: [{ when: [{ key: destination.ip, values: ["1.2.3.4"] }, { key: "request.bogus", values: [x] }] }]`) +
        doc("PeerAuthentication", "shop", "c", `  portLevelMtls: { 8080: { mode: DISABLE } }`) +
        doc("RequestAuthentication", "shop", "d", `  jwtRules: [{ issuer: x }]`),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringContaining("action CUSTOM (external authorization) is not supported yet"),
        expect.stringMatching(/ERR_CONFIG_UNSUPPORTED_FIELD spec.provider/),
        expect.stringMatching(/ERR_CONFIG_UNSUPPORTED_FIELD spec.targetRef/),
        expect.stringContaining("condition key 'destination.ip' is not supported yet"),
        expect.stringContaining("unknown condition key 'request.bogus'"),
        expect.stringMatching(/ERR_CONFIG_UNSUPPORTED_FIELD spec.portLevelMtls/),
        expect.stringContaining("set jwks or jwksUri"),
      ]),
    );
  });

  it("checks values: CIDRs, wildcards, ports, path templates, key URLs, inline JWKS without private keys", () => {
    const issues = issuesOf(
      doc(
        "AuthorizationPolicy",
        "shop",
        "a",
        `  rules:\n  - from: [{ source: { ipBlocks: ["10.0.0.0/33"], principals: ["a*b*"] } }]\n    to: [{ operation: { ports: ["http"], paths: ["/api/{*}"], methods: [] } }]\n    when: [{ key: source.ip, values: ["nope"] }]`,
      ) + doc("RequestAuthentication", "shop", "b", `  jwtRules:\n  - { issuer: a, jwksUri: "http://idp.example/jwks" }\n  - { issuer: b, jwks: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}' }`),
    );
    expect(issues.join("\n")).toMatch(/'10.0.0.0\/33' is not an IP address or CIDR block/);
    expect(issues.join("\n")).toMatch(/'a\*b\*': '\*' is only allowed/);
    expect(issues.join("\n")).toMatch(/a port is a number/);
    expect(issues.join("\n")).toMatch(/path templates/);
    expect(issues.join("\n")).toMatch(/an empty list matches nothing/);
    expect(issues.join("\n")).toMatch(/'nope' is not an IP address/);
    expect(issues.join("\n")).toMatch(/must be an https:\/\/ URL/);
    expect(issues.join("\n")).toMatch(/private or symmetric key material/);
  });

  it("checks MeshConfig trust bundles against the SPIFFE bundle standard", async () => {
    const workload = await acme.workload("spiffe://acme.test/w");
    const notCa = { keys: [{ kty: "EC", use: "x509-svid", x5c: [Buffer.from(der(workload.leaf)).toString("base64")] }] };
    const issues = issuesOf(`apiVersion: mesh.istio.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  trustBundles:
  - { trustDomain: a.test, spiffeBundle: ${JSON.stringify(notCa)} }
  - { trustDomain: a.test, spiffeBundleUrl: "https://a.test/b" }
  - { trustDomain: b.test }
  caCertificates: [{ pem: nothing }]
  enableAutoMtls: true`);
    expect(issuesOf("apiVersion: mesh.istio.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { trustDomain: Acme }").join("\n")).toMatch(/'Acme' is not a valid trust domain/);
    expect(issues.join("\n")).toMatch(/is not a CA certificate/);
    expect(issues.join("\n")).toMatch(/trust domain 'a.test' has more than one bundle/);
    expect(issues.join("\n")).toMatch(/set exactly one of spiffeBundle/);
    expect(issues.join("\n")).toMatch(/no CERTIFICATE block/);
    expect(issues.join("\n")).toMatch(/ERR_CONFIG_UNSUPPORTED_FIELD spec.enableAutoMtls/);
  });
});

describe("compiling security into the snapshot", () => {
  it("works out each policy's scope, indexes it, and compiles bundles, defaults and server TLS", async () => {
    const pem = derToPem(der(acme.intermediate.certificate));
    const yaml =
      BASE_YAML.replace("    hosts: [\"*.example.com\", \"shop.test\"]", "    hosts: [\"*.example.com\", \"shop.test\"]\n    tls: { mode: ISTIO_MUTUAL, subjectAltNames: [\"spiffe://acme.test/ns/a/sa/b\"] }") +
      meshConfig(`  trustDomainAliases: [old.test]\n  caCertificates: [{ pem: ${JSON.stringify(pem)} }]\n  defaultHttpRetryPolicy: { attempts: 5, retryOn: "5xx" }\n  pathNormalization: { normalization: MERGE_SLASHES }\n  jwtSvid: { audiences: [mesh] }`) +
      doc("PeerAuthentication", "istio-system", "mesh", `  mtls: { mode: PERMISSIVE }`) +
      doc("PeerAuthentication", "istio-system", "gateway", `  selector: { matchLabels: { istio: ingressgateway } }\n  mtls: { mode: STRICT }`) +
      doc("PeerAuthentication", "shop", "shop", `  mtls: { mode: DISABLE }`) +
      doc("RequestAuthentication", "shop", "jwt", `  jwtRules: [{ issuer: https://idp.test, jwks: '{"keys":[]}' }]`) +
      doc("AuthorizationPolicy", "shop", "dry", `  action: DENY\n  rules: [{}]`, "security.istio.io/v1", ', annotations: { "istio.io/dry-run": "true" }') +
      doc("AuthorizationPolicy", "istio-system", "all", `  action: AUDIT\n  rules: [{}]`) +
      `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews.example.com]
  gateways: [edge/public]
  http: [{ route: [{ destination: { host: reviews.shop.internal, subset: v1 } }] }]
`;
    const snapshot = await compileOrThrow(yaml);
    expect(Snapshot.parse(snapshot)).toEqual(snapshot);
    const security = snapshot.security!;
    expect(security.trustDomain).toBe("acme.test");
    expect(security.pathNormalization).toEqual({ normalization: "MERGE_SLASHES", escapedSlashes: "REJECT" });
    expect(security.peerAuthentications.map((policy) => [policy.name, policy.scope, policy.mode])).toEqual([
      ["istio-system/gateway", "gateway", "STRICT"],
      ["istio-system/mesh", "mesh", "PERMISSIVE"],
      ["shop/shop", "namespace", "DISABLE"],
    ]);
    expect(security.index.namespaces.shop).toEqual({ peer: [2], request: [0], authz: [1] });
    expect(security.authorizationPolicies.find((policy) => policy.name === "shop/dry")!.dryRun).toBe(true);
    expect(security.requestAuthentications[0]!.jwtRules[0]).toMatchObject({
      fromHeaders: [{ name: "authorization", prefix: "Bearer " }],
      fromParams: ["access_token"],
      forwardOriginalToken: false,
    });
    const acmeBundle = security.trustBundles.find((bundle) => bundle.trustDomain === "acme.test")!;
    expect(acmeBundle.x509Authorities).toHaveLength(2);
    expect(acmeBundle.jwtAuthorities).toHaveLength(1);
    expect(security.trustBundles.find((bundle) => bundle.trustDomain === "old.test")!.x509Authorities).toHaveLength(1);
    expect(security.trustBundles.find((bundle) => bundle.trustDomain === "partner.test")!.url).toBe("https://bundle.partner.test/bundle.json");
    expect(security.gatewayTls["edge/public"]).toEqual([{ hosts: ["*.example.com", "shop.test"], mode: "MUTUAL", subjectAltNames: ["spiffe://acme.test/ns/a/sa/b"] }]);
    expect(security.jwtSvidAudiences).toEqual(["mesh"]);
    expect(snapshot.routes[0]!.retries).toMatchObject({ attempts: 5, conditions: ["5xx"] });

    const policies = selectPolicies(security, "shop", { istio: "ingressgateway" });
    expect(effectivePeerMode(policies.peer)).toBe("STRICT");
    expect(effectivePeerMode(selectPolicies(security, "shop", { istio: "other" }).peer)).toBe("DISABLE");
    expect(effectivePeerMode(selectPolicies(security, "elsewhere", { istio: "other" }).peer)).toBe("PERMISSIVE");
    expect(policies.authz.map((policy) => policy.name)).toEqual(["istio-system/all", "shop/dry"]);
    expect(serverTlsFor(security, "edge/public", "reviews.example.com")!.mode).toBe("MUTUAL");
    expect(serverTlsFor(security, "edge/public", "other.test")).toBeUndefined();
  });

  it("refuses a selector outside the root namespace, two namespace-wide PeerAuthentications, and two MeshConfigs", async () => {
    const result = await compileSnapshot(
      parseConfigText(
        BASE_YAML +
          doc("AuthorizationPolicy", "shop", "selected", `  selector: { matchLabels: { app: reviews } }\n  rules: [{}]`) +
          doc("PeerAuthentication", "shop", "one", `  mtls: { mode: STRICT }`) +
          doc("PeerAuthentication", "shop", "two", `  mtls: { mode: PERMISSIVE }`) +
          meshConfig() +
          meshConfig().replace("name: mesh", "name: mesh2"),
      ).resources,
    );
    expect(result.ok).toBe(false);
    const messages = result.ok ? [] : result.issues.map((issue) => `${issue.code} ${issue.resource?.name}: ${issue.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/ERR_CONFIG_UNSUPPORTED_FIELD selected: a selector picks workloads/),
        expect.stringMatching(/ERR_CONFIG_CONFLICT two: PeerAuthentication shop\/one already applies/),
        expect.stringMatching(/ERR_CONFIG_CONFLICT mesh2: only one MeshConfig/),
      ]),
    );
  });

  it("warns about a namespace policy with no destination in its namespace; leaves configs without security unchanged", async () => {
    const result = await compileSnapshot(parseConfigText(BASE_YAML + doc("AuthorizationPolicy", "nowhere", "deny", `  action: DENY\n  rules: [{}]`)).resources);
    expect(result.ok && result.warnings.map((warning) => warning.code)).toEqual(["WARN_CONFIG_NOT_SERVED"]);
    const plain = await compileOrThrow(BASE_YAML);
    expect(plain.security).toBeUndefined();
    expect(Object.keys(plain)).not.toContain("security");
  });
});
