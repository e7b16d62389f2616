import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";

/**
 * The outermost stage: once the response is known, one JSON line with Envoy's default access
 * log fields and the mesh's decisions, read from the stream record (nothing logs mid-chain).
 * With debug headers on, the response flags and route are also returned to the caller.
 */
export function accessLog(write: (line: Record<string, unknown>) => void, now: () => number): MiddlewareHandler<GatewayEnv> {
  return async function accessLog(c, next) {
    await next();
    const stream = c.var.stream;
    const settings = c.var.settings;
    const flags = stream.flags.length ? [...new Set(stream.flags)].join(",") : "-";
    if (settings.MESH_DEBUG_HEADERS) {
      c.res.headers.set("x-mesh-response-flags", flags);
      if (stream.routeName) c.res.headers.set("x-mesh-route", stream.routeName);
      if (stream.upstreamHost) c.res.headers.set("x-mesh-upstream-host", stream.upstreamHost);
      if (stream.cluster) c.res.headers.set("x-mesh-upstream-cluster", stream.cluster);
      c.res.headers.set("x-mesh-attempts", String(stream.attempts));
    }
    if (settings.MESH_ACCESS_LOG === "off") return;
    const url = new URL(c.req.url);
    write({
      start_time: new Date(stream.startMs).toISOString(),
      method: c.req.method,
      path: url.pathname + url.search,
      protocol: "HTTP/1.1",
      response_code: c.res.status,
      response_flags: flags,
      response_code_details: stream.detail ?? "via_upstream",
      bytes_received: Number(c.req.header("content-length") ?? 0),
      bytes_sent: Number(c.res.headers.get("content-length") ?? 0),
      duration: now() - stream.startMs,
      upstream_service_time: stream.upstreamServiceTimeMs ?? null,
      x_forwarded_for: c.req.header("x-forwarded-for") ?? null,
      user_agent: c.req.header("user-agent") ?? null,
      request_id: stream.requestId,
      authority: c.req.header("host") ?? url.host,
      upstream_host: stream.upstreamHost ?? null,
      upstream_cluster: stream.cluster ?? null,
      route_name: stream.routeName ?? null,
      attempts: stream.attempts,
      trace_id: stream.traceId,
      config_version: stream.configVersion ?? null,
    });
  };
}
