import type { MiddlewareHandler } from "hono";
import { normalizePath } from "../../policies/paths/normalize.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";
import { MESH_PREFIX } from "./mesh-endpoints.js";
import type { SecurityState } from "../security/state.js";

/**
 * Normalises the path once, with MeshConfig `pathNormalization` (default BASE), before routing
 * and authorization, and sends the normalised path upstream: every later stage and the upstream
 * see one and the same path, so no spelling of a path can reach a route that authorization
 * judged under another spelling. A path that cannot be normalised safely is `400`, and so is
 * one that normalises into the gateway's reserved `/__mesh/` prefix.
 */
export function pathNormalization(state: SecurityState): MiddlewareHandler<GatewayEnv> {
  return function pathNormalization(c, next) {
    const security = state.for(c.get("config").table.snapshot);
    const raw = new URL(c.req.url).pathname;
    const normalized = normalizePath(raw, security.paths);
    if (!normalized.ok) throw new GatewayError(400, undefined, "path_normalization_failed", `the request path cannot be normalised safely: ${normalized.reason}`);
    const path = normalized.path;
    // The gateway's own prefix is served before routing, by its plain spelling only; any other
    // spelling of it (`/%5F%5Fmesh/`, `/__MESH/`) must not reach an upstream either.
    if (path.toLowerCase().startsWith(MESH_PREFIX)) {
      throw new GatewayError(400, undefined, "reserved_path", `${MESH_PREFIX} is reserved for the gateway's own endpoints and never routed`);
    }
    if (path !== c.get("request").path) {
      c.set("request", { ...c.get("request"), path });
      const outbound = c.get("outbound");
      const queryStart = outbound.pathAndQuery.indexOf("?");
      outbound.pathAndQuery = path + (queryStart === -1 ? "" : outbound.pathAndQuery.slice(queryStart));
    }
    return next();
  };
}
