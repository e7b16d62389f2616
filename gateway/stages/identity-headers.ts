import type { MiddlewareHandler } from "hono";
import { formatXfccElement } from "../../policies/identity/xfcc.js";
import type { GatewayEnv } from "../context.js";
import { IDENTITY_HEADERS } from "../security/state.js";
import { isMeshExternalCluster } from "../../policies/egress/external-clusters.js";

/**
 * What the upstream learns about the caller, from the gateway only (after every other header
 * change, so neither clients nor route header operations can set these):
 *
 * - `x-forwarded-client-cert`, as Istio's gateways set it (SANITIZE_SET): `By` the gateway's
 *   SPIFFE ID, `Hash` the SHA-256 of the peer's leaf certificate, `Subject`, `URI` the peer's
 *   SPIFFE ID — only when the peer presented a verified X.509-SVID;
 * - `x-mesh-peer-principal` (the peer's SPIFFE ID, from an X.509-SVID or a JWT-SVID) and
 *   `x-mesh-peer-authentication` (`mtls`, `xfcc` or `jwt-svid`);
 * - `x-mesh-request-principal`, `<iss>/<sub>` of the verified end-user token;
 *
 * and nothing of this to a destination outside the mesh.
 */
export function identityHeaders(): MiddlewareHandler<GatewayEnv> {
  return function identityHeaders(c, next) {
    const headers = c.get("outbound").headers;
    for (const name of IDENTITY_HEADERS) headers.delete(name);
    // A host outside the mesh (a MESH_EXTERNAL ServiceEntry, an ALLOW_ANY passthrough) learns
    // nothing of the caller's mesh identity: no SPIFFE IDs, no certificate hash. An external API
    // that must know who called gets a JWT-SVID minted for it (EgressCredential workloadIdentity).
    const destination = c.get("destination");
    if (destination && isMeshExternalCluster(c.get("config").table.snapshot, destination.cluster.cluster)) return next();
    const identity = c.get("identity");
    const peer = identity.peer;
    if (peer?.x509) {
      const svid = peer.x509;
      headers.set("x-forwarded-client-cert", formatXfccElement({ by: [identity.security.gatewayId], hash: svid.hash, subject: svid.subject, uri: [svid.spiffeId.uri] }));
    }
    if (peer) {
      headers.set("x-mesh-peer-principal", peer.spiffeId.uri);
      headers.set("x-mesh-peer-authentication", peer.via);
    }
    if (identity.requestAuth) headers.set("x-mesh-request-principal", identity.requestAuth.principal);
    return next();
  };
}
