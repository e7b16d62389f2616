import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_LOG_FIELDS } from "../../../policies/telemetry/access-log.js";
import { startTestGateway, type TestGateway } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";
import { binomialTolerance, gatewayYaml, serviceYaml, virtualServiceYaml } from "../mesh-config.js";

/**
 * The access log as Istio's Telemetry resource shapes it: Envoy's default fields plus the route,
 * the destination and subset, the principals and the authz decision; the filter, sampling and
 * field selection settings; and no secret in any line.
 */

let upstream: Upstream;
const config = () =>
  gatewayYaml() +
  serviceYaml("app.internal", [upstream]) +
  virtualServiceYaml(
    "app",
    ["app.test"],
    `- name: abort
  match: [{ uri: { prefix: /abort } }]
  fault: { abort: { httpStatus: 503 } }
  route: [{ destination: { host: app.internal, subset: v1 } }]
- name: main
  route: [{ destination: { host: app.internal, subset: v1 } }]`,
  );

beforeAll(async () => {
  upstream = await startUpstream({ name: "app" });
});

afterAll(async () => {
  await upstream?.close();
});

async function lineFor(gateway: TestGateway, requestId: string): Promise<Record<string, unknown> | undefined> {
  for (let wait = 0; wait < 25; wait++) {
    const line = gateway.logs.find((entry) => entry.request_id === requestId || entry.x_request_id === requestId);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

describe("access log fields", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(config(), { captureLogs: true });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it("writes every documented field, with the destination and subset, and no secret", async () => {
    await gateway.fetch("/orders?id=1&access_token=very-secret", {
      host: "app.test",
      headers: { "x-request-id": "obs-1", authorization: "Bearer another-secret", cookie: "session=cookie-secret", "cf-connecting-ip": "203.0.113.7" },
    });
    const line = (await lineFor(gateway, "obs-1"))!;
    expect(Object.keys(line).sort()).toEqual([...ACCESS_LOG_FIELDS].sort());
    expect(line).toMatchObject({
      path: "/orders?id=1&access_token=REDACTED",
      route_name: "main",
      destination_service: "app.internal",
      destination_subset: "v1",
      upstream_cluster: "app.internal|v1|80",
      downstream_remote_address: "203.0.113.7",
      peer_principal: null,
      request_principal: null,
      authz_decision: null,
      authz_policy: null,
    });
    expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
    const everything = JSON.stringify(gateway.logs);
    for (const secret of ["very-secret", "another-secret", "cookie-secret"]) expect(everything).not.toContain(secret);
  });

  it("gives Envoy's fields the values of the request that was served", async () => {
    upstream.delayMs(40);
    const body = "name=widget&count=3";
    const before = Date.now();
    let received: string;
    try {
      const response = await gateway.fetch("/orders", {
        method: "POST",
        host: "app.test",
        body,
        headers: { "content-type": "application/x-www-form-urlencoded", "x-request-id": "obs-values", "user-agent": "obs-test/1.0", "x-forwarded-for": "198.51.100.9, 10.0.0.1" },
      });
      expect(response.status).toBe(200);
      received = await response.text();
    } finally {
      upstream.setBehaviour(null);
    }
    const after = Date.now();
    const line = (await lineFor(gateway, "obs-values"))!;
    expect(line).toMatchObject({
      method: "POST",
      protocol: "HTTP/1.1",
      path: "/orders",
      response_code: 200,
      bytes_received: new TextEncoder().encode(body).byteLength,
      bytes_sent: new TextEncoder().encode(received).byteLength,
      x_forwarded_for: "198.51.100.9, 10.0.0.1",
      user_agent: "obs-test/1.0",
      authority: "app.test",
      upstream_host: `127.0.0.1:${upstream.port}`,
      attempts: 1,
    });
    // The upstream took 40 ms: the gateway saw at least that, and the whole request took no less, nor longer than the client waited.
    const started = Date.parse(line.start_time as string);
    expect(line.start_time).toBe(new Date(started).toISOString());
    expect(started).toBeGreaterThanOrEqual(before - 5);
    expect(started).toBeLessThanOrEqual(after);
    expect(line.upstream_service_time).toBeGreaterThanOrEqual(40);
    expect(line.duration).toBeGreaterThanOrEqual(line.upstream_service_time as number);
    expect(line.duration).toBeLessThanOrEqual(after - before + 5);
  });

  it("names the route's service for a request refused before a destination was drawn", async () => {
    await gateway.fetch("/abort", { host: "app.test", headers: { "x-request-id": "obs-2" } });
    expect(await lineFor(gateway, "obs-2")).toMatchObject({ response_code: 503, response_flags: "FI", destination_service: "app.internal", destination_subset: "v1" });
  });
});

describe("access log settings", () => {
  it("logs only what the filter passes, with only the selected fields", async () => {
    const gateway = await startTestGateway(config(), {
      captureLogs: true,
      bindings: { MESH_ACCESS_LOG_FILTER: "response.code >= 500 || request.url_path.startsWith('/audit')", MESH_ACCESS_LOG_FIELDS: "request_id,response_code,response_flags,route_name" },
    });
    try {
      await gateway.fetch("/fine", { host: "app.test", headers: { "x-request-id": "f-ok" } });
      await gateway.fetch("/audit/1", { host: "app.test", headers: { "x-request-id": "f-audit" } });
      await gateway.fetch("/abort", { host: "app.test", headers: { "x-request-id": "f-abort" } });
      expect(await lineFor(gateway, "f-abort")).toEqual({ request_id: "f-abort", response_code: 503, response_flags: "FI", route_name: "abort" });
      expect(await lineFor(gateway, "f-audit")).toEqual({ request_id: "f-audit", response_code: 200, response_flags: "-", route_name: "main" });
      expect(gateway.logs.find((entry) => entry.request_id === "f-ok")).toBeUndefined();
    } finally {
      await gateway.close();
    }
  });

  it("samples about the configured share at 30%, within a tolerance derived from the sample size", async () => {
    const gateway = await startTestGateway(config(), { captureLogs: true, bindings: { MESH_ACCESS_LOG_SAMPLING: "30" } });
    try {
      const n = 300;
      for (let batch = 0; batch < n; batch += 25) {
        await Promise.all(
          Array.from({ length: Math.min(25, n - batch) }, (_, index) =>
            gateway.fetch("/x", { host: "app.test", headers: { "x-request-id": `s30-${batch + index}` } }).then((response) => response.arrayBuffer()),
          ),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const logged = new Set(gateway.logs.map((entry) => entry.request_id).filter((id) => typeof id === "string" && id.startsWith("s30-")));
      expect(Math.abs(logged.size - n * 0.3)).toBeLessThanOrEqual(binomialTolerance(n, 0.3));
    } finally {
      await gateway.close();
    }
  });

  it("samples none at 0%", async () => {
    const gateway = await startTestGateway(config(), { captureLogs: true, bindings: { MESH_ACCESS_LOG_SAMPLING: "0" } });
    try {
      await gateway.fetch("/x", { host: "app.test", headers: { "x-request-id": "s-0" } });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(gateway.logs.filter((entry) => "request_id" in entry)).toEqual([]);
    } finally {
      await gateway.close();
    }
  });

  it("refuses to start with a filter it cannot compile, naming the problem", async () => {
    const gateway = await startTestGateway(config(), { captureLogs: true, bindings: { MESH_ACCESS_LOG_FILTER: "response.status >= 400" } });
    try {
      const response = await gateway.fetch("/x", { host: "app.test" });
      expect(response.status).toBe(500);
      expect(JSON.stringify(gateway.logs) + (await response.text())).toMatch(/unknown attribute 'response\.status'/);
    } finally {
      await gateway.close();
    }
  });
});

describe("access log protocol", () => {
  it("is the downstream protocol the platform reports (request.cf.httpProtocol), HTTP/1.1 without it", async () => {
    const gateway = await startTestGateway(config(), { captureLogs: true, cf: { httpProtocol: "HTTP/3" } });
    try {
      await gateway.fetch("/", { host: "app.test", headers: { "x-request-id": "proto-3" } });
      expect(await lineFor(gateway, "proto-3")).toMatchObject({ protocol: "HTTP/3" });
    } finally {
      await gateway.close();
    }
  });
});

describe("access log bytes_received", () => {
  it("is the body's size for a chunked request (no Content-Length), as the gateway buffered it", async () => {
    const gateway = await startTestGateway(config(), { captureLogs: true });
    try {
      const body = "x".repeat(1234);
      const status = await new Promise<number>((resolve, reject) => {
        const request = http.request({ host: gateway.url.hostname, port: gateway.url.port, path: "/", method: "POST", headers: { host: "app.test", "x-request-id": "chunked-1", "transfer-encoding": "chunked" } }, (response) => {
          response.resume();
          response.on("end", () => resolve(response.statusCode ?? 0));
        });
        request.on("error", reject);
        request.write(body.slice(0, 600));
        request.end(body.slice(600));
      });
      expect(status).toBe(200);
      expect(await lineFor(gateway, "chunked-1")).toMatchObject({ bytes_received: 1234 });
    } finally {
      await gateway.close();
    }
  });
});
