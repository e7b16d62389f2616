import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../../gateway/context.js";
import { GatewayError } from "../../gateway/errors.js";
import { route as gatewayRoute } from "../../gateway/stages/route.js";
import type { Context } from "hono";
import { resolveVirtualHost } from "../../policies/routing/match-route.js";
import type { RequestView } from "../../policies/routing/request-view.js";
import { normaliseRequestHost } from "../../policies/snapshot/hosts.js";
import type { Snapshot } from "../../policies/snapshot/schema.js";
import { BLACKHOLE_CLUSTER, BLOCK_ALL_ROUTE, EgressRegistry, PASSTHROUGH_GATEWAY } from "../registry.js";

/**
 * The egress gateway's route lookup. A host that a VirtualService on this gateway's Gateway
 * serves is routed as at the ingress (routes, retries, timeouts, faults, header mutation).
 * Any other host is Istio's egress passthrough: a host declared by a `MESH_EXTERNAL`
 * ServiceEntry (exact or `*.` wildcard) goes straight to that ServiceEntry's cluster; an
 * undeclared host gets Istio's `block_all` route under REGISTRY_ONLY (the default), cluster
 * `BlackHoleCluster`, refused by blockUnregistered once the caller is known; under ALLOW_ANY it
 * goes to the host itself (`PassthroughCluster`).
 *
 * The host is the request URL's when an absolute-form request (HTTP proxy) names another than
 * Host (see targetOfRequestUrl). It also swaps in the config whose cluster states include the
 * external clusters, so the shared destination and upstream stages find them.
 */
export function outboundRoute(): MiddlewareHandler<GatewayEnv> {
  const routed = gatewayRoute();
  const registries = new WeakMap<Snapshot, EgressRegistry>();
  let last: EgressRegistry | undefined;
  return function outboundRoute(c, next) {
    const config = c.get("config");
    const snapshot = config.table.snapshot;
    let registry = registries.get(snapshot);
    if (!registry) {
      registry = new EgressRegistry(snapshot, last);
      registries.set(snapshot, registry);
      last = registry;
    }
    c.set("config", { table: config.table, clusters: registry.clusters });
    const request = targetOfRequestUrl(c);
    if (resolveVirtualHost(config.table, request.host).kind === "found") return routed(c, next);

    const target = registry.resolve(request.host, request.port, request.scheme === "https" ? "https" : "http");
    // An https call to a host declared without TLS is refused outright: nothing is sent, in any form.
    if (target.kind === "insecure") throw new GatewayError(502, "NR", "outbound_tls_unavailable", target.message);
    const stream = c.get("stream");
    c.set("route", { gateway: PASSTHROUGH_GATEWAY, virtualHost: { virtualService: "-", hosts: [request.host], routes: [], pathIndex: EMPTY_INDEX }, route: target.route, match: undefined });
    stream.routeName = target.route.name;
    if (target.kind === "blocked") stream.cluster = BLACKHOLE_CLUSTER;
    return next();
  };
}

/**
 * The destination is the request URL's authority when it is not the Host header's. Over
 * workerd's usual socket (and on Cloudflare) the URL is built from Host, so they agree; they
 * differ for an absolute-form request on the HTTP-proxy socket (`GET http://api.example.test/x`,
 * `curl -x`), where RFC 9112 §3.2.2 says the target's authority wins and Host is ignored, and
 * for a service-binding caller that fetched one URL with another Host header (the URL is what
 * it fetched). Routing, authorization, the upstream's Host and the audit all see the one host.
 */
function targetOfRequestUrl(c: Context<GatewayEnv>): RequestView {
  const view = c.get("request");
  const url = new URL(c.req.url);
  const host = normaliseRequestHost(url.host);
  const port = url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  if (host === view.host && port === view.port) return view;
  const authority = url.host.toLowerCase();
  const target: RequestView = { ...view, host, authority, port };
  c.set("request", target);
  const outbound = c.get("outbound");
  outbound.authority = authority;
  outbound.headers.set("x-forwarded-host", authority);
  return target;
}

/**
 * Refuses a call that outboundRoute found no destination for: `502`, flag `NR`, detail
 * `outbound_host_blocked`. It runs after peer and request authentication, so the access log
 * and the audit name the caller who tried, and before authorization and anything that could
 * connect.
 */
export function blockUnregistered(): MiddlewareHandler<GatewayEnv> {
  return function blockUnregistered(c, next) {
    const { gateway, route } = c.get("route");
    if (gateway === PASSTHROUGH_GATEWAY && route.name === BLOCK_ALL_ROUTE) {
      const host = c.get("request").host;
      throw new GatewayError(502, "NR", "outbound_host_blocked", `'${host}' is not declared by a MESH_EXTERNAL ServiceEntry (outbound traffic policy REGISTRY_ONLY)`);
    }
    return next();
  };
}

const EMPTY_INDEX = { exact: {}, prefix: {}, prefixLengths: [], exactCaseless: {}, prefixCaseless: {}, prefixLengthsCaseless: [], anyPath: [] };

/**
 * An https call stays https on every path out, the routed one too: when a VirtualService at the
 * egress sent it to a plain-HTTP destination, it is refused (`502`, `NR`,
 * `outbound_tls_unavailable`) before anything connects; the caller asked for TLS and its own
 * headers (its tokens) must not leave in cleartext. (The passthrough lookup refuses it earlier.)
 */
export function requireTlsForHttps(): MiddlewareHandler<GatewayEnv> {
  return function requireTlsForHttps(c, next) {
    if (c.get("request").scheme !== "https") return next();
    const cluster = c.get("destination")?.cluster.cluster;
    if (cluster && cluster.scheme !== "https") {
      throw new GatewayError(502, "NR", "outbound_tls_unavailable", `an https call to '${c.get("request").host}' was routed to ${cluster.key}, which is plain HTTP: it is not downgraded (originate TLS in its DestinationRule, or route https calls elsewhere)`);
    }
    return next();
  };
}
