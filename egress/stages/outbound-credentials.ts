import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../../gateway/context.js";
import { GatewayError } from "../../gateway/errors.js";
import { parseSpiffeId } from "../../policies/identity/spiffe-id.js";
import type { Snapshot } from "../../policies/snapshot/schema.js";
import { EgressCredentialTable } from "../../policies/egress/credentials.js";
import { PASSTHROUGH_CLUSTER } from "../../policies/egress/outbound.js";
import { isCleartextOffMachine } from "../../policies/snapshot/hosts.js";
import type { OutboundJwtSvidMinter } from "../outbound-identity.js";
import { maskSecretInStream } from "../secret-redaction.js";

/**
 * Adds what an EgressCredential says to a call sent to one of its hosts: a secret of this
 * worker, read from `env` by name, and/or a JWT-SVID minted for the caller. It runs last before
 * the router, after the mirror (a mirrored copy never carries a credential), and keys on the
 * destination's host, where the call really goes, not on the Host the caller asked for.
 * The secret never reaches the caller: a response header that contains it is dropped, and it is
 * masked in the response body.
 */
export function outboundCredentials(minter: OutboundJwtSvidMinter, now: () => number): MiddlewareHandler<GatewayEnv> {
  const tables = new WeakMap<Snapshot, EgressCredentialTable>();
  return async function outboundCredentials(c, next) {
    const snapshot = c.get("config").table.snapshot;
    const credentials = snapshot.egress?.credentials;
    if (!credentials) return next();
    let table = tables.get(snapshot);
    if (!table) tables.set(snapshot, (table = new EgressCredentialTable(credentials)));
    const cluster = c.get("destination").cluster.cluster;
    // Only a host a MESH_EXTERNAL ServiceEntry declares gets credentials: never an ALLOW_ANY
    // passthrough to a host nobody declared, even one a wildcard credential host would cover.
    if (cluster.key.startsWith(`${PASSTHROUGH_CLUSTER}|`)) return next();
    const host = cluster.host;
    const credential = table.forHost(host);
    if (!credential) return next();
    // The backstop of the compile-time check: a credential never leaves in cleartext (plain HTTP
    // to anything but loopback), whatever routing, subsets or wildcards made of the cluster.
    if (isCleartextOffMachine(cluster)) {
      throw new GatewayError(503, undefined, "credential_insecure", `EgressCredential ${credential.name}: ${cluster.key} is plain HTTP to a non-loopback address; its credentials are only sent over TLS`);
    }

    const stream = c.get("stream");
    const headers = c.get("outbound").headers;
    stream.egressCredential = credential.name;
    let secret: string | undefined;
    if (credential.inject) {
      const { header, secretName, prefix } = credential.inject;
      const value = (c.env as Record<string, unknown> | undefined)?.[secretName];
      if (typeof value !== "string" || value === "") {
        throw new GatewayError(503, undefined, "credential_unavailable", `EgressCredential ${credential.name}: this egress has no secret '${secretName}' (wrangler secret put ${secretName})`);
      }
      secret = value;
      headers.set(header, prefix + value);
    }
    if (credential.workloadIdentity) {
      const { header, prefix, audience, ttlMs } = credential.workloadIdentity;
      const caller = stream.peerPrincipal;
      if (caller === undefined) {
        throw new GatewayError(401, undefined, "outbound_identity_unavailable", `EgressCredential ${credential.name} sends the caller's identity to '${host}': call as a workload (X.509-SVID, JWT-SVID or a service binding)`);
      }
      const trustDomain = snapshot.security?.trustDomain;
      if (trustDomain !== undefined && parseSpiffeId(caller).trustDomain !== trustDomain) {
        throw new GatewayError(403, undefined, "outbound_identity_foreign", `EgressCredential ${credential.name}: the mesh CA signs for trust domain '${trustDomain}' only, not for caller '${caller}'`);
      }
      if (!minter.configured) {
        throw new GatewayError(503, undefined, "outbound_identity_key_missing", `EgressCredential ${credential.name}: this egress has no MESH_JWT_SVID_KEY to sign the caller's JWT-SVID with`);
      }
      let token: string;
      try {
        token = await minter.mint(caller, audience ?? host, ttlMs, now());
      } catch (error) {
        throw new GatewayError(503, undefined, "outbound_identity_key_invalid", `EgressCredential ${credential.name}: ${(error as Error).message}`);
      }
      headers.set(header, prefix + token);
    }
    await next();
    if (secret !== undefined) {
      const cleaned = withoutSecret(c.res, secret);
      // Hono's res setter copies the old response's headers onto the new one: clear it first.
      c.res = undefined;
      c.res = cleaned;
    }
  };
}

/** The response without any header whose value contains the secret, and with the secret masked in its body (an upstream echoing it back). */
function withoutSecret(response: Response, secret: string): Response {
  const headers = new Headers(response.headers);
  response.headers.forEach((value, name) => {
    if (value.includes(secret)) headers.delete(name);
  });
  const body = response.body ? maskSecretInStream(response.body, secret) : null;
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}
