import { z } from "zod";
import { Duration, HostName, istioObject, Labels, ExportTo } from "./common.js";

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

/** An SNI: a DNS name (a worker cannot send an IP address or a wildcard as SNI). */
const SniName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, "sni must be a lowercase DNS name (no wildcard, no port)");

/**
 * Istio's ClientTLSSettings: TLS origination to the destination. A worker's outbound TLS always
 * verifies the server against the runtime's trust store and the host it connects to, so the
 * fields that change verification are refused rather than silently ignored.
 */
export const ClientTLSSettings = istioObject(
  {
    mode: z.enum(["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"], { error: () => "mode must be one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL" }),
    sni: SniName.optional(),
    /** MUTUAL: the name of the egress worker's `mtls_certificates` binding that holds the client certificate. */
    credentialName: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "credentialName must be a binding name (letters, digits, _; not starting with a digit)").optional(),
  },
  ["clientCertificate", "privateKey", "caCertificates", "caCrl", "subjectAltNames", "insecureSkipVerify"],
).superRefine((tls, ctx) => {
  if (tls.mode === "ISTIO_MUTUAL") {
    ctx.addIssue({ code: "custom", path: ["mode"], message: "ISTIO_MUTUAL needs Istio's sidecar certificates, which workers do not have: use MUTUAL with credentialName (an mtls_certificates binding)" });
  }
  if (tls.mode === "MUTUAL" && tls.credentialName === undefined) {
    ctx.addIssue({ code: "custom", path: ["credentialName"], message: "MUTUAL needs credentialName: the egress worker's mtls_certificates binding that holds the client certificate" });
  }
  if (tls.mode !== "MUTUAL" && tls.credentialName !== undefined) {
    ctx.addIssue({ code: "custom", path: ["credentialName"], message: `credentialName is only for mode MUTUAL (a client certificate); with ${tls.mode} the server is verified against the runtime's trust store` });
  }
  if (tls.mode === "DISABLE" && tls.sni !== undefined) ctx.addIssue({ code: "custom", path: ["sni"], message: "sni needs TLS: mode is DISABLE" });
});
export type ClientTLSSettings = z.infer<typeof ClientTLSSettings>;

const policyFields = {
  loadBalancer: LoadBalancerSettings.optional(),
  outlierDetection: OutlierDetection.optional(),
  tls: ClientTLSSettings.optional(),
};

/** Istio's PortTrafficPolicy: a policy for one port of the destination, overriding the policy it sits in. */
export const PortTrafficPolicy = istioObject(
  { port: istioObject({ number: z.number().int().min(1).max(65535) }), ...policyFields },
  ["connectionPool"],
);

const trafficPolicyUnsupported = ["connectionPool", "tunnel", "proxyProtocol"];

export const SubsetTrafficPolicy = istioObject(
  {
    ...policyFields,
    retryBudget: RetryBudget.optional(),
    portLevelSettings: z.array(PortTrafficPolicy).optional(),
  },
  trafficPolicyUnsupported,
).superRefine((policy, ctx) => {
  const seen = new Set<number>();
  policy.portLevelSettings?.forEach((setting, index) => {
    if (seen.has(setting.port.number)) ctx.addIssue({ code: "custom", path: ["portLevelSettings", index, "port", "number"], message: `port ${setting.port.number} has more than one portLevelSettings entry` });
    seen.add(setting.port.number);
  });
});

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
    exportTo: ExportTo.optional(),
    trafficPolicy: TrafficPolicy.optional(),
    subsets: z.array(Subset).optional(),
  },
  ["workloadSelector"],
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
