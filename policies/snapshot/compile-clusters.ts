import type { ConfigIssue, ResourceRef } from "../errors.js";
import type { LoadBalancerSettings, OutlierDetection, RetryBudget, TrafficPolicy } from "../resources/destination-rule.js";
import type { DestinationRuleResource, ServiceEntryResource } from "../resources/resource.js";
import { resourceRefOf } from "../resources/resource.js";
import { hostMatchesPattern, hostPatternsIntersect } from "./hosts.js";
import type { Cluster, Endpoint, LoadBalancerPolicy, OutlierDetectionPolicy, RetryBudgetPolicy } from "./schema.js";

/**
 * The service registry side of the compiler: ServiceEntries say which endpoints serve a host,
 * DestinationRules say how to pick among them. A cluster is one (host, subset, port) that
 * routes send traffic to; it is built on first reference, so only used clusters are stored.
 */

/** Envoy's and Istio's defaults, filled in so the data plane never guesses. */
export const OUTLIER_DEFAULTS = { consecutive5xxErrors: 5, consecutiveGatewayErrors: 0, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 };
export const RETRY_BUDGET_DEFAULTS = { percent: 20, minRetryConcurrency: 3 };

export interface DestinationRef {
  host: string;
  subset?: string | undefined;
  port?: { number: number } | undefined;
}

export type ResolveResult = { ok: true; cluster: Cluster } | { ok: false; message: string };

export class ClusterRegistry {
  readonly issues: ConfigIssue[] = [];
  readonly clusters: Record<string, Cluster> = {};
  private readonly entriesByHost = new Map<string, ServiceEntryResource>();
  private readonly rulesByHost = new Map<string, DestinationRuleResource>();

  constructor(serviceEntries: readonly ServiceEntryResource[], destinationRules: readonly DestinationRuleResource[]) {
    for (const entry of serviceEntries) {
      entry.spec.hosts.forEach((host, index) => {
        const other = this.entriesByHost.get(host);
        if (other) {
          this.issues.push(conflict(entry, `spec.hosts[${index}]`, `host '${host}' is already declared by ServiceEntry ${ns(other)}`));
        } else this.entriesByHost.set(host, entry);
      });
      entry.spec.ports.forEach((port, index) => {
        if (entry.spec.ports.findIndex((other) => other.number === port.number) !== index) {
          this.issues.push(conflict(entry, `spec.ports[${index}].number`, `port ${port.number} is declared twice`));
        }
      });
      if (entry.spec.resolution === "STATIC" && (entry.spec.endpoints ?? []).length === 0) {
        this.issues.push({ code: "ERR_CONFIG_REFERENCE", resource: resourceRefOf(entry), path: "spec.endpoints", message: "resolution STATIC needs at least one endpoint" });
      }
      entry.spec.endpoints?.forEach((endpoint, index) => {
        for (const portName of Object.keys(endpoint.ports ?? {})) {
          if (!entry.spec.ports.some((port) => port.name === portName)) {
            this.issues.push({
              code: "ERR_CONFIG_REFERENCE",
              resource: resourceRefOf(entry),
              path: `spec.endpoints[${index}].ports.${portName}`,
              message: `endpoint port '${portName}' does not name a port of this ServiceEntry (ports: ${entry.spec.ports.map((port) => port.name).join(", ")})`,
            });
          }
        }
      });
    }
    for (const rule of destinationRules) {
      const other = this.rulesByHost.get(rule.spec.host);
      if (other) {
        this.issues.push(conflict(rule, "spec.host", `host '${rule.spec.host}' already has DestinationRule ${ns(other)}`));
        continue;
      }
      this.rulesByHost.set(rule.spec.host, rule);
      if (![...this.entriesByHost.keys()].some((host) => hostPatternsIntersect(host, rule.spec.host))) {
        this.issues.push({
          code: "ERR_CONFIG_REFERENCE",
          resource: resourceRefOf(rule),
          path: "spec.host",
          message: `no ServiceEntry declares host '${rule.spec.host}'`,
        });
      }
      this.checkPolicy(rule, "spec.trafficPolicy", rule.spec.trafficPolicy);
      rule.spec.subsets?.forEach((subset, index) => this.checkPolicy(rule, `spec.subsets[${index}].trafficPolicy`, subset.trafficPolicy));
    }
  }

  /** The cluster a destination names, created on first use; or why it cannot be resolved. */
  resolve(destination: DestinationRef): ResolveResult {
    const entry = mostSpecific(this.entriesByHost, destination.host);
    if (!entry) return { ok: false, message: `unknown host '${destination.host}': no ServiceEntry declares it` };
    const ports = entry.spec.ports;
    let port = ports[0]!;
    if (destination.port) {
      const found = ports.find((candidate) => candidate.number === destination.port!.number);
      if (!found) return { ok: false, message: `host '${destination.host}' has no port ${destination.port.number} (ports: ${ports.map((p) => p.number).join(", ")})` };
      port = found;
    } else if (ports.length > 1) {
      return { ok: false, message: `host '${destination.host}' has several ports (${ports.map((p) => p.number).join(", ")}): destination.port.number is required` };
    }
    const rule = mostSpecific(this.rulesByHost, destination.host);
    let subsetLabels: Record<string, string> | undefined;
    let subsetPolicy: TrafficPolicy | undefined;
    if (destination.subset !== undefined) {
      const subset = rule?.spec.subsets?.find((candidate) => candidate.name === destination.subset);
      if (!subset) {
        return {
          ok: false,
          message: rule
            ? `unknown subset '${destination.subset}' of host '${destination.host}' (DestinationRule ${ns(rule)} defines: ${(rule.spec.subsets ?? []).map((s) => s.name).join(", ") || "none"})`
            : `unknown subset '${destination.subset}': no DestinationRule for host '${destination.host}'`,
        };
      }
      subsetLabels = subset.labels ?? {};
      subsetPolicy = subset.trafficPolicy;
    }
    const key = `${destination.host}|${destination.subset ?? ""}|${port.number}`;
    const existing = this.clusters[key];
    if (existing) return { ok: true, cluster: existing };

    const topPolicy = rule?.spec.trafficPolicy;
    const cluster: Cluster = {
      key,
      host: destination.host,
      ...(destination.subset !== undefined ? { subset: destination.subset } : {}),
      port: port.number,
      scheme: port.protocol === "HTTPS" ? "https" : "http",
      serviceEntry: ns(entry),
      endpoints: endpointsOf(entry, destination.host, port, subsetLabels),
      loadBalancer: loadBalancerPolicy(subsetPolicy?.loadBalancer ?? topPolicy?.loadBalancer),
      outlierDetection: outlierPolicy(subsetPolicy?.outlierDetection ?? topPolicy?.outlierDetection),
      retryBudget: retryBudgetPolicy(subsetPolicy?.retryBudget ?? topPolicy?.retryBudget),
    };
    this.clusters[key] = cluster;
    return { ok: true, cluster };
  }

  private checkPolicy(rule: DestinationRuleResource, path: string, policy: TrafficPolicy | undefined): void {
    if (policy?.loadBalancer?.simple === "PASSTHROUGH") {
      this.issues.push({
        code: "ERR_CONFIG_UNSUPPORTED_FIELD",
        resource: resourceRefOf(rule),
        path: `${path}.loadBalancer.simple`,
        message: "PASSTHROUGH is not supported yet: a worker cannot forward to the original destination address",
      });
    }
  }
}

/** The entry for a concrete host: an exact host, else the longest matching `*.` wildcard. */
function mostSpecific<T>(byHost: ReadonlyMap<string, T>, host: string): T | undefined {
  const exact = byHost.get(host);
  if (exact !== undefined) return exact;
  let best: { pattern: string; value: T } | undefined;
  for (const [pattern, value] of byHost) {
    if (pattern.includes("*") && hostMatchesPattern(host, pattern) && (!best || pattern.length > best.pattern.length)) best = { pattern, value };
  }
  return best?.value;
}

function endpointsOf(
  entry: ServiceEntryResource,
  host: string,
  port: ServiceEntryResource["spec"]["ports"][number],
  subsetLabels: Record<string, string> | undefined,
): Endpoint[] {
  const declared = entry.spec.endpoints ?? [];
  const defaultPort = port.targetPort ?? port.number;
  if (declared.length === 0 && entry.spec.resolution !== "STATIC") {
    // DNS/NONE with no endpoints: the host itself is the endpoint, as for an external API.
    return subsetLabels && Object.keys(subsetLabels).length > 0 ? [] : [{ address: host, port: defaultPort, labels: {}, weight: 1 }];
  }
  return declared
    .filter((endpoint) => Object.entries(subsetLabels ?? {}).every(([key, value]) => endpoint.labels?.[key] === value))
    .map((endpoint) => ({
      address: endpoint.address,
      port: endpoint.ports?.[port.name] ?? defaultPort,
      labels: endpoint.labels ?? {},
      weight: endpoint.weight ?? 1,
    }));
}

function loadBalancerPolicy(settings: LoadBalancerSettings | undefined): LoadBalancerPolicy {
  const hash = settings?.consistentHash;
  if (hash) {
    return {
      type: "consistent_hash",
      ...(hash.httpHeaderName !== undefined ? { header: hash.httpHeaderName.toLowerCase() } : {}),
      ...(hash.httpCookie ? { cookie: { name: hash.httpCookie.name, ...(hash.httpCookie.path !== undefined ? { path: hash.httpCookie.path } : {}), ...(hash.httpCookie.ttl !== undefined ? { ttlMs: hash.httpCookie.ttl } : {}) } } : {}),
      ...(hash.httpQueryParameterName !== undefined ? { queryParameter: hash.httpQueryParameterName } : {}),
      ...(hash.useSourceIp ? { sourceIp: true } : {}),
    };
  }
  switch (settings?.simple) {
    case "ROUND_ROBIN":
      return { type: "round_robin" };
    case "RANDOM":
      return { type: "random" };
    default:
      // Istio's default (UNSPECIFIED) is LEAST_REQUEST; LEAST_CONN is its deprecated alias.
      return { type: "least_request" };
  }
}

function outlierPolicy(settings: OutlierDetection | undefined): OutlierDetectionPolicy | null {
  if (!settings) return null;
  return {
    consecutive5xxErrors: settings.consecutive5xxErrors ?? OUTLIER_DEFAULTS.consecutive5xxErrors,
    consecutiveGatewayErrors: settings.consecutiveGatewayErrors ?? OUTLIER_DEFAULTS.consecutiveGatewayErrors,
    intervalMs: settings.interval ?? OUTLIER_DEFAULTS.intervalMs,
    baseEjectionTimeMs: settings.baseEjectionTime ?? OUTLIER_DEFAULTS.baseEjectionTimeMs,
    maxEjectionPercent: settings.maxEjectionPercent ?? OUTLIER_DEFAULTS.maxEjectionPercent,
  };
}

function retryBudgetPolicy(settings: RetryBudget | undefined): RetryBudgetPolicy | null {
  if (!settings) return null;
  return {
    percent: settings.percent ?? RETRY_BUDGET_DEFAULTS.percent,
    minRetryConcurrency: settings.minRetryConcurrency ?? RETRY_BUDGET_DEFAULTS.minRetryConcurrency,
  };
}

function ns(resource: { metadata: { namespace: string; name: string } }): string {
  return `${resource.metadata.namespace}/${resource.metadata.name}`;
}

function conflict(resource: ServiceEntryResource | DestinationRuleResource, path: string, message: string): ConfigIssue {
  const ref: ResourceRef = resourceRefOf(resource);
  return { code: "ERR_CONFIG_CONFLICT", resource: ref, path, message };
}
