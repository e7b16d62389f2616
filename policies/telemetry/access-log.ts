/**
 * The access log's fields: Envoy's default JSON access-log fields (as Istio configures them),
 * then the mesh's decisions. MESH_ACCESS_LOG_FIELDS may keep a subset; anything else is rejected
 * when the gateway starts.
 */
export const ACCESS_LOG_FIELDS = [
  // Envoy's defaults
  "start_time",
  "method",
  "path",
  "protocol",
  "response_code",
  "response_flags",
  "response_code_details",
  "bytes_received",
  "bytes_sent",
  "duration",
  "upstream_service_time",
  "x_forwarded_for",
  "user_agent",
  "request_id",
  "authority",
  "upstream_host",
  "upstream_cluster",
  "downstream_remote_address",
  "route_name",
  // the mesh's
  "attempts",
  "trace_id",
  "span_id",
  "config_version",
  "destination_service",
  "destination_subset",
  "peer_principal",
  "request_principal",
  "peer_authentication",
  "authz_decision",
  "authz_policy",
  "authz_audit",
  "authz_dry_run_decision",
  "authz_dry_run_policy",
] as const;

export type AccessLogField = (typeof ACCESS_LOG_FIELDS)[number];

/** The line with only `fields` kept (in the line's own order); all of it when `fields` is undefined. */
export function selectFields(line: Record<string, unknown>, fields: ReadonlySet<string> | undefined): Record<string, unknown> {
  if (!fields) return line;
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(line)) if (fields.has(name)) kept[name] = value;
  return kept;
}
