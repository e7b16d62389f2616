import type { Counter, Histogram, MetricRegistry } from "./metric-registry.js";

/**
 * Istio's standard HTTP metrics, with Istio's names, types, label names and label values, so
 * Istio's dashboards and alerts read them unchanged:
 *
 *   istio_requests_total                 counter
 *   istio_request_duration_milliseconds  histogram
 *   istio_request_bytes                  histogram
 *   istio_response_bytes                 histogram
 *
 * The histograms use Envoy's default buckets, which Istio keeps for all three unless a workload
 * overrides them (`sidecar.istio.io/statsHistogramBuckets`).
 *
 * A report is made by a proxy about one request, from one side: `reporter="source"` by the
 * client-side proxy (an Istio gateway always reports this way: it is the client of the
 * service), `reporter="destination"` by the server-side proxy. `source_*` labels describe the
 * workload that sent the request and `destination_*` the one that received it; whatever the
 * reporter cannot know is `unknown`, as in Istio.
 */

/** Envoy's default histogram buckets, in the unit of each metric (milliseconds or bytes). */
export const ISTIO_DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

/** The labels of Istio's standard HTTP metrics, in the order Istio emits them. */
export const ISTIO_REQUEST_LABELS = [
  "reporter",
  "source_workload",
  "source_canonical_service",
  "source_canonical_revision",
  "source_workload_namespace",
  "source_principal",
  "source_app",
  "source_version",
  "source_cluster",
  "destination_workload",
  "destination_workload_namespace",
  "destination_principal",
  "destination_app",
  "destination_version",
  "destination_service",
  "destination_canonical_service",
  "destination_canonical_revision",
  "destination_service_name",
  "destination_service_namespace",
  "destination_cluster",
  "request_protocol",
  "response_code",
  "grpc_response_status",
  "response_flags",
  "connection_security_policy",
] as const;

export type IstioRequestLabel = (typeof ISTIO_REQUEST_LABELS)[number];
export type IstioRequestLabels = Record<IstioRequestLabel, string>;
export type Reporter = "source" | "destination";

const UNKNOWN = "unknown";

/** A workload as Istio describes it: its name and namespace, its labels, its identity, its cluster. */
export interface WorkloadFacts {
  workload?: string;
  namespace?: string;
  /** Pod-style labels: `app`, `version`, `service.istio.io/canonical-name`, ... */
  labels?: Readonly<Record<string, string>>;
  /** SPIFFE ID, when the reporter learned it from a verified certificate or token. */
  principal?: string;
  cluster?: string;
}

/** The service a request went to (the route's destination), when there was one. */
export interface DestinationFacts {
  /** The service host, e.g. `reviews.bookinfo.local`. */
  host: string;
  /** The namespace of the ServiceEntry that declares the host. */
  namespace?: string;
  /** The DestinationRule subset the request was sent to. */
  subset?: string;
  /** The workload that answered: its labels come from the endpoint that was picked. */
  workload?: WorkloadFacts;
}

/** What the reporting proxy knows about one finished request. */
export interface RequestFacts {
  responseCode: number;
  /** Envoy response flags in the order they were recorded; none is `-`. */
  responseFlags: readonly string[];
  requestProtocol: "http" | "grpc";
  grpcStatus?: string;
  destination?: DestinationFacts;
  /** `mutual_tls` when the reported connection was mutual TLS; Istio says `unknown` for a source report. */
  mutualTls?: boolean;
}

/**
 * The label values of one report. Both sides are described the same way whoever reports: the
 * source workload (for an ingress gateway's own report, the gateway itself) and the destination
 * service with the workload that answered, if known.
 */
export function istioRequestLabels(reporter: Reporter, source: WorkloadFacts, request: RequestFacts): IstioRequestLabels {
  const service = request.destination;
  const destination = service?.workload ?? {};
  const sourceCanonical = canonicalNames(source);
  const destinationCanonical = canonicalNames(destination);
  return {
    reporter,
    source_workload: source.workload ?? UNKNOWN,
    source_canonical_service: sourceCanonical.service,
    source_canonical_revision: sourceCanonical.revision,
    source_workload_namespace: source.namespace ?? UNKNOWN,
    source_principal: source.principal ?? UNKNOWN,
    source_app: source.labels?.app ?? UNKNOWN,
    source_version: source.labels?.version ?? UNKNOWN,
    source_cluster: source.cluster ?? UNKNOWN,
    destination_workload: destination.workload ?? UNKNOWN,
    destination_workload_namespace: destination.namespace ?? service?.namespace ?? UNKNOWN,
    destination_principal: destination.principal ?? UNKNOWN,
    destination_app: destination.labels?.app ?? UNKNOWN,
    destination_version: service?.subset ?? destination.labels?.version ?? UNKNOWN,
    destination_service: service?.host ?? UNKNOWN,
    destination_canonical_service: service ? destinationCanonical.service : UNKNOWN,
    destination_canonical_revision: service ? destinationCanonical.revision : UNKNOWN,
    // Istio's registry names a ServiceEntry's service by its host.
    destination_service_name: service?.host ?? UNKNOWN,
    destination_service_namespace: service?.namespace ?? UNKNOWN,
    destination_cluster: destination.cluster ?? UNKNOWN,
    request_protocol: request.requestProtocol,
    response_code: String(request.responseCode),
    grpc_response_status: request.grpcStatus ?? "",
    response_flags: formatResponseFlags(request.responseFlags),
    // Only the server side knows how the connection it accepted was secured.
    connection_security_policy: reporter === "source" ? UNKNOWN : request.mutualTls ? "mutual_tls" : "none",
  };
}

/** Envoy's spelling: unique flags joined by commas, `-` for none. */
export function formatResponseFlags(flags: readonly string[]): string {
  return flags.length === 0 ? "-" : [...new Set(flags)].join(",");
}

/**
 * Istio's canonical service and revision of a workload: the `service.istio.io/canonical-*`
 * labels, else the Kubernetes recommended labels, else `app`/`version`, else the workload name
 * and `latest`.
 */
export function canonicalNames(workload: WorkloadFacts): { service: string; revision: string } {
  const labels = workload.labels ?? {};
  return {
    service: labels["service.istio.io/canonical-name"] ?? labels["app.kubernetes.io/name"] ?? labels.app ?? workload.workload ?? UNKNOWN,
    revision: labels["service.istio.io/canonical-revision"] ?? labels["app.kubernetes.io/version"] ?? labels.version ?? "latest",
  };
}

export interface IstioRequestMetrics {
  requests: Counter;
  duration: Histogram;
  requestBytes: Histogram;
  responseBytes: Histogram;
}

export function registerIstioRequestMetrics(registry: MetricRegistry, buckets: readonly number[] = ISTIO_DEFAULT_BUCKETS): IstioRequestMetrics {
  return {
    requests: registry.counter("istio_requests_total", "Requests, by reporter, source, destination and response.", ISTIO_REQUEST_LABELS),
    duration: registry.histogram("istio_request_duration_milliseconds", "Request duration in milliseconds.", ISTIO_REQUEST_LABELS, buckets),
    requestBytes: registry.histogram("istio_request_bytes", "Request body size in bytes.", ISTIO_REQUEST_LABELS, buckets),
    responseBytes: registry.histogram("istio_response_bytes", "Response body size in bytes.", ISTIO_REQUEST_LABELS, buckets),
  };
}

export interface RequestMeasurements {
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
}

/** One report: a count, a duration and the two sizes under the same labels. */
export function recordIstioRequest(metrics: IstioRequestMetrics, labels: IstioRequestLabels, measured: RequestMeasurements): void {
  metrics.requests.inc(labels);
  metrics.duration.observe(labels, Math.max(0, measured.durationMs));
  metrics.requestBytes.observe(labels, Math.max(0, measured.requestBytes));
  metrics.responseBytes.observe(labels, Math.max(0, measured.responseBytes));
}
