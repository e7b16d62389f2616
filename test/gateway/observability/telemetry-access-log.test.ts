import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_LOG_FIELDS_ANNOTATION, ACCESS_LOG_SAMPLING_ANNOTATION } from "../../../policies/snapshot/compile-telemetry.js";
import { ACCESS_LOG_FIELDS } from "../../../policies/telemetry/access-log.js";
import { startTestGateway, type TestGateway } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";
import { binomialTolerance, gatewayYaml, serviceYaml, virtualServiceYaml } from "../mesh-config.js";

/**
 * Istio's Telemetry resource drives the access log of the gateways it applies to: mesh-wide from
 * the root namespace, per gateway by selector; without one, the gateway's MESH_ACCESS_LOG_*
 * settings do. Two real gateways in workerd: `edge` (labels istio=ingressgateway, tier=edge) and
 * `plain` (istio=ingressgateway), both with env fields `request_id,response_code`, so a line
 * shaped by the env settings is told apart from one shaped by a Telemetry.
 */

let upstream: Upstream;
let edge: TestGateway;
let plain: TestGateway;

const base = () =>
  gatewayYaml() +
  serviceYaml("app.internal", [upstream]) +
  virtualServiceYaml("app", ["app.test"], `- name: main\n  route: [{ destination: { host: app.internal, subset: v1 } }]`);

const telemetry = (name: string, spec: string, annotations: Record<string, string> = {}) => `
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ${name}, namespace: istio-system, annotations: ${JSON.stringify(annotations)} }
spec:
${spec}
`;

const ENV = { MESH_CONFIG_TTL_MS: "50", MESH_ACCESS_LOG_FIELDS: "request_id,response_code" };

beforeAll(async () => {
  upstream = await startUpstream({ name: "app" });
  [edge, plain] = await Promise.all([
    startTestGateway(base(), { captureLogs: true, labels: { istio: "ingressgateway", tier: "edge" }, bindings: ENV }),
    startTestGateway(base(), { captureLogs: true, bindings: ENV }),
  ]);
});

afterAll(async () => {
  await edge?.close();
  await plain?.close();
  await upstream?.close();
});

/** Writes the config and waits until the gateway serves it (its health endpoint names the version; it is not logged). */
async function apply(gateway: TestGateway, yaml: string): Promise<void> {
  const snapshot = await gateway.applySnapshot(yaml);
  for (let wait = 0; wait < 100; wait++) {
    const health = (await (await gateway.fetch("/__mesh/healthz")).json()) as { configVersion: string };
    if (health.configVersion === snapshot.version) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`gateway never served ${snapshot.version}`);
}

async function send(gateway: TestGateway, path: string, requestId: string): Promise<void> {
  const response = await gateway.fetch(path, { host: "app.test", headers: { "x-request-id": requestId } });
  expect(response.status).toBe(200);
  await response.arrayBuffer();
}

/** The line for a request, or undefined when none came within a short wait (lines arrive from workerd's stdout asynchronously). */
async function lineFor(gateway: TestGateway, requestId: string, waitMs = 300): Promise<Record<string, unknown> | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const line = gateway.logs.find((entry) => entry.request_id === requestId);
    if (line || Date.now() > deadline) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("Telemetry access logging", () => {
  it("applies a mesh-wide Telemetry's filter, sampling and fields", async () => {
    await apply(
      edge,
      base() +
        telemetry("mesh-default", `  accessLogging:\n  - providers: [{ name: envoy }]\n    filter: { expression: "request.url_path.startsWith('/logged')" }`, {
          [ACCESS_LOG_SAMPLING_ANNOTATION]: "40",
          [ACCESS_LOG_FIELDS_ANNOTATION]: "request_id,route_name,response_flags",
        }),
    );
    const n = 250;
    for (let batch = 0; batch < n; batch += 25) {
      await Promise.all(Array.from({ length: 25 }, (_, index) => send(edge, `/logged/${batch + index}`, `mesh-${batch + index}`)));
    }
    for (let index = 0; index < 10; index++) await send(edge, `/quiet/${index}`, `mesh-quiet-${index}`);
    await new Promise((resolve) => setTimeout(resolve, 200));

    const lines = edge.logs.filter((entry) => typeof entry.request_id === "string" && entry.request_id.startsWith("mesh-"));
    expect(lines.filter((line) => String(line.request_id).startsWith("mesh-quiet-"))).toEqual([]);
    expect(Math.abs(lines.length - n * 0.4)).toBeLessThanOrEqual(binomialTolerance(n, 0.4));
    for (const line of lines) expect(line).toEqual({ request_id: line.request_id, route_name: "main", response_flags: "-" });
  });

  it("applies a selector-scoped Telemetry only to the gateways whose labels match", async () => {
    const yaml = base() + telemetry("edge-fields", "  selector: { matchLabels: { tier: edge } }\n  accessLogging: [{ match: { mode: CLIENT } }]", { [ACCESS_LOG_FIELDS_ANNOTATION]: "request_id,route_name" });
    await Promise.all([apply(edge, yaml), apply(plain, yaml)]);
    await send(edge, "/x", "sel-edge");
    await send(plain, "/x", "sel-plain");
    expect(await lineFor(edge, "sel-edge")).toEqual({ request_id: "sel-edge", route_name: "main" });
    // Not selected: the plain gateway's own settings.
    expect(await lineFor(plain, "sel-plain")).toEqual({ request_id: "sel-plain", response_code: 200 });
  });

  it("turns the log off with disabled: true, and a more specific Telemetry can turn it back on", async () => {
    const yaml =
      base() +
      telemetry("mesh-off", "  accessLogging: [{ disabled: true }]") +
      telemetry("edge-on", "  selector: { matchLabels: { tier: edge } }\n  accessLogging: [{ disabled: false }]");
    await Promise.all([apply(edge, yaml), apply(plain, yaml)]);
    await send(plain, "/x", "off-plain");
    await send(edge, "/x", "off-edge");
    const line = await lineFor(edge, "off-edge");
    // A Telemetry applies, so the env's field list does not: every field is there.
    expect(Object.keys(line ?? {}).sort()).toEqual([...ACCESS_LOG_FIELDS].sort());
    expect(await lineFor(plain, "off-plain")).toBeUndefined();
  });

  it("falls back to the gateway's env settings once the Telemetry is removed", async () => {
    await Promise.all([apply(edge, base()), apply(plain, base())]);
    await send(edge, "/x", "gone-edge");
    await send(plain, "/x", "gone-plain");
    expect(await lineFor(edge, "gone-edge")).toEqual({ request_id: "gone-edge", response_code: 200 });
    expect(await lineFor(plain, "gone-plain")).toEqual({ request_id: "gone-plain", response_code: 200 });
  });
});
