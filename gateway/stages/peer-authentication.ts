import type { MiddlewareHandler } from "hono";
import { effectivePeerMode, serverTlsFor } from "../../policies/authz/scope.js";
import { IdentityError } from "../../policies/identity/errors.js";
import { sha256Hex } from "../../policies/identity/encoding.js";
import { verifyX509Svid, type VerifiedX509Svid } from "../../policies/identity/x509-svid.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";
import { SERVICE_BINDING, serviceBindingCaller } from "../security/service-binding.js";
import type { SecurityState } from "../security/state.js";

/**
 * Peer authentication on the destination's behalf (there is no sidecar to do it):
 *
 * - the policies that apply are found from the destination's namespace (the ServiceEntry's;
 *   for a route answered at the gateway, the VirtualService's);
 * - the mTLS mode is the PeerAuthentication one (STRICT, PERMISSIVE, DISABLE; see
 *   `effectivePeerMode`), and the Gateway server accepting the host may require a client
 *   certificate (`tls.mode: MUTUAL`) or restrict its SANs (`tls.subjectAltNames`);
 * - a presented certificate is verified as an X.509-SVID against the trust bundle of its trust
 *   domain (unless the mode is DISABLE and the server does not ask for one); a certificate that
 *   fails is refused (`403`, `UAEX`), as a TLS handshake would fail, whatever the mode;
 * - a caller that came through a Cloudflare service binding whose `props` name a `spiffeId`
 *   (set by the platform from the caller's deployed config; absent over HTTP) is that identity,
 *   as if it had presented a verified X.509-SVID for it, unless a trusted front proxy presented
 *   one for the original caller (the binding's caller is then only the hop). Props whose
 *   `spiffeId` is not a SPIFFE ID are refused (`403`, `UAEX`): a misconfigured binding never
 *   falls back to a weaker identity;
 * - STRICT or MUTUAL without a verified peer identity is refused (`403`, `UAEX`).
 */
export function peerAuthentication(state: SecurityState, now: () => number): MiddlewareHandler<GatewayEnv> {
  return async function peerAuthentication(c, next) {
    const identity = c.get("identity");
    const security = identity.security;
    const config = security.config;
    if (!config) return next();
    const routeMatch = c.get("route");
    const serviceEntry = c.get("destination")?.cluster.cluster.serviceEntry;
    identity.namespace = (serviceEntry ?? routeMatch.route.virtualService).split("/")[0];
    const policies = security.policies(identity.namespace)!;
    identity.policies = policies;

    const mode = effectivePeerMode(policies.peer);
    const tls = serverTlsFor(config, routeMatch.gateway.name, c.get("request").host);
    const required = mode === "STRICT" || tls?.mode === "MUTUAL";
    const used = mode !== "DISABLE" || tls?.mode === "MUTUAL" || tls?.mode === "OPTIONAL_MUTUAL";
    const stream = c.get("stream");
    const binding = serviceBindingCaller(c);
    if (binding.kind === "invalid") {
      throw new GatewayError(403, "UAEX", `peer_authentication_failed{${binding.code}}`, `the service binding's props are invalid: ${binding.message}`);
    }

    if (identity.credential && used) {
      const verified = await verify(state, identity.credential.chain, security, now(), c.get("settings").MESH_CLOCK_SKEW_MS, (work) => c.executionCtx.waitUntil(work));
      if (!verified.ok) {
        throw new GatewayError(403, "UAEX", `peer_authentication_failed{${verified.code}}`, `the client certificate is not a valid X.509-SVID: ${verified.message}`);
      }
      const svid = verified.svid;
      if (tls?.subjectAltNames && !tls.subjectAltNames.some((name) => name === svid.spiffeId.uri || svid.dnsNames.includes(name))) {
        throw new GatewayError(403, "UAEX", "peer_authentication_failed{subject_alt_name}", "the client certificate's SAN is not one the Gateway server accepts");
      }
      identity.peer = { spiffeId: svid.spiffeId, via: identity.credential.source, x509: svid };
      stream.peerPrincipal = svid.spiffeId.uri;
      stream.peerAuthentication = identity.credential.source;
    }
    if (!identity.peer && used && binding.kind === "caller") {
      const spiffeId = binding.spiffeId;
      if (tls?.subjectAltNames && !tls.subjectAltNames.includes(spiffeId.uri)) {
        throw new GatewayError(403, "UAEX", "peer_authentication_failed{subject_alt_name}", "the service binding's ctx.props.spiffeId is not a SAN the Gateway server accepts");
      }
      identity.peer = { spiffeId, via: SERVICE_BINDING };
      stream.peerPrincipal = spiffeId.uri;
      stream.peerAuthentication = SERVICE_BINDING;
    }
    if (required && !identity.peer) {
      const why = tls?.mode === "MUTUAL" ? `Gateway ${routeMatch.gateway.name} requires a client certificate (tls.mode MUTUAL)` : `PeerAuthentication for namespace '${identity.namespace}' is STRICT`;
      throw new GatewayError(403, "UAEX", "peer_authentication_required", `mutual TLS is required: ${why}; present an X.509-SVID (or call through a service binding whose props name a spiffeId)`);
    }
    await next();
  };
}

type Verification = { ok: true; svid: VerifiedX509Svid } | { ok: false; code: string; message: string };

async function verify(
  state: SecurityState,
  chain: Uint8Array<ArrayBuffer>[],
  security: ReturnType<SecurityState["for"]>,
  now: number,
  clockSkewMs: number,
  background: (work: Promise<unknown>) => void,
): Promise<Verification> {
  const total = chain.reduce((sum, der) => sum + der.byteLength + 4, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const der of chain) {
    new DataView(joined.buffer).setUint32(offset, der.byteLength);
    joined.set(der, offset + 4);
    offset += der.byteLength + 4;
  }
  const key = `${await sha256Hex(joined)}|${security.generation()}`;
  const cached = state.certificates.get(key, now);
  if (cached) return { ok: true, svid: cached };
  try {
    const svid = await verifyX509Svid(chain, security.bundles(now, background), { now, clockSkewMs });
    const expiresAt = Math.min(...svid.path.map((certificate) => certificate.notAfter.getTime()));
    state.certificates.set(key, svid, now, expiresAt);
    return { ok: true, svid };
  } catch (error) {
    if (error instanceof IdentityError) return { ok: false, code: error.code, message: error.message };
    throw error;
  }
}
