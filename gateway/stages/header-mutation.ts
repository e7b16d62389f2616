import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";
import { applyHeaderMutation } from "../upstream/header-mutation.js";

/** The route's `headers`: request operations on the outbound request, response operations on the answer. */
export function headerMutation(): MiddlewareHandler<GatewayEnv> {
  return async function headerMutation(c, next) {
    const operations = c.var.route.route.headers;
    applyHeaderMutation(c.var.outbound.headers, operations?.request);
    await next();
    applyHeaderMutation(c.res.headers, operations?.response);
  };
}
