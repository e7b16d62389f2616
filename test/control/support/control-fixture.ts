import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll } from "vitest";
import { bundleWorker } from "../../../scripts/lib/bundle-worker.js";
import { CONTROL_DEFAULTS, startLocalMesh, type LocalMesh } from "../../../scripts/lib/local-mesh.js";
import { gatewayBundle, requestOverHttp, type GatewayRequestInit } from "../../support/gateway-fixture.js";

/**
 * The control API under test: the real control and gateway bundles in one workerd (Miniflare),
 * sharing a real KV namespace, with a real ConfigStore Durable Object, on free 127.0.0.1 ports.
 *
 *   const mesh = await startTestMesh();
 *   const answer = await mesh.api("POST", "/v1/apply", { body: yaml, contentType: "application/yaml" });
 *   await mesh.readKv("config/current");
 */

export const ADMIN_TOKEN = "test-admin-token";
export const READER_TOKEN = "test-reader-token";

export interface ApiInit {
  body?: string;
  contentType?: string;
  /** Default: the admin token; null sends no Authorization header. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  /** The ETag without its quotes. */
  etag: string | null;
  text: string;
  body: any;
}

export interface TestMesh extends LocalMesh {
  api(method: string, path: string, init?: ApiInit): Promise<ApiAnswer>;
  /** A request to the gateway, with the Host header of your choice. */
  gateway(path: string, init?: GatewayRequestInit): Promise<Response>;
  logs: Record<string, unknown>[];
}

let controlBundled: Promise<string> | undefined;

export function controlBundle(): Promise<string> {
  controlBundled ??= bundleWorker({ entry: CONTROL_DEFAULTS.entry }).catch((error: unknown) => {
    controlBundled = undefined;
    throw error;
  });
  return controlBundled;
}

afterAll(async () => {
  const pending = controlBundled;
  controlBundled = undefined;
  const scriptPath = await pending?.catch(() => undefined);
  if (scriptPath) await rm(path.dirname(scriptPath), { recursive: true, force: true });
});

export async function startTestMesh(
  options: { gatewayBindings?: Record<string, string>; controlBindings?: Record<string, string>; captureLogs?: boolean; ingressPort?: number } = {},
): Promise<TestMesh> {
  const logs: Record<string, unknown>[] = [];
  const mesh = await startLocalMesh({
    ...(options.ingressPort !== undefined ? { ingressPort: options.ingressPort } : {}),
    gatewayScript: await gatewayBundle(),
    controlScript: await controlBundle(),
    gatewayBindings: { MESH_CONFIG_TTL_MS: "100", ...options.gatewayBindings },
    controlBindings: { MESH_ADMIN_TOKEN: ADMIN_TOKEN, MESH_READER_TOKEN: READER_TOKEN, ...options.controlBindings },
    ...(options.captureLogs
      ? {
          onWorkerLine: (line: string) => {
            try {
              logs.push(JSON.parse(line) as Record<string, unknown>);
            } catch {
              logs.push({ text: line });
            }
          },
        }
      : {}),
  });
  return {
    ...mesh,
    logs,
    async api(method, target, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      const token = init.token === undefined ? ADMIN_TOKEN : init.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (init.body !== undefined) headers["content-type"] = init.contentType ?? "application/json";
      const response = await fetch(new URL(target, mesh.controlUrl), { method, headers, ...(init.body !== undefined ? { body: init.body } : {}) });
      const text = await response.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      return { status: response.status, headers: response.headers, etag: response.headers.get("etag")?.replace(/^"|"$/g, "") ?? null, text, body };
    },
    gateway: (target, init) => requestOverHttp(mesh.ingressUrl, target, init),
  };
}
