import type { Endpoint } from "../snapshot/schema.js";
import { endpointKey } from "./endpoint-key.js";
import { endpointWeight } from "./endpoint-weight.js";

/**
 * Smooth weighted round robin (nginx's algorithm): each pick adds every endpoint's weight to its
 * running score, takes the highest score and subtracts the total weight from it. Over any
 * total-weight picks each endpoint is chosen exactly weight times, interleaved rather than in
 * bursts (5:1:1 gives a a b a c a a); equal weights give plain round robin in list order.
 *
 * Scores are kept by endpoint key, so the rotation survives a new snapshot or an endpoint being
 * ejected and coming back. Like Envoy, the rotation starts at a random position: many
 * short-lived isolates must not all send their first request to the first endpoint.
 */
export class SmoothWeightedRoundRobin {
  #scores = new Map<string, number>();

  pick(endpoints: readonly Endpoint[], random: () => number): Endpoint | undefined {
    if (endpoints.length <= 1) return endpoints[0];
    if (this.#scores.size === 0) {
      const skip = Math.floor(random() * endpoints.length);
      for (let i = 0; i < skip; i++) this.#step(endpoints);
    }
    const picked = this.#step(endpoints);
    // Forget endpoints that have left the cluster, so the map stays the size of the cluster.
    if (this.#scores.size > 2 * endpoints.length + 16) this.#prune(endpoints);
    return picked;
  }

  #step(endpoints: readonly Endpoint[]): Endpoint | undefined {
    let total = 0;
    let best: Endpoint | undefined;
    let bestKey = "";
    let bestScore = -Infinity;
    for (const endpoint of endpoints) {
      const weight = endpointWeight(endpoint);
      const key = endpointKey(endpoint);
      const score = (this.#scores.get(key) ?? 0) + weight;
      this.#scores.set(key, score);
      total += weight;
      if (score > bestScore) {
        best = endpoint;
        bestKey = key;
        bestScore = score;
      }
    }
    this.#scores.set(bestKey, bestScore - total);
    return best;
  }

  #prune(endpoints: readonly Endpoint[]): void {
    const live = new Set(endpoints.map(endpointKey));
    for (const key of this.#scores.keys()) if (!live.has(key)) this.#scores.delete(key);
  }
}
