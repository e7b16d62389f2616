import type { Endpoint } from "../snapshot/schema.js";

/**
 * The identity of an endpoint inside a cluster: `address:port`. Outlier detection, round-robin
 * state and the hash ring all key on it, so an endpoint keeps its history across snapshots that
 * re-create the Endpoint objects.
 */
export function endpointKey(endpoint: Pick<Endpoint, "address" | "port">): string {
  return `${endpoint.address}:${endpoint.port}`;
}
