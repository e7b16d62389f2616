import type { HostTable } from "./schema.js";

/** Host pattern logic shared by the compiler and the request path: `*`, `*.example.com`, exact. */

/** Whether a concrete request host is matched by a pattern. */
export function hostMatchesPattern(host: string, pattern: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return host.length > pattern.length - 1 && host.endsWith(pattern.slice(1));
  return host === pattern;
}

/** Whether two patterns can match a common host (Istio's rule for binding a VirtualService host to a Gateway server). */
export function hostPatternsIntersect(a: string, b: string): boolean {
  if (a === "*" || b === "*") return true;
  const aWild = a.startsWith("*.");
  const bWild = b.startsWith("*.");
  if (aWild && bWild) return a.slice(1).endsWith(b.slice(1)) || b.slice(1).endsWith(a.slice(1));
  if (aWild) return hostMatchesPattern(b, a);
  if (bWild) return hostMatchesPattern(a, b);
  return a === b;
}

/** Most specific entry for a host: exact, then the longest wildcard suffix, then `*`. */
export function lookupHost(table: HostTable, host: string): number | undefined {
  const exact = table.exact[host];
  if (exact !== undefined) return exact;
  for (const [suffix, value] of table.wildcard) {
    if (host.length > suffix.length && host.endsWith(suffix)) return value;
  }
  return table.any;
}

/** Normalises a Host/:authority header value: lowercase, no port, no trailing dot. */
export function normaliseRequestHost(authority: string): string {
  let host = authority.toLowerCase();
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(":");
  if (colon !== -1) host = host.slice(0, colon);
  if (host.endsWith(".")) host = host.slice(0, -1);
  return host;
}

/** A loopback address or name (`127.0.0.0/8`, `::1`, `localhost`): traffic to it never leaves the machine. */
export function isLoopbackAddress(address: string): boolean {
  return address === "localhost" || address === "::1" || address === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

/** Whether a request to the cluster would leave the machine as plain HTTP (so a credential must not go with it). */
export function isCleartextOffMachine(cluster: { scheme: "http" | "https"; endpoints: readonly { address: string }[] }): boolean {
  return cluster.scheme !== "https" && cluster.endpoints.some((endpoint) => !isLoopbackAddress(endpoint.address));
}
