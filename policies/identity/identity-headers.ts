import type { SecurityConfig } from "../snapshot/schema.js";

/**
 * The headers the gateway owns: what it sets itself to tell an upstream who called (and the
 * front proxy's secret). A client's own copies are never believed, nor seen by routing or
 * authorization: the gateway removes them, and `explain` hides them the same way.
 */
export const IDENTITY_HEADERS = [
  "x-forwarded-client-cert",
  "x-mesh-proxy-auth",
  "x-spiffe-id",
  "client-cert",
  "client-cert-chain",
  "x-mesh-peer-principal",
  "x-mesh-peer-authentication",
  "x-mesh-request-principal",
] as const;

/** The identity headers plus every header a RequestAuthentication writes its verified claims to. */
export function ownedHeadersOf(config: SecurityConfig | undefined): Set<string> {
  const owned = new Set<string>(IDENTITY_HEADERS);
  for (const policy of config?.requestAuthentications ?? []) {
    for (const rule of policy.jwtRules) {
      if (rule.outputPayloadToHeader) owned.add(rule.outputPayloadToHeader);
      for (const output of rule.outputClaimToHeaders) owned.add(output.header);
    }
  }
  return owned;
}
