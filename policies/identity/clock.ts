/** Clock skew is bounded: a verifier that tolerates hours of skew accepts expired credentials. */
export const DEFAULT_CLOCK_SKEW_MS = 60_000;
export const MAX_CLOCK_SKEW_MS = 300_000;

export function checkClockSkew(skewMs: number): number {
  if (!Number.isFinite(skewMs) || skewMs < 0 || skewMs > MAX_CLOCK_SKEW_MS) {
    throw new TypeError(`clock skew must be between 0 and ${MAX_CLOCK_SKEW_MS} ms (got ${skewMs})`);
  }
  return skewMs;
}
