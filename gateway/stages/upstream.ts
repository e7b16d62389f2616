import type { Handler } from "hono";
import { hashKeyFor } from "../../policies/resilience/load-balancer.js";
import { backoffDelayMs, isRetriable, type AttemptOutcome } from "../../policies/resilience/retry.js";
import type { Cluster, Endpoint, RetryPolicy } from "../../policies/snapshot/schema.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";
import { endpointKey } from "../../policies/resilience/endpoint-key.js";
import { outlierOutcomeFor } from "../../policies/resilience/outlier-detector.js";
import type { ClusterState } from "../upstream/cluster-state.js";
import { forwardableResponseHeaders } from "../upstream/hop-by-hop.js";
import { parseCookie } from "../upstream/cookies.js";
import { clusterFetcher } from "../upstream/cluster-fetcher.js";
import { endpointUrl } from "../upstream/endpoint-url.js";
import { sendAttempt, type AttemptResult } from "../upstream/send-attempt.js";
import { beginAttempt, endAttempt } from "../telemetry/attempts.js";

/**
 * Envoy's router filter: pick an endpoint of the chosen destination by the cluster's load
 * balancer (skipping ejected endpoints), send the request, and retry per the route's policy
 * with jittered exponential backoff, under the per-try and route timeouts and the retry budget.
 */
export interface UpstreamOptions {
  fetcher: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
}

export function upstream(options: UpstreamOptions): Handler<GatewayEnv> {
  return async function upstream(c) {
    const { route } = c.get("route");
    if (route.action.type !== "forward") throw new Error(`route ${route.name} has no upstream action`);
    const stream = c.get("stream");
    const random = c.get("random");
    const state = c.get("destination").cluster;
    const cluster = state.cluster;

    // Before anything is counted or sent: a MUTUAL cluster without its certificate binding never connects.
    const fetcher = clusterFetcher(cluster, c.env, options.fetcher);
    const outbound = c.get("outbound");
    // The outbound headers are this request's own copy (request-view made it; mirror copies
    // them again before this runs), so the router sets its headers on them directly.
    const headers = outbound.headers;
    // Workers derive the Host header from the URL (the endpoint's address) and ignore a set one,
    // so the routed authority (after any rewrite) travels in x-mesh-authority.
    headers.set("x-mesh-authority", outbound.authority);
    const body = c.get("body");
    const replayable = body.kind !== "stream";
    const retries: RetryPolicy | null = replayable ? route.retries : null;
    const startedAt = options.now();
    const deadline = route.timeoutMs !== undefined ? startedAt + route.timeoutMs : undefined;
    const stickyCookie = newStickyCookie(cluster, c.req.raw, random);
    const hashKey = stickyCookie?.value ?? (cluster.loadBalancer.type === "consistent_hash" ? hashKeyFor(cluster.loadBalancer, requestKeys(c.req.raw)) : undefined);

    state.budget.requestStarted();
    try {
      for (let retry = 0; ; retry++) {
        const endpoint = pickEndpoint(state, random, hashKey, options.now());
        if (!endpoint) {
          stream.flags.push("UH");
          throw new GatewayError(503, "UH", "no_healthy_upstream", `no healthy upstream for ${cluster.key}`);
        }
        stream.attempts = retry + 1;
        stream.upstreamHost = endpointKey(endpoint);
        const attempt = beginAttempt(stream, headers, stream.upstreamHost, options.now());
        const remaining = deadline !== undefined ? deadline - options.now() : undefined;
        const perTry = retries?.perTryTimeoutMs;
        const useRouteLimit = remaining !== undefined && (perTry === undefined || remaining <= perTry);
        const attemptStart = options.now();
        state.endpointStarted(endpoint);
        const result = await sendAttempt(
          {
            url: endpointUrl(cluster, endpoint, outbound.pathAndQuery),
            method: outbound.method,
            headers,
            body: body.kind === "none" ? null : body.kind === "buffered" ? body.bytes : body.stream,
            timeoutMs: useRouteLimit ? remaining : perTry,
            timeoutKind: useRouteLimit ? "route-timeout" : "per-try-timeout",
          },
          fetcher,
        ).finally(() => state.endpointFinished(endpoint));
        endAttempt(attempt, result, options.now());
        stream.upstreamServiceTimeMs = options.now() - attemptStart;
        if (retry > 0) state.budget.retryFinished();
        if (result.kind === "route-timeout") {
          state.outliers?.recordOutcome(endpointKey(endpoint), "local-failure", options.now());
          throw timeoutError(stream.flags, retry);
        }
        const outcome = attemptOutcome(result, outbound.method);
        state.outliers?.recordOutcome(endpointKey(endpoint), outlierOutcomeFor(outcome), options.now());
        const mayRetry = retries !== null && retry < retries.attempts && isRetriable(retries, outcome);
        if (mayRetry) {
          const wait = backoffDelayMs(retry + 1, random);
          const timeLeft = deadline !== undefined ? deadline - options.now() : Number.POSITIVE_INFINITY;
          if (wait < timeLeft && state.budget.tryStartRetry(cluster.retryBudget)) {
            if (result.kind === "response") await result.response.body?.cancel();
            await options.sleep(wait);
            continue;
          }
          if (wait >= timeLeft) {
            if (result.kind === "response") await result.response.body?.cancel();
            throw timeoutError(stream.flags, retry);
          }
          stream.detail = "retry_budget_exhausted";
        }
        const exhausted = retries !== null && retry > 0 && retry >= retries.attempts && isRetriable(retries, outcome);
        if (exhausted) stream.flags.push("URX");
        if (result.kind === "connect-failure") {
          stream.flags.push("UF");
          throw new GatewayError(503, undefined, "upstream_connect_failure", `upstream connect error or disconnect/reset before headers: ${result.message}`);
        }
        if (result.kind === "per-try-timeout") {
          stream.flags.push("UT");
          throw new GatewayError(504, undefined, "upstream_per_try_timeout", "upstream request timeout");
        }
        const response = result.response;
        const responseHeaders = forwardableResponseHeaders(response.headers);
        responseHeaders.set("x-envoy-upstream-service-time", String(stream.upstreamServiceTimeMs));
        if (stickyCookie) responseHeaders.append("set-cookie", stickyCookie.header);
        return new Response(response.body, { status: response.status, statusText: response.statusText, headers: responseHeaders });
      }
    } finally {
      state.budget.requestFinished();
    }
  };
}

function pickEndpoint(state: ClusterState, random: () => number, hashKey: string | undefined, now: number): Endpoint | undefined {
  const healthy = state.healthyEndpoints(now);
  if (healthy.length === 0) return undefined;
  return state.balancer.pick(healthy, { random, ...(hashKey !== undefined ? { hashKey } : {}), activeRequests: state.activeRequests });
}

function timeoutError(flags: string[], retry: number): GatewayError {
  flags.push("UT");
  return new GatewayError(504, undefined, retry > 0 ? "upstream_retry_timeout" : "upstream_response_timeout", "upstream request timeout");
}

/** Methods that RFC 9110 makes idempotent: safe to send again if a first try may have arrived. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

function attemptOutcome(result: Exclude<AttemptResult, { kind: "route-timeout" }>, method: string): AttemptOutcome {
  // Workers report a refused connection and a reset alike ("Network connection lost."), so a
  // failed fetch may have reached the upstream. For a non-idempotent method it counts as a reset
  // (retried under 5xx/gateway-error/reset, not under connect-failure), never replayed blindly.
  if (result.kind === "connect-failure") return { kind: IDEMPOTENT.has(method) ? "connect-failure" : "reset" };
  if (result.kind !== "response") return { kind: result.kind };
  const grpc = result.response.headers.get("grpc-status");
  return {
    kind: "response",
    status: result.response.status,
    ...(grpc !== null && /^\d+$/.test(grpc) ? { grpcStatus: Number(grpc) } : {}),
    ...(result.response.headers.has("x-envoy-ratelimited") ? { envoyRateLimited: true } : {}),
  };
}


/**
 * Envoy's cookie-based consistent hash: when the cookie is missing and the policy has a ttl,
 * the gateway makes one up, hashes on it, and sets it on the response so the client sticks.
 */
function newStickyCookie(cluster: Cluster, request: Request, random: () => number): { value: string; header: string } | undefined {
  const policy = cluster.loadBalancer;
  if (policy.type !== "consistent_hash" || !policy.cookie || policy.cookie.ttlMs === undefined) return undefined;
  if (parseCookie(request.headers.get("cookie"), policy.cookie.name) !== null) return undefined;
  const value = Math.floor(random() * 2 ** 52).toString(16).padStart(13, "0");
  // A zero ttl means a session cookie, as in Envoy (Max-Age=0 would delete it).
  const maxAge = Math.floor(policy.cookie.ttlMs / 1000);
  const attributes = [`${policy.cookie.name}=${value}`, ...(maxAge > 0 ? [`Max-Age=${maxAge}`] : []), "HttpOnly"];
  if (policy.cookie.path !== undefined) attributes.push(`Path=${policy.cookie.path}`);
  return { value, header: attributes.join("; ") };
}

function requestKeys(request: Request) {
  const url = new URL(request.url);
  const cookies = request.headers.get("cookie");
  return {
    header: (name: string) => request.headers.get(name),
    cookie: (name: string) => parseCookie(cookies, name),
    query: (name: string) => url.searchParams.get(name),
    sourceIp: request.headers.get("cf-connecting-ip"),
  };
}
