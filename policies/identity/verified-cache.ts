/**
 * A bounded cache of verification results (JWT-SVIDs, X.509 chains), keyed by a hash of the
 * credential and everything the result depends on (expected audience, bundle generation). An
 * entry never outlives the credential (`expiresAt` is the token's `exp` or the leaf's
 * `notAfter`) nor `maxTtlMs`; the least recently used entry goes first when full.
 * Only successes are cached: a failure is always re-verified.
 */
export class VerifiedCache<T> {
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();

  constructor(
    private readonly maxEntries = 1024,
    private readonly maxTtlMs = 300_000,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError("maxEntries must be a positive integer");
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now: number): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (now >= entry.expiresAt) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: T, now: number, expiresAt: number): void {
    const until = Math.min(expiresAt, now + this.maxTtlMs);
    if (until <= now) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: until });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
