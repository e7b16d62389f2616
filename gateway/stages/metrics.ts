import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";
import type { GatewayTelemetry } from "../telemetry/gateway-telemetry.js";
import { whenResponseSent } from "../telemetry/response-size.js";

/**
 * Istio's standard metrics, recorded once the response (and its size) is known, from the
 * decisions every stage wrote into the stream record: response code and flags (`FI`, `URX`,
 * `RBAC`, ...), the route's destination and subset, the attempts. Requests to the gateway's own
 * `/__mesh/` endpoints are not counted. Also makes the isolate's telemetry available to the
 * stages after it (`c.get("telemetry")`: `/__mesh/metrics` serves its registry).
 */
export function metrics(telemetry: GatewayTelemetry, now: () => number): MiddlewareHandler<GatewayEnv> {
  return async function metrics(c, next) {
    c.set("telemetry", telemetry);
    await next();
    if (c.get("stream").detail === "mesh_endpoint") return;
    whenResponseSent(c, now, (bytes, endMs) => telemetry.recordRequest(c, endMs, bytes));
  };
}
