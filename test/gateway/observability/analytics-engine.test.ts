import { readFile } from "node:fs/promises";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalGateway, type LocalGateway } from "../../../scripts/lib/local-gateway.js";
import { compileConfig, gatewayBundle, requestOverHttp } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";
import { gatewayYaml, serviceYaml, virtualServiceYaml } from "../mesh-config.js";

/**
 * The Workers Analytics Engine writes: one data point per request, in the column order that
 * docs/observability.md documents. The real gateway bundle runs in workerd; Miniflare's own
 * Analytics Engine binding drops every point, so `MESH_ANALYTICS` is bound to a stand-in worker
 * in the same workerd whose `writeDataPoint` (an RPC method, called as the real binding's is,
 * without awaiting it) prints the point as a JSON line, which the test collects.
 */

const RECORDER = `
import { WorkerEntrypoint } from "cloudflare:workers";
export class Dataset extends WorkerEntrypoint {
  writeDataPoint(point) {
    console.log(JSON.stringify({ event: "analytics_data_point", point }));
  }
}
export default { fetch: () => new Response("analytics stand-in") };
`;

interface DataPoint {
  indexes: string[];
  blobs: string[];
  doubles: number[];
}

let app: Upstream;
let local: LocalGateway;
let version: string;
const points: DataPoint[] = [];
const agent = new http.Agent({ keepAlive: true });

beforeAll(async () => {
  app = await startUpstream({ name: "app", version: "v1" });
  const snapshot = await compileConfig(
    gatewayYaml() +
      serviceYaml("app.internal", [app]) +
      virtualServiceYaml(
        "shop",
        ["shop.test"],
        `- name: abort
  match: [{ uri: { prefix: /abort } }]
  fault: { abort: { httpStatus: 503 } }
  route: [{ destination: { host: app.internal, subset: v1 } }]
- name: orders
  route: [{ destination: { host: app.internal, subset: v1 } }]`,
      ),
  );
  version = snapshot.version;
  local = await startLocalGateway({
    scriptPath: await gatewayBundle(),
    port: 0,
    cf: { colo: "AMS" },
    workers: [{ name: "analytics", modules: [{ type: "ESModule", path: "recorder.mjs", contents: RECORDER }], compatibilityDate: "2026-04-01" }],
    serviceBindings: { MESH_ANALYTICS: { name: "analytics", entrypoint: "Dataset" } },
    onWorkerLine: (line) => {
      try {
        const parsed = JSON.parse(line) as { event?: string; point?: DataPoint };
        if (parsed.event === "analytics_data_point") points.push(parsed.point!);
      } catch {
        // not JSON
      }
    },
  });
  await local.seed(snapshot);
});

afterAll(async () => {
  agent.destroy();
  await local?.dispose();
  await app?.close();
});

const send = (path: string, init: Parameters<typeof requestOverHttp>[2] = {}) => requestOverHttp(local.url, path, { host: "shop.test", ...init }, agent);

async function pointsUntil(count: number, timeoutMs = 5000): Promise<DataPoint[]> {
  const deadline = Date.now() + timeoutMs;
  while (points.length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} data points, got ${points.length}: ${JSON.stringify(points)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return points;
}

describe("Workers Analytics Engine (MESH_ANALYTICS)", () => {
  it("writes one data point per request, blobs and doubles in the documented order", async () => {
    const body = JSON.stringify({ item: "book" });
    const ok = await send("/orders", { method: "POST", body, headers: { "content-type": "application/json" } });
    expect(ok.status).toBe(200);
    const okBytes = new TextEncoder().encode(await ok.text()).byteLength;
    const [first] = await pointsUntil(1);
    expect(points).toHaveLength(1);

    expect(first!.indexes).toEqual(["app.internal"]);
    expect(first!.blobs).toEqual([
      "app.internal", // blob1 destination_service
      "v1", // blob2 destination_version
      "200", // blob3 response_code
      "-", // blob4 response_flags
      "orders", // blob5 route name
      "istio-ingressgateway", // blob6 source_workload
      "istio-system", // blob7 source_workload_namespace
      "mesh", // blob8 destination_service_namespace
      "http", // blob9 request_protocol
      "app.internal|v1|80", // blob10 upstream cluster
      version, // blob11 config version
      "", // blob12 authz decision (no AuthorizationPolicy applies)
      "AMS", // blob13 colo
    ]);
    expect(first!.doubles).toHaveLength(5);
    const [duration, requestBytes, responseBytes, attempts, upstreamTime] = first!.doubles;
    expect(duration).toBeGreaterThanOrEqual(0);
    expect(requestBytes).toBe(body.length);
    expect(responseBytes).toBe(okBytes);
    expect(attempts).toBe(1);
    expect(upstreamTime).toBeGreaterThanOrEqual(0);
    expect(upstreamTime).toBeLessThanOrEqual(duration!);
  });

  it("writes a refused request too (a fault abort: no attempt), and nothing for the gateway's own endpoints", async () => {
    expect((await send("/abort")).status).toBe(503);
    await pointsUntil(2);
    expect((await send("/__mesh/metrics")).status).toBe(200);
    expect((await send("/__mesh/healthz")).status).toBe(200);
    expect((await send("/orders/again")).status).toBe(200);
    await pointsUntil(3);
    // Time for any stray point to arrive.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(points).toHaveLength(3);
    const aborted = points[1]!;
    expect(aborted.blobs.slice(0, 5)).toEqual(["app.internal", "v1", "503", "FI", "abort"]);
    expect(aborted.doubles[3]).toBe(0);
    expect(aborted.doubles[4]).toBe(0);
    expect(points[2]!.blobs[4]).toBe("orders");
  });

  it("matches docs/observability.md's dataset table", async () => {
    const doc = await readFile(new URL("../../../docs/observability.md", import.meta.url), "utf8");
    const columns = new Map([...doc.matchAll(/^\| `(index\d+|blob\d+|double\d+)` \| (.+?) \|$/gm)].map((match) => [match[1]!, match[2]!]));
    expect([...columns.keys()]).toEqual(["index1", ...Array.from({ length: 13 }, (_, i) => `blob${i + 1}`), ...Array.from({ length: 5 }, (_, i) => `double${i + 1}`)]);
    const named = { blob1: "destination_service", blob2: "destination_version", blob3: "response_code", blob4: "response_flags", blob6: "source_workload", blob7: "source_workload_namespace", blob8: "destination_service_namespace", blob9: "request_protocol" };
    for (const [column, label] of Object.entries(named)) expect(columns.get(column)?.startsWith(`\`${label}\``), `${column}: ${columns.get(column)}`).toBe(true);
    expect(columns.get("blob5")).toMatch(/route/);
    expect(columns.get("blob10")).toMatch(/cluster/);
    expect(columns.get("blob11")).toMatch(/config version/);
    expect(columns.get("blob12")).toMatch(/authz/);
    expect(columns.get("blob13")).toMatch(/colo/);
    expect([1, 2, 3, 4, 5].map((n) => columns.get(`double${n}`))).toEqual([expect.stringMatching(/duration/), expect.stringMatching(/request bytes/), expect.stringMatching(/response bytes/), expect.stringMatching(/attempts/), expect.stringMatching(/upstream service time/)]);
  });
});
