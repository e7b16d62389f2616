import { rm } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { afterAll } from "vitest";
import { bundleWorker } from "../../scripts/lib/bundle-worker.js";
import { startLocalGateway, type LocalGatewayOptions } from "../../scripts/lib/local-gateway.js";
import { compileConfig, requestOverHttp, type ConfigInput, type GatewayRequestInit } from "../support/gateway-fixture.js";

/**
 * The egress gateway under test: the real egress bundle (egress/index.ts) in workerd on a free
 * 127.0.0.1 port, labelled `istio=egressgateway`, its KV seeded with a snapshot compiled from the
 * given resources, its stdout lines (access log, audit) collected in `logs`. Requests go over
 * node:http so the Host header (the external host a caller asks for) is kept.
 */

export interface TestEgress {
  url: URL;
  /** The HTTP-proxy socket (workerd's proxy style), when started with `proxy: true`. */
  proxyUrl?: URL;
  fetch(target: string, init?: GatewayRequestInit): Promise<Response>;
  logs: Record<string, unknown>[];
  /** Lines with `event: "egress_audit"`. */
  audit(): Record<string, unknown>[];
  /** Sends a request to another worker of the same workerd (one of `options.workers`), e.g. a caller with a service binding to the egress. */
  fetchWorker(worker: string, url: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

let bundled: Promise<string> | undefined;

function egressBundle(): Promise<string> {
  bundled ??= bundleWorker({ entry: "egress/index.ts" });
  return bundled;
}

afterAll(async () => {
  const scriptPath = await bundled?.catch(() => undefined);
  bundled = undefined;
  if (scriptPath) await rm(path.dirname(scriptPath), { recursive: true, force: true });
});

export interface TestEgressOptions {
  bindings?: Record<string, string>;
  outboundService?: LocalGatewayOptions["outboundService"];
  serviceBindings?: LocalGatewayOptions["serviceBindings"];
  /** Workers beside the egress (which is named `egress`, for their service bindings to point at). */
  workers?: LocalGatewayOptions["workers"];
  /** Also listen as an HTTP proxy (absolute-form requests, `curl -x`): see `proxyUrl`. */
  proxy?: boolean;
}

/** The egress worker's name in workerd, for `workers`' service bindings: `{ EGRESS: { name: EGRESS_WORKER, props } }`. */
export const EGRESS_WORKER = "egress";

export async function startTestEgress(resources: ConfigInput, options: TestEgressOptions = {}): Promise<TestEgress> {
  const snapshot = await compileConfig(resources);
  const logs: Record<string, unknown>[] = [];
  const local = await startLocalGateway({
    scriptPath: await egressBundle(),
    port: 0,
    labels: "istio=egressgateway",
    name: EGRESS_WORKER,
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    ...(options.proxy ? { proxyPort: 0 } : {}),
    ...(options.bindings ? { bindings: options.bindings } : {}),
    ...(options.outboundService !== undefined ? { outboundService: options.outboundService } : {}),
    ...(options.serviceBindings !== undefined ? { serviceBindings: options.serviceBindings } : {}),
    onWorkerLine: (line) => {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ text: line });
      }
    },
  });
  const agent = new http.Agent({ keepAlive: true });
  try {
    await local.seed(snapshot);
  } catch (error) {
    agent.destroy();
    await local.dispose();
    throw error;
  }
  return {
    url: local.url,
    ...(local.proxyUrl ? { proxyUrl: local.proxyUrl } : {}),
    fetch: (target, init) => requestOverHttp(local.url, target, init, agent),
    logs,
    audit: () => logs.filter((line) => line.event === "egress_audit"),
    async fetchWorker(worker, url, init) {
      const fetcher = await local.mf.getWorker(worker);
      const response = await fetcher.fetch(url, init as Parameters<typeof fetcher.fetch>[1]);
      // Miniflare's Response (undici's) is not the global one: copy it so callers get a standard Response.
      return new Response(await response.arrayBuffer(), { status: response.status, headers: [...response.headers] as [string, string][] });
    },
    async close() {
      agent.destroy();
      await local.dispose();
    },
  };
}

/** Waits until `predicate` holds for the collected logs (lines arrive from workerd's stdout asynchronously). */
export async function waitForLog(egress: TestEgress, predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = egress.logs.find(predicate);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no log line matched within ${timeoutMs} ms; got:\n${egress.logs.map((line) => JSON.stringify(line)).join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A ServiceEntry for an external host served by a test upstream on 127.0.0.1 (`MESH_EXTERNAL`
 * by default, port 80 HTTP): how the tests stand a local server in for an external API.
 */
export function externalServiceYaml(name: string, hosts: string | readonly string[], upstream: { port: number }, location: "MESH_EXTERNAL" | "MESH_INTERNAL" = "MESH_EXTERNAL"): string {
  return `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: external }
spec:
  hosts: ${JSON.stringify(typeof hosts === "string" ? [hosts] : hosts)}
  location: ${location}
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${upstream.port} } }]
`;
}
