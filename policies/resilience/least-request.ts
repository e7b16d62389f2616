import type { Endpoint } from "../snapshot/schema.js";
import { pickWeightedRandomEndpoint } from "./endpoint-weight.js";

/**
 * Envoy's least-request balancer, power of two choices: draw two endpoints at random (by weight,
 * with replacement, as Envoy does) and take the one with fewer active requests; on a tie, the
 * first drawn. This avoids the herding of "always the least loaded" while still steering away
 * from busy endpoints. Without an active-request count every endpoint counts as idle, which makes
 * it weighted random. (Envoy switches to a weighted scheduler when weights differ; drawing the
 * candidates by weight keeps the weights' effect without per-cluster scheduler state.)
 */
export function pickLeastRequest(
  endpoints: readonly Endpoint[],
  random: () => number,
  activeRequests?: (endpoint: Endpoint) => number,
): Endpoint | undefined {
  if (endpoints.length <= 1) return endpoints[0];
  const first = pickWeightedRandomEndpoint(endpoints, random);
  const second = pickWeightedRandomEndpoint(endpoints, random);
  if (!first || !second || !activeRequests) return first;
  return activeRequests(second) < activeRequests(first) ? second : first;
}
