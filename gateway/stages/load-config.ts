import type { MiddlewareHandler } from "hono";
import type { SnapshotSource } from "../config/snapshot-source.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";

/** Captures the snapshot this request is served with, start to end (a swap never mixes versions). */
export function loadConfig(source: SnapshotSource, now: () => number): MiddlewareHandler<GatewayEnv> {
  return async function loadConfig(c, next) {
    const config = await source.get(c.env.MESH_CONFIG, now());
    if (!config) throw new GatewayError(503, "NC", "no_config", `gateway has no configuration: ${source.lastError ?? "none loaded"}`);
    c.set("config", config);
    c.get("stream").configVersion = config.table.snapshot.version;
    await next();
  };
}
