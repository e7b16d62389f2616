import { describe, expect, it } from "vitest";
import {
  canonicalNames,
  ISTIO_DEFAULT_BUCKETS,
  ISTIO_REQUEST_LABELS,
  istioRequestLabels,
  recordIstioRequest,
  registerIstioRequestMetrics,
  type WorkloadFacts,
} from "../../../policies/telemetry/istio-metrics.js";
import { MetricRegistry } from "../../../policies/telemetry/metric-registry.js";
import { formatPrometheusText } from "../../../policies/telemetry/prometheus-text.js";
import { only, parseExposition } from "./prometheus-parser.js";

const gateway: WorkloadFacts = { workload: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, cluster: "edge" };

describe("Istio standard metrics", () => {
  it("uses Envoy's default buckets and Istio's label names", () => {
    expect(ISTIO_DEFAULT_BUCKETS).toEqual([0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000]);
    for (const label of ["reporter", "source_workload", "source_principal", "destination_service", "destination_service_name", "destination_version", "request_protocol", "response_code", "response_flags", "connection_security_policy"]) {
      expect(ISTIO_REQUEST_LABELS).toContain(label);
    }
  });

  it("labels a gateway's own report of a routed request as Istio's ingress gateway does", () => {
    const labels = istioRequestLabels("source", gateway, {
      responseCode: 200,
      responseFlags: [],
      requestProtocol: "http",
      destination: { host: "reviews.bookinfo.local", namespace: "bookinfo", subset: "v2", workload: { labels: { app: "reviews", version: "v2" } } },
    });
    expect(labels).toMatchObject({
      reporter: "source",
      source_workload: "istio-ingressgateway",
      source_workload_namespace: "istio-system",
      source_canonical_service: "istio-ingressgateway",
      source_canonical_revision: "latest",
      source_principal: "unknown",
      source_app: "unknown",
      source_cluster: "edge",
      destination_service: "reviews.bookinfo.local",
      destination_service_name: "reviews.bookinfo.local",
      destination_service_namespace: "bookinfo",
      destination_workload_namespace: "bookinfo",
      destination_version: "v2",
      destination_app: "reviews",
      destination_canonical_service: "reviews",
      destination_canonical_revision: "v2",
      request_protocol: "http",
      response_code: "200",
      grpc_response_status: "",
      response_flags: "-",
      connection_security_policy: "unknown",
    });
    expect(Object.keys(labels)).toEqual([...ISTIO_REQUEST_LABELS]);
  });

  it("says unknown for a destination it never had (no route) and joins response flags as Envoy does", () => {
    const labels = istioRequestLabels("source", gateway, { responseCode: 503, responseFlags: ["UH", "URX", "UH"], requestProtocol: "http" });
    expect(labels).toMatchObject({ destination_service: "unknown", destination_service_name: "unknown", destination_version: "unknown", destination_workload: "unknown", response_flags: "UH,URX", response_code: "503" });
  });

  it("reports connection security only from the destination side", () => {
    const request = { responseCode: 403, responseFlags: ["RBAC"], requestProtocol: "http" as const, destination: { host: "a.test" } };
    expect(istioRequestLabels("destination", gateway, request).connection_security_policy).toBe("none");
    expect(istioRequestLabels("destination", gateway, { ...request, mutualTls: true }).connection_security_policy).toBe("mutual_tls");
    expect(istioRequestLabels("source", gateway, { ...request, mutualTls: true }).connection_security_policy).toBe("unknown");
  });

  it("takes the version from the subset first, then the answering endpoint's version label", () => {
    const facts = (subset?: string) => ({ responseCode: 200, responseFlags: [], requestProtocol: "grpc" as const, grpcStatus: "0", destination: { host: "a.test", ...(subset ? { subset } : {}), workload: { labels: { version: "v7" } } } });
    expect(istioRequestLabels("source", gateway, facts("canary")).destination_version).toBe("canary");
    expect(istioRequestLabels("source", gateway, facts()).destination_version).toBe("v7");
    expect(istioRequestLabels("source", gateway, facts()).grpc_response_status).toBe("0");
  });

  it("derives canonical service and revision by Istio's precedence", () => {
    expect(canonicalNames({ labels: { "service.istio.io/canonical-name": "c", "app.kubernetes.io/name": "k", app: "a" } }).service).toBe("c");
    expect(canonicalNames({ labels: { "app.kubernetes.io/name": "k", app: "a" } }).service).toBe("k");
    expect(canonicalNames({ labels: { app: "a" }, workload: "w" }).service).toBe("a");
    expect(canonicalNames({ workload: "w" })).toEqual({ service: "w", revision: "latest" });
    expect(canonicalNames({ labels: { "service.istio.io/canonical-revision": "r", version: "v" } }).revision).toBe("r");
  });

  it("records a count, a duration and both sizes under the same labels", () => {
    const registry = new MetricRegistry();
    const metrics = registerIstioRequestMetrics(registry);
    const labels = istioRequestLabels("source", gateway, { responseCode: 200, responseFlags: [], requestProtocol: "http", destination: { host: "a.test" } });
    recordIstioRequest(metrics, labels, { durationMs: 12, requestBytes: 0, responseBytes: 700 });
    recordIstioRequest(metrics, labels, { durationMs: 3, requestBytes: 10, responseBytes: 70 });
    const parsed = parseExposition(formatPrometheusText(registry.collect()));
    expect(only(parsed.get("istio_requests_total")!.samples, { destination_service: "a.test" }).value).toBe(2);
    const duration = only(parsed.get("istio_request_duration_milliseconds")!.histograms, { reporter: "source" });
    expect(duration.buckets.get("5")).toBe(1);
    expect(duration.buckets.get("25")).toBe(2);
    expect(duration.sum).toBe(15);
    const responseBytes = only(parsed.get("istio_response_bytes")!.histograms, { response_code: "200" });
    expect(responseBytes.buckets.get("100")).toBe(1);
    expect(responseBytes.buckets.get("1000")).toBe(2);
    expect(only(parsed.get("istio_request_bytes")!.histograms, {}).buckets.get("0.5")).toBe(1);
    expect(parsed.get("istio_request_duration_milliseconds")!.type).toBe("histogram");
  });
});
