import http from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../support/gateway-fixture.js";
import { startClosedPort, startUpstream, type Upstream } from "../support/upstream.js";
import { binomialTolerance, gatewayYaml, serviceYaml, virtualServiceYaml } from "./mesh-config.js";

/** Faults, retries, timeouts, outlier detection and mirroring against real upstreams. */

let flaky: Upstream, slow: Upstream, healthy: Upstream, shadow: Upstream, a: Upstream, b: Upstream;
let closedPort: number;
let configText: string;
let gateway: TestGateway;

beforeAll(async () => {
  [flaky, slow, healthy, shadow, a, b] = await Promise.all([
    startUpstream({ name: "flaky" }),
    startUpstream({ name: "slow" }),
    startUpstream({ name: "healthy" }),
    startUpstream({ name: "shadow" }),
    startUpstream({ name: "pool", version: "a" }),
    startUpstream({ name: "pool", version: "b" }),
  ]);
  closedPort = (await startClosedPort()).port;
  const config = (configText =
    gatewayYaml() +
    serviceYaml("flaky.internal", [flaky]) +
    serviceYaml("slow.internal", [slow]) +
    serviceYaml("healthy.internal", [healthy], { extraEndpoints: [{ port: closedPort, version: "dead" }] }) +
    serviceYaml("shadow.internal", [shadow]) +
    serviceYaml("budget.internal", [flaky], { trafficPolicy: "retryBudget: { percent: 0, minRetryConcurrency: 0 }" }) +
    // A subset whose labels select no endpoint: requests to it find no healthy upstream.
    serviceYaml("ghost.internal", [healthy]).replace("- { name: v1, labels: { version: v1 } }", "- { name: empty, labels: { version: none } }") +
    serviceYaml("pool.internal", [a, b], {
      trafficPolicy: `loadBalancer: { simple: ROUND_ROBIN }
outlierDetection: { consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 1s, maxEjectionPercent: 50 }`,
    }) +
    virtualServiceYaml(
      "faults",
      ["faults.test"],
      `
- name: abort
  match: [{ headers: { x-fault: { exact: abort } } }]
  fault: { abort: { httpStatus: 503 } }
  route: [{ destination: { host: healthy.internal, subset: v1 } }]
- name: delay
  match: [{ headers: { x-fault: { exact: delay } } }]
  fault: { delay: { fixedDelay: 300ms } }
  route: [{ destination: { host: healthy.internal, subset: v1 } }]
- name: half-abort
  match: [{ headers: { x-fault: { exact: half } } }]
  fault: { abort: { httpStatus: 500, percentage: { value: 50 } } }
  route: [{ destination: { host: healthy.internal, subset: v1 } }]
`,
    ) +
    virtualServiceYaml(
      "retries",
      ["retries.test"],
      `
- name: default-policy
  match: [{ uri: { prefix: /default } }]
  route: [{ destination: { host: flaky.internal } }]
- name: three-attempts
  match: [{ uri: { prefix: /five-xx } }]
  retries: { attempts: 2, retryOn: 5xx }
  route: [{ destination: { host: flaky.internal } }]
- name: status-only
  match: [{ uri: { prefix: /only-502 } }]
  retries: { attempts: 3, retryOn: "502" }
  route: [{ destination: { host: flaky.internal } }]
- name: per-try
  match: [{ uri: { prefix: /per-try } }]
  retries: { attempts: 2, perTryTimeout: 150ms, retryOn: "5xx,reset" }
  route: [{ destination: { host: slow.internal } }]
- name: route-timeout
  match: [{ uri: { prefix: /timeout } }]
  timeout: 200ms
  route: [{ destination: { host: slow.internal } }]
- name: dead
  match: [{ uri: { prefix: /dead } }]
  retries: { attempts: 1, retryOn: connect-failure }
  route: [{ destination: { host: healthy.internal, subset: dead } }]
- name: no-endpoints
  match: [{ uri: { prefix: /nothing } }]
  route: [{ destination: { host: ghost.internal, subset: empty } }]
- name: budget
  match: [{ uri: { prefix: /budget } }]
  retries: { attempts: 3, retryOn: 5xx }
  route: [{ destination: { host: budget.internal } }]
- name: pool
  match: [{ uri: { prefix: /pool } }]
  retries: { attempts: 0 }
  route: [{ destination: { host: pool.internal } }]
- name: mirrored
  match: [{ uri: { prefix: /mirrored } }]
  mirror: { host: shadow.internal }
  route: [{ destination: { host: healthy.internal, subset: v1 } }]
`,
    ));
  gateway = await startTestGateway(config, { bindings: { MESH_DEBUG_HEADERS: "true" } });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([flaky, slow, healthy, shadow, a, b].map((upstream) => upstream?.close()));
});

beforeEach(() => {
  for (const upstream of [flaky, slow, healthy, shadow, a, b]) upstream.reset();
});

const flags = (response: Response) => response.headers.get("x-mesh-response-flags");

describe("fault injection", () => {
  it("aborts with the configured status and FI, without calling the upstream", async () => {
    const response = await gateway.fetch("/", { host: "faults.test", headers: { "x-fault": "abort" } });
    expect(response.status).toBe(503);
    expect(flags(response)).toBe("FI");
    // The refusal names the route whose fault fired (Istio's http[].name, shown in logs and errors).
    expect(await response.json()).toMatchObject({ error: "fault_filter_abort", message: expect.stringMatching(/fault filter abort/), flags: "FI", route: "abort" });
    expect(healthy.requests).toHaveLength(0);
  });

  it("delays by fixedDelay with DI, then forwards", async () => {
    const started = performance.now();
    const response = await gateway.fetch("/", { host: "faults.test", headers: { "x-fault": "delay" } });
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(flags(response)).toBe("DI");
    expect(healthy.requests).toHaveLength(1);
  });

  it("aborts about the configured percentage of requests", async () => {
    const total = 200;
    let aborted = 0;
    for (let index = 0; index < total; index++) {
      const response = await gateway.fetch("/", { host: "faults.test", headers: { "x-fault": "half" } });
      if (response.status === 500) aborted++;
      await response.arrayBuffer();
    }
    expect(Math.abs(aborted - total / 2)).toBeLessThanOrEqual(binomialTolerance(total, 0.5));
    expect(healthy.requests).toHaveLength(total - aborted);
  });
});

describe("retries", () => {
  it("succeeds on the 3rd attempt with retryOn 5xx, replaying the request body", async () => {
    flaky.failTimes(2, 500);
    const response = await gateway.fetch("/five-xx", { method: "POST", host: "retries.test", body: "payload-to-replay" });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-mesh-attempts")).toBe("3");
    expect(flaky.requests.map((request) => request.body)).toEqual(["payload-to-replay", "payload-to-replay", "payload-to-replay"]);
  });

  it("does not retry a request whose body is too large to buffer, and streams it through intact", async () => {
    const small = await startTestGateway(configText, {
      bindings: { MESH_DEBUG_HEADERS: "true", MESH_MAX_BUFFERED_BODY_BYTES: "16" },
    });
    try {
      flaky.failTimes(1, 500);
      const body = "x".repeat(5000);
      const response = await small.fetch("/five-xx", { method: "POST", host: "retries.test", body });
      expect(response.status).toBe(500);
      expect(flaky.requests).toHaveLength(1);
      expect(flaky.requests[0]!.body).toBe(body);
      flaky.reset();
      const ok = await small.fetch("/five-xx", { method: "POST", host: "retries.test", body });
      expect(ok.status).toBe(200);
      expect(flaky.requests[0]!.body).toBe(body);
    } finally {
      await small.close();
    }
  });

  it("gives up after attempts retries with URX and the last upstream answer", async () => {
    flaky.failTimes(10, 500);
    const response = await gateway.fetch("/five-xx", { host: "retries.test" });
    expect(response.status).toBe(500);
    expect(flags(response)).toBe("URX");
    expect(flaky.requests).toHaveLength(3);
  });

  it("applies Istio's default policy when a route sets no retries: 503 retried twice, 500 not", async () => {
    flaky.failTimes(2, 503);
    expect((await gateway.fetch("/default", { host: "retries.test" })).status).toBe(200);
    expect(flaky.requests).toHaveLength(3);
    flaky.reset();
    flaky.failTimes(1, 500);
    expect((await gateway.fetch("/default", { host: "retries.test" })).status).toBe(500);
    expect(flaky.requests).toHaveLength(1);
  });

  it("retries only the listed status codes", async () => {
    flaky.failTimes(1, 502);
    expect((await gateway.fetch("/only-502", { host: "retries.test" })).status).toBe(200);
    flaky.reset();
    flaky.failTimes(1, 503);
    expect((await gateway.fetch("/only-502", { host: "retries.test" })).status).toBe(503);
    expect(flaky.requests).toHaveLength(1);
  });

  it("times out each try after perTryTimeout and retries, ending in 504 UT,URX", async () => {
    slow.delayMs(1000);
    const started = performance.now();
    const response = await gateway.fetch("/per-try", { host: "retries.test" });
    expect(response.status).toBe(504);
    expect(flags(response)).toBe("URX,UT");
    expect(slow.requests).toHaveLength(3);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("makes no retry beyond the cluster's retry budget", async () => {
    flaky.failTimes(1, 500);
    const response = await gateway.fetch("/budget", { host: "retries.test" });
    expect(response.status).toBe(500);
    expect(flaky.requests).toHaveLength(1);
  });

  it("answers 504 UT when the route timeout expires", async () => {
    slow.delayMs(1000);
    const started = performance.now();
    const response = await gateway.fetch("/timeout", { host: "retries.test" });
    expect(response.status).toBe(504);
    expect(flags(response)).toBe("UT");
    expect(performance.now() - started).toBeLessThan(900);
  });

  it("passes a body that streams within the route timeout through whole", async () => {
    slow.setBehaviour((_request, response) => {
      response.writeHead(200, { "content-type": "text/plain" });
      response.write("first chunk;");
      setTimeout(() => response.destroyed || response.end("second chunk"), 50);
    });
    const response = await gateway.fetch("/timeout", { host: "retries.test" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("first chunk;second chunk");
  });

  it("streams the answer under the route timeout and cuts a body still flowing at the deadline", async () => {
    // Headers and a first chunk at once, the rest after the 200 ms route timeout: the answer is
    // not held back until its last byte, and the timeout still covers the whole response (as
    // Envoy's does), so the stalled body is cut at the deadline, not waited for.
    slow.setBehaviour((_request, response) => {
      response.writeHead(200, { "content-type": "text/plain" });
      response.write("first chunk;");
      setTimeout(() => response.destroyed || response.end("too late"), 1000);
    });
    const started = performance.now();
    const seen = await new Promise<{ status: number; headersAfterMs: number; body: string; endedAfterMs: number }>((resolve, reject) => {
      const request = http.request({ host: gateway.url.hostname, port: gateway.url.port, path: "/timeout", headers: { host: "retries.test" }, agent: false }, (incoming) => {
        const headersAfterMs = performance.now() - started;
        let body = "";
        incoming.setEncoding("utf8");
        incoming.on("data", (chunk: string) => (body += chunk));
        // The status has gone out: the client sees the body end early or the connection drop.
        const finish = () => resolve({ status: incoming.statusCode ?? 0, headersAfterMs, body, endedAfterMs: performance.now() - started });
        incoming.on("end", finish);
        incoming.on("error", finish);
        incoming.on("close", finish);
      });
      request.on("error", reject);
      request.end();
    });
    expect(seen.status).toBe(200);
    expect(seen.headersAfterMs).toBeLessThan(200);
    expect(seen.body).toBe("first chunk;");
    expect(seen.endedAfterMs).toBeGreaterThanOrEqual(190);
    expect(seen.endedAfterMs).toBeLessThan(900);
  });

  it("reports a refused connection as 503 UF, after retrying on connect-failure", async () => {
    const response = await gateway.fetch("/dead", { host: "retries.test" });
    expect(response.status).toBe(503);
    expect(flags(response)).toBe("URX,UF");
    expect(response.headers.get("x-mesh-attempts")).toBe("2");
  });
});

describe("endpoints", () => {
  it("ejects an endpoint after consecutive 5xx and brings it back after baseEjectionTime", async () => {
    b.respondWith(500, "broken");
    const seen: string[] = [];
    for (let index = 0; index < 6; index++) {
      const response = await gateway.fetch("/pool", { host: "retries.test" });
      seen.push(response.status === 200 ? "a" : "b");
      await response.arrayBuffer();
    }
    // Round robin alternates until b's second 5xx ejects it; from then on only a answers.
    expect(seen.slice(0, 4).sort()).toEqual(["a", "a", "b", "b"]);
    expect(seen.slice(4)).toEqual(["a", "a"]);
    b.reset();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const after = new Set<string>();
    for (let index = 0; index < 4; index++) {
      const response = (await (await gateway.fetch("/pool", { host: "retries.test" })).json()) as { version: string };
      after.add(response.version);
    }
    expect([...after].sort()).toEqual(["a", "b"]);
  });

  it("answers 503 UH when the chosen subset has no endpoint, without calling anyone", async () => {
    const response = await gateway.fetch("/nothing", { host: "retries.test" });
    expect(response.status).toBe(503);
    expect(flags(response)).toBe("UH");
    expect(await response.json()).toMatchObject({ error: "no_healthy_upstream" });
    expect(healthy.requests).toHaveLength(0);
  });
});

describe("mirroring", () => {
  it("sends a copy to the mirror with a -shadow host, and answers from the primary", async () => {
    const response = await gateway.fetch("/mirrored/x", { method: "POST", host: "retries.test", body: "mirrored-body" });
    expect(((await response.json()) as { service: string }).service).toBe("healthy");
    for (let wait = 0; wait < 50 && shadow.requests.length === 0; wait++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(shadow.requests).toHaveLength(1);
    expect(shadow.requests[0]).toMatchObject({ method: "POST", path: "/mirrored/x", body: "mirrored-body" });
    expect(shadow.requests[0]!.headers["x-mesh-authority"]).toBe("retries.test-shadow");
  });

  it("never delays the response for a slow mirror", async () => {
    shadow.delayMs(800);
    const started = performance.now();
    const response = await gateway.fetch("/mirrored/y", { host: "retries.test" });
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(600);
  });
});

describe("ambiguous connection failures", () => {
  it("retries a failed GET on connect-failure but not a POST, which may have reached the upstream", async () => {
    const get = await gateway.fetch("/dead", { host: "retries.test" });
    expect(get.headers.get("x-mesh-attempts")).toBe("2");
    const post = await gateway.fetch("/dead", { method: "POST", host: "retries.test", body: "once" });
    expect(post.status).toBe(503);
    expect(post.headers.get("x-mesh-attempts")).toBe("1");
    expect(flags(post)).toBe("UF");
  });
});
