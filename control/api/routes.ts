import type { z } from "zod";
import {
  ApplyQuery,
  DashboardResult,
  DiffQuery,
  DiffResult,
  ExplainRequest,
  ExplainResult,
  HistoryList,
  HistoryQuery,
  JwtSvidRequest,
  JwtSvidResult,
  SpiffeBundle,
  X509SvidRequest,
  X509SvidResult,
  IstioResource,
  PrometheusText,
  ResourceList,
  ResourcePath,
  ResourcesBody,
  ResourcesQuery,
  RollbackRequest,
  SnapshotQuery,
  SnapshotResult,
  ValidateQuery,
  WriteResult,
} from "./schemas.js";

/**
 * The control API, declared once: the app registers its handlers by these specs (method, path,
 * who may call, query schema), and the OpenAPI document and the reference page are generated
 * from them, so the description cannot drift from what is served.
 */

export interface RouteSpec {
  method: "get" | "post" | "delete";
  /** OpenAPI style: `/v1/resources/{kind}/{namespace}/{name}`. */
  path: string;
  operationId: string;
  summary: string;
  description: string;
  /** `read`: any token; `write`: the admin token; `issue`: the admin token or a registration token (mesh CA); `public`: none. */
  access: "read" | "write" | "issue" | "public";
  query?: z.ZodObject;
  params?: z.ZodObject;
  body?: { schema: z.ZodType; mediaTypes: readonly string[]; description: string };
  /** Honours `If-Match` (412 when stale). */
  ifMatch?: boolean;
  /** The 200 answer; JSON unless `mediaType` says otherwise. */
  ok: { description: string; schema: z.ZodType; mediaType?: string };
  /** Statuses besides 200, 401 and 405 that this route answers. */
  errors: number[];
}

const RESOURCE_TYPES = ["application/yaml", "application/json"] as const;
const JSON_TYPES = ["application/json"] as const;

export const ROUTES = {
  apply: {
    method: "post",
    path: "/v1/apply",
    operationId: "apply",
    summary: "Create or update resources",
    description:
      "All or nothing: the whole set after the change is validated and compiled; on any issue nothing is stored and the answer is 400 with every issue. Resources not named are kept, unless `prune=true` makes the body the whole config. Applying what is already stored changes nothing: 200 with `changed: false`, no new version, no history entry.",
    access: "write",
    query: ApplyQuery,
    body: { schema: ResourcesBody, mediaTypes: RESOURCE_TYPES, description: "Istio resources: multi-document YAML, a JSON resource, a JSON array, or {\"items\": [...]}" },
    ifMatch: true,
    ok: { description: "the new version (or the unchanged one) and what was created, changed, unchanged, deleted", schema: WriteResult },
    errors: [400, 403, 412, 413, 415, 503],
  },
  validate: {
    method: "post",
    path: "/v1/validate",
    operationId: "validate",
    summary: "Dry-run an apply",
    description: "The same checks as apply, on top of the current config, storing nothing. Answers the version apply would produce and every field it would change.",
    access: "read",
    query: ValidateQuery,
    body: { schema: ResourcesBody, mediaTypes: RESOURCE_TYPES, description: "the resources apply would receive" },
    ok: { description: "what apply would do", schema: WriteResult },
    errors: [400, 413, 415],
  },
  listResources: {
    method: "get",
    path: "/v1/resources",
    operationId: "listResources",
    summary: "List resources",
    description: "The stored resources, exactly as they were applied (with metadata.namespace filled in), sorted by kind, namespace and name.",
    access: "read",
    query: ResourcesQuery,
    ok: { description: "the resources and the current version", schema: ResourceList },
    errors: [400],
  },
  getResource: {
    method: "get",
    path: "/v1/resources/{kind}/{namespace}/{name}",
    operationId: "getResource",
    summary: "Read one resource",
    description: "One stored resource. `kind` may be the kind, its plural or short name (vs, dr, se, gw).",
    access: "read",
    params: ResourcePath,
    ok: { description: "the resource", schema: IstioResource },
    errors: [400, 404],
  },
  deleteResource: {
    method: "delete",
    path: "/v1/resources/{kind}/{namespace}/{name}",
    operationId: "deleteResource",
    summary: "Delete one resource",
    description: "Refused with 409 and every issue when the config without it would be invalid (e.g. a route still sends traffic to a deleted ServiceEntry).",
    access: "write",
    params: ResourcePath,
    ifMatch: true,
    ok: { description: "the new version", schema: WriteResult },
    errors: [400, 403, 404, 409, 412, 503],
  },
  snapshot: {
    method: "get",
    path: "/v1/snapshot",
    operationId: "snapshot",
    summary: "The compiled snapshot",
    description: "The snapshot gateways serve for a version (default: the current one), as stored in KV under config/snapshots/<version>.",
    access: "read",
    query: SnapshotQuery,
    ok: { description: "the version and its snapshot", schema: SnapshotResult },
    errors: [400, 404],
  },
  history: {
    method: "get",
    path: "/v1/history",
    operationId: "history",
    summary: "Version history",
    description: "Every write, newest first: version, previous version, time, author, action and a summary of the changes.",
    access: "read",
    query: HistoryQuery,
    ok: { description: "history entries", schema: HistoryList },
    errors: [400],
  },
  diff: {
    method: "get",
    path: "/v1/diff",
    operationId: "diff",
    summary: "Differences between two versions",
    description: "Resources created, deleted and changed (field by field) from `from` to `to` (default: the current version).",
    access: "read",
    query: DiffQuery,
    ok: { description: "the changes", schema: DiffResult },
    errors: [400, 404],
  },
  rollback: {
    method: "post",
    path: "/v1/rollback",
    operationId: "rollback",
    summary: "Make an earlier version current again",
    description: "Restores the resources of `version` and points the gateways back at its snapshot, recorded as a new history entry. Rolling back to the current version changes nothing.",
    access: "write",
    body: { schema: RollbackRequest, mediaTypes: JSON_TYPES, description: "the version to return to" },
    ifMatch: true,
    ok: { description: "the version now current", schema: WriteResult },
    errors: [400, 403, 404, 409, 412, 413, 415, 503],
  },
  explain: {
    method: "post",
    path: "/v1/explain",
    operationId: "explain",
    summary: "Explain how a request would be handled",
    description:
      "For a request (method, URL, headers, optional peer identity and request principal, both taken as verified) and a version: which Gateway accepted the host, which VirtualService and route matched (and the first failing condition of every route tried before), which destinations and endpoints can be chosen with what probability, which faults, retries, timeouts and mirrors apply, what peer authentication, request authentication and AuthorizationPolicy decide (the policies that matched, the decision, the gateway's status and flag), and every possible outcome with its probability. With gatewayLabels istio=egressgateway: the egress's lookup (ServiceEntry, REGISTRY_ONLY block, ALLOW_ANY), TLS origination and EgressCredentials.",
    access: "read",
    body: { schema: ExplainRequest, mediaTypes: JSON_TYPES, description: "the request to explain" },
    ok: { description: "the explanation", schema: ExplainResult },
    errors: [400, 404, 413, 415],
  },
  metrics: {
    method: "get",
    path: "/v1/metrics",
    operationId: "metrics",
    summary: "Control-plane metrics (Prometheus)",
    description:
      "The control plane's metrics in the Prometheus text format 0.0.4, for a Prometheus scrape with the reader token (`authorization: {credentials: ...}`): the version published (`mesh_control_config_version_info`), writes accepted (`mesh_control_config_writes_total{action,result}`) and refused (`mesh_control_config_writes_rejected_total{action,reason}`) since the store started, versions ever published, the time of the last one, resources by kind, and the current snapshot's size (`mesh_control_config_snapshot_bytes`, `mesh_control_config_snapshot_objects{type}`).",
    access: "read",
    ok: { description: "Prometheus text exposition", schema: PrometheusText, mediaType: "text/plain; version=0.0.4" },
    errors: [],
  },
  dashboard: {
    method: "get",
    path: "/v1/dashboard",
    operationId: "dashboard",
    summary: "The mesh as a graph, with live traffic",
    description:
      "What the page at /__mesh/dashboard draws: the current snapshot as a graph (gateways → hosts → routes → destinations, with each destination's share of its route and mirrors), and, when the control worker knows the gateways (MESH_GATEWAY_URLS, or a MESH_GATEWAY service binding), their requests, 5xx and p50/p99 per destination since they started, read from their /__mesh/metrics on each call.",
    access: "read",
    ok: { description: "the graph and the traffic", schema: DashboardResult },
    errors: [],
  },
  bundle: {
    method: "get",
    path: "/v1/bundle",
    operationId: "bundle",
    summary: "The mesh CA's trust bundle (SPIFFE bundle format)",
    description:
      "The SPIFFE bundle of the CA's trust domain: its root certificate (an `x509-svid` key with `x5c`) and its JWT-SVID key (a `jwt-svid` key with `kid`), with `spiffe_refresh_hint`. Public, like a SPIFFE `https_web` bundle endpoint: it holds only public keys. 503 when the worker has no CA secrets.",
    access: "public",
    ok: { description: "the SPIFFE bundle", schema: SpiffeBundle },
    errors: [503],
  },
  issueX509Svid: {
    method: "post",
    path: "/v1/svid/x509",
    operationId: "issueX509Svid",
    summary: "Issue an X.509-SVID for a CSR",
    description:
      "Certifies the public key of a PKCS#10 CSR (whose self-signature must verify; its subject and extensions are ignored) for the requested SPIFFE ID: one URI SAN, not a CA, digitalSignature (+ keyEncipherment for RSA), serverAuth and clientAuth, a random serial, valid for `ttlSeconds` (default 3600, at most 86400). The caller must be allowed that SPIFFE ID.",
    access: "issue",
    body: { schema: X509SvidRequest, mediaTypes: JSON_TYPES, description: "the CSR and the SPIFFE ID" },
    ok: { description: "the SVID, its chain and the trust anchor (PEM)", schema: X509SvidResult },
    errors: [400, 403, 413, 415, 503],
  },
  issueJwtSvid: {
    method: "post",
    path: "/v1/svid/jwt",
    operationId: "issueJwtSvid",
    summary: "Issue a JWT-SVID",
    description: "An ES256 JWT-SVID for the requested SPIFFE ID and audiences (at least one), valid for `ttlSeconds` (default 300, at most 3600), signed with the key published in /v1/bundle. The caller must be allowed that SPIFFE ID.",
    access: "issue",
    body: { schema: JwtSvidRequest, mediaTypes: JSON_TYPES, description: "the SPIFFE ID and the audiences" },
    ok: { description: "the token", schema: JwtSvidResult },
    errors: [400, 403, 413, 415, 503],
  },
} satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;

export function honoPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ":$1");
}
