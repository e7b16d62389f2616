import type { IstioRequestLabels } from "../../policies/telemetry/istio-metrics.js";

/**
 * One Workers Analytics Engine data point per request, when the `MESH_ANALYTICS` binding is
 * present: the way to get mesh-wide numbers on Cloudflare, where `/__mesh/metrics` only sees
 * one isolate. The layout is fixed (a dataset's columns are positional); docs/observability.md
 * lists it with SQL that reproduces Istio's request rate and p99 per destination.
 */
export interface AnalyticsEngineDataset {
  writeDataPoint(point: { indexes?: string[]; blobs?: (string | null)[]; doubles?: number[] }): void;
}

export const ANALYTICS_BINDING = "MESH_ANALYTICS";

/** Blob positions (blob1..blob13) of the dataset. */
export const ANALYTICS_BLOBS = [
  "destination_service",
  "destination_version",
  "response_code",
  "response_flags",
  "route_name",
  "source_workload",
  "source_workload_namespace",
  "destination_service_namespace",
  "request_protocol",
  "upstream_cluster",
  "config_version",
  "authz_decision",
  "colo",
] as const;

/** Double positions (double1..double5). */
export const ANALYTICS_DOUBLES = ["duration_ms", "request_bytes", "response_bytes", "attempts", "upstream_service_time_ms"] as const;

export interface AnalyticsFacts {
  labels: IstioRequestLabels;
  routeName: string | undefined;
  cluster: string | undefined;
  configVersion: string | undefined;
  authzDecision: string | undefined;
  colo: string | undefined;
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
  attempts: number;
  upstreamServiceTimeMs: number | undefined;
}

export function analyticsDataPoint(facts: AnalyticsFacts): { indexes: string[]; blobs: string[]; doubles: number[] } {
  const { labels } = facts;
  const blobs: Record<(typeof ANALYTICS_BLOBS)[number], string> = {
    destination_service: labels.destination_service,
    destination_version: labels.destination_version,
    response_code: labels.response_code,
    response_flags: labels.response_flags,
    route_name: facts.routeName ?? "",
    source_workload: labels.source_workload,
    source_workload_namespace: labels.source_workload_namespace,
    destination_service_namespace: labels.destination_service_namespace,
    request_protocol: labels.request_protocol,
    upstream_cluster: facts.cluster ?? "",
    config_version: facts.configVersion ?? "",
    authz_decision: facts.authzDecision ?? "",
    colo: facts.colo ?? "",
  };
  const doubles: Record<(typeof ANALYTICS_DOUBLES)[number], number> = {
    duration_ms: facts.durationMs,
    request_bytes: facts.requestBytes,
    response_bytes: facts.responseBytes,
    attempts: facts.attempts,
    upstream_service_time_ms: facts.upstreamServiceTimeMs ?? 0,
  };
  return {
    // The sampling key: Analytics Engine samples each index's points fairly, so a busy service
    // cannot crowd a quiet one out of the data.
    indexes: [labels.destination_service.slice(0, 96)],
    blobs: ANALYTICS_BLOBS.map((name) => blobs[name]),
    doubles: ANALYTICS_DOUBLES.map((name) => doubles[name]),
  };
}

export function analyticsDataset(env: Record<string, unknown>): AnalyticsEngineDataset | undefined {
  const binding = env[ANALYTICS_BINDING] as Partial<AnalyticsEngineDataset> | undefined;
  return typeof binding?.writeDataPoint === "function" ? (binding as AnalyticsEngineDataset) : undefined;
}
