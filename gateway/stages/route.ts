import type { MiddlewareHandler } from "hono";
import { matchInVirtualHost, resolveVirtualHost } from "../../policies/routing/match-route.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";

/** Envoy's route lookup: no Gateway server or VirtualService for the host, or no route matched, is 404 `NR`. */
export function route(): MiddlewareHandler<GatewayEnv> {
  return function route(c, next) {
    const table = c.get("config").table;
    const request = c.get("request");
    const resolved = resolveVirtualHost(table, request.host);
    if (resolved.kind === "no-gateway") {
      throw new GatewayError(404, "NR", "no_gateway_for_host", `no Gateway server accepts host '${request.host}'`);
    }
    if (resolved.kind === "no-virtual-host") {
      throw new GatewayError(404, "NR", "no_virtual_host", `no VirtualService on Gateway ${resolved.gateway.name} serves host '${request.host}'`);
    }
    const matched = matchInVirtualHost(table, resolved.gateway, resolved.virtualHost, request);
    if (!matched) {
      throw new GatewayError(404, "NR", "route_not_found", `no route of VirtualService ${resolved.virtualHost.virtualService} matches ${request.method} ${request.path}`);
    }
    c.set("route", matched);
    c.get("stream").routeName = matched.route.name;
    return next();
  };
}
