import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";
import type { GatewayTelemetry } from "../telemetry/gateway-telemetry.js";

/**
 * Records the request's spans (the gateway's server span and one client span per upstream
 * attempt) when its trace is sampled, and exports them over OTLP/HTTP JSON in `waitUntil`, so
 * the response is never delayed. The sampling decision and the ids come from the trace-context
 * stage; the attempts from the router. The server span ends when the response is ready.
 */
export function tracing(telemetry: GatewayTelemetry, now: () => number): MiddlewareHandler<GatewayEnv> {
  return async function tracing(c, next) {
    await next();
    if (c.get("stream").detail === "mesh_endpoint") return;
    telemetry.recordSpans(c, now());
  };
}
