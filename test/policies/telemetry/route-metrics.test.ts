import { describe, expect, it } from "vitest";
import { ISTIO_DEFAULT_BUCKETS } from "../../../policies/telemetry/istio-metrics.js";
import { MetricRegistry } from "../../../policies/telemetry/metric-registry.js";
import { formatPrometheusText } from "../../../policies/telemetry/prometheus-text.js";
import { recordRouteRequest, registerRouteRequestMetrics, ROUTE_REQUEST_LABELS, routeRequestLabels } from "../../../policies/telemetry/route-metrics.js";
import { only, parseExposition } from "./prometheus-parser.js";

describe("per-route metrics", () => {
  it("have their own three labels, never Istio's", () => {
    expect(ROUTE_REQUEST_LABELS).toEqual(["route_name", "response_code", "response_flags"]);
  });

  it("label a request by route, code and Envoy's flags; no route is unknown, no flag is -", () => {
    expect(routeRequestLabels({ routeName: "reviews-v2", responseCode: 200, responseFlags: [] })).toEqual({ route_name: "reviews-v2", response_code: "200", response_flags: "-" });
    expect(routeRequestLabels({ routeName: undefined, responseCode: 404, responseFlags: ["NR"] })).toEqual({ route_name: "unknown", response_code: "404", response_flags: "NR" });
    expect(routeRequestLabels({ routeName: "r", responseCode: 504, responseFlags: ["UT", "URX", "UT"] }).response_flags).toBe("UT,URX");
  });

  it("record a count and a duration in Istio's default buckets under the same labels", () => {
    const registry = new MetricRegistry();
    const metrics = registerRouteRequestMetrics(registry);
    recordRouteRequest(metrics, { routeName: "orders", responseCode: 200, responseFlags: [] }, 12);
    recordRouteRequest(metrics, { routeName: "orders", responseCode: 200, responseFlags: [] }, 3);
    recordRouteRequest(metrics, { routeName: "orders", responseCode: 503, responseFlags: ["URX"] }, -1);
    const parsed = parseExposition(formatPrometheusText(registry.collect()));
    expect(parsed.get("mesh_route_requests_total")!.type).toBe("counter");
    expect(only(parsed.get("mesh_route_requests_total")!.samples, { route_name: "orders", response_code: "200" }).value).toBe(2);
    expect(only(parsed.get("mesh_route_requests_total")!.samples, { response_code: "503" }).labels).toEqual({ route_name: "orders", response_code: "503", response_flags: "URX" });
    const duration = only(parsed.get("mesh_route_request_duration_milliseconds")!.histograms, { route_name: "orders", response_code: "200" });
    expect([...duration.buckets.keys()]).toEqual([...ISTIO_DEFAULT_BUCKETS.map(String), "+Inf"]);
    expect(duration.buckets.get("5")).toBe(1);
    expect(duration.buckets.get("25")).toBe(2);
    expect(duration.sum).toBe(15);
    // A clock that went backwards records zero, not a negative duration.
    expect(only(parsed.get("mesh_route_request_duration_milliseconds")!.histograms, { response_code: "503" }).sum).toBe(0);
  });
});
