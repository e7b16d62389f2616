import type { MiddlewareHandler } from "hono";
import type { RequestView } from "../../policies/routing/request-view.js";
import type { GatewayEnv } from "../context.js";
import { whenResponseSent } from "../telemetry/response-size.js";
import { redactPathAndQuery } from "../../policies/telemetry/redact.js";
import { accessLogPolicyFor, isQuietEndpoint } from "../telemetry/access-log-policy.js";
import { destinationFacts, requestBodyBytes } from "../telemetry/request-facts.js";

/**
 * The outermost stage: once the response is known, one JSON line with Envoy's default access
 * log fields and the mesh's decisions, read from the stream record (nothing logs mid-chain).
 * With debug headers on, the response flags and route are also returned to the caller.
 * A streamed body of unknown length is counted as it passes, and the line is written when it ends.
 * Which requests are logged and with which fields is the Telemetry that applies to this gateway
 * (from the request's snapshot), else the MESH_ACCESS_LOG_* settings; the gateway's own
 * `/__mesh/healthz` and `/__mesh/metrics` are never logged (a scraper polls them).
 */
export function accessLog(write: (line: Record<string, unknown>) => void, now: () => number): MiddlewareHandler<GatewayEnv> {
  return async function accessLog(c, next) {
    await next();
    const stream = c.get("stream");
    const settings = c.get("settings");
    const flags = stream.flags.length === 0 ? "-" : stream.flags.length === 1 ? stream.flags[0]! : [...new Set(stream.flags)].join(",");
    if (settings.MESH_DEBUG_HEADERS) {
      c.res.headers.set("x-mesh-response-flags", flags);
      if (stream.routeName) c.res.headers.set("x-mesh-route", stream.routeName);
      if (stream.upstreamHost) c.res.headers.set("x-mesh-upstream-host", stream.upstreamHost);
      if (stream.cluster) c.res.headers.set("x-mesh-upstream-cluster", stream.cluster);
      c.res.headers.set("x-mesh-attempts", String(stream.attempts));
    }
    if (settings.MESH_ACCESS_LOG === "off" || isQuietEndpoint(stream.detail, c.req.url)) return;
    // Filter, sampling and field selection: the snapshot's Telemetry for this gateway, else MESH_ACCESS_LOG_FILTER/_SAMPLING/_FIELDS.
    const policy = accessLogPolicyFor(settings, c.get("config")?.table.snapshot);
    const emit = (entry: Record<string, unknown>) => {
      const kept = policy.apply(entry, c.get("random"));
      if (kept) write(kept);
    };
    // The path and query as the request's URL serializes them, sliced from the string the runtime
    // already holds (a second URL parse per request was the line's largest single cost).
    const url = c.req.url;
    const destination = destinationFacts(c);
    const line = (bytesSent: number) => ({
      start_time: new Date(stream.startMs).toISOString(),
      method: c.req.method,
      path: redactPathAndQuery(pathAndQuery(url)),
      // The downstream protocol as the platform saw it (HTTP/2, HTTP/3 on Cloudflare); workerd locally speaks HTTP/1.1.
      protocol: downstreamProtocol(c.req.raw),
      response_code: c.res.status,
      response_flags: flags,
      response_code_details: stream.detail ?? "via_upstream",
      bytes_received: requestBodyBytes(c),
      bytes_sent: bytesSent,
      duration: now() - stream.startMs,
      upstream_service_time: stream.upstreamServiceTimeMs ?? null,
      x_forwarded_for: c.req.header("x-forwarded-for") ?? null,
      user_agent: c.req.header("user-agent") ?? null,
      request_id: stream.requestId,
      // The authority the request was routed by (an egress HTTP-proxy request's URL, not its Host), once known.
      authority: (c.get("request") as RequestView | undefined)?.authority ?? c.req.header("host") ?? new URL(url).host,
      upstream_host: stream.upstreamHost ?? null,
      upstream_cluster: stream.cluster ?? null,
      downstream_remote_address: c.req.header("cf-connecting-ip") ?? null,
      route_name: stream.routeName ?? null,
      attempts: stream.attempts,
      trace_id: stream.traceId,
      config_version: stream.configVersion ?? null,
      span_id: stream.spanId,
      destination_service: destination?.host ?? null,
      destination_subset: destination?.subset ?? null,
      peer_principal: stream.peerPrincipal ?? null,
      request_principal: stream.requestPrincipal ?? null,
      peer_authentication: stream.peerAuthentication ?? null,
      authz_decision: stream.authzDecision ?? null,
      authz_policy: stream.authzPolicy ?? null,
      // AUDIT policies that matched, and what dry-run policies would have decided (never enforced).
      authz_audit: stream.authzAudit ?? null,
      authz_dry_run_decision: stream.authzDryRunDecision ?? null,
      authz_dry_run_policy: stream.authzDryRunPolicy ?? null,
    });
    whenResponseSent(c, now, (bytes) => emit(line(bytes)));
  };
}

/**
 * `pathname + search` of a serialized absolute URL (what `request.url` is), without parsing it:
 * from the first "/" after the authority to the fragment, a bare "?" dropped (URL's search is
 * then empty). `new URL(url).pathname + search` for every URL the runtime hands a worker.
 */
export function pathAndQuery(url: string): string {
  const authority = url.indexOf("://");
  const slash = url.indexOf("/", authority === -1 ? 0 : authority + 3);
  if (slash === -1) return "/";
  const hash = url.indexOf("#", slash);
  let end = hash === -1 ? url.length : hash;
  const question = url.indexOf("?", slash);
  if (question !== -1 && question === end - 1) end = question;
  return url.slice(slash, end);
}

/** `request.cf.httpProtocol` when the platform sets it (`HTTP/1.1`, `HTTP/2`, `HTTP/3`), else HTTP/1.1. */
function downstreamProtocol(request: Request): string {
  const protocol = (request as { cf?: { httpProtocol?: unknown } }).cf?.httpProtocol;
  return typeof protocol === "string" && /^HTTP\/[0-9.]+$/.test(protocol) ? protocol : "HTTP/1.1";
}
