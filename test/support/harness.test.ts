import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { compileConfig, startTestGateway } from "./gateway-fixture.js";
import { startClosedPort, startUpstream, type Upstream, type UpstreamEcho } from "./upstream.js";

/** The harness is what integration tests trust to observe the gateway, so it is tested first. */

const started: Upstream[] = [];
async function upstream(name = "reviews", version = "v1"): Promise<Upstream> {
  const server = await startUpstream({ name, version });
  started.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((server) => server.close()));
});

describe("startUpstream", () => {
  it("answers with its identity and echoes what it received, and records the request", async () => {
    const server = await upstream("reviews", "v2");
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);

    const response = await fetch(`${server.url}/reviews/1?x=y`, { method: "POST", headers: { "x-test": "a" }, body: "hello" });
    expect(response.status).toBe(200);
    const echo = (await response.json()) as UpstreamEcho;
    expect(echo).toMatchObject({ service: "reviews", version: "v2", path: "/reviews/1?x=y", method: "POST" });
    expect(echo.headers["x-test"]).toBe("a");

    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ method: "POST", path: "/reviews/1?x=y", body: "hello" });
    expect(server.requests[0]!.headers["x-test"]).toBe("a");
  });

  it("failTimes fails the next n requests with the given status, then answers normally", async () => {
    const server = await upstream("flaky");
    server.failTimes(2, 503);
    const statuses: number[] = [];
    for (let index = 0; index < 3; index++) {
      const response = await fetch(server.url);
      await response.arrayBuffer();
      statuses.push(response.status);
    }
    expect(statuses).toEqual([503, 503, 200]);
    expect(server.requests).toHaveLength(3);
  });

  it("delayMs holds every answer back", async () => {
    const server = await upstream();
    server.delayMs(150);
    const start = performance.now();
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(performance.now() - start).toBeGreaterThanOrEqual(140);
  });

  it("respondWith gives every request the same answer", async () => {
    const server = await upstream();
    server.respondWith(418, { teapot: true }, { "x-kind": "teapot" });
    const response = await fetch(server.url);
    expect(response.status).toBe(418);
    expect(response.headers.get("x-kind")).toBe("teapot");
    expect(await response.json()).toEqual({ teapot: true });
    server.setBehaviour(null);
    expect((await fetch(server.url)).status).toBe(200);
  });

  it("setBehaviour can answer itself or fall through to the default", async () => {
    const server = await upstream();
    server.setBehaviour(async (request, response, next) => {
      if (request.path === "/custom") {
        response.writeHead(201).end("made");
      } else await next();
    });
    expect(await (await fetch(`${server.url}/custom`)).text()).toBe("made");
    expect(((await (await fetch(`${server.url}/other`)).json()) as UpstreamEcho).path).toBe("/other");
  });

  it("resetTimes destroys the connection without an answer", async () => {
    const server = await upstream();
    server.resetTimes(1);
    await expect(fetch(server.url)).rejects.toThrow();
    expect((await fetch(server.url)).status).toBe(200);
    expect(server.requests).toHaveLength(2);
  });

  it("close() does not wait for keep-alive connections or pending delays", async () => {
    const server = await upstream();
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get(server.url, { agent }, (response) => response.resume().on("end", resolve)).on("error", reject);
    });
    server.delayMs(60_000);
    const pending = fetch(server.url).catch(() => "aborted");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const start = performance.now();
    await server.close();
    expect(performance.now() - start).toBeLessThan(1000);
    expect(await pending).toBe("aborted");
    agent.destroy();
  });
});

describe("startClosedPort", () => {
  it("gives a port where connections are refused", async () => {
    const closed = await startClosedPort();
    const error = await fetch(closed.url).then(
      () => undefined,
      (failure: unknown) => failure as Error & { cause?: { code?: string } },
    );
    expect(error?.cause?.code).toBe("ECONNREFUSED");
  });
});

function twoHostConfig(a: Upstream, b: Upstream, bHost = "b.test"): string {
  const service = (name: string, upstream: Upstream) => `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: harness }
spec:
  hosts: [${name}.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${upstream.port} } }]`;
  const route = (name: string, host: string) => `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: harness }
spec:
  hosts: [${host}]
  gateways: [edge]
  http: [{ route: [{ destination: { host: ${name}.internal } }] }]`;
  return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: harness }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*.test"] }]
${service("a", a)}${service("b", b)}${route("a", "a.test")}${route("b", bHost)}
`;
}

describe("startTestGateway", () => {
  it("rejects an invalid config with every issue formatted", async () => {
    await expect(compileConfig("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: x }\nspec: { servers: [], colour: 1 }\n")).rejects.toThrow(
      /test config is invalid:\n {2}test config:1:1: Gateway default\/x: spec.servers: a Gateway needs at least one server/,
    );
  });

  it("routes by the Host header it sends, swaps config through KV, and stops", async () => {
    const a = await upstream("a");
    const b = await upstream("b");
    const gateway = await startTestGateway(twoHostConfig(a, b), { bindings: { MESH_CONFIG_TTL_MS: "0" } });
    try {
      expect(gateway.url.hostname).toBe("127.0.0.1");
      const health = await gateway.fetch("/__mesh/healthz");
      expect(await health.json()).toMatchObject({ configVersion: gateway.snapshot!.version });

      const viaOption = await gateway.fetch("/x?y=1", { host: "a.test", method: "POST", body: "payload" });
      expect(((await viaOption.json()) as UpstreamEcho).service).toBe("a");
      expect(a.requests.at(-1)).toMatchObject({ method: "POST", path: "/x?y=1", body: "payload" });

      const viaUrl = await gateway.fetch("http://b.test/z");
      expect(((await viaUrl.json()) as UpstreamEcho).service).toBe("b");

      const next = await gateway.applySnapshot(twoHostConfig(a, b, "c.test"));
      expect(gateway.snapshot?.version).toBe(next.version);
      expect(((await (await gateway.fetch("/", { host: "c.test" })).json()) as UpstreamEcho).service).toBe("b");
      expect((await gateway.fetch("/", { host: "b.test" })).status).toBe(404);
    } finally {
      await gateway.close();
    }
    await expect(gateway.fetch("/__mesh/healthz", { timeoutMs: 2000 })).rejects.toThrow();
  });
});
