import type { MiddlewareHandler } from "hono";
import { platformClientCert } from "../../policies/identity/client-cert.js";
import { timingSafeEqual } from "../../policies/identity/encoding.js";
import { IdentityError } from "../../policies/identity/errors.js";
import { certificatesFromXfcc, parseXfcc } from "../../policies/identity/xfcc.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";
import { executionProps, hasBindingProps } from "../../policies/identity/binding-props.js";
import type { RequestIdentity } from "../security/identity.js";
import type { SecurityState } from "../security/state.js";

/**
 * Decides which hop may speak for the caller, takes the peer's certificate from it, and strips
 * every identity claim the client could have made:
 *
 * - a front proxy is trusted when `x-mesh-proxy-auth` equals MESH_PROXY_SECRET (a wrong value
 *   is refused: something claims to be the proxy and is not), or when the platform verified the
 *   proxy's own client certificate and its SHA-256 is listed in MESH_TRUSTED_PROXY_CERT_SHA256;
 * - from a trusted proxy, the peer's certificate is the `Cert`/`Chain` of the last (nearest)
 *   element of its `x-forwarded-client-cert`; otherwise from the platform's verified mTLS
 *   (`request.cf.tlsClientAuth`, RFC 9440 fields);
 * - the identity headers (`x-forwarded-client-cert`, `x-spiffe-id`, `client-cert`,
 *   `client-cert-chain`, `x-mesh-*` identity headers, the proxy secret, and every JWT output
 *   header a RequestAuthentication sets) are removed from what goes upstream and from what
 *   routing and authorization can read. Later stages set the gateway's own.
 *
 * Nothing is verified here: the peer-authentication stage verifies the certificate.
 */
export function identitySanitize(state: SecurityState): MiddlewareHandler<GatewayEnv> {
  return function identitySanitize(c, next) {
    const security = state.for(c.get("config").table.snapshot);
    const settings = c.get("settings");
    const headers = c.req.raw.headers;

    let trustedProxy = false;
    const proxyAuth = headers.get("x-mesh-proxy-auth");
    if (proxyAuth !== null) {
      if (settings.MESH_PROXY_SECRET === undefined || !timingSafeEqual(proxyAuth, settings.MESH_PROXY_SECRET)) {
        throw new GatewayError(403, "UAEX", "proxy_authentication_failed", "the request claims to come from the gateway's front proxy, but x-mesh-proxy-auth is wrong");
      }
      trustedProxy = true;
    }
    // A call through a service binding with props carries the caller's identity in ctx.props; its
    // `request.cf` (and cf-connecting-ip) come from the caller worker, which could set them, so
    // neither is believed then, nor on a gateway whose platform mTLS is off (the egress).
    const viaBinding = hasBindingProps(executionProps(c));
    const platform = settings.MESH_PLATFORM_MTLS === "on" && !viaBinding ? platformClientCert((c.req.raw as { cf?: unknown }).cf) : undefined;
    if (platform?.fingerprintSha256 !== undefined && settings.MESH_TRUSTED_PROXY_CERT_SHA256.has(platform.fingerprintSha256)) trustedProxy = true;

    const identity: RequestIdentity = { security, trustedProxy };
    if (security.config) {
      if (trustedProxy) {
        // Behind a proxy, a platform certificate is the proxy's own: the peer's comes from XFCC.
        const xfcc = headers.get("x-forwarded-client-cert");
        if (xfcc !== null && xfcc.trim() !== "") {
          try {
            const elements = parseXfcc(xfcc);
            const chain = certificatesFromXfcc(elements[elements.length - 1]!);
            if (chain) identity.credential = { source: "xfcc", chain };
          } catch (error) {
            const code = error instanceof IdentityError ? error.code : "ERR_XFCC_SYNTAX";
            throw new GatewayError(400, undefined, `invalid_xfcc{${code}}`, `the trusted proxy's x-forwarded-client-cert cannot be read: ${(error as Error).message}`);
          }
        }
      } else if (platform?.chain) {
        identity.credential = { source: "mtls", chain: platform.chain };
      }
    }

    identity.sourceIp = viaBinding ? undefined : (headers.get("cf-connecting-ip") ?? undefined);
    const forwarded = trustedProxy ? headers.get("x-forwarded-for")?.split(",").map((entry) => entry.trim()).filter(Boolean) : undefined;
    identity.remoteIp = forwarded?.[forwarded.length - 1] ?? identity.sourceIp;

    const owned = security.ownedHeaders;
    for (const name of owned) c.get("outbound").headers.delete(name);
    const view = c.get("request");
    c.set("request", { ...view, header: (name) => (owned.has(name.toLowerCase()) ? null : view.header(name)) });
    c.set("identity", identity);
    return next();
  };
}
