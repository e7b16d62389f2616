import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";
import { applyHeaderMutation } from "../upstream/header-mutation.js";

/**
 * Istio's `headers` operations, the destination's and then the route's, on the outbound request
 * and on the answer. Envoy's default order: the more specific level first, so on a conflicting
 * `set` the route-level value wins.
 */
export function headerMutation(): MiddlewareHandler<GatewayEnv> {
  return async function headerMutation(c, next) {
    const route = c.get("route").route.headers;
    const destination = c.get("destination")?.weighted.headers;
    applyHeaderMutation(c.get("outbound").headers, destination?.request);
    applyHeaderMutation(c.get("outbound").headers, route?.request);
    await next();
    applyHeaderMutation(c.res.headers, destination?.response);
    applyHeaderMutation(c.res.headers, route?.response);
  };
}
