import type { Context } from "hono";
import type { SpanRecord } from "../../policies/telemetry/otlp.js";
import { redactPathAndQuery } from "../../policies/telemetry/redact.js";
import { formatResponseFlags } from "../../policies/telemetry/istio-metrics.js";
import type { GatewayEnv, UpstreamAttempt } from "../context.js";
import type { DestinationFacts } from "../../policies/telemetry/istio-metrics.js";

/**
 * The spans a gateway records for one request: a server span for the whole request (child of
 * the caller's span, when there was one) and a client span per upstream attempt, children of
 * it, so retries show as siblings. Attributes follow OpenTelemetry's HTTP conventions, plus
 * Envoy's tags (`response_flags`, `upstream_cluster`, `guid:x-request-id`) and the mesh's
 * decisions. No header is copied; the query string is redacted.
 */
export function requestSpans(c: Context<GatewayEnv>, endMs: number, destination: DestinationFacts | undefined, workload: { name: string; namespace: string }): SpanRecord[] {
  const stream = c.get("stream");
  const url = new URL(c.req.url);
  const status = c.res.status;
  const method = c.req.method;
  const server: SpanRecord = {
    traceId: stream.traceId,
    spanId: stream.spanId,
    ...(stream.parentSpanId !== undefined ? { parentSpanId: stream.parentSpanId } : {}),
    ...(stream.traceState !== undefined ? { traceState: stream.traceState } : {}),
    name: stream.routeName !== undefined ? `${method} ${stream.routeName}` : method,
    kind: "server",
    startMs: stream.startMs,
    endMs,
    attributes: {
      "http.request.method": method,
      "url.scheme": url.protocol.slice(0, -1),
      "url.path": url.pathname,
      "url.query": url.search === "" ? undefined : redactPathAndQuery(url.search).slice(1),
      "server.address": c.req.header("host") ?? url.host,
      "client.address": c.req.header("cf-connecting-ip"),
      "user_agent.original": c.req.header("user-agent"),
      "network.protocol.version": "1.1",
      "http.response.status_code": status,
      "guid:x-request-id": stream.requestId,
      response_flags: formatResponseFlags(stream.flags),
      upstream_cluster: stream.cluster,
      "istio.canonical_service": workload.name,
      "istio.namespace": workload.namespace,
      "mesh.route_name": stream.routeName,
      "mesh.destination.service": destination?.host,
      "mesh.destination.subset": destination?.subset,
      "mesh.upstream_host": stream.upstreamHost,
      "mesh.attempts": stream.attempts,
      "mesh.response_code_details": stream.detail ?? "via_upstream",
      "mesh.config_version": stream.configVersion,
      "mesh.peer_principal": stream.peerPrincipal,
      "mesh.request_principal": stream.requestPrincipal,
      "mesh.authz.decision": stream.authzDecision,
      "mesh.authz.policy": stream.authzPolicy,
    },
    // OpenTelemetry: a server span is an error for 5xx only (a 4xx is the client's).
    status: status >= 500 ? { code: "error", message: stream.detail ?? `HTTP ${status}` } : { code: "unset" },
  };
  const attempts = (stream.attemptLog ?? []).map((attempt, index) => attemptSpan(c, attempt, index, endMs));
  return [server, ...attempts];
}

function attemptSpan(c: Context<GatewayEnv>, attempt: UpstreamAttempt, index: number, fallbackEndMs: number): SpanRecord {
  const stream = c.get("stream");
  const method = c.get("outbound")?.method ?? c.req.method;
  const colon = attempt.upstreamHost.lastIndexOf(":");
  const failed = attempt.outcome !== "response";
  return {
    traceId: stream.traceId,
    spanId: attempt.spanId,
    parentSpanId: stream.spanId,
    name: `router ${stream.cluster ?? "upstream"} egress`,
    kind: "client",
    startMs: attempt.startMs,
    endMs: attempt.endMs ?? fallbackEndMs,
    attributes: {
      "http.request.method": method,
      "server.address": colon > 0 ? attempt.upstreamHost.slice(0, colon) : attempt.upstreamHost,
      "server.port": colon > 0 ? Number(attempt.upstreamHost.slice(colon + 1)) : undefined,
      "url.path": c.get("outbound") ? redactPathAndQuery(c.get("outbound").pathAndQuery) : undefined,
      // OpenTelemetry counts resends from 1 and leaves the first try without it.
      "http.request.resend_count": index > 0 ? index : undefined,
      "http.response.status_code": attempt.status,
      "error.type": failed ? (attempt.outcome ?? "unfinished") : undefined,
      upstream_cluster: stream.cluster,
      "mesh.attempt": index + 1,
      "mesh.upstream_host": attempt.upstreamHost,
    },
    // OpenTelemetry: a client span is an error for 4xx and 5xx, and when no answer came.
    status: failed ? { code: "error", message: attempt.outcome ?? "unfinished" } : (attempt.status ?? 0) >= 400 ? { code: "error", message: `HTTP ${attempt.status}` } : { code: "unset" },
  };
}
