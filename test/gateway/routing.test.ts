import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream, type UpstreamEcho } from "../support/upstream.js";
import { binomialTolerance, gatewayYaml, serviceYaml, virtualServiceYaml } from "./mesh-config.js";

/** Routing through the real ingress worker (workerd) to real upstreams on 127.0.0.1. */

let v1: Upstream, v2: Upstream, v3: Upstream, other: Upstream;
let gateway: TestGateway;

const reviews = (subset: string) => `[{ destination: { host: reviews.internal, subset: ${subset} } }]`;

beforeAll(async () => {
  [v1, v2, v3, other] = await Promise.all([
    startUpstream({ name: "reviews", version: "v1" }),
    startUpstream({ name: "reviews", version: "v2" }),
    startUpstream({ name: "reviews", version: "v3" }),
    startUpstream({ name: "other", version: "v1" }),
  ]);
  const config =
    gatewayYaml() +
    serviceYaml("reviews.internal", [v1, v2, v3]) +
    serviceYaml("other.internal", [other]) +
    serviceYaml("sticky.internal", [v1, v2, v3], { trafficPolicy: "loadBalancer: { consistentHash: { httpHeaderName: x-user } }" }) +
    virtualServiceYaml("sticky", ["sticky.test"], `- route: [{ destination: { host: sticky.internal } }]`) +
    serviceYaml("session.internal", [v1, v2, v3], { trafficPolicy: "loadBalancer: { consistentHash: { httpCookie: { name: mesh-session, ttl: 60s, path: / } } }" }) +
    virtualServiceYaml("session", ["session.test"], `- route: [{ destination: { host: session.internal } }]`) +
    virtualServiceYaml(
      "reviews",
      ["reviews.test"],
      `
- name: jason
  match: [{ headers: { end-user: { exact: jason } } }]
  route: ${reviews("v3")}
- name: api-v2
  match: [{ uri: { prefix: /api/v2 } }, { queryParams: { version: { exact: "2" } } }]
  route: ${reviews("v2")}
- name: moved
  match: [{ uri: { exact: /old } }]
  redirect: { uri: /new, redirectCode: 308 }
- name: to-https
  match: [{ uri: { prefix: /secure } }]
  redirect: { scheme: https, authority: secure.example.org }
- name: teapot
  match: [{ uri: { exact: /teapot } }]
  directResponse: { status: 418, body: { string: "short and stout" } }
- name: rewrite-prefix
  match: [{ uri: { prefix: /legacy/ } }]
  rewrite: { uri: /v2/, authority: reviews.backend }
  route: ${reviews("v1")}
- name: rewrite-regex
  match: [{ uri: { regex: "/items/[0-9]+" } }]
  rewrite: { uriRegexRewrite: { match: "/items/([0-9]+)", rewrite: "/catalog/item-\\\\1" } }
  route: ${reviews("v1")}
- name: headers
  match: [{ uri: { prefix: /headers } }]
  headers:
    request: { set: { x-route: headers }, add: { x-added: one }, remove: [x-secret] }
    response: { set: { x-served-by: mesh }, remove: [x-upstream-only] }
  route:
  - destination: { host: reviews.internal, subset: v1 }
    headers: { request: { set: { x-destination: v1 } }, response: { add: { x-destination-seen: "yes" } } }
- name: cors
  match: [{ uri: { prefix: /cors } }]
  corsPolicy:
    allowOrigins: [{ exact: "https://app.example.org" }, { regex: "https://.*\\\\.trusted\\\\.org" }]
    allowMethods: [GET, POST]
    allowHeaders: [x-custom]
    exposeHeaders: [x-served-by]
    maxAge: 1h
    allowCredentials: true
  route: ${reviews("v1")}
- name: split
  route:
  - { destination: { host: reviews.internal, subset: v1 }, weight: 80 }
  - { destination: { host: reviews.internal, subset: v2 }, weight: 20 }
`,
    ) +
    virtualServiceYaml("other", ["other.test"], `- route: [{ destination: { host: other.internal } }]`);
  gateway = await startTestGateway(config, { bindings: { MESH_DEBUG_HEADERS: "true" } });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([v1, v2, v3, other].map((upstream) => upstream?.close()));
});

async function echo(response: Response): Promise<UpstreamEcho> {
  expect(response.status).toBe(200);
  return (await response.json()) as UpstreamEcho;
}

describe("ingress routing", () => {
  it("answers /__mesh/healthz with the served config version", async () => {
    const response = await gateway.fetch("/__mesh/healthz", { host: "anything" });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok", configVersion: gateway.snapshot!.version });
    const unknown = await gateway.fetch("/__mesh/other", { host: "anything" });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: "mesh_endpoint", message: "no gateway endpoint at /__mesh/other", flags: "-" });
  });

  it("never routes another spelling of the /__mesh/ prefix: 400, and the upstream sees nothing", async () => {
    const before = other.requests.length;
    for (const target of ["/%5F%5Fmesh/healthz", "/%5f_mesh/metrics", "/__MESH/healthz", "/__mesh%2Fhealthz"]) {
      const response = await gateway.fetch(target, { host: "other.test" });
      expect(response.status, target).toBe(400);
      expect(await response.json(), target).toMatchObject({ error: expect.stringMatching(/^(reserved_path|path_normalization_failed)$/) });
    }
    // Dot segments are resolved by the runtime's URL parser first: that is the gateway's own endpoint.
    expect(await (await gateway.fetch("/x/../__mesh/healthz", { host: "other.test" })).json()).toMatchObject({ status: "ok" });
    expect(other.requests.length).toBe(before);
    // A path that merely contains the word is an ordinary path.
    expect((await gateway.fetch("/docs/__mesh/x", { host: "other.test" })).status).toBe(200);
  });

  it("splits traffic 80/20 between subsets selected by endpoint labels", async () => {
    const total = 400;
    const counts: Record<string, number> = {};
    for (let index = 0; index < total; index++) {
      const body = await echo(await gateway.fetch("/", { host: "reviews.test" }));
      counts[body.version] = (counts[body.version] ?? 0) + 1;
    }
    expect(Object.keys(counts).sort()).toEqual(["v1", "v2"]);
    expect(Math.abs(counts.v2! - total * 0.2)).toBeLessThanOrEqual(binomialTolerance(total, 0.2));
  });

  it("routes by header, by path prefix and by query parameter; first match wins", async () => {
    expect((await echo(await gateway.fetch("/api/v2/x", { host: "reviews.test", headers: { "end-user": "jason" } }))).version).toBe("v3");
    expect((await echo(await gateway.fetch("/api/v2/x", { host: "reviews.test" }))).version).toBe("v2");
    expect((await echo(await gateway.fetch("/any?version=2", { host: "reviews.test" }))).version).toBe("v2");
    expect((await echo(await gateway.fetch("/", { host: "other.test" }))).service).toBe("other");
  });

  it("answers 404 with NR when no host or route matches, and never calls an upstream", async () => {
    const before = [v1, v2, v3, other].reduce((sum, upstream) => sum + upstream.requests.length, 0);
    const noHost = await gateway.fetch("/", { host: "unknown.example" });
    expect(noHost.status).toBe(404);
    expect(noHost.headers.get("x-mesh-response-flags")).toBe("NR");
    expect(await noHost.json()).toMatchObject({ error: "no_gateway_for_host" });
    const noVhost = await gateway.fetch("/", { host: "nothing.test" });
    expect(noVhost.status).toBe(404);
    expect(await noVhost.json()).toMatchObject({ error: "no_virtual_host" });
    const after = [v1, v2, v3, other].reduce((sum, upstream) => sum + upstream.requests.length, 0);
    expect(after).toBe(before);
  });

  it("redirects, keeping the query unless the new URI has one", async () => {
    const moved = await gateway.fetch("/old?a=1", { host: "reviews.test" });
    expect(moved.status).toBe(308);
    expect(moved.headers.get("location")).toBe(`http://reviews.test/new?a=1`);
    const secure = await gateway.fetch("/secure/page", { host: "reviews.test" });
    expect(secure.status).toBe(301);
    expect(secure.headers.get("location")).toBe("https://secure.example.org/secure/page");
  });

  it("answers a directResponse at the gateway", async () => {
    const response = await gateway.fetch("/teapot", { host: "reviews.test" });
    expect(response.status).toBe(418);
    expect(await response.text()).toBe("short and stout");
  });

  it("rewrites the matched prefix and the authority, or by regex", async () => {
    v1.reset();
    const prefixed = await echo(await gateway.fetch("/legacy/books?id=7", { host: "reviews.test" }));
    expect(prefixed.path).toBe("/v2/books?id=7");
    expect(v1.requests[0]!.headers["x-forwarded-host"]).toBe("reviews.test");
    // Workers set Host from the URL; the rewritten authority travels in x-mesh-authority.
    expect(prefixed.headers["x-mesh-authority"]).toBe("reviews.backend");
    const regex = await echo(await gateway.fetch("/items/42", { host: "reviews.test" }));
    expect(regex.path).toBe("/catalog/item-42");
  });

  it("applies route and destination header operations to request and response", async () => {
    v1.setBehaviour((_request, response) => {
      response.writeHead(200, { "content-type": "application/json", "x-upstream-only": "secret" });
      response.end("{}");
    });
    const response = await gateway.fetch("/headers", { host: "reviews.test", headers: { "x-secret": "s3cr3t", "x-added": "zero" } });
    v1.setBehaviour(null);
    const received = v1.requests.at(-1)!.headers;
    expect(received["x-route"]).toBe("headers");
    expect(received["x-added"]).toBe("zero, one");
    expect(received["x-secret"]).toBeUndefined();
    expect(received["x-destination"]).toBe("v1");
    expect(response.headers.get("x-served-by")).toBe("mesh");
    expect(response.headers.get("x-upstream-only")).toBeNull();
    expect(response.headers.get("x-destination-seen")).toBe("yes");
  });

  it("sets x-request-id, traceparent and x-forwarded-*, and drops hop-by-hop headers", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const body = await echo(
      await gateway.fetch("/", {
        host: "other.test",
        headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, connection: "keep-alive, x-hop", "x-hop": "1", "keep-alive": "timeout=5", "x-request-id": "req-123", "x-forwarded-proto": "https" },
      }),
    );
    expect(body.headers["x-request-id"]).toBe("req-123");
    expect(body.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$`));
    // The scheme the client really used, not a spoofed x-forwarded-proto.
    expect(body.headers["x-forwarded-proto"]).toBe("http");
    expect(body.headers["x-forwarded-for"]).toMatch(/^127\.0\.0\.1$|^::1$|^::ffff:127\.0\.0\.1$/);
    expect(body.headers["x-forwarded-host"]).toBe("other.test");
    expect(body.headers["x-hop"]).toBeUndefined();
    expect(body.headers["keep-alive"]).toBeUndefined();

    const fresh = await gateway.fetch("/", { host: "other.test" });
    const generated = await echo(fresh);
    expect(generated.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(fresh.headers.get("x-request-id")).toBe(generated.headers["x-request-id"]);
    expect(generated.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("keeps a user on one endpoint with consistentHash by header, and spreads users", async () => {
    const versionsFor = async (user: string) => {
      const versions = new Set<string>();
      for (let index = 0; index < 8; index++) versions.add((await echo(await gateway.fetch("/", { host: "sticky.test", headers: { "x-user": user } }))).version);
      return versions;
    };
    const spread = new Set<string>();
    for (let user = 0; user < 12; user++) {
      const versions = await versionsFor(`user-${user}`);
      expect(versions.size).toBe(1);
      spread.add([...versions][0]!);
    }
    expect(spread.size).toBeGreaterThan(1);
  });

  it("sets a session cookie when a cookie-hash policy has a ttl, and keeps the client on one endpoint with it", async () => {
    const versions = new Set<string>();
    for (let client = 0; client < 6; client++) {
      const first = await gateway.fetch("/", { host: "session.test" });
      const cookie = first.headers.get("set-cookie")!;
      expect(cookie).toMatch(/^mesh-session=[0-9a-f]+; Max-Age=60; HttpOnly; Path=\/$/);
      const firstVersion = (await echo(first)).version;
      versions.add(firstVersion);
      for (let index = 0; index < 4; index++) {
        const next = await gateway.fetch("/", { host: "session.test", headers: { cookie: cookie.split(";")[0]! } });
        expect(next.headers.get("set-cookie")).toBeNull();
        expect((await echo(next)).version).toBe(firstVersion);
      }
    }
    expect(versions.size).toBeGreaterThan(1);
  });

  it("answers CORS preflights for allowed origins and forwards the others", async () => {
    const preflight = await gateway.fetch("/cors", {
      method: "OPTIONS",
      host: "reviews.test",
      headers: { origin: "https://a.trusted.org", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://a.trusted.org");
    expect(preflight.headers.get("access-control-allow-methods")).toBe("GET,POST");
    expect(preflight.headers.get("access-control-max-age")).toBe("3600");
    expect(preflight.headers.get("access-control-allow-credentials")).toBe("true");

    v1.reset();
    const refused = await gateway.fetch("/cors", { method: "OPTIONS", host: "reviews.test", headers: { origin: "https://evil.org", "access-control-request-method": "POST" } });
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
    expect(v1.requests).toHaveLength(1);

    const actual = await gateway.fetch("/cors", { host: "reviews.test", headers: { origin: "https://app.example.org" } });
    expect(actual.headers.get("access-control-allow-origin")).toBe("https://app.example.org");
    expect(actual.headers.get("access-control-expose-headers")).toBe("x-served-by");
  });
});
