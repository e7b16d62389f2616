import { z } from "zod";
import { Endpoint, FaultPolicy, HeaderOps, LoadBalancerPolicy, OutlierDetectionPolicy, RetryPolicy } from "../snapshot/schema.js";

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
  /** The caller's workload identity, e.g. `spiffe://mesh.local/ns/shop/sa/frontend`. */
  peer: z.strictObject({ principal: z.string().min(1).max(2048) }).optional(),
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
  notes: z.array(z.string()),
});
export type Explanation = z.infer<typeof Explanation>;
export type ExplainedDestination = z.infer<typeof ExplainedDestination>;
export type RouteVerdict = z.infer<typeof RouteVerdict>;
export type GatewayVerdict = z.infer<typeof GatewayVerdict>;
export type RouteAnswer = z.infer<typeof RouteAnswer>;
