import type { Cluster } from "../../policies/snapshot/schema.js";
import { GatewayError } from "../errors.js";

/**
 * Who makes the connection to a cluster's endpoints. Plain HTTP and TLS origination with
 * `mode: SIMPLE` use the worker's own fetch (https verifies the server against the runtime's
 * trust store and the endpoint's name). `mode: MUTUAL` goes through the binding named by
 * `credentialName`: on Cloudflare an `mtls_certificates` binding, whose fetch presents the
 * uploaded client certificate; locally a service binding of the same name standing in for it
 * (an external server with a client keypair in its TLS options). A missing binding is a
 * configuration error of this worker: 503 `UF`, and no connection is made without the certificate.
 */
export function clusterFetcher(cluster: Pick<Cluster, "key" | "tls">, env: Readonly<Record<string, unknown>> | undefined, ownFetch: typeof fetch): typeof fetch {
  if (cluster.tls?.mode !== "MUTUAL") return ownFetch;
  const name = cluster.tls.credentialName!;
  const binding = env?.[name];
  if (!isFetcher(binding)) {
    throw new GatewayError(
      503,
      "UF",
      "tls_credential_missing",
      `DestinationRule tls.credentialName '${name}' for ${cluster.key}: this worker has no mtls_certificates binding named '${name}'`,
    );
  }
  return (input, init) => binding.fetch(input, init);
}

function isFetcher(value: unknown): value is { fetch: typeof fetch } {
  return typeof value === "object" && value !== null && typeof (value as { fetch?: unknown }).fetch === "function";
}
