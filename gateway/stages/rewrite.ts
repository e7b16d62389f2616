import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";

/**
 * Istio's HTTPRewrite on the outbound request: `uri` replaces the matched prefix when the route
 * matched by prefix, the whole path otherwise; `uriRegexRewrite` substitutes every match (RE2's
 * `\1` backreferences become JS's `$1`); `authority` replaces the Host sent upstream.
 */
export function rewrite(): MiddlewareHandler<GatewayEnv> {
  return function rewrite(c, next) {
    const spec = c.get("route").route.rewrite;
    if (spec) {
      const outbound = c.get("outbound");
      const queryStart = outbound.pathAndQuery.indexOf("?");
      const path = queryStart === -1 ? outbound.pathAndQuery : outbound.pathAndQuery.slice(0, queryStart);
      const query = queryStart === -1 ? "" : outbound.pathAndQuery.slice(queryStart);
      let newPath = path;
      if (spec.uri !== undefined) {
        const uri = c.get("route").match?.uri;
        newPath = uri?.type === "prefix" ? spec.uri + path.slice(uri.value.length) : spec.uri;
        if (newPath === "") newPath = "/";
      } else if (spec.uriRegex) {
        newPath = path.replace(new RegExp(spec.uriRegex.match, "g"), spec.uriRegex.rewrite.replace(/\\(\d)/g, "$$$1"));
      }
      outbound.pathAndQuery = newPath + query;
      if (spec.authority !== undefined) outbound.authority = spec.authority;
    }
    return next();
  };
}
