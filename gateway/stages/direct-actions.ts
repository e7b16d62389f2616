import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";

/** Routes that answer at the gateway without an upstream: `redirect` and `directResponse`. */
export function directActions(): MiddlewareHandler<GatewayEnv> {
  return async function directActions(c, next) {
    const action = c.get("route").route.action;
    if (action.type === "redirect") {
      c.get("stream").detail = "redirect";
      const request = c.get("request");
      const url = new URL(c.req.url);
      const scheme = action.scheme ?? request.scheme;
      let host = action.authority ?? c.get("request").authority.replace(/:\d+$/, "");
      const requestPort = /:(\d+)$/.exec(request.authority)?.[1];
      if (action.port !== undefined) host = `${host.replace(/:\d+$/, "")}:${action.port}`;
      else if (action.derivePort === "FROM_REQUEST_PORT" && requestPort !== undefined) host = `${host}:${requestPort}`;
      else if (action.authority === undefined && action.derivePort === undefined && requestPort !== undefined && action.scheme === undefined) {
        host = `${host}:${requestPort}`;
      }
      // Envoy's path_redirect: a query string in the new path replaces the request's; otherwise it is kept.
      const path = action.uri ?? url.pathname;
      const pathAndQuery = path.includes("?") ? path : path + url.search;
      return c.body(null, action.code as 301, { location: `${scheme}://${host}${pathAndQuery}` });
    }
    if (action.type === "direct") {
      c.get("stream").detail = "direct_response";
      const body = action.bodyBase64 !== undefined ? base64ToBytes(action.bodyBase64) : null;
      return new Response(body, { status: action.status });
    }
    await next();
  };
}

function base64ToBytes(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}
