import type { Context } from "hono";
import { BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER } from "../../policies/egress/outbound.js";
import type { IstioRequestLabels } from "../../policies/telemetry/istio-metrics.js";
import type { GatewayEnv } from "../context.js";

/**
 * What Istio's metrics say about calls that leave the mesh. An external API has no sidecar, so
 * nothing reports server-side for it: no `reporter="destination"` series for a cluster of a
 * `MESH_EXTERNAL` ServiceEntry or a passthrough cluster. And a call that has no registered
 * destination goes to one of Envoy's two virtual clusters, which Istio's stats name in
 * `destination_service_name` (with the destination namespaces `unknown`), as "Monitoring Blocked
 * and Passthrough External Service Traffic" shows:
 *
 *   REGISTRY_ONLY, undeclared host: route `block_all`, `BlackHoleCluster`, 502
 *   ALLOW_ANY, undeclared host:     route `allow_any`, `PassthroughCluster`
 *
 * The names are the egress lookup's (policies/egress/outbound.ts), which sets them on the stream
 * record and the cluster keys, `PassthroughCluster|host|port`.
 */
export { BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER } from "../../policies/egress/outbound.js";

export type VirtualCluster = typeof BLACKHOLE_CLUSTER | typeof PASSTHROUGH_CLUSTER;

const PASSTHROUGH_PREFIX = `${PASSTHROUGH_CLUSTER}|`;

/**
 * The virtual cluster a request went to, if any: `BlackHoleCluster` when the egress refused an
 * undeclared host (it names the stream's cluster so at route time), `PassthroughCluster` when
 * its route sends it to the host itself (known from the route, so a passthrough call refused
 * later, by authorization say, is still counted as one).
 */
export function virtualClusterOf(c: Context<GatewayEnv>): VirtualCluster | undefined {
  const stream = c.get("stream");
  if (stream.cluster === BLACKHOLE_CLUSTER) return BLACKHOLE_CLUSTER;
  const key = stream.cluster ?? firstDestinationCluster(c);
  return key?.startsWith(PASSTHROUGH_PREFIX) ? PASSTHROUGH_CLUSTER : undefined;
}

function firstDestinationCluster(c: Context<GatewayEnv>): string | undefined {
  const action = c.get("route")?.route.action;
  return action?.type === "forward" ? action.destinations[0]?.cluster : undefined;
}

/**
 * Istio's labels for a call to a virtual cluster: `destination_service_name` is the cluster, and
 * nothing is known of the destination's namespace, workload or version. Istio also puts the host
 * the caller asked for in `destination_service`; here that label is the cluster too, because the
 * host is whatever any caller writes in `Host`: a client could otherwise fill the isolate's
 * bounded series with junk hosts and push the real ones out. The access log and the egress audit
 * name the host.
 */
export function virtualClusterLabels(labels: IstioRequestLabels, cluster: VirtualCluster): IstioRequestLabels {
  return {
    ...labels,
    destination_workload: "unknown",
    destination_workload_namespace: "unknown",
    destination_principal: "unknown",
    destination_app: "unknown",
    destination_version: "unknown",
    destination_service: cluster,
    destination_canonical_service: "unknown",
    destination_canonical_revision: "latest",
    destination_service_name: cluster,
    destination_service_namespace: "unknown",
    destination_cluster: "unknown",
  };
}
