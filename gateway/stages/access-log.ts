import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";

/**
 * The outermost stage: once the response is known, one JSON line with Envoy's default access
 * log fields and the mesh's decisions, read from the stream record (nothing logs mid-chain).
 * With debug headers on, the response flags and route are also returned to the caller.
 * A streamed body of unknown length is counted as it passes, and the line is written when it ends.
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
    const line = (bytesSent: number) => ({
      start_time: new Date(stream.startMs).toISOString(),
      method: c.req.method,
      path: url.pathname + url.search,
      protocol: "HTTP/1.1",
      response_code: c.res.status,
      response_flags: flags,
      response_code_details: stream.detail ?? "via_upstream",
      bytes_received: Number(c.req.header("content-length") ?? 0),
      bytes_sent: bytesSent,
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
    const declared = c.res.headers.get("content-length");
    const body = c.res.body;
    if (declared !== null || body === null) {
      write(line(Number(declared ?? 0)));
      return;
    }
    let bytes = 0;
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush: () => finished(),
    });
    c.res = new Response(body.pipeThrough(counter), c.res);
    // A client that goes away mid-body never flushes: log what was sent by then, once.
    c.executionCtx.waitUntil(Promise.race([done, new Promise((resolve) => setTimeout(resolve, 30_000))]).then(() => write(line(bytes))));
  };
}
