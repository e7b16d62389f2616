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

export const Cluster = z.object({
  /** `host|subset|port`, e.g. `reviews.bookinfo.local|v1|9080`. */
  key: z.string(),
  host: z.string(),
  subset: z.string().optional(),
  port: z.number(),
  scheme: z.enum(["http", "https"]),
  serviceEntry: z.string(),
  endpoints: z.array(Endpoint),
  loadBalancer: LoadBalancerPolicy,
  outlierDetection: OutlierDetectionPolicy.nullable(),
  retryBudget: RetryBudgetPolicy.nullable(),
});
export type Cluster = z.infer<typeof Cluster>;

export const ResourceRefSchema = z.object({ kind: z.string(), namespace: z.string(), name: z.string() });

export const Snapshot = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  /** Content hash of everything below; the one identifier of a config version. */
  version: z.string(),
  resources: z.array(ResourceRefSchema),
  gateways: z.array(CompiledGateway),
  virtualHosts: z.array(VirtualHost),
  routes: z.array(CompiledRoute),
  clusters: z.record(z.string(), Cluster),
});
export type Snapshot = z.infer<typeof Snapshot>;
