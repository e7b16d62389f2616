import { z } from "zod";
import { Duration, HostName, istioObject, Labels } from "./common.js";

/** networking.istio.io DestinationRule: how traffic to a service (and its subsets) is handled. */

export const ConsistentHash = istioObject(
  {
    httpHeaderName: z.string().min(1).optional(),
    httpCookie: istioObject({ name: z.string().min(1), path: z.string().optional(), ttl: Duration.optional() }).optional(),
    useSourceIp: z.boolean().optional(),
    httpQueryParameterName: z.string().min(1).optional(),
  },
  ["ringHash", "maglev", "minimumRingSize"],
).superRefine((hash, ctx) => {
  const set = ["httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"].filter(
    (key) => hash[key as keyof typeof hash] !== undefined,
  );
  if (set.length !== 1) {
    ctx.addIssue({
      code: "custom",
      message: `consistentHash needs exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName (got ${set.length === 0 ? "none" : set.join(", ")})`,
    });
  }
});

export const LoadBalancerSettings = istioObject(
  {
    simple: z
      .enum(["UNSPECIFIED", "ROUND_ROBIN", "RANDOM", "LEAST_REQUEST", "LEAST_CONN", "PASSTHROUGH"], {
        error: () => "simple must be one of ROUND_ROBIN, RANDOM, LEAST_REQUEST, LEAST_CONN, PASSTHROUGH",
      })
      .optional(),
    consistentHash: ConsistentHash.optional(),
  },
  ["localityLbSetting", "warmupDurationSecs", "warmup"],
).superRefine((lb, ctx) => {
  if (lb.simple !== undefined && lb.consistentHash !== undefined) {
    ctx.addIssue({ code: "custom", message: "only one of simple, consistentHash may be set" });
  }
});
export type LoadBalancerSettings = z.infer<typeof LoadBalancerSettings>;

export const OutlierDetection = istioObject(
  {
    consecutive5xxErrors: z.number().int().min(0).optional(),
    consecutiveGatewayErrors: z.number().int().min(0).optional(),
    interval: Duration.optional(),
    baseEjectionTime: Duration.optional(),
    maxEjectionPercent: z.number().int().min(0).max(100).optional(),
  },
  ["splitExternalLocalOriginErrors", "consecutiveLocalOriginFailures", "minHealthPercent", "consecutiveErrors"],
);
export type OutlierDetection = z.infer<typeof OutlierDetection>;

export const RetryBudget = istioObject({
  percent: z.number().min(0).max(100).optional(),
  minRetryConcurrency: z.number().int().min(0).optional(),
}, ["budgetInterval"]);
export type RetryBudget = z.infer<typeof RetryBudget>;

const trafficPolicyUnsupported = ["connectionPool", "tls", "portLevelSettings", "tunnel", "proxyProtocol"];

export const SubsetTrafficPolicy = istioObject(
  {
    loadBalancer: LoadBalancerSettings.optional(),
    outlierDetection: OutlierDetection.optional(),
    retryBudget: RetryBudget.optional(),
  },
  trafficPolicyUnsupported,
);

export const TrafficPolicy = SubsetTrafficPolicy;
export type TrafficPolicy = z.infer<typeof TrafficPolicy>;

export const Subset = istioObject({
  name: z.string().min(1, "a subset needs a name"),
  labels: Labels.optional(),
  trafficPolicy: SubsetTrafficPolicy.optional(),
});

export const DestinationRuleSpec = istioObject(
  {
    host: HostName,
    trafficPolicy: TrafficPolicy.optional(),
    subsets: z.array(Subset).optional(),
  },
  ["exportTo", "workloadSelector"],
).superRefine((rule, ctx) => {
  const seen = new Set<string>();
  rule.subsets?.forEach((subset, index) => {
    if (seen.has(subset.name)) {
      ctx.addIssue({ code: "custom", path: ["subsets", index, "name"], message: `duplicate subset name '${subset.name}'` });
    }
    seen.add(subset.name);
  });
});
export type DestinationRuleSpec = z.infer<typeof DestinationRuleSpec>;
