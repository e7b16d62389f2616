import { compileAccessLogFilter, type AccessLogAttributes, type AccessLogFilter } from "../../policies/telemetry/access-log-filter.js";
import { selectFields } from "../../policies/telemetry/access-log.js";
import { sampleByPercent } from "../../policies/telemetry/sampling.js";
import type { GatewaySettings } from "../env.js";

/**
 * Which requests get an access-log line and which fields it keeps: Istio Telemetry's
 * `accessLogging` filter (MESH_ACCESS_LOG_FILTER, a CEL expression), then MESH_ACCESS_LOG_SAMPLING
 * percent of what passes, then MESH_ACCESS_LOG_FIELDS. Compiled once per settings (the settings
 * parser has already rejected a bad filter or field name).
 */
export interface AccessLogPolicy {
  /** The line to write, or undefined when this request is not logged. */
  apply(line: Record<string, unknown>, random: () => number): Record<string, unknown> | undefined;
}

const compiled = new WeakMap<GatewaySettings, AccessLogPolicy>();

export function accessLogPolicy(settings: GatewaySettings): AccessLogPolicy {
  let policy = compiled.get(settings);
  if (!policy) {
    const filter: AccessLogFilter | undefined = settings.MESH_ACCESS_LOG_FILTER ? compileAccessLogFilter(settings.MESH_ACCESS_LOG_FILTER) : undefined;
    const fields = settings.MESH_ACCESS_LOG_FIELDS ? new Set(settings.MESH_ACCESS_LOG_FIELDS.split(",").map((field) => field.trim())) : undefined;
    const percent = settings.MESH_ACCESS_LOG_SAMPLING;
    policy = {
      apply(line, random) {
        if (filter && !filter(attributesOf(line))) return undefined;
        if (!sampleByPercent(percent, random)) return undefined;
        return selectFields(line, fields);
      },
    };
    compiled.set(settings, policy);
  }
  return policy;
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
    "request.scheme": text(line.scheme),
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
