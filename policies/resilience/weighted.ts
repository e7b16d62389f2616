/**
 * Picks one of a route's weighted destinations, as Istio splits traffic between them.
 *
 * Istio weights are relative (they need not sum to 100). A destination with weight 0 is never
 * picked, except that a route's only destination takes all traffic whatever its weight (Istio:
 * "if there is only one destination in a rule, all traffic will be routed to it irrespective of
 * the weight"). `totalWeight` is the sum of the weights, precomputed by the compiler so the
 * request path does not add them up again. Routes have a handful of destinations, so a linear
 * scan beats building a cumulative table.
 */
export function pickWeightedDestination<T extends { weight: number }>(
  destinations: readonly T[],
  totalWeight: number,
  random: () => number,
): T | undefined {
  if (destinations.length === 1) return destinations[0];
  if (!(totalWeight > 0)) return undefined;
  let remaining = random() * totalWeight;
  let lastPositive: T | undefined;
  for (const destination of destinations) {
    if (!(destination.weight > 0)) continue;
    lastPositive = destination;
    remaining -= destination.weight;
    if (remaining < 0) return destination;
  }
  // Only reachable through floating-point rounding (or a totalWeight larger than the real sum):
  // the draw fell at the very top of the range, which belongs to the last weighted destination.
  return lastPositive;
}
