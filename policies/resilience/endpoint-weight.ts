import type { Endpoint } from "../snapshot/schema.js";

/**
 * An endpoint's load-balancing weight. Envoy's `load_balancing_weight` is at least 1 and Istio
 * leaves it unset (so 1) when a ServiceEntry endpoint's weight is 0 or missing; we read anything
 * that is not a positive number the same way. (Route destinations differ: there weight 0 means
 * "never", see weighted.ts.)
 */
export function endpointWeight(endpoint: Endpoint): number {
  return endpoint.weight > 0 && Number.isFinite(endpoint.weight) ? endpoint.weight : 1;
}

/** Picks an endpoint with probability proportional to its weight; one draw of `random`. */
export function pickWeightedRandomEndpoint(endpoints: readonly Endpoint[], random: () => number): Endpoint | undefined {
  if (endpoints.length <= 1) return endpoints[0];
  let total = 0;
  for (const endpoint of endpoints) total += endpointWeight(endpoint);
  let remaining = random() * total;
  for (const endpoint of endpoints) {
    remaining -= endpointWeight(endpoint);
    if (remaining < 0) return endpoint;
  }
  // Only reachable through floating-point rounding at the very top of the range.
  return endpoints[endpoints.length - 1];
}
