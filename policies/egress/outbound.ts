import { hostMatchesPattern } from "../snapshot/hosts.js";
import type { Cluster, CompiledGateway, CompiledRoute, ExternalService, RetryPolicy, Snapshot } from "../snapshot/schema.js";

/**
 * The egress gateway's outbound lookup, pure: for a host (and port) that no VirtualService on the
 * egress's Gateway serves, where the call goes. A host declared by a `MESH_EXTERNAL`
 * ServiceEntry (exact in a map, `*.` wildcards longest first) goes to that ServiceEntry's
 * cluster for the port asked for; an undeclared host is blocked under REGISTRY_ONLY (the egress
 * default) and passed through to itself under ALLOW_ANY. The egress worker (egress/registry.ts)
 * caches the clusters derived here per snapshot; `explain` asks the same questions of it.
 */

export type OutboundTrafficPolicy = "REGISTRY_ONLY" | "ALLOW_ANY";

/** Istio's names for where a call with no registered destination goes. */
export const BLACKHOLE_CLUSTER = "BlackHoleCluster";
export const PASSTHROUGH_CLUSTER = "PassthroughCluster";
export const BLOCK_ALL_ROUTE = "block_all";

/** The gateway that passthrough routes hang off; no Gateway resource has this name (it has no `/`). */
export const PASSTHROUGH_GATEWAY: CompiledGateway = {
  name: "egress-passthrough",
  selector: {},
  serverHosts: ["*"],
  ports: [],
  virtualHosts: { exact: {}, wildcard: [] },
};

export type OutboundPlan =
  /** `derived`: a wildcard host's cluster resolved to the host asked for (not in the snapshot; keyed `host||port`). */
  | { kind: "registered"; service: ExternalService; port: ExternalService["ports"][number]; cluster: Cluster; derived: boolean }
  /** ALLOW_ANY: the host itself, cluster `PassthroughCluster|host|port` (not in the snapshot). */
  | { kind: "passthrough"; cluster: Cluster }
  | { kind: "blocked"; policy: OutboundTrafficPolicy }
  /** An https call to a host declared with no TLS port: never downgraded to plain HTTP. */
  | { kind: "insecure"; service: ExternalService; message: string };

export class OutboundHosts {
  readonly policy: OutboundTrafficPolicy;
  readonly rootNamespace: string;
  /** What passthrough routes (which no VirtualService configures) retry with. */
  readonly retries: RetryPolicy | null;
  private readonly exact = new Map<string, ExternalService>();
  private readonly wildcard: ExternalService[];

  constructor(snapshot: Snapshot) {
    // The egress default is REGISTRY_ONLY; a MeshConfig's outboundTrafficPolicy overrides it.
    this.policy = snapshot.mesh?.outboundTrafficPolicy ?? "REGISTRY_ONLY";
    this.rootNamespace = snapshot.security?.rootNamespace ?? "istio-system";
    this.retries = defaultRetriesOf(snapshot);
    const services = snapshot.egress?.services ?? [];
    for (const service of services) if (!service.host.includes("*")) this.exact.set(service.host, service);
    this.wildcard = services.filter((service) => service.host.startsWith("*.")).sort((a, b) => b.host.length - a.host.length);
  }

  /** The ServiceEntry host declaring `host` (normalised, no port): exact first, then the longest wildcard. */
  find(host: string): ExternalService | undefined {
    return this.exact.get(host) ?? this.wildcard.find((candidate) => hostMatchesPattern(host, candidate.host));
  }

  /**
   * Where a call to `host` on `port` goes; `clusterOf` finds a snapshot cluster (routed or
   * external) by key. `scheme` is what the caller asked for: an https call (a service binding's
   * `https://` URL, port 443) stays https end to end, or is refused; it is never sent as plain HTTP.
   */
  plan(host: string, port: number, clusterOf: (key: string) => Cluster | undefined, scheme: "http" | "https" = "http"): OutboundPlan {
    const service = this.find(host);
    if (!service) {
      if (this.policy === "REGISTRY_ONLY") return { kind: "blocked", policy: this.policy };
      const passthroughScheme = scheme === "https" || port === 443 ? "https" : "http";
      const key = `${PASSTHROUGH_CLUSTER}|${host}|${port}${passthroughScheme === "https" ? "|https" : ""}`;
      return { kind: "passthrough", cluster: externalCluster(key, host, port, passthroughScheme, `${this.rootNamespace}/${PASSTHROUGH_CLUSTER}`) };
    }
    const candidates = scheme === "https" ? service.ports.filter((candidate) => clusterOf(candidate.cluster)?.scheme === "https") : service.ports;
    if (candidates.length === 0) {
      return {
        kind: "insecure",
        service,
        message: `'${host}' is declared (ServiceEntry ${service.serviceEntry}) with no TLS port (${service.ports.map((candidate) => `${candidate.number}/${candidate.protocol}`).join(", ")}): an https call is not downgraded to plain HTTP; declare an HTTPS port or originate TLS (DestinationRule tls)`,
      };
    }
    const servicePort = pickPort({ ...service, ports: candidates }, port);
    const cluster = clusterOf(servicePort.cluster)!;
    // A wildcard host with no endpoints of its own resolves to the host asked for (Istio: DNS of the original host).
    if (cluster.endpoints.some((endpoint) => endpoint.address.includes("*"))) {
      const key = `${host}||${servicePort.number}`;
      const resolved: Cluster = { ...cluster, key, host, labelHost: service.host, endpoints: cluster.endpoints.map((endpoint) => ({ ...endpoint, address: endpoint.address.includes("*") ? host : endpoint.address })) };
      return { kind: "registered", service, port: servicePort, cluster: resolved, derived: true };
    }
    return { kind: "registered", service, port: servicePort, cluster, derived: false };
  }

  /** Istio's `block_all` route: answered 502 once the caller is authenticated (so the audit names who tried). */
  blackholeRoute(): CompiledRoute {
    return { name: BLOCK_ALL_ROUTE, virtualService: `${this.rootNamespace}/${BLACKHOLE_CLUSTER}`, matches: [], action: { type: "direct", status: 502 }, retries: null };
  }

  /** The route a passthrough call takes to `cluster` (named after the ServiceEntry host, or `PassthroughCluster`). */
  passthroughRoute(plan: Extract<OutboundPlan, { kind: "registered" | "passthrough" }>, cluster: string): CompiledRoute {
    return passthroughRoute(plan.kind === "registered" ? `${plan.service.serviceEntry}:${plan.service.host}` : PASSTHROUGH_CLUSTER, cluster, this.retries);
  }
}

/** The port a call is for: the one the caller named, else the only one, else the first plain-HTTP one, else the first. */
export function pickPort(service: ExternalService, port: number): ExternalService["ports"][number] {
  return (
    service.ports.find((candidate) => candidate.number === port) ??
    (service.ports.length === 1 ? service.ports[0] : service.ports.find((candidate) => candidate.protocol === "HTTP")) ??
    service.ports[0]!
  );
}

export function passthroughRoute(name: string, cluster: string, retries: RetryPolicy | null): CompiledRoute {
  return {
    name,
    virtualService: "-",
    matches: [],
    action: { type: "forward", destinations: [{ cluster, weight: 100 }], totalWeight: 100 },
    retries,
  };
}

/**
 * MeshConfig `defaultHttpRetryPolicy`, compiled as for VirtualService routes, as the snapshot
 * carries it (`mesh.defaultHttpRetryPolicy`; null: `attempts: 0`). Without one a passthrough
 * call is tried once: an external API's POST is not replayed unless the mesh says so.
 */
export function defaultRetriesOf(snapshot: Snapshot): RetryPolicy | null {
  return snapshot.mesh?.defaultHttpRetryPolicy ?? null;
}

export function externalCluster(key: string, host: string, port: number, scheme: "http" | "https", serviceEntry: string): Cluster {
  return {
    key,
    host,
    port,
    scheme,
    serviceEntry,
    endpoints: [{ address: host, port, labels: {}, weight: 1 }],
    loadBalancer: { type: "round_robin" },
    outlierDetection: null,
    retryBudget: null,
  };
}
