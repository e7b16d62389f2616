import { describe, expect, it } from "vitest";
import { candidatePositions, createRoutingTable, matchAccepts, matchRoute, resolveVirtualHost, type RoutingTable } from "../../policies/routing/match-route.js";
import type { RequestView } from "../../policies/routing/request-view.js";
import { buildPathIndex } from "../../policies/snapshot/path-index.js";
import { Snapshot, type CompiledMatch } from "../../policies/snapshot/schema.js";
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

  const linearMatch = (routes: RoutingTable, view: RequestView) =>
    routes.snapshot.virtualHosts[0]!.routes
      .map((id) => routes.snapshot.routes[id]!)
      .find((route) => route.matches.length === 0 || route.matches.some((match) => matchAccepts(match, view, "edge/public", routes.regexes)));

  it("agrees with a linear scan when routes are told apart by exact header values (the header splits)", async () => {
    // Many routes on the same paths keyed by x-user's exact value, mixed with routes that use the
    // header otherwise (prefix, regex, presence, withoutHeaders), other headers, several match
    // blocks (all keyed, or only some), and routes with no header at all, in any order.
    for (const seedStart of [11, 12, 13]) {
      let seed = seedStart;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
      const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
      const users = Array.from({ length: 40 }, (_, i) => `u${i}`).concat(["", "__proto__", "constructor", "U1"]);
      const user = () => pick(users);
      const paths = ["/api/items", "/api/users", "/API/items", "/health", "/other"];
      const uri = () =>
        pick([
          "",
          ", uri: { prefix: /api/ }",
          ", uri: { prefix: /api/ }",
          ", uri: { prefix: /api/ }, ignoreUriCase: true",
          ", uri: { exact: /health }",
          ", uri: { regex: \"/(api|other)/?.*\" }",
        ]);
      const keyed = () => `headers: { x-user: { exact: "${user()}" }${random() < 0.2 ? ", x-tier: { exact: gold }" : ""} }${uri()}${random() < 0.2 ? ", method: { exact: POST }" : ""}${random() < 0.1 ? ", queryParams: { v: { exact: \"2\" } }" : ""}`;
      const http: string[] = [];
      for (let index = 0; index < 250; index++) {
        const kind = pick(["keyed", "keyed", "keyed", "keyed", "two-keyed", "half-keyed", "prefix", "regex", "present", "without", "other", "none"]);
        const match =
          kind === "keyed" ? `[{ ${keyed()} }]`
          : kind === "two-keyed" ? `[{ ${keyed()} }, { ${keyed()} }]`
          : kind === "half-keyed" ? `[{ ${keyed()} }, { queryParams: { v: { exact: "3" } } }]`
          : kind === "prefix" ? `[{ headers: { x-user: { prefix: u1 } }${uri()} }]`
          : kind === "regex" ? `[{ headers: { x-user: { regex: "u[0-3]" } }${uri()} }]`
          : kind === "present" ? `[{ headers: { x-user: {} }, method: { exact: DELETE }${uri()} }]`
          : kind === "without" ? `[{ withoutHeaders: { x-user: { exact: "${user()}" } }, method: { exact: PUT }${uri()} }]`
          : kind === "other" ? `[{ headers: { x-tier: { exact: gold } }${uri()} }]`
          : `[{ method: { exact: PATCH }${uri()} }]`;
        http.push(`- name: r${index}\n  match: ${match}\n  route: ${dest("v1")}`);
      }
      // A catch-all for some seeds (the last candidate of every list), none for others.
      if (seedStart !== 12) http.push(`- name: catch-all\n  route: ${dest("v1")}`);
      const routes = await table(http.join("\n"));
      const index = routes.snapshot.virtualHosts[0]!.pathIndex;
      // The splits exist (else this test would not cover them), and the snapshot still parses.
      expect(index.prefixSplit?.["/api/"]?.header).toBe("x-user");
      expect(index.anyPathSplit?.header).toBe("x-user");
      expect(index.prefixCaselessSplit?.["/api/"]?.header).toBe("x-user");
      expect(Snapshot.parse(JSON.parse(JSON.stringify(routes.snapshot)))).toEqual(routes.snapshot);
      for (let trial = 0; trial < 3000; trial++) {
        const headers: Record<string, string> = {};
        if (random() < 0.9) headers["x-user"] = random() < 0.1 ? `u${Math.floor(random() * 50)}x` : user();
        if (random() < 0.4) headers["x-tier"] = pick(["gold", "silver"]);
        const view = request(pick(paths) + pick(["", "/1", "/a/b"]), {
          method: pick(["GET", "GET", "POST", "PUT", "DELETE", "PATCH"]),
          headers,
          query: random() < 0.3 ? { v: pick(["2", "3"]) } : {},
        });
        const linear = linearMatch(routes, view);
        expect(matchRoute(routes, view)?.route.name, `${view.method} ${view.path} ${JSON.stringify(headers)}`).toBe(linear?.name);
        if (linear) {
          const position = routes.snapshot.virtualHosts[0]!.routes.indexOf(routes.snapshot.routes.indexOf(linear));
          expect(candidatePositions(index, view.path, view)).toContain(position);
        }
      }
    }
  });

  it("keys a route under every value its match blocks require, and splits only lists worth it", () => {
    const block = (user: string | undefined, extra: Partial<CompiledMatch> = {}): CompiledMatch => ({
      uri: { type: "prefix", value: "/api/" },
      headers: user === undefined ? [] : [{ name: "x-user", match: { type: "exact", value: user } }],
      withoutHeaders: [],
      queryParams: [],
      ...extra,
    });
    const matches: CompiledMatch[][] = [
      ...Array.from({ length: 8 }, (_, i) => [block(`u${i}`)]),
      [block("a"), block("__proto__")],
      [block("b"), block("b2"), block("b")],
      [block("b"), block(undefined)],
      [block(undefined, { headers: [{ name: "x-user", match: { type: "exact", value: "c", ignoreCase: true } }] })],
      [],
    ];
    const index = buildPathIndex(matches);
    const split = index.prefixSplit!["/api/"]!;
    expect(split.header).toBe("x-user");
    // Not keyed under "__proto__" (the snapshot's schema would drop that key): in `rest` instead.
    expect(Object.keys(split.values)).toEqual(["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "b", "b2"]);
    expect(split.values["b"]).toEqual([9]);
    expect(split.values["b2"]).toEqual([9]);
    expect(split.rest).toEqual([8, 10, 11]);
    expect(index.anyPath).toEqual([12]);
    expect(index.anyPathSplit).toBeUndefined();
    const view = (user: string | null) => ({ header: (name: string) => (name === "x-user" ? user : null) });
    expect(candidatePositions(index, "/api/x", view("u3"))).toEqual([3, 8, 10, 11, 12]);
    expect(candidatePositions(index, "/api/x", view("b2"))).toEqual([8, 9, 10, 11, 12]);
    expect(candidatePositions(index, "/api/x", view("__proto__"))).toEqual([8, 10, 11, 12]);
    expect(candidatePositions(index, "/api/x", view(null))).toEqual([8, 10, 11, 12]);
    expect(candidatePositions(index, "/api/x")).toHaveLength(13);
    // Seven keyed routes are not worth a split; neither are 9 among 43.
    expect(buildPathIndex(matches.slice(2)).prefixSplit).toBeUndefined();
    const diluted = [...matches, ...Array.from({ length: 30 }, () => [block(undefined)])];
    expect(buildPathIndex(diluted).prefixSplit).toBeUndefined();
    // No split at all: the index has exactly the fields it had before splits existed.
    expect(Object.keys(buildPathIndex([[block("u1")]])).sort()).toEqual(
      ["anyPath", "exact", "exactCaseless", "prefix", "prefixCaseless", "prefixLengths", "prefixLengthsCaseless"],
    );
  });
});
