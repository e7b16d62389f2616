import type { Endpoint } from "../snapshot/schema.js";
import { endpointKey } from "./endpoint-key.js";
import { endpointWeight } from "./endpoint-weight.js";
import { murmur3_32 } from "./hash.js";

/**
 * Envoy's ring hash: every endpoint owns points on a 32-bit ring, a request key hashes to a point
 * and goes to the owner of the first endpoint point at or after it (wrapping around).
 *
 * Point counts: an endpoint of the smallest weight in the set gets POINTS_PER_MIN_WEIGHT points,
 * heavier ones proportionally more (ceil). Point i of an endpoint sits at hash(`address:port#i`),
 * so it depends only on that endpoint. When all weights are equal (the usual case) each endpoint's
 * points do not depend on the rest of the set, so removing an endpoint moves exactly the keys it
 * owned and adding one takes keys only for itself. (With unequal weights, removing the lightest
 * endpoint rescales the others' point counts and moves a few more keys.)
 */

/** 256 points per endpoint keeps each endpoint's share within a few percent of its weight. */
export const POINTS_PER_MIN_WEIGHT = 256;
/** Caps the ring's memory and build time (Envoy caps at 8M points; edge isolates are smaller). */
export const MAX_RING_POINTS = 65_536;

export interface HashRing {
  /** Point positions, ascending. */
  readonly points: Uint32Array;
  /** owners[i] owns points[i]. */
  readonly owners: readonly Endpoint[];
}

export function buildHashRing(endpoints: readonly Endpoint[]): HashRing {
  if (endpoints.length === 0) return { points: new Uint32Array(0), owners: [] };
  let minWeight = Infinity;
  for (const endpoint of endpoints) minWeight = Math.min(minWeight, endpointWeight(endpoint));
  const counts = endpoints.map((endpoint) => Math.ceil((POINTS_PER_MIN_WEIGHT * endpointWeight(endpoint)) / minWeight));
  const total = counts.reduce((sum, count) => sum + count, 0);
  const scale = total > MAX_RING_POINTS ? MAX_RING_POINTS / total : 1;

  const entries: { point: number; key: string; endpoint: Endpoint }[] = [];
  endpoints.forEach((endpoint, index) => {
    const key = endpointKey(endpoint);
    const count = Math.max(1, Math.floor(counts[index]! * scale));
    for (let i = 0; i < count; i++) entries.push({ point: murmur3_32(`${key}#${i}`), key, endpoint });
  });
  // Ties (rare 32-bit collisions) are broken by endpoint key, so the ring does not depend on the
  // order endpoints were listed in.
  entries.sort((a, b) => a.point - b.point || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { points: Uint32Array.from(entries, (entry) => entry.point), owners: entries.map((entry) => entry.endpoint) };
}

/** The endpoint that owns `hash` on the ring: the first point >= hash, wrapping to the start. */
export function lookupHashRing(ring: HashRing, hash: number): Endpoint | undefined {
  const { points } = ring;
  if (points.length === 0) return undefined;
  let low = 0;
  let high = points.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (points[middle]! < hash) low = middle + 1;
    else high = middle;
  }
  return ring.owners[low === points.length ? 0 : low];
}

/**
 * Rings by endpoint set, so the request path only looks them up. The same array object hits the
 * WeakMap; an equal set in a new array (the outlier filter builds a new one each time a host is
 * ejected) hits the small map keyed by the set's keys and weights.
 */
export class HashRingCache {
  static readonly MAX_SETS = 8;
  #byArray = new WeakMap<readonly Endpoint[], HashRing>();
  #bySignature = new Map<string, HashRing>();

  ringFor(endpoints: readonly Endpoint[]): HashRing {
    const cached = this.#byArray.get(endpoints);
    if (cached) return cached;
    const signature = endpoints.map((endpoint) => `${endpointKey(endpoint)}*${endpointWeight(endpoint)}`).join(",");
    let ring = this.#bySignature.get(signature);
    if (ring) {
      // Refresh its place as the most recently used.
      this.#bySignature.delete(signature);
    } else {
      ring = buildHashRing(endpoints);
      if (this.#bySignature.size >= HashRingCache.MAX_SETS) {
        const oldest = this.#bySignature.keys().next().value;
        if (oldest !== undefined) this.#bySignature.delete(oldest);
      }
    }
    this.#bySignature.set(signature, ring);
    this.#byArray.set(endpoints, ring);
    return ring;
  }
}
