import { BLACKHOLE_CLUSTER, BLOCK_ALL_ROUTE, OutboundHosts, PASSTHROUGH_CLUSTER, PASSTHROUGH_GATEWAY, type OutboundTrafficPolicy } from "../policies/egress/outbound.js";
import type { Cluster, CompiledRoute, ExternalService, RetryPolicy, Snapshot } from "../policies/snapshot/schema.js";
import { ClusterState, ClusterStates } from "../gateway/upstream/cluster-state.js";

/**
 * What the egress gateway may reach, prepared once per snapshot: the `MESH_EXTERNAL` hosts
 * (exact in a map, `*.` wildcards longest first), the outbound traffic policy, and the cluster
 * states of the routed and the external clusters together (so the shared destination and
 * upstream stages find either), and the retry policy of passthrough routes (MeshConfig
 * `defaultHttpRetryPolicy`; none without it). The request path only looks things up. The lookup
 * itself is pure (policies/egress/outbound.ts, which `explain` uses too); this class caches the
 * clusters it derives per host.
 */

export { BLACKHOLE_CLUSTER, BLOCK_ALL_ROUTE, PASSTHROUGH_CLUSTER, PASSTHROUGH_GATEWAY, type OutboundTrafficPolicy };


export type OutboundTarget =
  | { kind: "registered"; service: ExternalService; port: ExternalService["ports"][number]; route: CompiledRoute }
  | { kind: "passthrough"; route: CompiledRoute }
  | { kind: "blocked"; policy: OutboundTrafficPolicy; route: CompiledRoute }
  | { kind: "insecure"; message: string; route: CompiledRoute };

/** Derived per-host clusters (wildcard hosts resolved by DNS, ALLOW_ANY passthrough) kept per snapshot, at most this many. */
const MAX_DERIVED_CLUSTERS = 1000;

export class EgressRegistry {
  readonly policy: OutboundTrafficPolicy;
  readonly clusters: EgressClusterStates;
  private readonly hosts: OutboundHosts;
  private readonly derived = new Map<string, OutboundTarget>();
  /** What passthrough routes (which no VirtualService configures) retry with. */
  readonly retries: RetryPolicy | null;
  /** Istio's `block_all` route: answered 502 once the caller is authenticated (so the audit names who tried). */
  private readonly blackhole: CompiledRoute;

  constructor(readonly snapshot: Snapshot, previous?: EgressRegistry) {
    this.hosts = new OutboundHosts(snapshot);
    this.policy = this.hosts.policy;
    this.retries = this.hosts.retries;
    this.blackhole = this.hosts.blackholeRoute();
    this.clusters = new EgressClusterStates({ ...snapshot.clusters, ...snapshot.egress?.clusters }, previous?.clusters);
  }

  /** Where a call to `host` (normalised, no port) on `port`, asked for over `scheme`, goes, or that it is blocked or refused. */
  resolve(host: string, port: number, scheme: "http" | "https" = "http"): OutboundTarget {
    const plan = this.hosts.plan(host, port, (key) => this.clusters.get(key)?.cluster, scheme);
    if (plan.kind === "blocked") return { kind: "blocked", policy: plan.policy, route: this.blackhole };
    if (plan.kind === "insecure") return { kind: "insecure", message: plan.message, route: this.blackhole };
    if (plan.kind === "passthrough") {
      return this.derive(plan.cluster.key, () => ({ kind: "passthrough", route: this.hosts.passthroughRoute(plan, this.addCluster(plan.cluster)) }));
    }
    const target = (cluster: string): OutboundTarget => ({ kind: "registered", service: plan.service, port: plan.port, route: this.hosts.passthroughRoute(plan, cluster) });
    if (plan.derived) return this.derive(plan.cluster.key, () => target(this.addCluster(plan.cluster)));
    return target(plan.cluster.key);
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
