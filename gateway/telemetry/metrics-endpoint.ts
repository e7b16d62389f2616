import type { Context } from "hono";
import { PROMETHEUS_CONTENT_TYPE } from "../../policies/telemetry/prometheus-text.js";
import type { SnapshotSource } from "../config/snapshot-source.js";
import type { GatewayEnv } from "../context.js";
import type { GatewayTelemetry } from "./gateway-telemetry.js";

/**
 * `GET /__mesh/metrics`: this isolate's metrics in the Prometheus text format. With
 * MESH_METRICS_TOKEN set, only `Authorization: Bearer <token>` may read them (Prometheus:
 * `authorization: { credentials: ... }` in the scrape config); the comparison takes the same
 * time whatever the guess.
 */
export async function serveMetrics(c: Context<GatewayEnv>, telemetry: GatewayTelemetry, source: SnapshotSource): Promise<Response> {
  if (c.req.method !== "GET" && c.req.method !== "HEAD") return c.json({ error: "method_not_allowed", message: "use GET" }, 405, { allow: "GET, HEAD" });
  if (telemetry.metricsToken !== undefined && !(await bearerMatches(c.req.header("authorization"), telemetry.metricsToken))) {
    return c.json({ error: "unauthorized", message: "metrics need the metrics token as a bearer token" }, 401, { "www-authenticate": 'Bearer realm="mesh-metrics"' });
  }
  const text = telemetry.exposition({ version: source.version, refreshedAtMs: source.refreshedAtMs });
  return new Response(c.req.method === "HEAD" ? null : text, { status: 200, headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" } });
}

export async function bearerMatches(header: string | undefined, token: string): Promise<boolean> {
  const match = /^Bearer\s+(.+)$/i.exec(header?.trim() ?? "");
  const offered = match?.[1]?.trim() ?? "";
  // Compare digests, so neither the length nor the first differing byte shows in the timing.
  const [a, b] = await Promise.all([digest(offered), digest(token)]);
  let difference = offered === "" ? 1 : 0;
  for (let index = 0; index < a.length; index++) difference |= a[index]! ^ b[index]!;
  return difference === 0;
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}
