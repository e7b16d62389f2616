import type { Endpoint, LoadBalancerPolicy } from "../snapshot/schema.js";
import { pickWeightedRandomEndpoint } from "./endpoint-weight.js";
import { murmur3_32 } from "./hash.js";
import { pickLeastRequest } from "./least-request.js";
import { HashRingCache, lookupHashRing } from "./ring-hash.js";
import { SmoothWeightedRoundRobin } from "./round-robin.js";

/** What a pick may use besides the endpoints. */
export interface LoadBalancerInput {
  random: () => number;
  /** The consistent-hash key of the request (see `hashKeyFor`); other policies ignore it. */
  hashKey?: string;
  /** Requests in flight to an endpoint, for least_request; without it every endpoint is idle. */
  activeRequests?: (endpoint: Endpoint) => number;
}

export interface LoadBalancer {
  readonly type: LoadBalancerPolicy["type"];
  /** Picks one of `endpoints` (already filtered of ejected hosts); undefined only when empty. */
  pick(endpoints: readonly Endpoint[], input: LoadBalancerInput): Endpoint | undefined;
}

/**
 * A balancer for one cluster's policy. Create one per cluster per isolate and keep it: round
 * robin keeps its rotation and consistent hash its rings in it. Endpoint weights count in every
 * policy.
 * - round_robin: smooth weighted round robin.
 * - random: weighted random.
 * - least_request: power of two choices on `activeRequests`.
 * - consistent_hash: ring hash on `hashKey`; the same key reaches the same endpoint while the
 *   endpoint set is unchanged. Without a key, weighted random (as Envoy does when the hash
 *   policy yields no hash).
 */
export function createLoadBalancer(policy: LoadBalancerPolicy): LoadBalancer {
  switch (policy.type) {
    case "round_robin": {
      const rotation = new SmoothWeightedRoundRobin();
      return { type: policy.type, pick: (endpoints, input) => rotation.pick(endpoints, input.random) };
    }
    case "random":
      return { type: policy.type, pick: (endpoints, input) => pickWeightedRandomEndpoint(endpoints, input.random) };
    case "least_request":
      return {
        type: policy.type,
        pick: (endpoints, input) => pickLeastRequest(endpoints, input.random, input.activeRequests),
      };
    case "consistent_hash": {
      const rings = new HashRingCache();
      return {
        type: policy.type,
        pick(endpoints, input) {
          if (input.hashKey === undefined) return pickWeightedRandomEndpoint(endpoints, input.random);
          if (endpoints.length <= 1) return endpoints[0];
          return lookupHashRing(rings.ringFor(endpoints), murmur3_32(input.hashKey));
        },
      };
    }
  }
}

/** The parts of a request a hash policy can read. */
export interface HashKeySource {
  header(name: string): string | null;
  cookie(name: string): string | null;
  query(name: string): string | null;
  sourceIp: string | null;
}

/**
 * The consistent-hash key of a request under `policy`: the named header, cookie or query
 * parameter, or the client's IP. Undefined when the policy is not consistent_hash or the request
 * lacks the value (the balancer then picks at random). An empty value is still a key.
 * Envoy also generates the cookie when it is missing and the policy has a `ttlMs`; that
 * Set-Cookie is the gateway's job, not this function's.
 */
export function hashKeyFor(policy: LoadBalancerPolicy, request: HashKeySource): string | undefined {
  if (policy.type !== "consistent_hash") return undefined;
  let key: string | null = null;
  if (policy.header !== undefined) key = request.header(policy.header);
  else if (policy.cookie !== undefined) key = request.cookie(policy.cookie.name);
  else if (policy.queryParameter !== undefined) key = request.query(policy.queryParameter);
  else if (policy.sourceIp) key = request.sourceIp;
  return key ?? undefined;
}
