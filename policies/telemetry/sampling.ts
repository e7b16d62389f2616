/**
 * Sampling decisions, with the randomness injected. A trace follows its parent's decision when
 * the caller made one (so a trace is never half recorded), and otherwise samples `percent` of
 * new traces, like Istio's `randomSamplingPercentage`.
 */

export function decideTraceSampling(parentSampled: boolean | undefined, percent: number, random: () => number): boolean {
  if (parentSampled !== undefined) return parentSampled;
  return sampleByPercent(percent, random);
}

/** True for `percent`% of draws: 0 never draws, 100 always does. */
export function sampleByPercent(percent: number, random: () => number): boolean {
  if (!(percent > 0)) return false;
  if (percent >= 100) return true;
  return random() * 100 < percent;
}
