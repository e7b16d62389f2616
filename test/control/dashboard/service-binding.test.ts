import path from "node:path";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WRANGLER_DEFAULTS } from "../../../scripts/lib/local-gateway.js";
import { CONTROL_DEFAULTS } from "../../../scripts/lib/local-mesh.js";
import { gatewayBundle } from "../../support/gateway-fixture.js";
import { controlBundle } from "../support/control-fixture.js";

/**
 * How a deployed control worker reaches the gateways: a MESH_GATEWAY service binding to the
 * gateway worker (Workers cannot fetch each other's workers.dev hostnames), with the gateways'
 * metrics token. Here in workerd, with the gateway protecting its metrics with MESH_METRICS_TOKEN.
 */

let mf: Miniflare;
const ADMIN = "binding-admin";

beforeAll(async () => {
  const [gatewayScript, controlScript] = await Promise.all([gatewayBundle(), controlBundle()]);
  mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    cf: false,
    workers: [
      {
        name: "mesh-ingress",
        modules: true,
        scriptPath: gatewayScript,
        modulesRoot: path.dirname(gatewayScript),
        compatibilityDate: WRANGLER_DEFAULTS.compatibilityDate,
        kvNamespaces: { MESH_CONFIG: "MESH_CONFIG" },
        bindings: { ...WRANGLER_DEFAULTS.vars, MESH_CONFIG_TTL_MS: "100", MESH_METRICS_TOKEN: "scrape-me" },
      },
      {
        name: CONTROL_DEFAULTS.name,
        modules: true,
        scriptPath: controlScript,
        modulesRoot: path.dirname(controlScript),
        compatibilityDate: WRANGLER_DEFAULTS.compatibilityDate,
        kvNamespaces: { MESH_CONFIG: "MESH_CONFIG" },
        durableObjects: { CONFIG_STORE: { className: "ConfigStore", useSQLite: true } },
        serviceBindings: { MESH_GATEWAY: "mesh-ingress" },
        bindings: { ...CONTROL_DEFAULTS.vars, MESH_ADMIN_TOKEN: ADMIN, MESH_GATEWAY_METRICS_TOKEN: "scrape-me" },
      },
    ],
  });
  await mf.ready;
});

afterAll(() => mf?.dispose());

async function control(method: string, target: string, body?: string) {
  const worker = await mf.getWorker(CONTROL_DEFAULTS.name);
  return worker.fetch(`http://control.local${target}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { "content-type": "application/yaml" } : {}) },
    ...(body ? { body } : {}),
  });
}

describe("the dashboard through a MESH_GATEWAY service binding", () => {
  it("reads the gateway's metrics with the metrics token", async () => {
    const config = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: demo }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["demo.test"] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: demo, namespace: demo }
spec:
  hosts: [demo.test]
  gateways: [edge]
  http: [{ name: hello, directResponse: { status: 204 } }]
`;
    const applied = await control("POST", "/v1/apply", config);
    expect(applied.status).toBe(200);
    const { version } = (await applied.json()) as { version: string };
    for (let tries = 0; tries < 100; tries++) {
      const health = (await (await mf.dispatchFetch("http://demo.test/__mesh/healthz")).json()) as { configVersion: string | null };
      if (health.configVersion === version) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Without the token the gateway refuses its metrics.
    expect((await mf.dispatchFetch("http://demo.test/__mesh/metrics")).status).toBe(401);

    const data = (await (await control("GET", "/v1/dashboard")).json()) as { version: string; traffic: { sources: unknown[] } };
    expect(data.version).toBe(version);
    expect(data.traffic.sources).toEqual([{ name: "MESH_GATEWAY (service binding)", ok: true, configVersion: version, inSync: true, sinceSeconds: expect.any(Number) }]);
  });
});
