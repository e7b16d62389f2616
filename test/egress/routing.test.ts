import { afterAll, beforeAll, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { startTestEgress, waitForLog, type TestEgress, externalServiceYaml } from "./fixture.js";

/**
 * A VirtualService on a Gateway that selects the egress gateway routes an external host as at the
 * ingress instead of the plain passthrough: retries, a route timeout, fault injection and header
 * mutation, each against a real upstream standing in for the external host.
 */

let flaky: Upstream, slow: Upstream;
let egress: TestEgress;

beforeAll(async () => {
  [flaky, slow] = await Promise.all([startUpstream({ name: "flaky" }), startUpstream({ name: "slow" })]);
  egress = await startTestEgress(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: egress, namespace: istio-system }
spec:
  selector: { istio: egressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*/api.flaky.test", "*/api.slow.test"] }]
${externalServiceYaml("flaky", "api.flaky.test", flaky)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: flaky, namespace: external }
spec:
  hosts: [api.flaky.test]
  gateways: [istio-system/egress]
  http:
  - name: aborted
    match: [{ uri: { prefix: /abort } }]
    fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }
    route: [{ destination: { host: api.flaky.test } }]
  - name: mutated
    match: [{ uri: { prefix: /headers } }]
    headers:
      request: { set: { x-api-version: "2024-06" }, add: { x-egress-hop: "mesh-egress" }, remove: [x-internal-only] }
      response: { set: { x-served-through: egress }, remove: [x-upstream-secret] }
    route: [{ destination: { host: api.flaky.test } }]
  - name: flaky-with-retries
    retries: { attempts: 2, retryOn: "5xx" }
    headers: { request: { set: { x-egress: "yes" } } }
    route: [{ destination: { host: api.flaky.test } }]
${externalServiceYaml("slow", "api.slow.test", slow)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: slow, namespace: external }
spec:
  hosts: [api.slow.test]
  gateways: [istio-system/egress]
  http:
  - name: slow-with-timeout
    timeout: 300ms
    retries: { attempts: 0 }
    route: [{ destination: { host: api.slow.test } }]
`);
});

afterAll(async () => {
  await Promise.all([egress?.close(), flaky?.close(), slow?.close()]);
});

it("retries a failing external host per its VirtualService and applies its header mutation", async () => {
  flaky.failTimes(1);
  const response = await egress.fetch("/status", { host: "api.flaky.test" });
  expect(response.status).toBe(200);
  expect(flaky.requests).toHaveLength(2);
  expect(flaky.requests[1]!.headers["x-egress"]).toBe("yes");
  await expect.poll(() => egress.audit().at(-1)).toMatchObject({ decision: "allowed", route: "flaky-with-retries", status: 200 });
});

it("answers 504 UT when an external host is slower than the route timeout", async () => {
  slow.delayMs(2000);
  try {
    const started = Date.now();
    const response = await egress.fetch("/slow", { host: "api.slow.test" });
    expect(response.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1800);
    expect(await response.json()).toMatchObject({ error: "upstream_response_timeout", flags: "UT" });
    expect(await waitForLog(egress, (line) => line.event === "egress_audit" && line.route === "slow-with-timeout")).toMatchObject({ status: 504, response_flags: "UT", destination_host: "api.slow.test" });
  } finally {
    slow.setBehaviour(null);
  }
  expect((await egress.fetch("/fast", { host: "api.slow.test" })).status).toBe(200);
});

it("injects an abort fault without calling the external host", async () => {
  const before = flaky.requests.length;
  const response = await egress.fetch("/abort", { host: "api.flaky.test" });
  expect(response.status).toBe(418);
  expect(flaky.requests.length).toBe(before);
  expect(await waitForLog(egress, (line) => line.event === "egress_audit" && line.route === "aborted")).toMatchObject({ status: 418, response_flags: "FI" });
});

it("sets, adds and removes request headers to the external host and response headers to the caller", async () => {
  flaky.respondWith(200, { ok: true }, { "x-upstream-secret": "internal", "x-kept": "yes" });
  try {
    const response = await egress.fetch("/headers", { host: "api.flaky.test", headers: { "x-internal-only": "do-not-send", "x-api-version": "old", "x-egress-hop": "caller" } });
    expect(response.status).toBe(200);
    const received = flaky.requests.at(-1)!;
    expect(received.path).toBe("/headers");
    expect(received.headers["x-internal-only"]).toBeUndefined();
    expect(received.headers["x-api-version"]).toBe("2024-06");
    expect(received.headers["x-egress-hop"]).toBe("caller, mesh-egress");
    expect(response.headers.get("x-served-through")).toBe("egress");
    expect(response.headers.get("x-upstream-secret")).toBeNull();
    expect(response.headers.get("x-kept")).toBe("yes");
  } finally {
    flaky.setBehaviour(null);
  }
});
