import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";

/** Keeps a sane incoming `x-request-id` (as Envoy does at the edge when told to trust it), or makes one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(): MiddlewareHandler<GatewayEnv> {
  return async function requestId(c, next) {
    const incoming = c.req.header("x-request-id");
    c.get("stream").requestId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    await next();
    c.res.headers.set("x-request-id", c.get("stream").requestId);
  };
}
