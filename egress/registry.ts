import { hostMatchesPattern } from "../policies/snapshot/hosts.js";
import type { Cluster, CompiledGateway, CompiledRoute, ExternalService, RetryPolicy, Snapshot } from "../policies/snapshot/schema.js";
import { ClusterState, ClusterStates } from "../gateway/upstream/cluster-state.js";

/**
 * What the egress gateway may reach, prepared once per snapshot: the `MESH_EXTERNAL` hosts
 * (exact in a map, `*.` wildcards longest first), the outbound traffic policy, and the cluster
 * states of the routed and the external clusters together (so the shared destination and
 * upstream stages find either), and the retry policy of passthrough routes (MeshConfig
 * `defaultHttpRetryPolicy`; none without it). The request path only looks things up.
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

export type OutboundTarget =
  | { kind: "registered"; service: ExternalService; port: ExternalService["ports"][number]; route: CompiledRoute }
  | { kind: "passthrough"; route: CompiledRoute }
  | { kind: "blocked"; policy: OutboundTrafficPolicy; route: CompiledRoute };

/** Derived per-host clusters (wildcard hosts resolved by DNS, ALLOW_ANY passthrough) kept per snapshot, at most this many. */
const MAX_DERIVED_CLUSTERS = 1000;

export class EgressRegistry {
  readonly policy: OutboundTrafficPolicy;
  readonly clusters: EgressClusterStates;
  private readonly exact = new Map<string, ExternalService>();
  private readonly wildcard: ExternalService[];
  private readonly derived = new Map<string, OutboundTarget>();
  private readonly rootNamespace: string;
  /** What passthrough routes (which no VirtualService configures) retry with. */
  readonly retries: RetryPolicy | null;
  /** Istio's `block_all` route: answered 502 once the caller is authenticated (so the audit names who tried). */
  private readonly blackhole: CompiledRoute;

  constructor(readonly snapshot: Snapshot, previous?: EgressRegistry) {
    // The egress default is REGISTRY_ONLY; a MeshConfig's outboundTrafficPolicy overrides it.
    this.policy = snapshot.mesh?.outboundTrafficPolicy ?? "REGISTRY_ONLY";
    this.rootNamespace = snapshot.security?.rootNamespace ?? "istio-system";
    this.retries = defaultRetriesOf(snapshot);
    this.blackhole = { name: BLOCK_ALL_ROUTE, virtualService: `${this.rootNamespace}/${BLACKHOLE_CLUSTER}`, matches: [], action: { type: "direct", status: 502 }, retries: null };
    const services = snapshot.egress?.services ?? [];
    for (const service of services) if (!service.host.includes("*")) this.exact.set(service.host, service);
    this.wildcard = services.filter((service) => service.host.startsWith("*.")).sort((a, b) => b.host.length - a.host.length);
    this.clusters = new EgressClusterStates({ ...snapshot.clusters, ...snapshot.egress?.clusters }, previous?.clusters);
  }

  /** Where a call to `host` (normalised, no port) on `port` goes, or that it is blocked. */
  resolve(host: string, port: number): OutboundTarget {
    const service = this.exact.get(host) ?? this.wildcard.find((candidate) => hostMatchesPattern(host, candidate.host));
    if (!service) {
      if (this.policy === "REGISTRY_ONLY") return { kind: "blocked", policy: this.policy, route: this.blackhole };
      return this.derive(`${PASSTHROUGH_CLUSTER}|${host}|${port}`, () => ({
        kind: "passthrough",
        route: passthroughRoute(`${PASSTHROUGH_CLUSTER}`, this.addCluster(externalCluster(`${PASSTHROUGH_CLUSTER}|${host}|${port}`, host, port, "http", `${this.rootNamespace}/${PASSTHROUGH_CLUSTER}`)), this.retries),
      }));
    }
    const servicePort = pickPort(service, port);
    const cluster = this.clusters.get(servicePort.cluster)!.cluster;
    // A wildcard host with no endpoints of its own resolves to the host asked for (Istio: DNS of the original host).
    if (cluster.endpoints.some((endpoint) => endpoint.address.includes("*"))) {
      const key = `${host}||${servicePort.number}`;
      return this.derive(key, () => ({
        kind: "registered",
        service,
        port: servicePort,
        route: passthroughRoute(`${service.serviceEntry}:${service.host}`, this.addCluster({ ...cluster, key, host, endpoints: cluster.endpoints.map((endpoint) => ({ ...endpoint, address: endpoint.address.includes("*") ? host : endpoint.address })) }), this.retries),
      }));
    }
    return { kind: "registered", service, port: servicePort, route: passthroughRoute(`${service.serviceEntry}:${service.host}`, cluster.key, this.retries) };
  }

  private derive(key: string, make: () => OutboundTarget): OutboundTarget {
    let target = this.derived.get(key);
    if (!target) {
      if (this.derived.size >= MAX_DERIVED_CLUSTERS) {
        // Forget targets and their clusters together, so no target names a dropped cluster.
        this.derived.clear();
        this.clusters.clearDerived();
      }
      target = make();
      this.derived.set(key, target);
    }
    return target;
  }

  private addCluster(cluster: Cluster): string {
    this.clusters.add(cluster);
    return cluster.key;
  }
}

/** The snapshot's cluster states plus the ones derived per host at run time. */
export class EgressClusterStates extends ClusterStates {
  private readonly extra = new Map<string, ClusterState>();

  add(cluster: Cluster): void {
    this.extra.set(cluster.key, new ClusterState(cluster, JSON.stringify(cluster)));
  }

  clearDerived(): void {
    this.extra.clear();
  }

  override get(key: string): ClusterState | undefined {
    return super.get(key) ?? this.extra.get(key);
  }
}

/** The port a call is for: the one the caller named, else the only one, else the first plain-HTTP one, else the first. */
function pickPort(service: ExternalService, port: number): ExternalService["ports"][number] {
  return (
    service.ports.find((candidate) => candidate.number === port) ??
    (service.ports.length === 1 ? service.ports[0] : service.ports.find((candidate) => candidate.protocol === "HTTP")) ??
    service.ports[0]!
  );
}

function passthroughRoute(name: string, cluster: string, retries: RetryPolicy | null): CompiledRoute {
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
function defaultRetriesOf(snapshot: Snapshot): RetryPolicy | null {
  return snapshot.mesh?.defaultHttpRetryPolicy ?? null;
}

function externalCluster(key: string, host: string, port: number, scheme: "http" | "https", serviceEntry: string): Cluster {
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
