import { afterAll, beforeAll, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { startTestEgress, type TestEgress } from "./fixture.js";

/**
 * A VirtualService on a Gateway that selects the egress gateway routes an external host as at the
 * ingress (here: retries and a header added), instead of the plain passthrough.
 */

let flaky: Upstream;
let egress: TestEgress;

beforeAll(async () => {
  flaky = await startUpstream({ name: "flaky" });
  egress = await startTestEgress(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: egress, namespace: istio-system }
spec:
  selector: { istio: egressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*/api.flaky.test"] }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: flaky, namespace: external }
spec:
  hosts: [api.flaky.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${flaky.port} } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: flaky, namespace: external }
spec:
  hosts: [api.flaky.test]
  gateways: [istio-system/egress]
  http:
  - name: flaky-with-retries
    retries: { attempts: 2, retryOn: "5xx" }
    headers: { request: { set: { x-egress: "yes" } } }
    route: [{ destination: { host: api.flaky.test } }]
`);
});

afterAll(async () => {
  await Promise.all([egress?.close(), flaky?.close()]);
});

it("retries a failing external host per its VirtualService and applies its header mutation", async () => {
  flaky.failTimes(1);
  const response = await egress.fetch("/status", { host: "api.flaky.test" });
  expect(response.status).toBe(200);
  expect(flaky.requests).toHaveLength(2);
  expect(flaky.requests[1]!.headers["x-egress"]).toBe("yes");
  await expect.poll(() => egress.audit().at(-1)).toMatchObject({ decision: "allowed", route: "flaky-with-retries", status: 200 });
});
