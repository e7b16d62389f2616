import { MetricRegistry } from "../../policies/telemetry/metric-registry.js";
import { formatPrometheusText } from "../../policies/telemetry/prometheus-text.js";
import type { StoreMetrics, WriteAction } from "../store/config-store.js";

/**
 * The control plane's own metrics (`GET /v1/metrics`), in the Prometheus text format, from what
 * the ConfigStore reports: the version it publishes, the writes it accepted and refused, and how
 * large the current config and snapshot are. The gateways' `mesh_config_version_info` says what
 * each one serves; compare it with `mesh_control_config_version_info` to find stale gateways.
 */

/** The refusals each write can end in (API error codes), exposed at 0 from the start so `increase()` sees the first one. */
const REFUSALS: Record<WriteAction, readonly string[]> = {
  apply: ["invalid_config", "bad_request", "precondition_failed", "payload_too_large", "unavailable"],
  delete: ["not_found", "conflict", "precondition_failed", "payload_too_large", "unavailable"],
  rollback: ["not_found", "conflict", "precondition_failed", "payload_too_large", "unavailable"],
};
const KINDS = ["Gateway", "VirtualService", "DestinationRule", "ServiceEntry"];

export function controlMetricsText(metrics: StoreMetrics): string {
  const registry = new MetricRegistry();
  const info = registry.gauge("mesh_control_config_version_info", "The config version the control plane publishes to KV (value 1); gateways report theirs as mesh_config_version_info.", ["version"]);
  const writes = registry.counter("mesh_control_config_writes_total", "Writes the config store accepted: result=published made a new version, unchanged found it already current.", ["action", "result"]);
  const rejected = registry.counter("mesh_control_config_writes_rejected_total", "Writes the config store refused, by the API error code the caller got.", ["action", "reason"]);
  const history = registry.gauge("mesh_control_config_history_entries", "Versions published since the store was created (the last history entry's number; survives restarts).");
  const lastWrite = registry.gauge("mesh_control_config_last_write_timestamp_seconds", "When the last version was published (Unix seconds).");
  const resources = registry.gauge("mesh_control_config_resources", "Resources in the current config, by kind.", ["kind"]);
  const snapshotBytes = registry.gauge("mesh_control_config_snapshot_bytes", "Size of the current snapshot as published to KV (JSON bytes; a KV value may hold 25 MiB).");
  const snapshotObjects = registry.gauge("mesh_control_config_snapshot_objects", "What the current snapshot holds: gateways, virtual_hosts, routes, clusters, endpoints.", ["type"]);

  if (metrics.version !== null) info.set({ version: metrics.version }, 1);
  for (const action of Object.keys(REFUSALS) as WriteAction[]) {
    for (const result of ["published", "unchanged"]) writes.inc({ action, result }, 0);
    for (const reason of REFUSALS[action]) rejected.inc({ action, reason }, 0);
  }
  for (const write of metrics.writes) writes.inc({ action: write.action, result: write.result }, write.count);
  for (const refusal of metrics.rejected) rejected.inc({ action: refusal.action, reason: refusal.reason }, refusal.count);
  history.set({}, metrics.historyEntries);
  if (metrics.lastWriteAt !== null) lastWrite.set({}, Date.parse(metrics.lastWriteAt) / 1000);
  for (const kind of new Set([...KINDS, ...Object.keys(metrics.resources)])) resources.set({ kind }, metrics.resources[kind] ?? 0);
  if (metrics.snapshot) {
    snapshotBytes.set({}, metrics.snapshot.bytes);
    const { gateways, virtualHosts, routes, clusters, endpoints } = metrics.snapshot;
    for (const [type, value] of Object.entries({ gateways, virtual_hosts: virtualHosts, routes, clusters, endpoints })) snapshotObjects.set({ type }, value);
  }
  return formatPrometheusText(registry.collect());
}
