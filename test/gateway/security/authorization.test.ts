import http from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";
import type { TrustDomainPki, Workload } from "../../policies/identity/pki.js";
import { echoOf, gatewayYaml, meshConfigYaml, pkiNow, policyYaml, PROXY_SECRET, refusalOf, serviceYaml, startIdp, viaProxy, type LocalIdp } from "./support.js";

/**
 * Request authentication and authorization in the real worker, with a local identity provider
 * (JWKS over HTTP) and real signatures. Namespace `shop` (host shop.test) has a RequestAuthentication
 * and AuthorizationPolicies; `/admin` routes to a separate upstream whose request log proves
 * whether any spelling of the path got through. `cs.test` (namespace `cs`) routes `/admin`
 * case-sensitively; `tokens.test` (namespace `tokens`) has a RequestAuthentication and no policy.
 */

let acme: TrustDomainPki;
let frontend: Workload, backend: Workload;
let site: Upstream, admin: Upstream;
let idp: LocalIdp;
let gateway: TestGateway;

const AUTHN = (extra = "") => `  jwtRules:
  - issuer: https://idp.acme.test
    jwksUri: __JWKS__
    audiences: [shop]
    outputClaimToHeaders: [{ header: x-user, claim: sub }, { header: x-team, claim: org.team }]
    outputPayloadToHeader: x-jwt-payload
${extra}`;

beforeAll(async () => {
  [acme, site, admin, idp] = await Promise.all([pkiNow("acme.test"), startUpstream({ name: "site" }), startUpstream({ name: "admin" }), startIdp()]);
  [frontend, backend] = await Promise.all([acme.workload("spiffe://acme.test/ns/shop/sa/frontend"), acme.workload("spiffe://acme.test/ns/shop/sa/backend")]);
  const shopRoutes = `  - name: admin
    match: [{ uri: { prefix: /admin }, ignoreUriCase: true }]
    route: [{ destination: { host: admin.internal } }]
  - name: site
    route: [{ destination: { host: site.internal } }]`;
  const csRoutes = `  - name: admin-cs
    match: [{ uri: { prefix: /admin } }]
    route: [{ destination: { host: admin-cs.internal } }]
  - name: site-cs
    route: [{ destination: { host: site-cs.internal } }]`;
  const config = (
    gatewayYaml() +
    meshConfigYaml(acme) +
    serviceYaml("shop", "site.internal", site, "shop.test", shopRoutes) +
    serviceYaml("shop", "admin.internal", admin, "admin-only.test") +
    serviceYaml("cs", "site-cs.internal", site, "cs.test", csRoutes) +
    serviceYaml("cs", "admin-cs.internal", admin, "admin-cs-only.test") +
    serviceYaml("tokens", "tokens.internal", site, "tokens.test") +
    serviceYaml(
      "tokens",
      "headers.internal",
      site,
      "headers.test",
      `  - route: [{ destination: { host: headers.internal } }]
    headers: { request: { set: { x-forwarded-client-cert: "URI=spiffe://acme.test/ns/shop/sa/admin", x-mesh-peer-principal: forged, x-kept: "yes" } } }`,
    ) +
    policyYaml("RequestAuthentication", "shop", "jwt", AUTHN()) +
    policyYaml("RequestAuthentication", "tokens", "jwt", AUTHN("    forwardOriginalToken: true")) +
    policyYaml(
      "AuthorizationPolicy",
      "shop",
      "allow",
      `  action: ALLOW
  rules:
  - to: [{ operation: { paths: ["/public/*"] } }]
  - from: [{ source: { principals: ["acme.test/ns/shop/sa/frontend"] } }]
    to: [{ operation: { methods: [GET], paths: ["/orders/*"] } }]
  - from: [{ source: { requestPrincipals: ["https://idp.acme.test/*"] } }]
    to: [{ operation: { paths: ["/admin", "/admin/*"] } }]
    when: [{ key: "request.auth.claims[groups]", values: [admin] }]
  - from: [{ source: { requestPrincipals: ["*"] } }]
    to: [{ operation: { paths: ["/me"] } }]
  - to: [{ operation: { paths: ["/by-header"] } }]
    when: [{ key: "request.headers[x-spiffe-id]", values: ["*"] }]`,
    ) +
    policyYaml("AuthorizationPolicy", "shop", "deny-delete", `  action: DENY\n  rules: [{ to: [{ operation: { methods: [DELETE] } }] }]`) +
    policyYaml("AuthorizationPolicy", "cs", "deny-admin", `  action: DENY\n  rules: [{ to: [{ operation: { paths: ["/admin", "/admin/*"] } }] }]`)
  ).replaceAll("__JWKS__", idp.jwksUri);
  gateway = await startTestGateway(config, { bindings: { MESH_PROXY_SECRET: PROXY_SECRET }, captureLogs: true });
});

afterAll(async () => {
  await Promise.all([gateway?.close(), site?.close(), admin?.close(), idp?.close()]);
});

beforeEach(() => {
  site.reset();
  admin.reset();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const user = (claims: Record<string, unknown> = {}) => idp.sign({ sub: "alice", aud: "shop", ...claims });

describe("AuthorizationPolicy: allow and deny by principal, path, method and claim", () => {
  it("allows by path without any credential", async () => {
    expect((await gateway.fetch("/public/index.html", { host: "shop.test" })).status).toBe(200);
  });

  it("allows by peer principal and method, and refuses other principals and methods with 403 RBAC", async () => {
    expect((await gateway.fetch("/orders/1", { host: "shop.test", headers: await viaProxy(frontend) })).status).toBe(200);
    const post = await gateway.fetch("/orders/1", { host: "shop.test", method: "POST", headers: await viaProxy(frontend) });
    expect(post.status).toBe(403);
    // The route that matched is named; the policy that denied is not (it is in the access log only).
    expect(await refusalOf(post)).toEqual({ error: "rbac_access_denied", message: "RBAC: access denied", flags: "RBAC", route: "site" });
    expect((await gateway.fetch("/orders/1", { host: "shop.test", headers: await viaProxy(backend) })).status).toBe(403);
  });

  it("answers a request without the credential a policy asks for with 401 and a Bearer challenge, not Istio's 403", async () => {
    const anonymous = await gateway.fetch("/me", { host: "shop.test" });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Bearer realm="shop.test"');
    expect((await refusalOf(anonymous)).flags).toBe("RBAC");
    expect((await gateway.fetch("/me", { host: "shop.test", headers: bearer(await user()) })).status).toBe(200);
    // Without an X.509-SVID, the peer-principal rule cannot match either: a credential is missing.
    expect((await gateway.fetch("/orders/1", { host: "shop.test" })).status).toBe(401);
  });

  it("allows by claim", async () => {
    expect((await gateway.fetch("/admin/users", { host: "shop.test", headers: bearer(await user({ groups: ["admin"] })) })).status).toBe(200);
    expect((await gateway.fetch("/admin/users", { host: "shop.test", headers: bearer(await user({ groups: ["dev"] })) })).status).toBe(403);
  });

  it("lets DENY win over ALLOW, names the policy in the access log and never in the body", async () => {
    const response = await gateway.fetch("/public/deleted", { host: "shop.test", method: "DELETE" });
    expect(response.status).toBe(403);
    const body = await response.text();
    expect(body).not.toContain("deny-delete");
    expect(body).not.toContain("shop/");
    await expect.poll(() => gateway.logs.find((line) => line.path === "/public/deleted")).toBeDefined();
    expect(gateway.logs.find((line) => line.path === "/public/deleted")).toMatchObject({ response_flags: "RBAC", authz_decision: "deny", authz_policy: "shop/deny-delete" });
  });
});

describe("identity headers are the gateway's alone", () => {
  it("a client-set identity header cannot satisfy a policy condition on it", async () => {
    expect((await gateway.fetch("/by-header", { host: "shop.test", headers: { "x-spiffe-id": "spiffe://acme.test/ns/shop/sa/frontend" } })).status).toBe(403);
  });

  it("a route's header operations cannot set them either", async () => {
    const echo = await echoOf(await gateway.fetch("/", { host: "headers.test" }));
    expect(echo.headers["x-kept"]).toBe("yes");
    expect(echo.headers["x-forwarded-client-cert"]).toBeUndefined();
    expect(echo.headers["x-mesh-peer-principal"]).toBeUndefined();
  });
});

describe("path spellings cannot reach /admin past authorization", () => {
  const spellings = ["//admin", "/a/../admin", "/x/..%2Fadmin", "/%61dmin", "/%2e%2e/admin", "/admin%2F", "/admin%2fusers", "/admin/.", "/admin/./users", "/ADMIN", "/AdMiN/users", "/%41DMIN", "/\\admin", "/a\\..\\admin", "/admin%00", "/admin;x=1", "/;/admin", "/;x=1/admin/secret"];

  it.each(spellings)("%s is refused without an admin token, and the admin upstream never sees it", async (spelling) => {
    for (const headers of [{}, bearer(await user({ groups: ["dev"] }))]) {
      const response = await rawRequest(spelling, "shop.test", headers);
      expect([400, 401, 403], `${spelling} → ${response.status}`).toContain(response.status);
    }
    expect(admin.requests).toEqual([]);
  });

  it.each(spellings)("%s under a DENY policy (everything else allowed): no upstream ever receives /admin", async (spelling) => {
    const response = await rawRequest(spelling, "cs.test", {});
    expect(response.status, `${spelling} → ${response.status}`).not.toBe(500);
    const reachedAdmin = [...admin.requests, ...site.requests].filter((request) => /^\/admin(\/|\?|$)/.test(request.path));
    expect(reachedAdmin, spelling).toEqual([]);
    expect(admin.requests).toEqual([]);
  });

  it.each(["/public/../admin", "/public/%2e%2e/admin", "/public/..%2Fadmin", "/public/..\\admin", "/public/%2E%2E/%61dmin/users"])(
    "%s is judged as the path it normalises to, not as /public/*",
    async (spelling) => {
      const before = site.requests.length;
      const response = await rawRequest(spelling, "shop.test", {});
      expect([400, 401, 403], `${spelling} → ${response.status}`).toContain(response.status);
      expect(site.requests.length).toBe(before);
      expect(admin.requests).toEqual([]);
    },
  );

  it("a raw backslash request-target never reaches the worker", async () => {
    const response = await rawRequest("\\admin", "shop.test", {});
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(admin.requests).toEqual([]);
  });

  it("the admin reaches /admin under any spelling, and the upstream receives the normalised path", async () => {
    const token = await user({ groups: ["admin"] });
    const response = await rawRequest("/a/../%61dmin/./users", "shop.test", bearer(token));
    expect(response.status).toBe(200);
    expect(admin.requests.map((request) => request.path)).toEqual(["/admin/users"]);
  });

  it("with a case-sensitive route, /ADMIN is a different path: it never reaches the /admin route's upstream", async () => {
    const denied = await gateway.fetch("/admin", { host: "cs.test" });
    expect(denied.status).toBe(403);
    const other = await gateway.fetch("/ADMIN", { host: "cs.test" });
    expect(other.status).toBe(200);
    expect((await echoOf(other)).service).toBe("site");
    expect(admin.requests).toEqual([]);
  });
});

describe("RequestAuthentication", () => {
  it("refuses an invalid token with 401 even where no policy requires one; lets a request without a token through", async () => {
    expect((await gateway.fetch("/", { host: "tokens.test" })).status).toBe(200);
    const cases: [Promise<string>, string][] = [
      [idp.sign({ sub: "alice", aud: "shop" }, { expiresInS: -3600 }), "ERR_JWT_EXPIRED"],
      [idp.sign({ sub: "alice", aud: "other" }), "ERR_JWT_AUDIENCE"],
      [idp.sign({ sub: "alice", aud: "shop", iss: "https://unknown.example" }), "ERR_JWT_ISSUER_NOT_CONFIGURED"],
      [Promise.resolve("garbage"), "ERR_JWT_MALFORMED"],
    ];
    for (const [token, code] of cases) {
      const response = await gateway.fetch("/", { host: "tokens.test", headers: bearer(await token) });
      expect(response.status, code).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="tokens.test", error="invalid_token"');
      expect((await refusalOf(response)).error).toBe(`jwt_authn_access_denied{${code}}`);
    }
  });

  it("sets the output headers from the verified token, strips client-set copies, and does not forward the token by default", async () => {
    const token = await user({ org: { team: "payments" } });
    const echo = await echoOf(await gateway.fetch("/public/x", { host: "shop.test", headers: { ...bearer(token), "x-user": "mallory" } }));
    expect(echo.headers["x-user"]).toBe("alice");
    expect(echo.headers["x-team"]).toBe("payments");
    expect(JSON.parse(Buffer.from(echo.headers["x-jwt-payload"]!, "base64url").toString())).toMatchObject({ sub: "alice", aud: "shop" });
    expect(echo.headers["x-mesh-request-principal"]).toBe("https://idp.acme.test/alice");
    expect(echo.headers.authorization).toBeUndefined();
    const spoofed = await echoOf(await gateway.fetch("/public/x", { host: "shop.test", headers: { "x-user": "mallory", "x-jwt-payload": "e30" } }));
    expect(spoofed.headers["x-user"]).toBeUndefined();
    expect(spoofed.headers["x-jwt-payload"]).toBeUndefined();
    const forwarded = await echoOf(await gateway.fetch("/", { host: "tokens.test", headers: bearer(token) }));
    expect(forwarded.headers.authorization).toBe(`Bearer ${token}`);
  });

  it("reads the access_token query parameter and takes it out of the upstream's URL", async () => {
    const token = await user();
    const echo = await echoOf(await gateway.fetch(`/me?x=1&access_token=${token}`, { host: "shop.test" }));
    expect(echo.path).toBe("/me?x=1");
    expect(echo.headers["x-mesh-request-principal"]).toBe("https://idp.acme.test/alice");
  });

  it("picks up a rotated key on the first request that uses it (no transient 401), and keeps the last good keys when the JWKS is down", async () => {
    expect((await gateway.fetch("/me", { host: "shop.test", headers: bearer(await user()) })).status).toBe(200);
    const newKid = await idp.rotate();
    const fetches = idp.jwksFetches;
    const rotated = await gateway.fetch("/me", { host: "shop.test", headers: bearer(await user({ n: 1 })) });
    expect(rotated.status).toBe(200);
    expect(idp.jwksFetches).toBe(fetches + 1);
    expect((await gateway.fetch("/me", { host: "shop.test", headers: bearer(await idp.sign({ sub: "bob", aud: "shop" }, { kid: "key-1" })) })).status).toBe(200);
    idp.down = true;
    try {
      expect((await gateway.fetch("/me", { host: "shop.test", headers: bearer(await idp.sign({ sub: "carol", aud: "shop" }, { kid: newKid })) })).status).toBe(200);
      // A made-up kid while the JWKS is down: one refresh is tried, fails, and the token is refused.
      const unknown = await gateway.fetch("/me", { host: "shop.test", headers: bearer((await user()).replace(/^[^.]+/, Buffer.from(JSON.stringify({ alg: "ES256", kid: "nope" })).toString("base64url"))) });
      expect(unknown.status).toBe(401);
    } finally {
      idp.down = false;
    }
  });
});

/** A request whose path goes on the wire exactly as written (no client-side normalisation). */
function rawRequest(path: string, host: string, headers: Record<string, string>): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: gateway.url.hostname, port: gateway.url.port, path, method: "GET", headers: { host, ...headers }, insecureHTTPParser: true }, (response) => {
      response.resume();
      response.on("end", () => resolve({ status: response.statusCode ?? 0 }));
    });
    request.on("error", reject);
    request.end();
  });
}
