import type { MiddlewareHandler } from "hono";
import { pickWeightedDestination } from "../../policies/resilience/weighted.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";

/**
 * Picks the route's destination by weight, once per request (as Envoy picks the weighted cluster
 * when the route is selected), so header mutations, mirroring and the router all see the same one.
 */
export function destination(): MiddlewareHandler<GatewayEnv> {
  return function destination(c, next) {
    const { route } = c.get("route");
    if (route.action.type === "forward") {
      const picked = pickWeightedDestination(route.action.destinations, route.action.totalWeight, c.get("random"));
      const state = picked && c.get("config").clusters.get(picked.cluster);
      if (!picked || !state) throw new GatewayError(503, "NC", "cluster_not_found", `route ${route.name} has no destination to send to`);
      c.set("destination", { weighted: picked, cluster: state });
      c.get("stream").cluster = state.cluster.key;
    }
    return next();
  };
}
