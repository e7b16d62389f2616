import { z } from "zod";

/**
 * The compiled Snapshot: what the control plane writes to KV and the gateways read. It is plain
 * JSON (regexes as source strings), immutable, and versioned by a hash of its content. The zod
 * schema is both the type and the parser the gateways apply to every KV read.
 *
 * Indexes are precomputed here so the request path only looks things up: hosts map to virtual
 * hosts, and each virtual host indexes its routes by exact path and by path prefix.
 */

export const SNAPSHOT_FORMAT = 1;

export const CompiledStringMatch = z.object({
  type: z.enum(["exact", "prefix", "regex", "present"]),
  value: z.string(),
  ignoreCase: z.boolean().optional(),
});
export type CompiledStringMatch = z.infer<typeof CompiledStringMatch>;

export const NamedMatch = z.object({ name: z.string(), match: CompiledStringMatch });
export type NamedMatch = z.infer<typeof NamedMatch>;

export const CompiledMatch = z.object({
  name: z.string().optional(),
  uri: CompiledStringMatch.optional(),
  scheme: CompiledStringMatch.optional(),
  method: CompiledStringMatch.optional(),
  authority: CompiledStringMatch.optional(),
  /** Header names are lowercase. */
  headers: z.array(NamedMatch),
  withoutHeaders: z.array(NamedMatch),
  queryParams: z.array(NamedMatch),
  port: z.number().optional(),
  /** Qualified gateway names (`namespace/name`); the match applies only through these. */
  gateways: z.array(z.string()).optional(),
});
export type CompiledMatch = z.infer<typeof CompiledMatch>;

export const HeaderMutation = z.object({
  set: z.array(z.tuple([z.string(), z.string()])),
  add: z.array(z.tuple([z.string(), z.string()])),
  remove: z.array(z.string()),
});
export type HeaderMutation = z.infer<typeof HeaderMutation>;

export const HeaderOps = z.object({ request: HeaderMutation.optional(), response: HeaderMutation.optional() });
export type HeaderOps = z.infer<typeof HeaderOps>;

export const WeightedDestination = z.object({
  /** Key into `Snapshot.clusters`. */
  cluster: z.string(),
  weight: z.number(),
  headers: HeaderOps.optional(),
});
export type WeightedDestination = z.infer<typeof WeightedDestination>;

export const RetryPolicy = z.object({
  /** Number of retries (not counting the first try), as in Istio and Envoy. */
  attempts: z.number(),
  perTryTimeoutMs: z.number().optional(),
  conditions: z.array(z.string()),
  statusCodes: z.array(z.number()),
});
export type RetryPolicy = z.infer<typeof RetryPolicy>;

export const FaultPolicy = z.object({
  delay: z.object({ delayMs: z.number(), percent: z.number() }).optional(),
  abort: z.object({ status: z.number(), percent: z.number() }).optional(),
});
export type FaultPolicy = z.infer<typeof FaultPolicy>;

export const CompiledCors = z.object({
  allowOrigins: z.array(CompiledStringMatch),
  allowMethods: z.array(z.string()),
  allowHeaders: z.array(z.string()),
  exposeHeaders: z.array(z.string()),
  maxAgeSeconds: z.number().optional(),
  allowCredentials: z.boolean(),
  unmatchedPreflights: z.enum(["FORWARD", "IGNORE"]),
});
export type CompiledCors = z.infer<typeof CompiledCors>;

export const RouteAction = z.discriminatedUnion("type", [
  z.object({ type: z.literal("forward"), destinations: z.array(WeightedDestination), totalWeight: z.number() }),
  z.object({
    type: z.literal("redirect"),
    uri: z.string().optional(),
    authority: z.string().optional(),
    port: z.number().optional(),
    derivePort: z.enum(["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"]).optional(),
    scheme: z.string().optional(),
    code: z.number(),
  }),
  z.object({ type: z.literal("direct"), status: z.number(), bodyBase64: z.string().optional() }),
]);
export type RouteAction = z.infer<typeof RouteAction>;

export const CompiledRoute = z.object({
  /** The route's `name`, or `<namespace>/<virtualservice>#<index>` when it has none. */
  name: z.string(),
  virtualService: z.string(),
  matches: z.array(CompiledMatch),
  action: RouteAction,
  rewrite: z
    .object({
      uri: z.string().optional(),
      authority: z.string().optional(),
      uriRegex: z.object({ match: z.string(), rewrite: z.string() }).optional(),
    })
    .optional(),
  timeoutMs: z.number().optional(),
  /** null: no retries (attempts 0, or a fault is configured). */
  retries: RetryPolicy.nullable(),
  fault: FaultPolicy.optional(),
  mirror: z.object({ cluster: z.string(), percent: z.number() }).optional(),
  headers: HeaderOps.optional(),
  cors: CompiledCors.optional(),
});
export type CompiledRoute = z.infer<typeof CompiledRoute>;

/**
 * One candidate list of the path index, split by the exact value of one request header: `values`
 * holds, per header value, the positions of the list's routes whose every match block requires
 * that header to be exactly that value (case-sensitive); `rest` holds the list's other positions.
 * Both ascending. For a request, `values[its value]` merged with `rest` is the list without the
 * routes that cannot match it. The list itself stays in the index (readers without splits use it).
 */
export const HeaderSplit = z.object({
  header: z.string(),
  values: z.record(z.string(), z.array(z.number())),
  rest: z.array(z.number()),
});
export type HeaderSplit = z.infer<typeof HeaderSplit>;

/** Route positions (indexes into the virtual host's `routes`), grouped by what a path must be. */
export const PathIndex = z.object({
  exact: z.record(z.string(), z.array(z.number())),
  prefix: z.record(z.string(), z.array(z.number())),
  /** Distinct prefix lengths present in `prefix`, ascending: only these slices of a path are looked up. */
  prefixLengths: z.array(z.number()),
  /** Same, for matches with ignoreUriCase (keys lowercased). */
  exactCaseless: z.record(z.string(), z.array(z.number())),
  prefixCaseless: z.record(z.string(), z.array(z.number())),
  prefixLengthsCaseless: z.array(z.number()),
  /** Routes that may match any path (regex uri or no uri condition). */
  anyPath: z.array(z.number()),
  /**
   * Header splits of the lists above, only for lists where many routes are told apart by one
   * header's exact value (keyed like the list they split). Optional: absent in snapshots compiled
   * before them, and a list without a split is scanned whole.
   */
  exactSplit: z.record(z.string(), HeaderSplit).optional(),
  prefixSplit: z.record(z.string(), HeaderSplit).optional(),
  exactCaselessSplit: z.record(z.string(), HeaderSplit).optional(),
  prefixCaselessSplit: z.record(z.string(), HeaderSplit).optional(),
  anyPathSplit: HeaderSplit.optional(),
});
export type PathIndex = z.infer<typeof PathIndex>;

export const VirtualHost = z.object({
  virtualService: z.string(),
  hosts: z.array(z.string()),
  /** Indexes into `Snapshot.routes`, in the order they are evaluated. */
  routes: z.array(z.number()),
  pathIndex: PathIndex,
});
export type VirtualHost = z.infer<typeof VirtualHost>;

export const HostTable = z.object({
  exact: z.record(z.string(), z.number()),
  /** `[suffix including the leading dot, value]`, longest suffix first. */
  wildcard: z.array(z.tuple([z.string(), z.number()])),
  any: z.number().optional(),
});
export type HostTable = z.infer<typeof HostTable>;

export const CompiledGateway = z.object({
  name: z.string(),
  selector: z.record(z.string(), z.string()),
  /** Host patterns the gateway's servers accept (`*`, `*.example.com`, `a.example.com`). */
  serverHosts: z.array(z.string()),
  ports: z.array(z.object({ number: z.number(), protocol: z.string(), name: z.string().optional() })),
  /** Request host → index into `Snapshot.virtualHosts`. */
  virtualHosts: HostTable,
});
export type CompiledGateway = z.infer<typeof CompiledGateway>;

export const Endpoint = z.object({
  address: z.string(),
  port: z.number(),
  labels: z.record(z.string(), z.string()),
  weight: z.number(),
});
export type Endpoint = z.infer<typeof Endpoint>;

export const LoadBalancerPolicy = z.discriminatedUnion("type", [
  z.object({ type: z.literal("round_robin") }),
  z.object({ type: z.literal("random") }),
  z.object({ type: z.literal("least_request") }),
  z.object({
    type: z.literal("consistent_hash"),
    header: z.string().optional(),
    cookie: z.object({ name: z.string(), path: z.string().optional(), ttlMs: z.number().optional() }).optional(),
    queryParameter: z.string().optional(),
    sourceIp: z.boolean().optional(),
  }),
]);
export type LoadBalancerPolicy = z.infer<typeof LoadBalancerPolicy>;

export const OutlierDetectionPolicy = z.object({
  consecutive5xxErrors: z.number(),
  consecutiveGatewayErrors: z.number(),
  intervalMs: z.number(),
  baseEjectionTimeMs: z.number(),
  maxEjectionPercent: z.number(),
});
export type OutlierDetectionPolicy = z.infer<typeof OutlierDetectionPolicy>;

export const RetryBudgetPolicy = z.object({ percent: z.number(), minRetryConcurrency: z.number() });
export type RetryBudgetPolicy = z.infer<typeof RetryBudgetPolicy>;

/** TLS origination to a cluster's endpoints (DestinationRule trafficPolicy.tls). */
export const ClusterTls = z.object({
  mode: z.enum(["SIMPLE", "MUTUAL"]),
  /** Equal to the endpoint address (checked at compile time: a worker sends the name it connects to). */
  sni: z.string().optional(),
  /** MUTUAL: the `mtls_certificates` binding (a Fetcher) that presents the client certificate. */
  credentialName: z.string().optional(),
});
export type ClusterTls = z.infer<typeof ClusterTls>;

export const Cluster = z.object({
  /** `host|subset|port`, e.g. `reviews.bookinfo.local|v1|9080`. */
  key: z.string(),
  host: z.string(),
  subset: z.string().optional(),
  port: z.number(),
  scheme: z.enum(["http", "https"]),
  tls: ClusterTls.optional(),
  /**
   * Run-time clusters only: the host metrics label this cluster by, when `host` is a caller's
   * choice (a `*.` wildcard ServiceEntry's per-host cluster is labelled by the wildcard).
   */
  labelHost: z.string().optional(),
  serviceEntry: z.string(),
  endpoints: z.array(Endpoint),
  loadBalancer: LoadBalancerPolicy,
  outlierDetection: OutlierDetectionPolicy.nullable(),
  retryBudget: RetryBudgetPolicy.nullable(),
});
export type Cluster = z.infer<typeof Cluster>;

export const ResourceRefSchema = z.object({ kind: z.string(), namespace: z.string(), name: z.string() });

// ---- Security: identities, trust bundles and the three security.istio.io policy kinds ----

const Strings = z.array(z.string());

/** Where a policy applies (see docs/security.md): every request, every request through a gateway whose labels match `selector`, or requests to destinations of `namespace`. */
export const PolicyScope = z.enum(["mesh", "gateway", "namespace"]);
export type PolicyScope = z.infer<typeof PolicyScope>;

const PolicyBase = {
  /** `namespace/name` */
  name: z.string(),
  namespace: z.string(),
  scope: PolicyScope,
  /** Gateway labels a `gateway`-scoped policy selects. */
  selector: z.record(z.string(), z.string()).optional(),
};

export const CompiledSource = z.object({
  principals: Strings.optional(),
  notPrincipals: Strings.optional(),
  requestPrincipals: Strings.optional(),
  notRequestPrincipals: Strings.optional(),
  namespaces: Strings.optional(),
  notNamespaces: Strings.optional(),
  serviceAccounts: Strings.optional(),
  notServiceAccounts: Strings.optional(),
  ipBlocks: Strings.optional(),
  notIpBlocks: Strings.optional(),
  remoteIpBlocks: Strings.optional(),
  notRemoteIpBlocks: Strings.optional(),
});
export type CompiledSource = z.infer<typeof CompiledSource>;

export const CompiledOperation = z.object({
  hosts: Strings.optional(),
  notHosts: Strings.optional(),
  ports: Strings.optional(),
  notPorts: Strings.optional(),
  methods: Strings.optional(),
  notMethods: Strings.optional(),
  paths: Strings.optional(),
  notPaths: Strings.optional(),
});
export type CompiledOperation = z.infer<typeof CompiledOperation>;

export const CompiledCondition = z.object({ key: z.string(), values: Strings.optional(), notValues: Strings.optional() });
export type CompiledCondition = z.infer<typeof CompiledCondition>;

export const CompiledAuthzRule = z.object({
  from: z.array(CompiledSource).optional(),
  to: z.array(CompiledOperation).optional(),
  when: z.array(CompiledCondition).optional(),
});
export type CompiledAuthzRule = z.infer<typeof CompiledAuthzRule>;

export const CompiledAuthorizationPolicy = z.object({
  ...PolicyBase,
  action: z.enum(["ALLOW", "DENY", "AUDIT"]),
  rules: z.array(CompiledAuthzRule),
  /** Istio's `istio.io/dry-run: "true"` annotation: evaluated and logged, never enforced. */
  dryRun: z.boolean().optional(),
});
export type CompiledAuthorizationPolicy = z.infer<typeof CompiledAuthorizationPolicy>;

export const CompiledJwtRule = z.object({
  issuer: z.string(),
  audiences: Strings.optional(),
  /** Inline JWKS (parsed). */
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
  jwksUri: z.string().optional(),
  timeoutMs: z.number().optional(),
  /** Lowercase header names; Istio's default is `Authorization: Bearer` plus the `access_token` parameter. */
  fromHeaders: z.array(z.object({ name: z.string(), prefix: z.string() })),
  fromParams: Strings,
  fromCookies: Strings,
  outputPayloadToHeader: z.string().optional(),
  forwardOriginalToken: z.boolean(),
  outputClaimToHeaders: z.array(z.object({ header: z.string(), claim: z.string() })),
});
export type CompiledJwtRule = z.infer<typeof CompiledJwtRule>;

export const CompiledRequestAuthentication = z.object({ ...PolicyBase, jwtRules: z.array(CompiledJwtRule) });
export type CompiledRequestAuthentication = z.infer<typeof CompiledRequestAuthentication>;

export const PeerAuthenticationMode = z.enum(["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]);
export type PeerAuthenticationMode = z.infer<typeof PeerAuthenticationMode>;

export const CompiledPeerAuthentication = z.object({ ...PolicyBase, mode: PeerAuthenticationMode });
export type CompiledPeerAuthentication = z.infer<typeof CompiledPeerAuthentication>;

export const CompiledTrustBundle = z.object({
  trustDomain: z.string(),
  /** Base64 DER CA certificates (from an inline SPIFFE bundle or Istio's caCertificates). */
  x509Authorities: Strings,
  /** Public JWKs with `kid` (from an inline SPIFFE bundle). */
  jwtAuthorities: z.array(z.record(z.string(), z.unknown())),
  /** A SPIFFE bundle endpoint; its keys are added to the ones above at run time. */
  url: z.string().optional(),
  refreshIntervalMs: z.number().optional(),
});
export type CompiledTrustBundle = z.infer<typeof CompiledTrustBundle>;

export const GatewayServerTls = z.object({
  hosts: Strings,
  mode: z.enum(["SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"]),
  subjectAltNames: Strings.optional(),
});
export type GatewayServerTls = z.infer<typeof GatewayServerTls>;

/** Positions in the policy lists, by where they apply. */
export const PolicyRefs = z.object({ peer: z.array(z.number()), request: z.array(z.number()), authz: z.array(z.number()) });
export type PolicyRefs = z.infer<typeof PolicyRefs>;

export const SecurityConfig = z.object({
  trustDomain: z.string(),
  trustDomainAliases: Strings,
  rootNamespace: z.string(),
  pathNormalization: z.object({ normalization: z.enum(["NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"]), escapedSlashes: z.enum(["REJECT", "KEEP"]) }),
  /** Audiences accepted in JWT-SVIDs besides the gateway's own SPIFFE ID. */
  jwtSvidAudiences: Strings,
  /** Where JWT-SVIDs are read from; absent: `Authorization: Bearer`. */
  jwtSvidFromHeaders: z.array(z.object({ name: z.string(), prefix: z.string() })).optional(),
  trustBundles: z.array(CompiledTrustBundle),
  /** Gateway name (`namespace/name`) → its servers' client-certificate requirements. */
  gatewayTls: z.record(z.string(), z.array(GatewayServerTls)),
  peerAuthentications: z.array(CompiledPeerAuthentication),
  requestAuthentications: z.array(CompiledRequestAuthentication),
  authorizationPolicies: z.array(CompiledAuthorizationPolicy),
  index: z.object({
    mesh: PolicyRefs,
    /** Gateway-scoped policies; each carries its selector. */
    gateway: PolicyRefs,
    namespaces: z.record(z.string(), PolicyRefs),
  }),
});
export type SecurityConfig = z.infer<typeof SecurityConfig>;

/** Mesh-wide settings other than security, from MeshConfig. */
export const MeshSettings = z.object({
  outboundTrafficPolicy: z.enum(["ALLOW_ANY", "REGISTRY_ONLY"]).optional(),
  /** MeshConfig.defaultHttpRetryPolicy, compiled (null: no retries); absent: Istio's default. */
  defaultHttpRetryPolicy: RetryPolicy.nullable().optional(),
});
export type MeshSettings = z.infer<typeof MeshSettings>;

/** A host declared by a `MESH_EXTERNAL` ServiceEntry, and the cluster of each of its ports (for the egress gateway). */
export const ExternalService = z.object({
  /** Exact, or a `*.` wildcard. */
  host: z.string(),
  /** `namespace/name` of the ServiceEntry. */
  serviceEntry: z.string(),
  ports: z.array(z.object({ number: z.number(), protocol: z.string(), cluster: z.string() })),
});
export type ExternalService = z.infer<typeof ExternalService>;

/** An EgressCredential: what the egress adds to calls sent to its hosts. Secrets by name only. */
export const CompiledEgressCredential = z.object({
  /** `namespace/name` of the EgressCredential. */
  name: z.string(),
  /** Exact hosts, or `*.` wildcards. */
  hosts: z.array(z.string()),
  inject: z.object({ header: z.string(), secretName: z.string(), prefix: z.string() }).optional(),
  workloadIdentity: z.object({ header: z.string(), prefix: z.string(), audience: z.string().optional(), ttlMs: z.number() }).optional(),
});
export type CompiledEgressCredential = z.infer<typeof CompiledEgressCredential>;

export const EgressTable = z.object({
  services: z.array(ExternalService),
  clusters: z.record(z.string(), Cluster),
  /** Absent when there is no EgressCredential. */
  credentials: z.array(CompiledEgressCredential).optional(),
});
export type EgressTable = z.infer<typeof EgressTable>;

/**
 * One Telemetry's access-log settings (Istio's `accessLogging` plus this project's sampling and
 * field annotations). An absent field inherits from the less specific level, as in Istio.
 */
export const AccessLogSettings = z.object({
  /** `namespace/name` of the Telemetry. */
  telemetry: z.string(),
  disabled: z.boolean().optional(),
  /** A CEL filter (policies/telemetry/access-log-filter.ts), checked when compiled. */
  filter: z.string().optional(),
  samplingPercentage: z.number().optional(),
  fields: z.array(z.string()).optional(),
});
export type AccessLogSettings = z.infer<typeof AccessLogSettings>;

/** Telemetry resources, by where they apply: the root namespace's (mesh-wide), then those selecting gateways by label. */
export const TelemetryConfig = z.object({
  accessLogging: z.object({
    mesh: AccessLogSettings.optional(),
    gateways: z.array(AccessLogSettings.extend({ selector: z.record(z.string(), z.string()) })),
  }),
});
export type TelemetryConfig = z.infer<typeof TelemetryConfig>;

export const Snapshot = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  /** Content hash of everything below; the one identifier of a config version. */
  version: z.string(),
  resources: z.array(ResourceRefSchema),
  gateways: z.array(CompiledGateway),
  virtualHosts: z.array(VirtualHost),
  routes: z.array(CompiledRoute),
  clusters: z.record(z.string(), Cluster),
  /** Absent when the config has no MeshConfig, security policy or server TLS: the gateway then uses the defaults. */
  security: SecurityConfig.optional(),
  mesh: MeshSettings.optional(),
  /** The external hosts the egress gateway may reach (absent when no ServiceEntry is MESH_EXTERNAL). */
  egress: EgressTable.optional(),
  /** Access logging from Telemetry resources (absent when there is none: the gateway's MESH_ACCESS_LOG_* settings apply). */
  telemetry: TelemetryConfig.optional(),
});
export type Snapshot = z.infer<typeof Snapshot>;
