import { endpointKey } from "../../policies/resilience/endpoint-key.js";
import { createLoadBalancer, type LoadBalancer } from "../../policies/resilience/load-balancer.js";
import { OutlierDetector } from "../../policies/resilience/outlier-detector.js";
import { RetryBudgetTracker } from "../../policies/resilience/retry-budget.js";
import type { Cluster, Endpoint } from "../../policies/snapshot/schema.js";

/**
 * Per-isolate state of each cluster: load-balancer cursor, outlier ejections, active requests
 * and the retry budget. Like Envoy's per-worker state, it is local to one isolate (each isolate
 * detects outliers on its own). On a snapshot swap, a cluster whose definition is unchanged keeps
 * its state, so a config push does not forget which endpoints are ejected.
 */
export class ClusterState {
  readonly balancer: LoadBalancer;
  readonly outliers: OutlierDetector | undefined;
  readonly budget = new RetryBudgetTracker();
  private readonly active = new Map<string, number>();

  constructor(readonly cluster: Cluster, readonly signature: string) {
    this.balancer = createLoadBalancer(cluster.loadBalancer);
    this.outliers = cluster.outlierDetection ? new OutlierDetector(cluster.outlierDetection) : undefined;
  }

  healthyEndpoints(now: number): readonly Endpoint[] {
    return this.outliers ? this.outliers.healthyEndpoints(this.cluster.endpoints, now) : this.cluster.endpoints;
  }

  activeRequests = (endpoint: Endpoint): number => this.active.get(endpointKey(endpoint)) ?? 0;

  endpointStarted(endpoint: Endpoint): void {
    const key = endpointKey(endpoint);
    this.active.set(key, (this.active.get(key) ?? 0) + 1);
  }

  endpointFinished(endpoint: Endpoint): void {
    const key = endpointKey(endpoint);
    this.active.set(key, Math.max(0, (this.active.get(key) ?? 1) - 1));
  }
}

export class ClusterStates {
  private readonly states = new Map<string, ClusterState>();

  constructor(clusters: Readonly<Record<string, Cluster>>, previous?: ClusterStates) {
    for (const [key, cluster] of Object.entries(clusters)) {
      const signature = JSON.stringify(cluster);
      const kept = previous?.states.get(key);
      this.states.set(key, kept && kept.signature === signature ? kept : new ClusterState(cluster, signature));
    }
  }

  get(key: string): ClusterState | undefined {
    return this.states.get(key);
  }
}
