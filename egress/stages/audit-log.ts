import type { MiddlewareHandler } from "hono";
import type { GatewayEnv, StreamInfo } from "../../gateway/context.js";
import { isQuietEndpoint } from "../../gateway/telemetry/access-log-policy.js";
import { requestBodyBytes } from "../../gateway/telemetry/request-facts.js";
import { whenResponseSent } from "../../gateway/telemetry/response-size.js";
import type { RequestView } from "../../policies/routing/request-view.js";
import { redactPathAndQuery } from "../../policies/telemetry/redact.js";

/**
 * The egress audit trail: one `egress_audit` JSON line for every call, whatever happened to it,
 * read from the stream record once the response is known: who called (the verified SPIFFE ID),
 * where to, what, the status, the bytes each way, how long, and the decision — `allowed`,
 * `denied` (with the policy or the authentication failure), `blocked` (host not registered), or
 * `failed` (refused for another reason: no config, no route in a VirtualService, bad request).
 * Unlike the access log it is never sampled, filtered or switched off. The egress's own
 * `/__mesh/healthz` and `/__mesh/metrics` are not calls to anywhere, and get no line.
 */
export type EgressDecision = "allowed" | "denied" | "blocked" | "failed";

export function auditLog(write: (line: Record<string, unknown>) => void, now: () => number): MiddlewareHandler<GatewayEnv> {
  return async function auditLog(c, next) {
    await next();
    const stream = c.get("stream");
    if (isQuietEndpoint(stream.detail, c.req.url)) return;
    // Absent when the request was refused before it was read (no Host, no config).
    const request = c.get("request") as RequestView | undefined;
    const url = new URL(c.req.url);
    const status = c.res.status;
    const { decision, reason } = decisionOf(stream, status);
    whenResponseSent(c, now, (bytesSent, endMs) =>
      write({
        event: "egress_audit",
        time: new Date(stream.startMs).toISOString(),
        request_id: stream.requestId,
        caller: stream.peerPrincipal ?? null,
        caller_authentication: stream.peerAuthentication ?? null,
        request_principal: stream.requestPrincipal ?? null,
        destination_host: request?.host ?? url.hostname,
        destination_port: request?.port ?? null,
        method: c.req.method,
        // The path as the gateway judged and sent it (normalised, rewritten), not a spelling of it.
        path: redactPathAndQuery((c.get("outbound") as { pathAndQuery: string } | undefined)?.pathAndQuery ?? url.pathname + url.search),
        status,
        bytes_received: requestBodyBytes(c),
        bytes_sent: bytesSent,
        duration_ms: endMs - stream.startMs,
        decision,
        reason,
        policy: stream.authzPolicy ?? null,
        // AUDIT policies that matched, and what dry-run policies would have decided (never enforced).
        authz_audit: stream.authzAudit ?? null,
        authz_dry_run_decision: stream.authzDryRunDecision ?? null,
        authz_dry_run_policy: stream.authzDryRunPolicy ?? null,
        // Which EgressCredential was added (its name only, never a value).
        credential: stream.egressCredential ?? null,
        route: stream.routeName ?? null,
        upstream_cluster: stream.cluster ?? null,
        upstream_host: stream.upstreamHost ?? null,
        response_flags: stream.flags.length ? [...new Set(stream.flags)].join(",") : "-",
      }),
    );
  };
}

function decisionOf(stream: StreamInfo, status: number): { decision: EgressDecision; reason: string } {
  const reason = stream.detail ?? "via_upstream";
  if (reason === "outbound_host_blocked") return { decision: "blocked", reason };
  if (stream.authzDecision === "deny" || stream.flags.includes("RBAC") || stream.flags.includes("UAEX")) return { decision: "denied", reason };
  if (stream.attempts > 0 || status < 400) return { decision: "allowed", reason };
  return { decision: "failed", reason };
}
