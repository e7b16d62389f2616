import type { ConfigIssue, ResourceRef } from "../errors.js";
import type { ClientTLSSettings, LoadBalancerSettings, OutlierDetection, RetryBudget, TrafficPolicy } from "../resources/destination-rule.js";
import type { DestinationRuleResource, ServiceEntryResource } from "../resources/resource.js";
import { resourceRefOf } from "../resources/resource.js";
import { hostMatchesPattern, hostPatternsIntersect } from "./hosts.js";
import type { Cluster, ClusterTls, Endpoint, LoadBalancerPolicy, OutlierDetectionPolicy, RetryBudgetPolicy } from "./schema.js";

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
      this.checkSni(rule);
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
    // Istio's precedence: the subset's policy over the top-level one, and within each a
    // portLevelSettings entry for this port over the policy it sits in.
    const effective = <Field extends "loadBalancer" | "outlierDetection" | "tls">(field: Field) =>
      portPolicy(subsetPolicy, port.number)?.[field] ?? subsetPolicy?.[field] ?? portPolicy(topPolicy, port.number)?.[field] ?? topPolicy?.[field];
    const tlsSettings = effective("tls");
    const tls = clusterTls(tlsSettings);
    const cluster: Cluster = {
      key,
      host: destination.host,
      ...(destination.subset !== undefined ? { subset: destination.subset } : {}),
      port: port.number,
      // TLS origination (SIMPLE/MUTUAL) speaks https to the endpoint; an HTTPS port does too
      // unless the rule says DISABLE.
      scheme: tls || (port.protocol === "HTTPS" && tlsSettings?.mode !== "DISABLE") ? "https" : "http",
      ...(tls ? { tls } : {}),
      serviceEntry: ns(entry),
      endpoints: endpointsOf(entry, destination.host, port, subsetLabels),
      loadBalancer: loadBalancerPolicy(effective("loadBalancer")),
      outlierDetection: outlierPolicy(effective("outlierDetection")),
      retryBudget: retryBudgetPolicy(subsetPolicy?.retryBudget ?? topPolicy?.retryBudget),
    };
    this.clusters[key] = cluster;
    return { ok: true, cluster };
  }

  private checkPolicy(rule: DestinationRuleResource, path: string, policy: TrafficPolicy | undefined): void {
    const levels = [{ path, loadBalancer: policy?.loadBalancer }, ...(policy?.portLevelSettings ?? []).map((setting, index) => ({ path: `${path}.portLevelSettings[${index}]`, loadBalancer: setting.loadBalancer }))];
    for (const level of levels) {
      if (level.loadBalancer?.simple === "PASSTHROUGH") {
        this.issues.push({
          code: "ERR_CONFIG_UNSUPPORTED_FIELD",
          resource: resourceRefOf(rule),
          path: `${level.path}.loadBalancer.simple`,
          message: "PASSTHROUGH is not supported yet: a worker cannot forward to the original destination address",
        });
      }
    }
    policy?.portLevelSettings?.forEach((setting, index) => {
      const entry = mostSpecific(this.entriesByHost, rule.spec.host);
      if (entry && !entry.spec.ports.some((port) => port.number === setting.port.number)) {
        this.issues.push({
          code: "ERR_CONFIG_REFERENCE",
          resource: resourceRefOf(rule),
          path: `${path}.portLevelSettings[${index}].port.number`,
          message: `host '${rule.spec.host}' has no port ${setting.port.number} (ServiceEntry ${ns(entry)} ports: ${entry.spec.ports.map((port) => port.number).join(", ")})`,
        });
      }
    });
  }

  /**
   * A worker's fetch sends as SNI the name it connects to, and verifies the server's certificate
   * against that same name: there is no separate SNI. So `tls.sni` must be that name: every
   * endpoint address of the host, or the host itself when it has no endpoints (resolution DNS).
   */
  private checkSni(rule: DestinationRuleResource): void {
    const entry = mostSpecific(this.entriesByHost, rule.spec.host);
    if (!entry) return;
    const addresses = (entry.spec.endpoints ?? []).length > 0 ? [...new Set(entry.spec.endpoints!.map((endpoint) => endpoint.address))] : [rule.spec.host];
    const policies: { path: string; policy: TrafficPolicy | undefined }[] = [
      { path: "spec.trafficPolicy", policy: rule.spec.trafficPolicy },
      ...(rule.spec.subsets ?? []).map((subset, index) => ({ path: `spec.subsets[${index}].trafficPolicy`, policy: subset.trafficPolicy })),
    ];
    for (const { path, policy } of policies) {
      const levels = [{ path: `${path}.tls`, tls: policy?.tls }, ...(policy?.portLevelSettings ?? []).map((setting, index) => ({ path: `${path}.portLevelSettings[${index}].tls`, tls: setting.tls }))];
      for (const level of levels) {
        const sni = level.tls?.sni;
        if (sni === undefined) continue;
        const other = addresses.find((address) => address !== sni);
        if (other !== undefined) {
          this.issues.push({
            code: "ERR_CONFIG_UNSUPPORTED_FIELD",
            resource: resourceRefOf(rule),
            path: `${level.path}.sni`,
            message: `sni '${sni}' differs from the address the gateway connects to ('${other}'): a worker's fetch sends the name it connects to as SNI, so sni must equal it (declare the host with resolution DNS, or use the name as the endpoint address)`,
          });
        }
      }
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

function portPolicy(policy: TrafficPolicy | undefined, port: number) {
  return policy?.portLevelSettings?.find((setting) => setting.port.number === port);
}

/** The cluster's TLS origination, or undefined for plain HTTP (no settings, or DISABLE). */
function clusterTls(settings: ClientTLSSettings | undefined): ClusterTls | undefined {
  if (!settings || (settings.mode !== "SIMPLE" && settings.mode !== "MUTUAL")) return undefined;
  return {
    mode: settings.mode,
    ...(settings.sni !== undefined ? { sni: settings.sni } : {}),
    ...(settings.credentialName !== undefined ? { credentialName: settings.credentialName } : {}),
  };
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
