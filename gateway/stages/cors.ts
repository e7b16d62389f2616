import type { MiddlewareHandler } from "hono";
import type { CompiledCors } from "../../policies/snapshot/schema.js";
import { stringMatches, type RegexCache } from "../../policies/routing/string-match.js";
import type { GatewayEnv } from "../context.js";

/**
 * Envoy's CORS filter driven by the route's corsPolicy: answers preflights for allowed origins
 * at the gateway, and adds the CORS response headers to actual requests from allowed origins.
 * A preflight from an origin that is not allowed goes upstream (unmatchedPreflights FORWARD) or
 * is answered without CORS headers (IGNORE).
 */
export function cors(): MiddlewareHandler<GatewayEnv> {
  return async function cors(c, next) {
    const policy = c.get("route").route.cors;
    const origin = c.req.header("origin");
    if (!policy || origin === undefined) return next();
    const allowed = originAllowed(policy, origin, c.get("config").table.regexes);
    const isPreflight = c.req.method === "OPTIONS" && c.req.header("access-control-request-method") !== undefined;
    if (isPreflight) {
      if (allowed) {
        const headers: Record<string, string> = { "access-control-allow-origin": origin, vary: "origin" };
        if (policy.allowMethods.length) headers["access-control-allow-methods"] = policy.allowMethods.join(",");
        if (policy.allowHeaders.length) headers["access-control-allow-headers"] = policy.allowHeaders.join(",");
        if (policy.maxAgeSeconds !== undefined) headers["access-control-max-age"] = String(policy.maxAgeSeconds);
        if (policy.allowCredentials) headers["access-control-allow-credentials"] = "true";
        return c.body(null, 200, headers);
      }
      if (policy.unmatchedPreflights === "IGNORE") return c.body(null, 200);
      return next();
    }
    await next();
    if (allowed) {
      const headers = c.res.headers;
      headers.set("access-control-allow-origin", origin);
      headers.append("vary", "origin");
      if (policy.allowCredentials) headers.set("access-control-allow-credentials", "true");
      if (policy.exposeHeaders.length) headers.set("access-control-expose-headers", policy.exposeHeaders.join(","));
    }
  };
}

function originAllowed(policy: CompiledCors, origin: string, regexes: RegexCache): boolean {
  return policy.allowOrigins.some((match) => (match.type === "exact" && match.value === "*") || stringMatches(match, origin, regexes));
}
