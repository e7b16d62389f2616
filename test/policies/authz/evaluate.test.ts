import { describe, expect, it } from "vitest";
import { evaluateAuthorization } from "../../../policies/authz/evaluate.js";
import { wildcardMatches } from "../../../policies/authz/match.js";
import type { AuthzRequest } from "../../../policies/authz/request.js";
import type { CompiledAuthorizationPolicy, CompiledAuthzRule } from "../../../policies/snapshot/schema.js";

/** Istio's AuthorizationPolicy semantics over a typed request view. */

const FRONTEND = { principal: "acme.test/ns/shop/sa/frontend", trustDomain: "acme.test", namespace: "shop", serviceAccount: "shop/frontend" };

function request(overrides: Partial<AuthzRequest> = {}, headers: Record<string, string> = {}): AuthzRequest {
  return {
    host: "api.acme.test",
    authority: "api.acme.test",
    port: 80,
    method: "GET",
    path: "/orders/1",
    header: (name) => headers[name] ?? null,
    sourceIp: "10.0.0.5",
    remoteIp: "203.0.113.7",
    ...overrides,
  };
}

let counter = 0;
function policy(action: CompiledAuthorizationPolicy["action"], rules: CompiledAuthzRule[], extra: Partial<CompiledAuthorizationPolicy> = {}): CompiledAuthorizationPolicy {
  return { name: `shop/p${++counter}`, namespace: "shop", scope: "namespace", action, rules, ...extra };
}

const allowed = (policies: CompiledAuthorizationPolicy[], req: AuthzRequest = request()) => evaluateAuthorization(policies, req).decision.allowed;

describe("Istio's evaluation order", () => {
  it("allows with no policy; DENY wins over ALLOW; with ALLOW policies, one must match", () => {
    expect(evaluateAuthorization([], request()).decision).toEqual({ allowed: true, reason: "no-policy", audit: [] });
    const allowAll = policy("ALLOW", [{}]);
    const denyGet = policy("DENY", [{ to: [{ methods: ["GET"] }] }]);
    const result = evaluateAuthorization([allowAll, denyGet], request()).decision;
    expect(result).toMatchObject({ allowed: false, reason: "deny-matched", policy: denyGet.name, rule: 0 });
    expect(allowed([allowAll, denyGet], request({ method: "POST" }))).toBe(true);
    const allowPost = policy("ALLOW", [{ to: [{ methods: ["POST"] }] }]);
    expect(evaluateAuthorization([allowPost], request()).decision).toMatchObject({ allowed: false, reason: "no-allow-matched" });
  });

  it("an ALLOW policy without rules denies everything; a rule {} matches everything; a DENY without rules matches nothing", () => {
    expect(allowed([policy("ALLOW", [])])).toBe(false);
    expect(allowed([policy("ALLOW", [{}])])).toBe(true);
    expect(allowed([policy("DENY", [])])).toBe(true);
  });

  it("AUDIT policies never change the decision and are reported when they match; dry-run policies are evaluated apart", () => {
    const audit = policy("AUDIT", [{ to: [{ paths: ["/orders/*"] }] }]);
    const result = evaluateAuthorization([audit], request());
    expect(result.decision).toMatchObject({ allowed: true, audit: [audit.name] });
    const dryDeny = policy("DENY", [{}], { dryRun: true });
    const withDry = evaluateAuthorization([dryDeny], request());
    expect(withDry.decision.allowed).toBe(true);
    expect(withDry.dryRun).toMatchObject({ allowed: false, policy: dryDeny.name });
  });
});

describe("rules: from, to, when", () => {
  it("needs one source, one operation and every condition of a rule; values are ORed, fields ANDed", () => {
    const rule: CompiledAuthzRule = {
      from: [{ principals: ["acme.test/ns/other/sa/x"] }, { principals: ["acme.test/ns/shop/*"] }],
      to: [{ methods: ["POST"] }, { methods: ["GET"], paths: ["/orders/*"] }],
      when: [{ key: "request.headers[x-tenant]", values: ["blue", "green"] }],
    };
    const allow = [policy("ALLOW", [rule])];
    expect(allowed(allow, request({ peer: FRONTEND }, { "x-tenant": "green" }))).toBe(true);
    expect(allowed(allow, request({ peer: FRONTEND }, { "x-tenant": "red" }))).toBe(false);
    expect(allowed(allow, request({ peer: FRONTEND, path: "/admin" }, { "x-tenant": "blue" }))).toBe(false);
    expect(allowed(allow, request({}, { "x-tenant": "blue" }))).toBe(false);
  });

  it("principals: exact, prefix, suffix and * (any authenticated peer), without the spiffe:// scheme", () => {
    for (const [pattern, expected] of [
      ["acme.test/ns/shop/sa/frontend", true],
      ["acme.test/ns/shop/*", true],
      ["*/sa/frontend", true],
      ["*", true],
      ["spiffe://acme.test/ns/shop/sa/frontend", false],
      ["acme.test/ns/shop/sa/front", false],
    ] as const) {
      expect(allowed([policy("ALLOW", [{ from: [{ principals: [pattern] }] }])], request({ peer: FRONTEND })), pattern).toBe(expected);
    }
    expect(allowed([policy("ALLOW", [{ from: [{ principals: ["*"] }] }])], request())).toBe(false);
  });

  it("notPrincipals / notRequestPrincipals match when the attribute is absent (Istio's 'deny requests without a principal')", () => {
    const denyAnonymous = [policy("DENY", [{ from: [{ notRequestPrincipals: ["*"] }] }])];
    expect(allowed(denyAnonymous, request())).toBe(false);
    expect(allowed(denyAnonymous, request({ requestAuth: { principal: "https://idp/alice", claims: {}, audiences: [] } }))).toBe(true);
    const denyOthers = [policy("DENY", [{ from: [{ notPrincipals: ["acme.test/ns/shop/sa/frontend"] }] }])];
    expect(allowed(denyOthers, request({ peer: FRONTEND }))).toBe(true);
    expect(allowed(denyOthers, request())).toBe(false);
  });

  it("trust domain aliases: a principal written with one domain matches the others", () => {
    const allow = [policy("ALLOW", [{ from: [{ principals: ["old.test/ns/shop/sa/frontend"] }] }])];
    expect(evaluateAuthorization(allow, request({ peer: FRONTEND })).decision.allowed).toBe(false);
    expect(evaluateAuthorization(allow, request({ peer: FRONTEND }), { trustDomainAliases: ["acme.test", "old.test"] }).decision.allowed).toBe(true);
    const other = { ...FRONTEND, principal: "evil.test/ns/shop/sa/frontend", trustDomain: "evil.test" };
    expect(evaluateAuthorization(allow, request({ peer: other }), { trustDomainAliases: ["acme.test", "old.test"] }).decision.allowed).toBe(false);
  });

  it("namespaces, serviceAccounts, requestPrincipals", () => {
    expect(allowed([policy("ALLOW", [{ from: [{ namespaces: ["shop"] }] }])], request({ peer: FRONTEND }))).toBe(true);
    expect(allowed([policy("ALLOW", [{ from: [{ namespaces: ["shop"] }] }])], request())).toBe(false);
    expect(allowed([policy("ALLOW", [{ from: [{ serviceAccounts: ["shop/frontend"] }] }])], request({ peer: FRONTEND }))).toBe(true);
    const alice = { principal: "https://idp.test/alice", claims: {}, audiences: [] };
    expect(allowed([policy("ALLOW", [{ from: [{ requestPrincipals: ["https://idp.test/*"] }] }])], request({ requestAuth: alice }))).toBe(true);
  });

  it("ipBlocks use the direct peer's address, remoteIpBlocks the original client's, IPv4 and IPv6", () => {
    expect(allowed([policy("ALLOW", [{ from: [{ ipBlocks: ["10.0.0.0/8"] }] }])])).toBe(true);
    expect(allowed([policy("ALLOW", [{ from: [{ remoteIpBlocks: ["10.0.0.0/8"] }] }])])).toBe(false);
    expect(allowed([policy("ALLOW", [{ from: [{ remoteIpBlocks: ["203.0.113.7"] }] }])])).toBe(true);
    expect(allowed([policy("DENY", [{ from: [{ notIpBlocks: ["10.0.0.0/8"] }] }])])).toBe(true);
    expect(allowed([policy("ALLOW", [{ from: [{ ipBlocks: ["2001:db8::/32"] }] }])], request({ sourceIp: "2001:db8::1" }))).toBe(true);
  });

  it("to: hosts (case-insensitive, with or without port), ports, methods, paths with prefix/suffix/* and the not-variants", () => {
    const check = (operation: CompiledAuthzRule["to"], req: AuthzRequest = request()) => allowed([policy("ALLOW", [{ to: operation! }])], req);
    expect(check([{ hosts: ["API.acme.test"] }])).toBe(true);
    expect(check([{ hosts: ["*.acme.test"] }])).toBe(true);
    expect(check([{ hosts: ["api.acme.test:8080"] }], request({ authority: "api.acme.test:8080", port: 8080 }))).toBe(true);
    expect(check([{ ports: ["80"] }])).toBe(true);
    expect(check([{ notPorts: ["80"] }])).toBe(false);
    expect(check([{ methods: ["get"] }])).toBe(false);
    expect(check([{ paths: ["/orders/*"] }])).toBe(true);
    expect(check([{ paths: ["/orders"] }])).toBe(false);
    expect(check([{ paths: ["*/1"] }])).toBe(true);
    expect(check([{ paths: ["*"] }])).toBe(true);
    expect(check([{ notPaths: ["/orders/*"] }])).toBe(false);
    expect(check([{ paths: ["/ORDERS/*"] }])).toBe(false);
    expect(check([{ paths: ["/ORDERS/*"] }], request({ pathIgnoreCase: true }))).toBe(true);
  });

  it("when: request.auth.claims (nested, lists), audiences, presenter, principal; source.*, destination.port, headers", () => {
    const requestAuth = { principal: "https://idp.test/alice", claims: { groups: ["dev", "admin"], org: { team: "payments" }, level: 3, admin: true }, audiences: ["api", "web"], presenter: "cli" };
    const when = (key: string, values?: string[], notValues?: string[]) =>
      allowed([policy("ALLOW", [{ when: [{ key, ...(values ? { values } : {}), ...(notValues ? { notValues } : {}) }] }])], request({ requestAuth, peer: FRONTEND }, { "x-env": "prod-eu" }));
    expect(when("request.auth.claims[groups]", ["admin"])).toBe(true);
    expect(when("request.auth.claims[groups]", ["ops"])).toBe(false);
    expect(when("request.auth.claims[org][team]", ["pay*"])).toBe(true);
    expect(when("request.auth.claims[level]", ["3"])).toBe(true);
    expect(when("request.auth.claims[admin]", ["true"])).toBe(true);
    expect(when("request.auth.claims[missing]", ["x"])).toBe(false);
    expect(when("request.auth.claims[missing]", undefined, ["x"])).toBe(true);
    expect(when("request.auth.audiences", ["web"])).toBe(true);
    expect(when("request.auth.presenter", ["cli"])).toBe(true);
    expect(when("request.auth.principal", ["https://idp.test/*"])).toBe(true);
    expect(when("source.principal", ["acme.test/ns/shop/sa/frontend"])).toBe(true);
    expect(when("source.namespace", ["shop"])).toBe(true);
    expect(when("source.ip", ["10.0.0.0/24"])).toBe(true);
    expect(when("remote.ip", ["10.0.0.0/24"])).toBe(false);
    expect(when("destination.port", ["80"])).toBe(true);
    expect(when("request.headers[x-env]", ["prod-*"])).toBe(true);
    expect(when("request.headers[X-Env]", undefined, ["*-eu"])).toBe(false);
  });
});

describe("a denial a credential could turn around", () => {
  it("says which credential is missing: the request's token, or the peer's identity", () => {
    const needsUser = [policy("ALLOW", [{ from: [{ requestPrincipals: ["*"] }] }])];
    expect(evaluateAuthorization(needsUser, request()).decision.missing).toBe("request");
    const needsPeer = [policy("ALLOW", [{ from: [{ principals: ["acme.test/*"] }] }])];
    expect(evaluateAuthorization(needsPeer, request()).decision.missing).toBe("peer");
    const denyAnonymous = [policy("DENY", [{ from: [{ notRequestPrincipals: ["*"] }] }])];
    expect(evaluateAuthorization(denyAnonymous, request()).decision.missing).toBe("request");
    // Only when a rule would otherwise match: a token for /me does not help a request for /orders.
    const tokenForMe = [policy("ALLOW", [{ from: [{ requestPrincipals: ["*"] }], to: [{ paths: ["/me"] }] }])];
    expect(evaluateAuthorization(tokenForMe, request({ path: "/orders/1" })).decision.missing).toBeUndefined();
    expect(evaluateAuthorization(tokenForMe, request({ path: "/me" })).decision.missing).toBe("request");
    const wrongPath = [policy("ALLOW", [{ to: [{ paths: ["/public/*"] }] }])];
    expect(evaluateAuthorization(wrongPath, request()).decision.missing).toBeUndefined();
    const alice = { principal: "https://idp.test/alice", claims: {}, audiences: [] };
    const needsAdmin = [policy("ALLOW", [{ when: [{ key: "request.auth.claims[role]", values: ["admin"] }] }])];
    expect(evaluateAuthorization(needsAdmin, request({ requestAuth: alice })).decision.missing).toBeUndefined();
  });
});

describe("wildcardMatches", () => {
  it("follows Istio: * is any non-empty value, one leading or trailing *", () => {
    expect(wildcardMatches("*", "")).toBe(false);
    expect(wildcardMatches("/a/*", "/a/")).toBe(true);
    expect(wildcardMatches("*.html", "/x.html")).toBe(true);
    expect(wildcardMatches("a*b", "axb")).toBe(false);
  });
});

describe("path parameters (`;`) and DENY", () => {
  const denyAdmin = policy("DENY", [{ to: [{ paths: ["/admin", "/admin/*"] }] }]);

  it("a DENY policy also judges the path without its ;parameters, so /admin;x=1 cannot slip past it", () => {
    for (const path of ["/admin;x=1", "/admin;/users", "/admin/users;jsessionid=1", "/admin;a=b/x;c=d"]) {
      expect(evaluateAuthorization([denyAdmin], request({ path })).decision, path).toMatchObject({ allowed: false, reason: "deny-matched" });
    }
    expect(allowed([denyAdmin], request({ path: "/administrator;x=1" }))).toBe(true);
  });

  it("a DENY's notPaths exempts only a path that both spellings leave out", () => {
    const denyAllBut = policy("DENY", [{ to: [{ notPaths: ["/public/*"] }] }]);
    expect(allowed([denyAllBut], request({ path: "/public/a" }))).toBe(true);
    // "/public;x/../" is resolved by normalisation before this; here the raw spelling is outside /public/*.
    expect(allowed([denyAllBut], request({ path: "/public;x=1/a" }))).toBe(false);
  });

  it("ALLOW matches only if both spellings do, and its notPaths exclude if either does: parameters never widen what it allows", () => {
    const allowPublic = policy("ALLOW", [{ to: [{ paths: ["/public/*"] }] }]);
    expect(allowed([allowPublic], request({ path: "/public/a;x=1" }))).toBe(true);
    expect(allowed([allowPublic], request({ path: "/public;x=1/a" }))).toBe(false);
    expect(allowed([allowPublic], request({ path: "/public/..;/admin" }))).toBe(false);
    const allowButAdmin = policy("ALLOW", [{ to: [{ notPaths: ["/admin", "/admin/*"] }] }]);
    expect(allowed([allowButAdmin], request({ path: "/orders;x=1" }))).toBe(true);
    for (const path of ["/admin", "/admin;x=1", "/admin;/users", "/x/..;/admin"]) expect(allowed([allowButAdmin], request({ path })), path).toBe(false);
  });

  it("dot segments hidden behind parameters (`..;`) are resolved before a DENY judges the path", () => {
    for (const path of ["/x/..;/admin", "/public/..;/admin/users", "/a/.;/../admin", "/;/admin", "/;x=1/admin/secret"]) {
      expect(evaluateAuthorization([denyAdmin], request({ path })).decision, path).toMatchObject({ allowed: false, reason: "deny-matched" });
    }
  });
});
