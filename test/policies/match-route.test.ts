import { describe, expect, it } from "vitest";
import { createRoutingTable, matchAccepts, matchRoute, resolveVirtualHost } from "../../policies/routing/match-route.js";
import type { RequestView } from "../../policies/routing/request-view.js";
import { BASE_YAML, compileOrThrow, virtualService } from "./fixtures.js";

function request(path: string, init: { host?: string; method?: string; headers?: Record<string, string>; query?: Record<string, string> } = {}): RequestView {
  const headers = new Map(Object.entries(init.headers ?? {}).map(([key, value]) => [key.toLowerCase(), value]));
  const host = init.host ?? "reviews.example.com";
  return {
    host,
    authority: host,
    path,
    method: init.method ?? "GET",
    scheme: "http",
    port: 80,
    header: (name) => headers.get(name) ?? null,
    query: (name) => init.query?.[name] ?? null,
  };
}

const dest = (subset: string) => `[{ destination: { host: reviews.shop.internal, subset: ${subset} } }]`;

async function table(http: string, hosts = "[reviews.example.com]") {
  const snapshot = await compileOrThrow(BASE_YAML + virtualService("reviews", `hosts: ${hosts}\ngateways: [edge/public]\nhttp:\n${http}`));
  return createRoutingTable(snapshot, { istio: "ingressgateway" });
}

describe("matchRoute", () => {
  it("takes the first matching route, ORs match blocks and ANDs fields inside one", async () => {
    const routes = await table(`- name: jason-api
  match:
  - headers: { end-user: { exact: jason } }
    uri: { prefix: /api }
  - queryParams: { v: { exact: "3" } }
  route: ${dest("v3")}
- name: api
  match: [{ uri: { prefix: /api } }]
  route: ${dest("v2")}
- name: exact
  match: [{ uri: { exact: /health }, method: { exact: GET } }]
  route: ${dest("v1")}
- name: default
  route: ${dest("v1")}`);
    const name = (view: RequestView) => matchRoute(routes, view)?.route.name;
    expect(name(request("/api/x", { headers: { "end-user": "jason" } }))).toBe("jason-api");
    expect(name(request("/api/x", { headers: { "end-user": "anna" } }))).toBe("api");
    expect(name(request("/other", { query: { v: "3" } }))).toBe("jason-api");
    expect(name(request("/health"))).toBe("exact");
    expect(name(request("/health", { method: "POST" }))).toBe("default");
    expect(name(request("/healthz"))).toBe("default");
  });

  it("supports regex (whole value), ignoreUriCase, header presence and withoutHeaders", async () => {
    const routes = await table(`- name: regex
  match: [{ uri: { regex: "/items/[0-9]+" } }]
  route: ${dest("v1")}
- name: caseless
  match: [{ uri: { exact: /Login }, ignoreUriCase: true }]
  route: ${dest("v1")}
- name: has-debug
  match: [{ headers: { x-debug: {} }, withoutHeaders: { x-canary: { exact: "no" } } }]
  route: ${dest("v2")}`);
    const name = (view: RequestView) => matchRoute(routes, view)?.route.name;
    expect(name(request("/items/42"))).toBe("regex");
    expect(name(request("/items/42/x"))).toBeUndefined();
    expect(name(request("/LOGIN"))).toBe("caseless");
    expect(name(request("/x", { headers: { "x-debug": "" } }))).toBe("has-debug");
    expect(name(request("/x", { headers: { "x-debug": "1", "x-canary": "no" } }))).toBeUndefined();
    expect(name(request("/x", { headers: { "x-debug": "1", "x-canary": "yes" } }))).toBe("has-debug");
  });

  it("resolves hosts: exact over wildcard, and only hosts a Gateway server accepts", async () => {
    const routes = await table(`- route: ${dest("v1")}`, "['*.example.com', shop.test]");
    expect(resolveVirtualHost(routes, "a.example.com").kind).toBe("found");
    expect(resolveVirtualHost(routes, "shop.test").kind).toBe("found");
    expect(resolveVirtualHost(routes, "example.com").kind).toBe("no-gateway");
    expect(resolveVirtualHost(routes, "other.org").kind).toBe("no-gateway");
    const noLabels = createRoutingTable(routes.snapshot, { istio: "egressgateway" });
    expect(resolveVirtualHost(noLabels, "a.example.com").kind).toBe("no-gateway");
  });

  it("agrees with a linear scan of every route on many generated routes and requests", async () => {
    // The indexed matcher must give exactly what trying every route in order gives.
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    const segments = ["a", "b", "api", "v1", "Items", "x"];
    const path = () => "/" + Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(segments)).join("/");
    const http: string[] = [];
    for (let index = 0; index < 300; index++) {
      const kind = pick(["exact", "prefix", "prefix", "regex", "none", "header"]);
      const caseless = random() < 0.2 ? ", ignoreUriCase: true" : "";
      const p = path();
      const match =
        kind === "exact" ? `[{ uri: { exact: "${p}" }${caseless} }]`
        : kind === "prefix" ? `[{ uri: { prefix: "${p.slice(0, 1 + Math.floor(random() * p.length))}" }${caseless} }]`
        : kind === "regex" ? `[{ uri: { regex: "${p}(/.*)?" } }]`
        : kind === "header" ? `[{ headers: { x-n: { exact: "${index % 5}" } } }, { uri: { exact: "${p}" } }]`
        : `[{ method: { exact: ${pick(["POST", "PUT"])} } }]`;
      http.push(`- name: r${index}\n  match: ${match}\n  route: ${dest("v1")}`);
    }
    const routes = await table(http.join("\n"));
    const vhost = routes.snapshot.virtualHosts[0]!;
    for (let trial = 0; trial < 2000; trial++) {
      const view = request(random() < 0.3 ? path().toUpperCase() : path(), { method: pick(["GET", "POST"]), headers: { "x-n": String(trial % 7) } });
      const linear = vhost.routes
        .map((id) => routes.snapshot.routes[id]!)
        .find((route) => route.matches.length === 0 || route.matches.some((match) => matchAccepts(match, view, "edge/public", routes.regexes)));
      expect(matchRoute(routes, view)?.route.name, `${view.method} ${view.path}`).toBe(linear?.name);
    }
  });
});
