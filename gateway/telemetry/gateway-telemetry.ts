import type { Context } from "hono";
import {
  istioRequestLabels,
  recordIstioRequest,
  registerIstioRequestMetrics,
  type IstioRequestMetrics,
  type Reporter,
  type WorkloadFacts,
} from "../../policies/telemetry/istio-metrics.js";
import { requestBodyBytes } from "./request-facts.js";
import { MetricRegistry, type Counter, type Gauge } from "../../policies/telemetry/metric-registry.js";
import { formatPrometheusText } from "../../policies/telemetry/prometheus-text.js";
import { recordRouteRequest, registerRouteRequestMetrics, type RouteRequestMetrics } from "../../policies/telemetry/route-metrics.js";
import type { GatewayEnv } from "../context.js";
import type { GatewaySettings } from "../env.js";
import { analyticsDataPoint, analyticsDataset } from "./analytics-engine.js";
import { isMeshExternalCluster } from "../../policies/egress/external-clusters.js";
import { virtualClusterLabels, virtualClusterOf } from "./external-destinations.js";
import { OtlpExporter, parseHeaderList } from "./otlp-exporter.js";
import { clusterFacts, requestFacts } from "./request-facts.js";
import { requestSpans } from "./spans.js";

/**
 * The isolate's telemetry: one metric registry (what `/__mesh/metrics` serves), the optional
 * Analytics Engine writer, and the optional OTLP span exporter. Built once when the app is built,
 * from the settings; a bad setting fails the build, not the thousandth request.
 */
export interface GatewayTelemetryOptions {
  settings: GatewaySettings;
  fetcher: typeof fetch;
  now: () => number;
  log: (line: Record<string, unknown>) => void;
}

export interface ConfigState {
  version: string | undefined;
  /** When the isolate last read the config pointer successfully (ms since epoch). */
  refreshedAtMs: number | undefined;
}

export const TELEMETRY_SCOPE = { name: "edge-mesh-gateway", version: "0.1.0" };

export class GatewayTelemetry {
  readonly registry: MetricRegistry;
  readonly workload: WorkloadFacts;
  readonly exporter: OtlpExporter | undefined;
  readonly metricsToken: string | undefined;
  private readonly istio: IstioRequestMetrics;
  private readonly routes: RouteRequestMetrics;
  private readonly reporters: ReadonlySet<Reporter>;
  private readonly authzDecisions: Counter;
  private readonly spansExported: Counter;
  private readonly spansDropped: Counter;
  private readonly configInfo: Gauge;
  private readonly configAge: Gauge;
  private readonly startTime: Gauge;
  private readonly startedAtMs: number;

  constructor(private readonly options: GatewayTelemetryOptions) {
    const { settings } = options;
    let seriesDropped: Counter | undefined;
    this.registry = new MetricRegistry({ onDropped: (metric) => seriesDropped?.inc({ metric }) });
    this.istio = registerIstioRequestMetrics(this.registry);
    this.routes = registerRouteRequestMetrics(this.registry);
    this.authzDecisions = this.registry.counter("mesh_authz_decisions_total", "Authorization decisions, by decision and the policy that made it.", ["decision", "policy"]);
    this.spansExported = this.registry.counter("mesh_tracing_spans_exported_total", "Spans accepted by the OTLP collector.");
    this.spansDropped = this.registry.counter("mesh_tracing_spans_dropped_total", "Spans lost, by reason.", ["reason"]);
    seriesDropped = this.registry.counter("mesh_metrics_series_dropped_total", "Observations dropped because a metric reached its series limit.", ["metric"]);
    this.configInfo = this.registry.gauge("mesh_config_version_info", "The config snapshot version this isolate serves (value 1).", ["version"]);
    this.configAge = this.registry.gauge("mesh_config_age_seconds", "Seconds since this isolate last refreshed its config snapshot from KV.");
    this.startTime = this.registry.gauge("process_start_time_seconds", "When this isolate started (a change means the counters restarted).");
    this.startedAtMs = options.now();
    this.workload = {
      workload: settings.MESH_WORKLOAD_NAME,
      namespace: settings.MESH_WORKLOAD_NAMESPACE,
      labels: settings.MESH_GATEWAY_LABELS,
      cluster: settings.MESH_CLUSTER_ID,
    };
    this.reporters = new Set(settings.MESH_METRICS_REPORTERS as Reporter[]);
    this.metricsToken = settings.MESH_METRICS_TOKEN;
    this.exporter = settings.MESH_OTLP_ENDPOINT
      ? new OtlpExporter({
          endpoint: otlpTracesUrl(settings.MESH_OTLP_ENDPOINT),
          headers: parseHeaderList(settings.MESH_OTLP_HEADERS),
          resource: {
            "service.name": `${settings.MESH_WORKLOAD_NAME}.${settings.MESH_WORKLOAD_NAMESPACE}`,
            "service.namespace": settings.MESH_WORKLOAD_NAMESPACE,
            "k8s.cluster.name": settings.MESH_CLUSTER_ID,
            "telemetry.sdk.name": TELEMETRY_SCOPE.name,
            "telemetry.sdk.language": "js",
          },
          scope: TELEMETRY_SCOPE,
          fetcher: options.fetcher,
          log: options.log,
          now: options.now,
          onExported: (count) => this.spansExported.inc({}, count),
          onDropped: (count, reason) => this.spansDropped.inc({ reason }, count),
        })
      : undefined;
  }

  /**
   * Istio's reports for one finished request: the gateway's own (`reporter="source"`), and, for
   * each attempt an upstream answered, the report its missing sidecar would have made
   * (`reporter="destination"`) — except for a destination outside the mesh (a MESH_EXTERNAL
   * ServiceEntry's cluster, a passthrough), which has no sidecar to report in Istio either. A call
   * to no registered destination is labelled with Istio's virtual cluster (`BlackHoleCluster`,
   * `PassthroughCluster`: see external-destinations.ts). Plus the per-route series (`mesh_route_*`), the authz counter
   * and the Analytics Engine data point.
   */
  recordRequest(c: Context<GatewayEnv>, endMs: number, responseBytes: number): void {
    const stream = c.get("stream");
    const facts = requestFacts(c);
    if (facts.destination) facts.destination.workload = { ...facts.destination.workload, cluster: this.workload.cluster! };
    const requestBytes = requestBodyBytes(c);
    const durationMs = endMs - stream.startMs;
    const virtualCluster = virtualClusterOf(c);
    const reported = istioRequestLabels("source", this.workload, facts);
    const labels = virtualCluster ? virtualClusterLabels(reported, virtualCluster) : reported;
    if (this.reporters.has("source")) recordIstioRequest(this.istio, labels, { durationMs, requestBytes, responseBytes });
    if (this.reporters.has("destination") && !virtualCluster) this.recordDestinationReports(c, facts.requestProtocol, requestBytes, responseBytes);
    recordRouteRequest(this.routes, { routeName: stream.routeName, responseCode: facts.responseCode, responseFlags: facts.responseFlags }, durationMs);
    if (stream.authzDecision) this.authzDecisions.inc({ decision: stream.authzDecision, policy: stream.authzPolicy ?? "none" });

    const dataset = analyticsDataset(c.env as Record<string, unknown>);
    dataset?.writeDataPoint(
      analyticsDataPoint({
        labels,
        routeName: stream.routeName,
        cluster: stream.cluster,
        configVersion: stream.configVersion,
        authzDecision: stream.authzDecision,
        colo: (c.req.raw as { cf?: { colo?: string } }).cf?.colo,
        durationMs,
        requestBytes,
        responseBytes,
        attempts: stream.attempts,
        upstreamServiceTimeMs: stream.upstreamServiceTimeMs,
      }),
    );
  }

  /** Queues the request's spans when its trace is sampled and a collector is configured; exports in `waitUntil`. */
  recordSpans(c: Context<GatewayEnv>, endMs: number): void {
    if (!this.exporter || !c.get("stream").traceSampled) return;
    this.exporter.enqueue(requestSpans(c, endMs, requestFacts(c).destination, { name: this.workload.workload!, namespace: this.workload.namespace! }));
    c.executionCtx.waitUntil(this.exporter.flushSoon());
  }

  /** The Prometheus text exposition of everything this isolate recorded, plus its config state now. */
  exposition(config: ConfigState): string {
    const now = this.options.now();
    this.configInfo.clear();
    if (config.version !== undefined) this.configInfo.set({ version: config.version }, 1);
    this.configAge.set({}, config.refreshedAtMs !== undefined ? Math.max(0, (now - config.refreshedAtMs) / 1000) : Number.NaN);
    this.startTime.set({}, Math.floor(this.startedAtMs / 1000));
    return formatPrometheusText(this.registry.collect());
  }

  private recordDestinationReports(c: Context<GatewayEnv>, requestProtocol: "http" | "grpc", requestBytes: number, finalResponseBytes: number): void {
    const cluster = c.get("destination")?.cluster.cluster;
    const attempts = c.get("stream").attemptLog ?? [];
    if (!cluster || isMeshExternalCluster(c.get("config")?.table.snapshot, cluster)) return;
    attempts.forEach((attempt, index) => {
      if (attempt.outcome !== "response" || attempt.status === undefined) return;
      const destination = clusterFacts(cluster, attempt.upstreamHost);
      destination.workload = { ...destination.workload, cluster: this.workload.cluster! };
      // The destination saw a plain-HTTP peer: it knows the gateway's workload, not a verified identity.
      const peer: WorkloadFacts = { ...this.workload };
      const labels = istioRequestLabels("destination", peer, { responseCode: attempt.status, responseFlags: [], requestProtocol, destination, mutualTls: false });
      const last = index === attempts.length - 1;
      recordIstioRequest(this.istio, labels, {
        durationMs: (attempt.endMs ?? attempt.startMs) - attempt.startMs,
        requestBytes,
        responseBytes: last ? finalResponseBytes : (attempt.responseBytes ?? 0),
      });
    });
  }
}

export function createGatewayTelemetry(options: GatewayTelemetryOptions): GatewayTelemetry {
  return new GatewayTelemetry(options);
}

/** OTLP's rule for a base endpoint: no path means the standard `/v1/traces`. */
export function otlpTracesUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.pathname === "" || url.pathname === "/") url.pathname = "/v1/traces";
  return url.toString();
}
