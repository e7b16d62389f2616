import type { Cluster, Endpoint } from "../../policies/snapshot/schema.js";

/** The URL of a request to one endpoint (IPv6 addresses in brackets). */
export function endpointUrl(cluster: Pick<Cluster, "scheme">, endpoint: Endpoint, pathAndQuery: string): string {
  const host = endpoint.address.includes(":") && !endpoint.address.startsWith("[") ? `[${endpoint.address}]` : endpoint.address;
  return `${cluster.scheme}://${host}:${endpoint.port}${pathAndQuery}`;
}

/** Envoy's shadow authority: `-shadow` appended to the host, before any port. */
export function shadowAuthority(authority: string): string {
  const port = /:\d+$/.exec(authority)?.[0] ?? "";
  return `${authority.slice(0, authority.length - port.length)}-shadow${port}`;
}
