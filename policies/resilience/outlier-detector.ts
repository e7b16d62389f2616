import type { Endpoint, OutlierDetectionPolicy } from "../snapshot/schema.js";
import { endpointKey } from "./endpoint-key.js";
import type { AttemptOutcome } from "./retry.js";

/**
 * Envoy's consecutive-error outlier detection for one cluster in one isolate (Istio's
 * `outlierDetection`): passive health checking from the outcomes of real requests.
 *
 * Counting (Envoy's default mode, local-origin errors not split out):
 * - "5xx", a 5xx other than 502/503/504: counts toward consecutive5xxErrors and breaks a run of
 *   gateway errors.
 * - "gateway-error" (502/503/504) and "local-failure" (connect failure, reset, per-try timeout,
 *   which Envoy maps to 503/504): count toward both consecutive5xxErrors and
 *   consecutiveGatewayErrors.
 * - "success" (anything below 500) resets both runs.
 * A threshold of 0 disables that check. Reaching a threshold resets that run whether or not the
 * host is then ejected, so a refused ejection is retried only after another full run.
 *
 * Ejection, as in current Envoy:
 * - maxEjectionPercent: a host is ejected only if, counting it, at most maxEjectionPercent of the
 *   cluster's endpoints would be ejected. There is no "always eject one": with Istio's default of
 *   10%, a cluster of fewer than 10 endpoints ejects nothing, and one of 3 needs at least 34%.
 *   (Envoy before 1.31 compared the count *before* the ejection, which always allowed one.)
 * - The ejection lasts baseEjectionTime × the host's ejection multiplier, capped at Envoy's
 *   default max_ejection_time (300 s, or baseEjectionTime if longer). The multiplier grows by one
 *   with each ejection and shrinks by one for every full interval the host spends back in
 *   service, so a host that keeps failing stays out longer and a recovered one is forgiven.
 * - There is no panic mode (Istio's minHealthPercent defaults to 0): when every endpoint is
 *   ejected, `healthyEndpoints` is empty and the request has no healthy upstream.
 *
 * Time, without timers: Envoy sweeps every interval to return hosts to service; here a host
 * returns exactly when its ejection ends, evaluated lazily against the `now` the caller passes
 * (Envoy's return lags by up to one interval). The multiplier's decay is computed from the time
 * since the host returned, one step per full interval, as Envoy's sweep would have applied it.
 *
 * The cluster's membership (for the percentage) is the endpoint list last given to
 * `healthyEndpoints`, which the gateway calls with the cluster's full endpoint list before each
 * pick; outcomes for hosts no longer in it are ignored, and their state is dropped.
 */

export type OutlierOutcome = "success" | "5xx" | "gateway-error" | "local-failure";

export type OutlierEjectionType = "consecutive_5xx" | "consecutive_gateway_failure";

/** What `recordOutcome` did when an outcome completed a run of errors. */
export interface OutlierEjectionEvent {
  type: OutlierEjectionType;
  /** False when maxEjectionPercent refused the ejection (Envoy's `ejections_overflow`). */
  ejected: boolean;
  /** When the host returns to service, if it was ejected. */
  ejectedUntil?: number;
}

/** Envoy's default max_ejection_time; Istio does not expose it. */
export const DEFAULT_MAX_EJECTION_TIME_MS = 300_000;

interface HostState {
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  /** Set while the host is ejected: the time it returns to service. */
  ejectedUntil: number | undefined;
  /** Envoy's eject_time_backoff: the ejection-time multiplier, as of `returnedAt`. */
  multiplier: number;
  /** When the host last returned to service (the start of the multiplier's decay). */
  returnedAt: number | undefined;
}

/** How an attempt's outcome counts for outlier detection. */
export function outlierOutcomeFor(outcome: AttemptOutcome): OutlierOutcome {
  if (outcome.kind !== "response") return "local-failure";
  if (outcome.status === 502 || outcome.status === 503 || outcome.status === 504) return "gateway-error";
  return outcome.status >= 500 && outcome.status <= 599 ? "5xx" : "success";
}

export class OutlierDetector {
  readonly #policy: OutlierDetectionPolicy;
  readonly #maxEjectionTimeMs: number;
  readonly #hosts = new Map<string, HostState>();
  /** The cluster's endpoint keys, once `healthyEndpoints` has told us; until then, every host seen. */
  #members: Set<string> | undefined;
  #lastEndpoints: readonly Endpoint[] | undefined;

  constructor(policy: OutlierDetectionPolicy) {
    this.#policy = policy;
    this.#maxEjectionTimeMs = Math.max(DEFAULT_MAX_EJECTION_TIME_MS, policy.baseEjectionTimeMs);
  }

  /** Records the outcome of one attempt to `endpointKey` (call it for every attempt, retries too). */
  recordOutcome(endpointKey: string, outcome: OutlierOutcome, now: number): OutlierEjectionEvent | undefined {
    if (this.#members && !this.#members.has(endpointKey)) return undefined;
    this.#returnExpired(now);
    const host = this.#host(endpointKey);
    // Outcomes of requests that were in flight when the host was ejected do not count: its runs
    // restart from zero when it returns.
    if (host.ejectedUntil !== undefined) return undefined;

    if (outcome === "success") {
      host.consecutive5xx = 0;
      host.consecutiveGatewayErrors = 0;
      return undefined;
    }
    host.consecutive5xx++;
    if (outcome === "5xx") host.consecutiveGatewayErrors = 0;
    else host.consecutiveGatewayErrors++;

    const { consecutiveGatewayErrors, consecutive5xxErrors } = this.#policy;
    if (consecutiveGatewayErrors > 0 && host.consecutiveGatewayErrors >= consecutiveGatewayErrors) {
      host.consecutiveGatewayErrors = 0;
      const event = this.#tryEject(host, "consecutive_gateway_failure", now);
      if (event.ejected) return event;
      // Refused: a 5xx run that is also due is still evaluated (and reset), as Envoy handles the
      // two detections as separate events.
      if (!(consecutive5xxErrors > 0 && host.consecutive5xx >= consecutive5xxErrors)) return event;
    }
    if (consecutive5xxErrors > 0 && host.consecutive5xx >= consecutive5xxErrors) {
      host.consecutive5xx = 0;
      return this.#tryEject(host, "consecutive_5xx", now);
    }
    return undefined;
  }

  isEjected(endpointKey: string, now: number): boolean {
    this.#returnExpired(now);
    return this.#hosts.get(endpointKey)?.ejectedUntil !== undefined;
  }

  /** How many of the cluster's endpoints are ejected at `now`. */
  ejectedCount(now: number): number {
    this.#returnExpired(now);
    let count = 0;
    for (const [key, host] of this.#hosts) if (host.ejectedUntil !== undefined && this.#isMember(key)) count++;
    return count;
  }

  /**
   * The cluster's endpoints minus the ejected ones, and the cluster's membership from now on.
   * Returns `endpoints` itself when none is ejected, so per-array caches (the hash ring) keep
   * hitting.
   */
  healthyEndpoints(endpoints: readonly Endpoint[], now: number): readonly Endpoint[] {
    this.#syncMembers(endpoints);
    this.#returnExpired(now);
    let anyEjected = false;
    for (const host of this.#hosts.values()) if (host.ejectedUntil !== undefined) anyEjected = true;
    if (!anyEjected) return endpoints;
    return endpoints.filter((endpoint) => this.#hosts.get(endpointKey(endpoint))?.ejectedUntil === undefined);
  }

  #tryEject(host: HostState, type: OutlierEjectionType, now: number): OutlierEjectionEvent {
    const memberCount = this.#members ? this.#members.size : this.#hosts.size;
    const ejectedPercent = (100 * (this.ejectedCount(now) + 1)) / Math.max(memberCount, 1);
    if (ejectedPercent > Math.min(this.#policy.maxEjectionPercent, 100)) return { type, ejected: false };

    const base = this.#policy.baseEjectionTimeMs;
    host.multiplier = this.#decayedMultiplier(host, now);
    // Envoy stops growing the multiplier once base × multiplier passes the cap.
    if (host.multiplier * base < this.#maxEjectionTimeMs + base) host.multiplier++;
    host.ejectedUntil = now + Math.min(base * host.multiplier, this.#maxEjectionTimeMs);
    host.returnedAt = undefined;
    return { type, ejected: true, ejectedUntil: host.ejectedUntil };
  }

  /** The multiplier after one decrement per full interval spent in service since `returnedAt`. */
  #decayedMultiplier(host: HostState, now: number): number {
    if (host.returnedAt === undefined || !(this.#policy.intervalMs > 0)) return host.multiplier;
    const intervals = Math.floor((now - host.returnedAt) / this.#policy.intervalMs);
    return Math.max(0, host.multiplier - intervals);
  }

  #returnExpired(now: number): void {
    for (const host of this.#hosts.values()) {
      if (host.ejectedUntil !== undefined && now >= host.ejectedUntil) {
        host.returnedAt = host.ejectedUntil;
        host.ejectedUntil = undefined;
        // As Envoy does on return: a host comes back with clean runs, so a few errors right
        // after it returns cannot eject it again.
        host.consecutive5xx = 0;
        host.consecutiveGatewayErrors = 0;
      }
    }
  }

  #syncMembers(endpoints: readonly Endpoint[]): void {
    if (endpoints === this.#lastEndpoints) return;
    this.#lastEndpoints = endpoints;
    this.#members = new Set(endpoints.map(endpointKey));
    for (const key of this.#hosts.keys()) if (!this.#members.has(key)) this.#hosts.delete(key);
  }

  #isMember(key: string): boolean {
    return this.#members ? this.#members.has(key) : true;
  }

  #host(key: string): HostState {
    let host = this.#hosts.get(key);
    if (!host) {
      host = { consecutive5xx: 0, consecutiveGatewayErrors: 0, ejectedUntil: undefined, multiplier: 0, returnedAt: undefined };
      this.#hosts.set(key, host);
    }
    return host;
  }
}
