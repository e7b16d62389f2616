import { formatResponseFlags, ISTIO_DEFAULT_BUCKETS } from "./istio-metrics.js";
import type { Counter, Histogram, MetricRegistry } from "./metric-registry.js";

/**
 * Per-route series, beside Istio's standard metrics rather than a label on them (Istio's metrics
 * keep Istio's label set, so its dashboards and alerts read them unchanged, and the route does
 * not multiply their ~25-label series):
 *
 *   mesh_route_requests_total{route_name,response_code,response_flags}               counter
 *   mesh_route_request_duration_milliseconds{route_name,response_code,response_flags} histogram
 *
 * One report per request the gateway answered, as the gateway saw it (`reporter="source"` in
 * Istio's terms). The route name is the VirtualService's HTTP route name as the snapshot compiled
 * it (`x-mesh-route`, the access log's `route_name`); a request no route matched (`NR`) is
 * `unknown`, as Istio labels what it cannot know. The duration uses Istio's default buckets.
 */
export const ROUTE_REQUEST_LABELS = ["route_name", "response_code", "response_flags"] as const;

export type RouteRequestLabels = Record<(typeof ROUTE_REQUEST_LABELS)[number], string>;

export interface RouteRequestMetrics {
  requests: Counter;
  duration: Histogram;
}

export interface RouteRequestFacts {
  /** The matched route's name; undefined when no route matched. */
  routeName: string | undefined;
  responseCode: number;
  /** Envoy response flags in the order they were recorded; none is `-`. */
  responseFlags: readonly string[];
}

export function registerRouteRequestMetrics(registry: MetricRegistry, buckets: readonly number[] = ISTIO_DEFAULT_BUCKETS): RouteRequestMetrics {
  return {
    requests: registry.counter("mesh_route_requests_total", "Requests the gateway answered, by route, response code and response flags.", ROUTE_REQUEST_LABELS),
    duration: registry.histogram(
      "mesh_route_request_duration_milliseconds",
      "Request duration in milliseconds, by route, response code and response flags.",
      ROUTE_REQUEST_LABELS,
      buckets,
    ),
  };
}

export function routeRequestLabels(facts: RouteRequestFacts): RouteRequestLabels {
  return {
    route_name: facts.routeName ?? "unknown",
    response_code: String(facts.responseCode),
    response_flags: formatResponseFlags(facts.responseFlags),
  };
}

/** One request: a count and its duration under the same labels. */
export function recordRouteRequest(metrics: RouteRequestMetrics, facts: RouteRequestFacts, durationMs: number): void {
  const labels = routeRequestLabels(facts);
  metrics.requests.inc(labels);
  metrics.duration.observe(labels, Math.max(0, durationMs));
}
