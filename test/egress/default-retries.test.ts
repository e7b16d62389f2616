import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { startTestEgress, waitForLog, type TestEgress, externalServiceYaml } from "./fixture.js";

/**
 * MeshConfig `defaultHttpRetryPolicy` on passthrough calls (a host no VirtualService routes):
 * a flaky external host (first try 503, then 200) is retried with it, and not without it.
 */

let flaky: Upstream;


function meshConfig(spec: string): string {
  return `
---
apiVersion: mesh.istio.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh, namespace: default }
spec:
${spec}
`;
}

beforeAll(async () => {
  flaky = await startUpstream({ name: "flaky" });
});

afterAll(async () => {
  await flaky?.close();
});

describe("with defaultHttpRetryPolicy", () => {
  let egress: TestEgress;
  beforeAll(async () => {
    egress = await startTestEgress(externalServiceYaml("flaky", "api.flaky.test", { port: flaky.port }) + meshConfig("  defaultHttpRetryPolicy: { attempts: 2 }\n  outboundTrafficPolicy: { mode: ALLOW_ANY }"));
  });
  afterAll(async () => {
    await egress?.close();
  });

  it("retries a passthrough call to a MESH_EXTERNAL host that answered 503", async () => {
    flaky.reset();
    flaky.failTimes(1, 503);
    const response = await egress.fetch("/registered", { host: "api.flaky.test" });
    expect(response.status).toBe(200);
    expect(flaky.requests.map((request) => request.path)).toEqual(["/registered", "/registered"]);
    expect(await waitForLog(egress, (line) => line.event !== "egress_audit" && line.path === "/registered")).toMatchObject({ response_code: 200, attempts: 2, route_name: "external/flaky:api.flaky.test" });
  });

  it("retries an ALLOW_ANY passthrough call (PassthroughCluster) too", async () => {
    flaky.reset();
    flaky.failTimes(1, 503);
    const response = await egress.fetch("/allow-any", { host: `127.0.0.1:${flaky.port}` });
    expect(response.status).toBe(200);
    expect(flaky.requests).toHaveLength(2);
  });

  it("gives up after its attempts (503, URX)", async () => {
    flaky.reset();
    flaky.failTimes(5, 503);
    const response = await egress.fetch("/exhausted", { host: "api.flaky.test" });
    expect(response.status).toBe(503);
    // One try and two retries.
    expect(flaky.requests).toHaveLength(3);
    expect(await waitForLog(egress, (line) => line.event === "egress_audit" && line.path === "/exhausted")).toMatchObject({ status: 503, response_flags: "URX" });
  });
});

describe("without defaultHttpRetryPolicy", () => {
  for (const [name, config] of [
    ["no MeshConfig", ""],
    ["a MeshConfig without it", meshConfig("  trustDomain: acme.test")],
    ["attempts: 0", meshConfig("  defaultHttpRetryPolicy: { attempts: 0 }")],
  ] as const) {
    it(`tries a passthrough call once (${name})`, async () => {
      const egress = await startTestEgress(externalServiceYaml("flaky", "api.flaky.test", { port: flaky.port }) + config);
      try {
        flaky.reset();
        flaky.failTimes(1, 503);
        const response = await egress.fetch("/once", { host: "api.flaky.test" });
        expect(response.status).toBe(503);
        expect(flaky.requests).toHaveLength(1);
      } finally {
        await egress.close();
      }
    });
  }
});
