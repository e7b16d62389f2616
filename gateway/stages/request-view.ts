import type { MiddlewareHandler } from "hono";
import { normaliseRequestHost } from "../../policies/snapshot/hosts.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";
import { forwardableRequestHeaders } from "../upstream/hop-by-hop.js";
import { outgoingTraceparent } from "./trace-context.js";

/**
 * Normalises the request once (path per RFC 3986, as the URL parser does: dot segments removed,
 * percent-encoding kept), so routing and later policy see the same path, and drafts the
 * outbound request the following stages rewrite.
 */
export function requestView(): MiddlewareHandler<GatewayEnv> {
  return function requestView(c, next) {
    const url = new URL(c.req.url);
    const authority = (c.req.header("host") ?? url.host).toLowerCase();
    if (authority === "") throw new GatewayError(400, undefined, "missing_host", "request has no Host header");
    // The scheme the client really used (a client-sent x-forwarded-proto is not trusted at the edge).
    const scheme = url.protocol.slice(0, -1).toLowerCase();
    const portText = /:(\d+)$/.exec(authority)?.[1];
    const port = portText !== undefined ? Number(portText) : scheme === "https" ? 443 : 80;
    const headers = c.req.raw.headers;
    const query = url.searchParams;
    c.set("request", {
      host: normaliseRequestHost(authority),
      authority,
      path: url.pathname,
      method: c.req.method,
      scheme,
      port,
      header: (name) => headers.get(name),
      query: (name) => query.get(name),
    });

    const outbound = forwardableRequestHeaders(headers);
    const stream = c.get("stream");
    outbound.set("x-request-id", stream.requestId);
    outbound.set("traceparent", outgoingTraceparent(c.req.header("traceparent"), stream.traceId, stream.spanId));
    const clientIp = c.req.header("cf-connecting-ip");
    const forwardedFor = c.req.header("x-forwarded-for");
    if (clientIp) outbound.set("x-forwarded-for", forwardedFor ? `${forwardedFor}, ${clientIp}` : clientIp);
    outbound.set("x-forwarded-proto", scheme);
    outbound.set("x-forwarded-host", authority);
    c.set("outbound", { method: c.req.method, pathAndQuery: url.pathname + url.search, authority, headers: outbound });
    return next();
  };
}
