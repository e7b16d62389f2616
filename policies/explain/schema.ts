import { z } from "zod";
import { ClusterTls, Endpoint, FaultPolicy, GatewayServerTls, HeaderOps, LoadBalancerPolicy, OutlierDetectionPolicy, PeerAuthenticationMode, RetryPolicy } from "../snapshot/schema.js";

/**
 * What `explainRequest` answers: the decisions the gateway would take for one request over one
 * snapshot, each with its reason. The zod schemas are the types and the control API's OpenAPI
 * description of `POST /v1/explain`.
 */

export const ExplainRequestInput = z.strictObject({
  method: z.string().min(1).max(32).default("GET"),
  /** An absolute URL (`http://bookinfo.local/reviews/1`), or a path with a `host` header. */
  url: z.string().min(1).max(8192),
  /** Request headers; names are case-insensitive. A `host` header wins over the URL's host, as at the gateway. */
  headers: z.record(z.string(), z.string()).default({}),
  /**
   * The caller's workload identity, e.g. `spiffe://mesh.local/ns/shop/sa/frontend`, assumed
   * verified: explain checks no certificate. `via: "mtls"` (default) is an X.509-SVID (platform
   * mTLS, a trusted proxy's XFCC) or a service binding's `props.spiffeId`, established by peer
   * authentication; `"jwt-svid"` is a JWT-SVID in `Authorization: Bearer`, established later, by
   * request authentication (so it does not satisfy STRICT).
   */
  peer: z.strictObject({ principal: z.string().min(1).max(2048), via: z.enum(["mtls", "jwt-svid"]).default("mtls") }).optional(),
  /**
   * The end user's verified JWT, assumed valid (explain verifies no signature): `principal` is
   * Istio's `<iss>/<sub>` (the issuer is everything before the last `/`); claims `iss` and `sub`
   * follow from it, `claims` adds others (for `request.auth.claims[...]` conditions), `audiences`
   * default to the matching jwtRule's.
   */
  requestPrincipal: z
    .strictObject({
      principal: z.string().min(3).max(2048).regex(/^.+\/[^/]+$/, "requestPrincipal.principal is '<iss>/<sub>'"),
      audiences: z.array(z.string()).max(64).optional(),
      claims: z.record(z.string(), z.unknown()).optional(),
      presenter: z.string().optional(),
    })
    .optional(),
});
export type ExplainRequestInput = z.input<typeof ExplainRequestInput>;

export const ExplainedRequest = z.object({
  method: z.string(),
  host: z.string(),
  authority: z.string(),
  path: z.string(),
  scheme: z.string(),
  port: z.number(),
});

export const GatewayVerdict = z.object({
  name: z.string(),
  /** Whether the gateway workload's labels satisfy this Gateway's selector. */
  selected: z.boolean(),
  selector: z.record(z.string(), z.string()),
  serverHosts: z.array(z.string()),
  /** Whether one of its servers accepts the request's host. */
  acceptsHost: z.boolean(),
  /** The VirtualService bound to this Gateway for the host, if any. */
  virtualService: z.string().nullable(),
});

export const FailedCondition = z.object({
  /** Index of the match block (`spec.http[].match[i]`). */
  match: z.number(),
  /** `uri`, `method`, `scheme`, `authority`, `port`, `gateways`, `headers.<name>`, `withoutHeaders.<name>`, `queryParams.<name>`. */
  condition: z.string(),
  message: z.string(),
});
export type FailedCondition = z.infer<typeof FailedCondition>;

export const RouteVerdict = z.object({
  /** Position in the VirtualService (`spec.http[position]`). */
  position: z.number(),
  name: z.string(),
  verdict: z.enum(["matched", "no_match", "not_reached"]),
  /** The match block that accepted the request (null for a route without match blocks). */
  matchedBy: z.number().nullable().optional(),
  /** For `no_match`: the first condition of each match block that failed. */
  failed: z.array(FailedCondition),
});

export const ExplainedEndpoint = Endpoint.extend({
  /** Share of this cluster's traffic the endpoint gets (weights count; ejections by outlier detection do not, they are runtime state). */
  probability: z.number().nullable(),
  /** For consistent hashing with a key in the request: the endpoint the key hashes to. */
  chosen: z.boolean().optional(),
});

export const ExplainedDestination = z.object({
  cluster: z.string(),
  weight: z.number(),
  /** weight / totalWeight (a route's only destination gets 1 whatever its weight). */
  probability: z.number(),
  host: z.string().nullable(),
  subset: z.string().nullable(),
  port: z.number().nullable(),
  loadBalancer: LoadBalancerPolicy.nullable(),
  /** How the endpoint is chosen, in words. */
  balancing: z.string(),
  endpoints: z.array(ExplainedEndpoint),
  outlierDetection: OutlierDetectionPolicy.nullable(),
  headers: HeaderOps.optional(),
  /** TLS origination to the endpoints (DestinationRule trafficPolicy.tls), when configured. */
  tls: ClusterTls.nullable().optional(),
  /** Egress only: the EgressCredential whose secret and/or JWT-SVID the egress adds to calls to this host (names only). */
  egressCredential: z
    .object({
      name: z.string(),
      inject: z.object({ header: z.string(), secretName: z.string() }).nullable(),
      workloadIdentity: z.object({ header: z.string(), audience: z.string() }).nullable(),
    })
    .nullable()
    .optional(),
});

export const Outcome = z.object({
  /** HTTP status the client gets, or null when it is the upstream's answer. */
  status: z.number().nullable(),
  /** Envoy response flag, e.g. `NR`, `UH`, `FI`. */
  flag: z.string().nullable(),
  probability: z.number(),
  description: z.string(),
});
export type Outcome = z.infer<typeof Outcome>;

export const RouteAnswer = z.discriminatedUnion("type", [
  z.object({ type: z.literal("forward"), totalWeight: z.number(), destinations: z.array(ExplainedDestination) }),
  z.object({ type: z.literal("redirect"), code: z.number(), location: z.string() }),
  z.object({ type: z.literal("direct"), status: z.number(), bodyBytes: z.number() }),
]);

export const Denial = z.object({
  /** The gateway stage that refuses. */
  stage: z.enum(["path_normalization", "peer_authentication", "request_authentication", "egress_block", "authorization", "egress_credential"]),
  status: z.number(),
  flag: z.string().nullable(),
  /** The `error` field of the gateway's JSON answer (its access log's detail). */
  detail: z.string(),
  message: z.string(),
});
export type Denial = z.infer<typeof Denial>;

export const AuthzDecisionView = z.object({
  allowed: z.boolean(),
  reason: z.enum(["deny-matched", "allow-matched", "no-allow-matched", "no-policy"]),
  policy: z.string().optional(),
  rule: z.number().optional(),
  audit: z.array(z.string()),
  missing: z.enum(["request", "peer"]).optional(),
});

/**
 * Security for the requests routed to destinations of one namespace (policies are scoped by the
 * destination's namespace), evaluated with the functions the gateway's stages call
 * (policies/authz/*): peer authentication, request authentication, authorization.
 */
export const SecurityVerdict = z.object({
  namespace: z.string(),
  /** The destinations (clusters) in this namespace; empty for a redirect or direct response. */
  clusters: z.array(z.string()),
  /** False when the snapshot has no MeshConfig, security policy or server TLS: the gateway then skips all three stages. */
  enforced: z.boolean(),
  peerAuthentication: z.object({
    mode: PeerAuthenticationMode.exclude(["UNSET"]),
    /** PeerAuthentications that apply (mesh-wide, this gateway's, the namespace's). */
    policies: z.array(z.string()),
    serverTls: GatewayServerTls.nullable(),
    required: z.boolean(),
    /** The peer identity authorization sees (the SPIFFE ID), or null. */
    peer: z.string().nullable(),
  }),
  requestAuthentication: z.object({
    policies: z.array(z.string()),
    issuers: z.array(z.string()),
    /** Token locations of these rules (and the JWT-SVID's) that the described request fills. */
    tokensPresent: z.array(z.string()),
    /** The request principal authorization sees (`<iss>/<sub>`), or null. */
    requestPrincipal: z.string().nullable(),
  }),
  authorization: z.object({
    /** Every AuthorizationPolicy that applies, whether it matches the request on its own, and by which rule (null for AUDIT). */
    policies: z.array(z.object({ name: z.string(), action: z.enum(["ALLOW", "DENY", "AUDIT"]), dryRun: z.boolean(), matched: z.boolean(), rule: z.number().nullable() })),
    /** Null when no AuthorizationPolicy applies (or authorization is not reached). */
    decision: AuthzDecisionView.nullable(),
    /** What the dry-run policies would decide (recorded, never enforced). */
    dryRun: AuthzDecisionView.nullable(),
  }),
  /** The refusal, when one of these stages (or the egress's block) refuses. */
  denial: Denial.nullable(),
  /** What explain took for granted (signatures, trust bundles, secrets). */
  assumptions: z.array(z.string()),
});
export type SecurityVerdict = z.infer<typeof SecurityVerdict>;

export const EgressLookup = z.object({
  /** How the egress found the destination: a VirtualService on its Gateway, a MESH_EXTERNAL ServiceEntry, ALLOW_ANY passthrough, or blocked. */
  kind: z.enum(["virtual_service", "registered", "passthrough", "blocked", "insecure"]),
  outboundTrafficPolicy: z.enum(["REGISTRY_ONLY", "ALLOW_ANY"]),
  /** The ServiceEntry (`namespace/name`) and host pattern that declared the host. */
  serviceEntry: z.string().nullable(),
  serviceHost: z.string().nullable(),
  port: z.number().nullable(),
  cluster: z.string().nullable(),
});

export const Explanation = z.object({
  version: z.string(),
  request: ExplainedRequest,
  /** Labels of the gateway workload the request was explained for. */
  gatewayLabels: z.record(z.string(), z.string()),
  gateways: z.array(GatewayVerdict),
  gateway: z.string().nullable(),
  virtualService: z.string().nullable(),
  routes: z.array(RouteVerdict),
  route: z.string().nullable(),
  /** What the gateway does with the request (null when it is not routed). */
  action: RouteAnswer.nullable(),
  timeoutMs: z.number().nullable(),
  retries: RetryPolicy.nullable(),
  fault: FaultPolicy.nullable(),
  mirror: z.object({ cluster: z.string(), probability: z.number() }).nullable(),
  rewrite: z.object({ uri: z.string().optional(), authority: z.string().optional(), uriRegex: z.object({ match: z.string(), rewrite: z.string() }).optional() }).nullable(),
  headers: HeaderOps.nullable(),
  cors: z.boolean(),
  /** The possible answers with their probabilities (they sum to 1). */
  outcomes: z.array(Outcome),
  peer: z.object({ principal: z.string(), note: z.string() }).nullable(),
  /** The egress gateway's lookup, when the labels select the egress (`istio=egressgateway`). */
  egress: EgressLookup.nullable(),
  /** Peer and request authentication and authorization, per destination namespace (empty when the request is not routed). */
  security: z.array(SecurityVerdict),
  notes: z.array(z.string()),
});
export type Explanation = z.infer<typeof Explanation>;
export type ExplainedDestination = z.infer<typeof ExplainedDestination>;
export type RouteVerdict = z.infer<typeof RouteVerdict>;
export type GatewayVerdict = z.infer<typeof GatewayVerdict>;
export type RouteAnswer = z.infer<typeof RouteAnswer>;
