import { compileAccessLogFilter, type AccessLogAttributes, type AccessLogFilter } from "../../policies/telemetry/access-log-filter.js";
import { selectFields } from "../../policies/telemetry/access-log.js";
import { sampleByPercent } from "../../policies/telemetry/sampling.js";
import type { AccessLogSettings, Snapshot } from "../../policies/snapshot/schema.js";
import type { GatewaySettings } from "../env.js";

/**
 * Which requests get an access-log line and which fields it keeps: a filter (a CEL expression,
 * Istio Telemetry's `accessLogging[].filter.expression`), then a sampling percentage of what
 * passes, then a field selection. They come from the Telemetry resources that apply to this
 * gateway (the snapshot's `telemetry`, for the gateway's labels), or, when none applies, from
 * MESH_ACCESS_LOG_FILTER / _SAMPLING / _FIELDS. Compiled once per settings and once per
 * snapshot (the control plane and the settings parser have already rejected a bad filter or
 * field name), so a request only evaluates.
 */
export interface AccessLogPolicy {
  /** The Telemetry (`namespace/name`, the most specific one) this policy comes from; undefined: the env settings. */
  readonly source: string | undefined;
  /** The line to write, or undefined when this request is not logged. */
  apply(line: Record<string, unknown>, random: () => number): Record<string, unknown> | undefined;
}

interface PolicyParts {
  disabled?: boolean;
  filter?: string;
  samplingPercentage?: number;
  fields?: readonly string[];
}

function buildPolicy(parts: PolicyParts, source: string | undefined): AccessLogPolicy {
  if (parts.disabled) return { source, apply: () => undefined };
  const filter: AccessLogFilter | undefined = parts.filter ? compileAccessLogFilter(parts.filter) : undefined;
  const fields = parts.fields ? new Set(parts.fields) : undefined;
  const percent = parts.samplingPercentage ?? 100;
  return {
    source,
    apply(line, random) {
      if (filter && !filter(attributesOf(line))) return undefined;
      if (!sampleByPercent(percent, random)) return undefined;
      return selectFields(line, fields);
    },
  };
}

const fromSettings = new WeakMap<GatewaySettings, AccessLogPolicy>();

/** The policy of the MESH_ACCESS_LOG_* settings alone. */
export function accessLogPolicy(settings: GatewaySettings): AccessLogPolicy {
  let policy = fromSettings.get(settings);
  if (!policy) {
    policy = buildPolicy(
      {
        ...(settings.MESH_ACCESS_LOG_FILTER ? { filter: settings.MESH_ACCESS_LOG_FILTER } : {}),
        samplingPercentage: settings.MESH_ACCESS_LOG_SAMPLING,
        ...(settings.MESH_ACCESS_LOG_FIELDS ? { fields: settings.MESH_ACCESS_LOG_FIELDS.split(",").map((field) => field.trim()) } : {}),
      },
      undefined,
    );
    fromSettings.set(settings, policy);
  }
  return policy;
}

const fromSnapshots = new WeakMap<GatewaySettings, WeakMap<Snapshot, AccessLogPolicy>>();

/**
 * The policy for a request served with `snapshot` (undefined when it was refused before a
 * config was loaded): the Telemetry that applies to this gateway, else the env settings.
 */
export function accessLogPolicyFor(settings: GatewaySettings, snapshot: Snapshot | undefined): AccessLogPolicy {
  if (!snapshot?.telemetry) return accessLogPolicy(settings);
  let perSnapshot = fromSnapshots.get(settings);
  if (!perSnapshot) fromSnapshots.set(settings, (perSnapshot = new WeakMap()));
  let policy = perSnapshot.get(snapshot);
  if (!policy) {
    const levels = telemetryLevels(snapshot, settings.MESH_GATEWAY_LABELS);
    policy = levels.length === 0 ? accessLogPolicy(settings) : buildPolicy(merge(levels), levels.at(-1)!.telemetry);
    perSnapshot.set(snapshot, policy);
  }
  return policy;
}

/**
 * The Telemetry settings that apply to a gateway with these labels, least specific first: the
 * mesh-wide one, then the selecting one with the most labels (the first by name on a tie).
 */
export function telemetryLevels(snapshot: Snapshot, labels: Readonly<Record<string, string>>): AccessLogSettings[] {
  const logging = snapshot.telemetry?.accessLogging;
  if (!logging) return [];
  let selected: (typeof logging.gateways)[number] | undefined;
  for (const candidate of logging.gateways) {
    const entries = Object.entries(candidate.selector);
    if (!entries.every(([key, value]) => labels[key] === value)) continue;
    if (!selected || entries.length > Object.keys(selected.selector).length) selected = candidate;
  }
  return [...(logging.mesh ? [logging.mesh] : []), ...(selected ? [selected] : [])];
}

/** Istio's inheritance: each field from the most specific level that sets it. */
function merge(levels: readonly AccessLogSettings[]): PolicyParts {
  const parts: PolicyParts = {};
  for (const level of levels) {
    if (level.disabled !== undefined) parts.disabled = level.disabled;
    if (level.filter !== undefined) parts.filter = level.filter;
    if (level.samplingPercentage !== undefined) parts.samplingPercentage = level.samplingPercentage;
    if (level.fields !== undefined) parts.fields = level.fields;
  }
  return parts;
}

/** The gateway's own endpoints a scraper or a health check polls: no access-log or audit line (metrics skip them too). */
const QUIET_ENDPOINTS = new Set(["/__mesh/healthz", "/__mesh/metrics"]);

/** True for a request the gateway answered itself at `/__mesh/healthz` or `/__mesh/metrics`. */
export function isQuietEndpoint(detail: string | undefined, url: string): boolean {
  return detail === "mesh_endpoint" && QUIET_ENDPOINTS.has(new URL(url).pathname);
}

/** Envoy's attribute names for what the line records. */
export function attributesOf(line: Record<string, unknown>): AccessLogAttributes {
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  const int = (value: unknown) => (typeof value === "number" ? value : undefined);
  const path = text(line.path);
  const attributes: AccessLogAttributes = {
    "request.method": text(line.method),
    "request.path": path,
    "request.url_path": path?.split("?")[0],
    "request.host": text(line.authority),
    "request.protocol": text(line.protocol),
    "request.id": text(line.request_id),
    "request.size": int(line.bytes_received),
    "response.code": int(line.response_code),
    "response.code_details": text(line.response_code_details),
    "response.flags": text(line.response_flags),
    "response.size": int(line.bytes_sent),
    "xds.route_name": text(line.route_name),
    "xds.cluster_name": text(line.upstream_cluster),
    "upstream.address": text(line.upstream_host),
    "connection.mtls": line.peer_authentication === "mtls",
    "connection.uri_san_peer_certificate": line.peer_authentication === "mtls" || line.peer_authentication === "xfcc" ? text(line.peer_principal) : undefined,
  };
  for (const key of Object.keys(attributes) as (keyof AccessLogAttributes)[]) if (attributes[key] === undefined) delete attributes[key];
  return attributes;
}
