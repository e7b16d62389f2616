import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream, type UpstreamEcho } from "../support/upstream.js";
import { gatewayYaml, serviceYaml, virtualServiceYaml } from "./mesh-config.js";

/**
 * VirtualService match kinds at runtime, through the real gateway in workerd to a real upstream:
 * method, authority, ignoreUriCase, withoutHeaders, header prefix and regex, ORed match blocks
 * of ANDed fields. Every route sits under its own path and the VirtualService has no catch-all,
 * so a request that misses a condition falls through to the `route_not_found` 404 (flag NR):
 * each case checks both sides of its condition.
 */

let echo: Upstream;
let gateway: TestGateway;

beforeAll(async () => {
  echo = await startUpstream({ name: "echo" });
  const to = "route: [{ destination: { host: echo.internal } }]";
  const config =
    gatewayYaml() +
    serviceYaml("echo.internal", [echo]) +
    virtualServiceYaml(
      "matches",
      ["match.test", "alt.test"],
      `
- { name: delete-only, match: [{ uri: { prefix: /method }, method: { exact: DELETE } }], ${to} }
- { name: writes, match: [{ uri: { prefix: /method }, method: { regex: "PUT|PATCH" } }], ${to} }
- { name: alt-authority, match: [{ uri: { prefix: /authority }, authority: { exact: alt.test } }], ${to} }
- { name: alt-prefix-authority, match: [{ uri: { prefix: /host-prefix }, authority: { prefix: alt. } }], ${to} }
- { name: any-case, match: [{ uri: { exact: /Mixed/Case }, ignoreUriCase: true }], ${to} }
- { name: any-case-prefix, match: [{ uri: { prefix: /Docs/ }, ignoreUriCase: true }], ${to} }
- { name: exact-case, match: [{ uri: { exact: /Strict/Case } }], ${to} }
- { name: anonymous, match: [{ uri: { prefix: /anon }, withoutHeaders: { authorization: {} } }], ${to} }
- { name: not-canary, match: [{ uri: { prefix: /stable }, withoutHeaders: { x-env: { exact: canary } } }], ${to} }
- { name: tenant, match: [{ uri: { prefix: /tenant }, headers: { x-tenant: { prefix: acme- } } }], ${to} }
- { name: build, match: [{ uri: { prefix: /build }, headers: { x-build: { regex: "v[0-9]+\\\\.[0-9]+" } } }], ${to} }
- name: combo
  match:
  - { uri: { prefix: /combo }, method: { exact: POST }, headers: { x-a: { exact: "1" } } }
  - { uri: { prefix: /combo }, queryParams: { force: { exact: "yes" } } }
  ${to}
`,
    );
  gateway = await startTestGateway(config, { bindings: { MESH_DEBUG_HEADERS: "true" } });
});

afterAll(async () => {
  await gateway?.close();
  await echo?.close();
});

beforeEach(() => echo.reset());

interface Sent {
  method?: string;
  host?: string;
  headers?: Record<string, string>;
}

/** The route that served the request (x-mesh-route), asserting the upstream got it. */
async function routeOf(path: string, sent: Sent = {}): Promise<string | null> {
  const before = echo.requests.length;
  const response = await gateway.fetch(path, { method: sent.method ?? "GET", host: sent.host ?? "match.test", headers: sent.headers ?? {} });
  if (response.status === 404) {
    expect(response.headers.get("x-mesh-response-flags")).toBe("NR");
    expect(await response.json()).toMatchObject({ error: "route_not_found" });
    expect(echo.requests.length).toBe(before);
    return null;
  }
  expect(response.status).toBe(200);
  const body = (await response.json()) as UpstreamEcho;
  expect(echo.requests.length).toBe(before + 1);
  expect(body.path).toBe(path);
  return response.headers.get("x-mesh-route");
}

describe("match kinds", () => {
  it("method: exact and regex", async () => {
    expect(await routeOf("/method", { method: "DELETE" })).toBe("delete-only");
    expect(await routeOf("/method", { method: "PUT" })).toBe("writes");
    expect(await routeOf("/method", { method: "PATCH" })).toBe("writes");
    expect(await routeOf("/method", { method: "GET" })).toBeNull();
    expect(await routeOf("/method", { method: "POST" })).toBeNull();
  });

  it("authority: exact and prefix, against the Host the client sent", async () => {
    expect(await routeOf("/authority", { host: "alt.test" })).toBe("alt-authority");
    expect(await routeOf("/authority", { host: "match.test" })).toBeNull();
    expect(await routeOf("/host-prefix/x", { host: "alt.test" })).toBe("alt-prefix-authority");
    expect(await routeOf("/host-prefix/x", { host: "match.test" })).toBeNull();
  });

  it("ignoreUriCase: exact and prefix match in any case; without it, case matters", async () => {
    expect(await routeOf("/mixed/case")).toBe("any-case");
    expect(await routeOf("/MIXED/CASE")).toBe("any-case");
    expect(await routeOf("/docs/intro")).toBe("any-case-prefix");
    expect(await routeOf("/DOCS/intro")).toBe("any-case-prefix");
    expect(await routeOf("/Strict/Case")).toBe("exact-case");
    expect(await routeOf("/strict/case")).toBeNull();
  });

  it("withoutHeaders: presence and value", async () => {
    expect(await routeOf("/anon")).toBe("anonymous");
    expect(await routeOf("/anon", { headers: { authorization: "Bearer x" } })).toBeNull();
    expect(await routeOf("/stable")).toBe("not-canary");
    expect(await routeOf("/stable", { headers: { "x-env": "prod" } })).toBe("not-canary");
    expect(await routeOf("/stable", { headers: { "x-env": "canary" } })).toBeNull();
  });

  it("headers: prefix", async () => {
    expect(await routeOf("/tenant", { headers: { "x-tenant": "acme-42" } })).toBe("tenant");
    expect(await routeOf("/tenant", { headers: { "x-tenant": "acme" } })).toBeNull();
    expect(await routeOf("/tenant", { headers: { "x-tenant": "beta-acme-42" } })).toBeNull();
    expect(await routeOf("/tenant")).toBeNull();
  });

  it("headers: regex, matching the whole value", async () => {
    expect(await routeOf("/build", { headers: { "x-build": "v1.2" } })).toBe("build");
    expect(await routeOf("/build", { headers: { "x-build": "v10.20" } })).toBe("build");
    expect(await routeOf("/build", { headers: { "x-build": "v1.2-rc1" } })).toBeNull();
    expect(await routeOf("/build", { headers: { "x-build": "xv1.2" } })).toBeNull();
    expect(await routeOf("/build")).toBeNull();
  });

  it("match blocks are ORed, the fields inside one ANDed", async () => {
    expect(await routeOf("/combo", { method: "POST", headers: { "x-a": "1" } })).toBe("combo");
    expect(await routeOf("/combo?force=yes")).toBe("combo");
    expect(await routeOf("/combo", { method: "POST" })).toBeNull();
    expect(await routeOf("/combo", { headers: { "x-a": "1" } })).toBeNull();
    expect(await routeOf("/combo?force=no", { method: "POST" })).toBeNull();
  });
});

describe("no route", () => {
  it("answers 404 NR route_not_found when the host is served but no route matches, naming the VirtualService", async () => {
    const response = await gateway.fetch("/nowhere", { method: "POST", host: "match.test" });
    expect(response.status).toBe(404);
    expect(response.headers.get("x-mesh-response-flags")).toBe("NR");
    const body = (await response.json()) as { error: string; message: string };
    expect(body.error).toBe("route_not_found");
    expect(body.message).toMatch(/VirtualService mesh\/matches/);
    expect(body.message).toMatch(/POST \/nowhere/);
    expect(echo.requests).toHaveLength(0);
    // The same path on a host no VirtualService serves is the other kind of NR.
    const noVhost = await gateway.fetch("/nowhere", { host: "other.test" });
    expect(noVhost.status).toBe(404);
    expect(await noVhost.json()).toMatchObject({ error: "no_virtual_host" });
  });
});
