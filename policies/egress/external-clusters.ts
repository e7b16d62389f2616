import type { Cluster, Snapshot } from "../snapshot/schema.js";
import { PASSTHROUGH_CLUSTER } from "./outbound.js";

/**
 * Which clusters are outside the mesh: a cluster of a `MESH_EXTERNAL` ServiceEntry (routed by a
 * VirtualService at either gateway, or the egress's own passthrough to a declared host, a `*.`
 * wildcard's per-host clusters included: they keep their ServiceEntry), or an ALLOW_ANY
 * passthrough cluster. Such a destination gets no mesh identity headers and no
 * `reporter="destination"` metrics. A set lookup: the set is built once per snapshot.
 */
const PASSTHROUGH_PREFIX = `${PASSTHROUGH_CLUSTER}|`;

const externalServiceEntries = new WeakMap<Snapshot, ReadonlySet<string>>();

function meshExternalServiceEntries(snapshot: Snapshot): ReadonlySet<string> {
  let entries = externalServiceEntries.get(snapshot);
  if (!entries) {
    entries = new Set((snapshot.egress?.services ?? []).map((service) => service.serviceEntry));
    externalServiceEntries.set(snapshot, entries);
  }
  return entries;
}

export function isMeshExternalCluster(snapshot: Snapshot | undefined, cluster: Cluster): boolean {
  if (cluster.key.startsWith(PASSTHROUGH_PREFIX)) return true;
  return snapshot !== undefined && meshExternalServiceEntries(snapshot).has(cluster.serviceEntry);
}
