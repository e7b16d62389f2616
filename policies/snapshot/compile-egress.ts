import type { DestinationRuleResource, ServiceEntryResource } from "../resources/resource.js";
import { ClusterRegistry } from "./compile-clusters.js";
import type { Cluster, EgressTable, ExternalService } from "./schema.js";

/**
 * The egress gateway's registry: every host a `MESH_EXTERNAL` ServiceEntry declares (exact or
 * `*.` wildcard) with one cluster per port, so a call to an external host with no VirtualService
 * still has somewhere to go (Istio's passthrough to the ServiceEntry host). The clusters are
 * built by a registry of their own, apart from the routed `clusters`, so the ingress's snapshot
 * content is unchanged; their keys are the same `host||port` a route would use, and a
 * DestinationRule for the host applies to them. Undefined when no external host is declared.
 */
export function compileEgressTable(
  serviceEntries: readonly ServiceEntryResource[],
  destinationRules: readonly DestinationRuleResource[],
): EgressTable | undefined {
  const registry = new ClusterRegistry(serviceEntries, destinationRules);
  const services: ExternalService[] = [];
  const clusters: Record<string, Cluster> = {};
  for (const entry of serviceEntries) {
    if (entry.spec.location !== "MESH_EXTERNAL") continue;
    const serviceEntry = `${entry.metadata.namespace}/${entry.metadata.name}`;
    for (const host of entry.spec.hosts) {
      const ports: ExternalService["ports"] = [];
      for (const port of entry.spec.ports) {
        const resolved = registry.resolve({ host, port: { number: port.number } });
        // A host declared twice is the cluster registry's issue to report (the snapshot fails).
        if (!resolved.ok || resolved.cluster.serviceEntry !== serviceEntry) continue;
        clusters[resolved.cluster.key] = resolved.cluster;
        ports.push({ number: port.number, protocol: port.protocol, cluster: resolved.cluster.key });
      }
      if (ports.length > 0) services.push({ host, serviceEntry, ports });
    }
  }
  if (services.length === 0) return undefined;
  services.sort((a, b) => a.host.localeCompare(b.host));
  return { services, clusters: Object.fromEntries(Object.entries(clusters).sort(([a], [b]) => a.localeCompare(b))) };
}
