import type { FaultPolicy } from "../snapshot/schema.js";

/** What the fault stage must do to this request: wait `delayMs`, then answer `abortStatus`. */
export interface FaultDecision {
  delayMs?: number;
  abortStatus?: number;
}

/**
 * Decides Istio fault injection for one request. Delay and abort are drawn independently (as in
 * Envoy's fault filter), each firing with probability `percent / 100`: 100 always fires, 0 never
 * does. The delay draw comes first, then the abort draw, each only when that fault is configured,
 * so a seeded `random` gives reproducible decisions. Both may fire: the caller delays, then aborts.
 */
export function decideFault(fault: FaultPolicy | undefined, random: () => number): FaultDecision {
  const decision: FaultDecision = {};
  if (fault?.delay && fires(fault.delay.percent, random)) decision.delayMs = fault.delay.delayMs;
  if (fault?.abort && fires(fault.abort.percent, random)) decision.abortStatus = fault.abort.status;
  return decision;
}

function fires(percent: number, random: () => number): boolean {
  const draw = random();
  if (percent >= 100) return true;
  return draw * 100 < percent;
}
