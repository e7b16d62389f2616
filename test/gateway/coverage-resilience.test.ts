import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { binomialTolerance, gatewayYaml, serviceYaml, virtualServiceYaml } from "./mesh-config.js";

/**
 * Retry conditions, backoff, fault percentages, "a route with a fault gets no retries or
 * timeout", and mirrorPercentage, through the real gateway in workerd to real upstreams.
 *
 * The gateway draws from Math.random (no seed binding exists), so the percentage checks use a
 * tolerance derived from the sample size (binomialTolerance: 4.5 standard deviations).
 */

let app: Upstream, shadow: Upstream;
let gateway: TestGateway;

beforeAll(async () => {
  [app, shadow] = await Promise.all([startUpstream({ name: "app" }), startUpstream({ name: "shadow" })]);
  const to = "route: [{ destination: { host: app.internal } }]";
  const config =
    gatewayYaml() +
    serviceYaml("app.internal", [app]) +
    serviceYaml("shadow.internal", [shadow]) +
    virtualServiceYaml(
      "resilience",
      ["resilience.test"],
      `
- { name: gateway-error, match: [{ uri: { prefix: /gateway-error } }], retries: { attempts: 2, retryOn: gateway-error }, ${to} }
- { name: retriable-4xx, match: [{ uri: { prefix: /retriable-4xx } }], retries: { attempts: 2, retryOn: retriable-4xx }, ${to} }
- { name: reset, match: [{ uri: { prefix: /reset } }], retries: { attempts: 2, retryOn: reset }, ${to} }
- { name: refused-stream, match: [{ uri: { prefix: /refused-stream } }], retries: { attempts: 2, retryOn: refused-stream }, ${to} }
- { name: backoff, match: [{ uri: { prefix: /backoff } }], retries: { attempts: 5, retryOn: 5xx }, ${to} }
- name: fault-policy
  match: [{ uri: { prefix: /with-fault } }]
  fault: { abort: { httpStatus: 500, percentage: { value: 0 } } }
  retries: { attempts: 3, retryOn: 5xx }
  timeout: 200ms
  ${to}
- name: no-fault-policy
  match: [{ uri: { prefix: /without-fault } }]
  retries: { attempts: 3, retryOn: 5xx }
  timeout: 200ms
  ${to}
- name: some-delayed
  match: [{ uri: { prefix: /some-delayed } }]
  fault: { delay: { fixedDelay: 100ms, percentage: { value: 25 } } }
  ${to}
- name: some-mirrored
  match: [{ uri: { prefix: /some-mirrored } }]
  mirror: { host: shadow.internal }
  mirrorPercentage: { value: 30 }
  ${to}
`,
    );
  gateway = await startTestGateway(config, { bindings: { MESH_DEBUG_HEADERS: "true" } });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([app, shadow].map((upstream) => upstream?.close()));
});

beforeEach(() => {
  app.reset();
  shadow.reset();
});

const send = (path: string, init: { method?: string; body?: string } = {}) => gateway.fetch(path, { host: "resilience.test", ...init });
const attempts = (response: Response) => response.headers.get("x-mesh-attempts");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Answers each of the next requests with the next status in `statuses`, then normally. */
function answerInTurn(upstream: Upstream, statuses: number[]): void {
  const queue = [...statuses];
  upstream.setBehaviour(async (_request, response, next) => {
    const status = queue.shift();
    if (status === undefined) return next();
    response.writeHead(status, { "content-type": "text/plain" });
    response.end(`scripted ${status}`);
  });
}

describe("retryOn conditions", () => {
  it("gateway-error retries 502, 503 and 504, and not a 500", async () => {
    answerInTurn(app, [502, 503]);
    const retried = await send("/gateway-error");
    expect(retried.status).toBe(200);
    expect(attempts(retried)).toBe("3");
    app.reset();
    answerInTurn(app, [504]);
    expect((await send("/gateway-error")).status).toBe(200);
    expect(app.requests).toHaveLength(2);
    app.reset();
    answerInTurn(app, [500]);
    const notRetried = await send("/gateway-error");
    expect(notRetried.status).toBe(500);
    expect(app.requests).toHaveLength(1);
  });

  it("retriable-4xx retries a 409, and no other 4xx or 5xx", async () => {
    answerInTurn(app, [409, 409]);
    const retried = await send("/retriable-4xx");
    expect(retried.status).toBe(200);
    expect(attempts(retried)).toBe("3");
    for (const status of [400, 404, 429, 503]) {
      app.reset();
      answerInTurn(app, [status]);
      expect((await send("/retriable-4xx")).status).toBe(status);
      expect(app.requests, `status ${status}`).toHaveLength(1);
    }
  });

  it("reset retries a connection the upstream destroyed, a POST too (its buffered body replayed), and gives up with URX", async () => {
    app.resetTimes(2);
    const retried = await send("/reset");
    expect(retried.status).toBe(200);
    expect(attempts(retried)).toBe("3");
    expect(app.requests).toHaveLength(3);

    app.reset();
    app.resetTimes(1);
    const post = await send("/reset", { method: "POST", body: "again" });
    expect(post.status).toBe(200);
    expect(app.requests.map((request) => request.body)).toEqual(["again", "again"]);

    app.reset();
    app.resetTimes(5);
    const exhausted = await send("/reset");
    expect(exhausted.status).toBe(503);
    expect(exhausted.headers.get("x-mesh-response-flags")).toBe("URX,UF");
    expect(app.requests).toHaveLength(3);
  });

  it("refused-stream is accepted but, with no HTTP/2 REFUSED_STREAM visible through fetch, retries neither a reset nor a 503", async () => {
    app.resetTimes(1);
    expect((await send("/refused-stream")).status).toBe(503);
    expect(app.requests).toHaveLength(1);
    app.reset();
    answerInTurn(app, [503]);
    expect((await send("/refused-stream")).status).toBe(503);
    expect(app.requests).toHaveLength(1);
  });

  it("waits a jittered, growing backoff between tries (base 25 ms: windows 25, 75, 175, 250, 250 ms)", async () => {
    const arrivals: number[] = [];
    app.setBehaviour((_request, response) => {
      arrivals.push(performance.now());
      response.writeHead(503, { "content-type": "text/plain" });
      response.end("down");
    });
    const windows = [25, 75, 175, 250, 250];
    const requests = 8;
    const gaps: number[][] = [];
    for (let index = 0; index < requests; index++) {
      arrivals.length = 0;
      const response = await send("/backoff");
      expect(response.status).toBe(503);
      expect(attempts(response)).toBe("6");
      expect(arrivals).toHaveLength(6);
      gaps.push(arrivals.slice(1).map((at, retry) => at - arrivals[retry]!));
    }
    // Each wait is uniform on [0, window): its mean is (window - 1) / 2, its variance window² / 12.
    // A gateway that did not wait would show gaps of a few ms; the lower bound is 4.5 standard
    // deviations of the mean of `requests` sums below the expected sum.
    const expectedSum = windows.reduce((sum, window) => sum + (window - 1) / 2, 0);
    const sdOfMeanSum = Math.sqrt(windows.reduce((sum, window) => sum + (window * window) / 12, 0) / requests);
    const meanSum = gaps.reduce((sum, perRequest) => sum + perRequest.reduce((a, b) => a + b, 0), 0) / requests;
    expect(meanSum).toBeGreaterThanOrEqual(expectedSum - 4.5 * sdOfMeanSum);
    // No wait is far beyond its window (generous slack for a loaded machine).
    for (const perRequest of gaps) perRequest.forEach((gap, retry) => expect(gap, `retry ${retry + 1}`).toBeLessThan(windows[retry]! + 250));
    // The window grows: the 4th and 5th retries wait longer on average than the first.
    const meanOf = (retry: number) => gaps.reduce((sum, perRequest) => sum + perRequest[retry]!, 0) / requests;
    expect((meanOf(3) + meanOf(4)) / 2).toBeGreaterThan(meanOf(0));
  });
});

describe("faults", () => {
  it("a route with a fault configured gets no retries and no timeout, even when its fault does not fire", async () => {
    answerInTurn(app, [503]);
    const noRetry = await send("/with-fault");
    expect(noRetry.status).toBe(503);
    expect(app.requests).toHaveLength(1);
    app.reset();
    answerInTurn(app, [503]);
    expect((await send("/without-fault")).status).toBe(200);
    expect(app.requests).toHaveLength(2);

    app.reset();
    app.delayMs(500);
    const started = performance.now();
    const slow = await send("/with-fault");
    expect(slow.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(480);
    const timedOut = await send("/without-fault");
    expect(timedOut.status).toBe(504);
    expect(timedOut.headers.get("x-mesh-response-flags")).toContain("UT");
  });

  it("delays about the configured percentage of requests by fixedDelay (DI), and forwards them all", async () => {
    const total = 160;
    let delayed = 0;
    const batch = 20;
    for (let start = 0; start < total; start += batch) {
      const results = await Promise.all(
        Array.from({ length: batch }, async () => {
          const began = performance.now();
          const response = await send("/some-delayed");
          await response.arrayBuffer();
          return { status: response.status, flags: response.headers.get("x-mesh-response-flags"), elapsed: performance.now() - began };
        }),
      );
      for (const result of results) {
        expect(result.status).toBe(200);
        if (result.flags === "DI") {
          delayed++;
          expect(result.elapsed).toBeGreaterThanOrEqual(95);
        } else expect(result.flags).toBe("-");
      }
    }
    expect(app.requests).toHaveLength(total);
    expect(Math.abs(delayed - total * 0.25)).toBeLessThanOrEqual(binomialTolerance(total, 0.25));
  });
});

describe("mirroring", () => {
  it("mirrors about mirrorPercentage of the requests, and answers every one from the primary", async () => {
    const total = 200;
    for (let index = 0; index < total; index++) {
      const response = await send(`/some-mirrored/${index}`);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    expect(app.requests).toHaveLength(total);
    // Mirrors are fire and forget: wait until none has arrived for a while.
    let seen = -1;
    while (seen !== shadow.requests.length) {
      seen = shadow.requests.length;
      await sleep(300);
    }
    expect(Math.abs(shadow.requests.length - total * 0.3)).toBeLessThanOrEqual(binomialTolerance(total, 0.3));
    // Each copy is of a request the primary got.
    const primaryPaths = new Set(app.requests.map((request) => request.path));
    expect(shadow.requests.every((request) => primaryPaths.has(request.path))).toBe(true);
  });
});
