import type { MiddlewareHandler } from "hono";
import type { SnapshotSource } from "../config/snapshot-source.js";
import type { GatewayEnv } from "../context.js";
import { serveMetrics } from "../telemetry/metrics-endpoint.js";

/** The `/__mesh/` prefix is the gateway's own: health today, metrics and more later. Never routed. */
export const MESH_PREFIX = "/__mesh/";

export function meshEndpoints(source: SnapshotSource): MiddlewareHandler<GatewayEnv> {
  return async function meshEndpoints(c, next) {
    const path = new URL(c.req.url).pathname;
    if (!path.startsWith(MESH_PREFIX)) return next();
    c.get("stream").detail = "mesh_endpoint";
    if (path === "/__mesh/healthz") {
      const config = await source.get(c.env.MESH_CONFIG, Date.now());
      const body = config
        ? { status: "ok", configVersion: config.table.snapshot.version, ...(source.lastError ? { lastError: source.lastError } : {}) }
        : { status: "no_config", configVersion: null, reason: source.lastError ?? "no snapshot loaded" };
      return c.json(body, config ? 200 : 503);
    }
    const telemetry = c.get("telemetry");
    if (path === "/__mesh/metrics" && telemetry) {
      // Follow the store first, as any request would: mesh_config_age_seconds then says how stale
      // the config is (it grows only when KV fails), not how long the gateway has been idle.
      await source.get(c.env.MESH_CONFIG, Date.now());
      return serveMetrics(c, telemetry, source);
    }
    // The same shape as every answer the gateway makes itself: error is the response_code_details.
    return c.json({ error: "mesh_endpoint", message: `no gateway endpoint at ${path}`, flags: "-" }, 404);
  };
}
