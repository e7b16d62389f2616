import { hostMatchesPattern } from "../snapshot/hosts.js";
import type { CompiledEgressCredential } from "../snapshot/schema.js";

/**
 * The EgressCredentials of one snapshot, by host: exact hosts in a map, `*.` wildcards longest
 * first (the most specific wins, as for ServiceEntry hosts). Built once per snapshot.
 */
export class EgressCredentialTable {
  private readonly exact = new Map<string, CompiledEgressCredential>();
  private readonly wildcard: { pattern: string; credential: CompiledEgressCredential }[] = [];

  constructor(credentials: readonly CompiledEgressCredential[]) {
    for (const credential of credentials) {
      for (const host of credential.hosts) {
        if (host.startsWith("*.")) this.wildcard.push({ pattern: host, credential });
        else this.exact.set(host, credential);
      }
    }
    this.wildcard.sort((a, b) => b.pattern.length - a.pattern.length);
  }

  /** The credential for calls sent to `host` (lowercase, no port), if any. */
  forHost(host: string): CompiledEgressCredential | undefined {
    return this.exact.get(host) ?? this.wildcard.find((entry) => hostMatchesPattern(host, entry.pattern))?.credential;
  }
}
