import type { MiddlewareHandler } from "hono";
import { normalizePath } from "../../policies/paths/normalize.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";
import type { SecurityState } from "../security/state.js";

/**
 * Normalises the path once, with MeshConfig `pathNormalization` (default BASE), before routing
 * and authorization, and sends the normalised path upstream: every later stage and the upstream
 * see one and the same path, so no spelling of a path can reach a route that authorization
 * judged under another spelling. A path that cannot be normalised safely is `400`.
 */
export function pathNormalization(state: SecurityState): MiddlewareHandler<GatewayEnv> {
  return function pathNormalization(c, next) {
    const security = state.for(c.get("config").table.snapshot);
    const raw = new URL(c.req.url).pathname;
    const normalized = normalizePath(raw, security.paths);
    if (!normalized.ok) throw new GatewayError(400, undefined, "path_normalization_failed", `the request path cannot be normalised safely: ${normalized.reason}`);
    const path = normalized.path;
    if (path !== c.get("request").path) {
      c.set("request", { ...c.get("request"), path });
      const outbound = c.get("outbound");
      const queryStart = outbound.pathAndQuery.indexOf("?");
      outbound.pathAndQuery = path + (queryStart === -1 ? "" : outbound.pathAndQuery.slice(queryStart));
    }
    return next();
  };
}
