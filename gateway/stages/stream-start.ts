import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";
import type { GatewaySettings } from "../env.js";

/** Opens the stream record every later stage writes its decisions into. */
export function streamStart(options: { settings: GatewaySettings; random: () => number; now: () => number }): MiddlewareHandler<GatewayEnv> {
  return function streamStart(c, next) {
    c.set("settings", options.settings);
    c.set("random", options.random);
    c.set("stream", { startMs: options.now(), requestId: "", traceId: "", spanId: "", flags: [], attempts: 0 });
    return next();
  };
}
